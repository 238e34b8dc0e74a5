//! The UTXO set in redb: a copy-on-write B-tree in one file.
//!
//! Coins live in table `coins` (fixed 36-byte keys), the best-block marker
//! in table `meta`, written in the same write transaction. Deferred batches
//! commit with `Durability::None` (no fsync, and not on disk until the next
//! durable commit); [`UtxoStore::sync`] is an empty commit with
//! `Durability::Immediate`. With quick repair on (the default), durable
//! commits are 2-phase and carry the allocator state, so reopening after a
//! crash does not walk the whole file.

use std::ops::ControlFlow;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{
    best_block_from, check_meta_key, Batch, BlockHash, Durability, OutPointKey, StoreError,
    StoreOptions, UtxoStore,
};

const COINS: TableDefinition<&[u8; 36], &[u8]> = TableDefinition::new("coins");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BEST_BLOCK: &str = "best_block";

/// [`UtxoStore`] on redb.
pub struct RedbStore {
    db: Database,
    quick_repair: bool,
}

impl RedbStore {
    fn begin(&self, durability: Durability) -> Result<WriteTransaction, StoreError> {
        let mut tx = self.db.begin_write()?;
        match durability {
            Durability::Immediate => {
                tx.set_durability(redb::Durability::Immediate)?;
                tx.set_quick_repair(self.quick_repair);
            }
            Durability::Deferred => tx.set_durability(redb::Durability::None)?,
        }
        Ok(tx)
    }

    fn write(tx: &WriteTransaction, batch: &Batch) -> Result<(), StoreError> {
        let mut coins = tx.open_table(COINS)?;
        for key in &batch.deletes {
            coins.remove(key)?;
        }
        for (key, value) in &batch.puts {
            coins.insert(key, value.as_slice())?;
        }
        let mut meta = tx.open_table(META)?;
        meta.insert(BEST_BLOCK, batch.best_block.as_slice())?;
        for (key, value) in &batch.meta {
            check_meta_key(key)?;
            match value {
                Some(v) => meta.insert(key.as_str(), v.as_slice())?,
                None => meta.remove(key.as_str())?,
            };
        }
        Ok(())
    }
}

impl UtxoStore for RedbStore {
    const ENGINE: &'static str = "redb 4.6.0";

    fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path)?;
        let db = Database::builder()
            .set_cache_size(options.cache_bytes)
            .create(path.join("utxo.redb"))?;
        let store = RedbStore {
            db,
            quick_repair: options.redb_quick_repair,
        };
        let tx = store.begin(Durability::Immediate)?;
        tx.open_table(COINS)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(store)
    }

    fn apply(&mut self, batch: &Batch, durability: Durability) -> Result<(), StoreError> {
        let tx = self.begin(durability)?;
        Self::write(&tx, batch)?;
        tx.commit()?;
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.begin(Durability::Immediate)?.commit()?;
        Ok(())
    }

    fn best_block(&self) -> Result<Option<BlockHash>, StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        let best = meta.get(BEST_BLOCK)?;
        best.map(|v| best_block_from(v.value())).transpose()
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        Ok(meta.get(key)?.map(|v| v.value().to_vec()))
    }

    fn meta_scan(&self, prefix: &str, f: &mut super::MetaVisitor<'_>) -> Result<(), StoreError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        for entry in meta.range(prefix..)? {
            let (k, v) = entry?;
            if !k.value().starts_with(prefix) {
                break;
            }
            f(k.value(), v.value())?;
        }
        Ok(())
    }

    fn get(&self, key: &OutPointKey) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let coins = tx.open_table(COINS)?;
        let value = coins.get(key)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn get_many(
        &self,
        keys: &[OutPointKey],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_read()?;
        let coins = tx.open_table(COINS)?;
        for (i, key) in keys.iter().enumerate() {
            let value = coins.get(key)?;
            f(i, value.as_ref().map(|v| v.value()));
        }
        Ok(())
    }

    fn for_each(
        &self,
        f: &mut dyn FnMut(&OutPointKey, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_read()?;
        let coins = tx.open_table(COINS)?;
        for entry in coins.iter()? {
            let (k, v) = entry?;
            if f(k.value(), v.value()).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn write_then_abort(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let tx = self.begin(Durability::Immediate)?;
        Self::write(&tx, batch)?;
        drop(tx);
        Ok(())
    }
}
