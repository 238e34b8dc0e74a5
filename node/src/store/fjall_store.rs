//! The UTXO set in fjall: an LSM tree with a write-ahead journal.
//!
//! Coins live in keyspace `coins`, the best-block marker in keyspace `meta`;
//! a batch is one fjall write batch, atomic across both. Every batch is
//! written to the journal and handed to the OS (so it survives `kill -9`);
//! an immediate batch, or [`UtxoStore::sync`], also `fdatasync`s the
//! journal. Recovery replays the journal up to the last whole batch.

use std::ops::ControlFlow;
use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch, PersistMode};

use super::{
    best_block_from, check_meta_key, key_from, Batch, BlockHash, Durability, OutPointKey,
    StoreError, StoreOptions, UtxoStore,
};

const BEST_BLOCK: &[u8] = b"best_block";

/// [`UtxoStore`] on fjall.
pub struct FjallStore {
    db: Database,
    coins: Keyspace,
    meta: Keyspace,
}

impl FjallStore {
    fn write(&self, batch: &Batch) -> OwnedWriteBatch {
        let mut wb = OwnedWriteBatch::with_capacity(
            self.db.clone(),
            batch.deletes.len() + batch.puts.len() + 1,
        );
        for key in &batch.deletes {
            wb.remove(&self.coins, key.as_slice());
        }
        for (key, value) in &batch.puts {
            wb.insert(&self.coins, key.as_slice(), value.as_slice());
        }
        wb.insert(&self.meta, BEST_BLOCK, batch.best_block.as_slice());
        for (key, value) in &batch.meta {
            match value {
                Some(v) => wb.insert(&self.meta, key.as_bytes(), v.as_slice()),
                None => wb.remove(&self.meta, key.as_bytes()),
            }
        }
        wb
    }
}

impl UtxoStore for FjallStore {
    const ENGINE: &'static str = "fjall 3.1.13 (lsm-tree 3.1.10, lz4)";

    fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path)?;
        let db = Database::builder(path)
            .cache_size(options.cache_bytes as u64)
            .open()?;
        let coins = db.keyspace("coins", KeyspaceCreateOptions::default)?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
        Ok(FjallStore { db, coins, meta })
    }

    fn apply(&mut self, batch: &Batch, durability: Durability) -> Result<(), StoreError> {
        for (key, _) in &batch.meta {
            check_meta_key(key)?;
        }
        let wb = self.write(batch);
        let wb = match durability {
            Durability::Immediate => wb.durability(Some(PersistMode::SyncData)),
            // Without a mode, fjall 3.1 leaves a batch in the journal's
            // user-space buffer, and `kill -9` loses it (the crash test
            // caught this); `Buffer` hands it to the OS with one write.
            Durability::Deferred => wb.durability(Some(PersistMode::Buffer)),
        };
        wb.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.db.persist(PersistMode::SyncData)?;
        Ok(())
    }

    fn best_block(&self) -> Result<Option<BlockHash>, StoreError> {
        self.meta
            .get(BEST_BLOCK)?
            .map(|v| best_block_from(&v))
            .transpose()
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    fn meta_scan(&self, prefix: &str, f: &mut super::MetaVisitor<'_>) -> Result<(), StoreError> {
        for guard in self.meta.prefix(prefix.as_bytes()) {
            let (k, v) = guard.into_inner()?;
            let k = std::str::from_utf8(&k)
                .map_err(|_| StoreError::Corrupt("meta key is not UTF-8"))?;
            f(k, &v)?;
        }
        Ok(())
    }

    fn get(&self, key: &OutPointKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.coins.get(key)?.map(|v| v.to_vec()))
    }

    fn get_many(
        &self,
        keys: &[OutPointKey],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        // This store has a single writer (`&mut self`), so reads between
        // batches see one state without an explicit snapshot.
        for (i, key) in keys.iter().enumerate() {
            let value = self.coins.get(key)?;
            f(i, value.as_deref());
        }
        Ok(())
    }

    fn for_each(
        &self,
        f: &mut dyn FnMut(&OutPointKey, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        for guard in self.coins.iter() {
            let (k, v) = guard.into_inner()?;
            if f(key_from(&k)?, &v).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn write_then_abort(&mut self, batch: &Batch) -> Result<(), StoreError> {
        drop(self.write(batch));
        Ok(())
    }
}
