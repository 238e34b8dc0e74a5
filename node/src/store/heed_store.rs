//! The UTXO set in LMDB (through heed): a copy-on-write B-tree in a
//! memory-mapped file.
//!
//! Coins live in database `coins`, the best-block marker in database `meta`,
//! written in the same write transaction. The environment runs with
//! `MDB_NOSYNC`: a deferred batch is committed to the OS page cache (it
//! survives `kill -9`) and [`UtxoStore::sync`] is `mdb_env_sync`. An
//! immediate batch turns `MDB_NOSYNC` off for its commit, which is then
//! LMDB's normal synchronous commit (data pages flushed, then the meta page).
//!
//! Caveat, from LMDB's documentation of `MDB_NOSYNC`: a *system* crash (power
//! loss, kernel panic) between syncs can corrupt the database, because the
//! pages of the last synced snapshot may have been reused by later, unsynced
//! transactions and written out in any order.

use std::ops::ControlFlow;
use std::path::Path;

use heed::types::{Bytes, Str};
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, FlagSetMode, RwTxn};

use super::{
    best_block_from, check_meta_key, key_from, Batch, BlockHash, Durability, OutPointKey,
    StoreError, StoreOptions, UtxoStore,
};

const BEST_BLOCK: &str = "best_block";

/// [`UtxoStore`] on LMDB.
pub struct HeedStore {
    // Not shared: only this struct's `&mut self` methods change its flags.
    env: Env,
    coins: Database<'static, Bytes, Bytes>,
    meta: Database<'static, Str, Bytes>,
}

impl HeedStore {
    fn write(&self, tx: &mut RwTxn<'_>, batch: &Batch) -> Result<(), StoreError> {
        for key in &batch.deletes {
            self.coins.delete(tx, key)?;
        }
        for (key, value) in &batch.puts {
            self.coins.put(tx, key, value)?;
        }
        self.meta.put(tx, BEST_BLOCK, &batch.best_block)?;
        for (key, value) in &batch.meta {
            check_meta_key(key)?;
            match value {
                Some(v) => self.meta.put(tx, key, v)?,
                None => {
                    self.meta.delete(tx, key)?;
                }
            }
        }
        Ok(())
    }
}

/// Turns `MDB_NOSYNC` on or off. Called only from `&mut self` methods of
/// the [`HeedStore`] that owns `env` (never shared), so no other thread calls
/// `mdb_env_set_flags` at the same time.
fn set_nosync(env: &Env, on: bool) -> Result<(), StoreError> {
    let mode = if on {
        FlagSetMode::Enable
    } else {
        FlagSetMode::Disable
    };
    // SAFETY: the one-thread-at-a-time rule holds (see above). MDB_NOSYNC
    // keeps every committed transaction atomic and is what deferred
    // durability means here; see the module docs for what a system crash may
    // do to unsynced transactions.
    unsafe { env.set_flags(EnvFlags::NO_SYNC, mode)? };
    Ok(())
}

impl UtxoStore for HeedStore {
    const ENGINE: &'static str = "heed 0.23.1 (LMDB 0.9.70 mdb.master)";

    fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(path)?;
        let mut opts = EnvOpenOptions::new();
        opts.map_size(options.lmdb_map_size).max_dbs(4);
        // SAFETY: the map is only written through LMDB in this process; the
        // directory belongs to this store, and LMDB's lock file guards it
        // against other processes. NO_SYNC: see [`set_nosync`].
        let env = unsafe {
            opts.flags(EnvFlags::NO_SYNC);
            opts.open(path)?
        };
        let tx = env.write_txn()?;
        let (coins, meta) = env
            .create_databases_and_commit(tx, |opener, tx| -> Result<_, heed::Error> {
                let coins = opener.create_database(tx, Some("coins"))?;
                let meta = opener.create_database(tx, Some("meta"))?;
                Ok(CommitOrAbort::<_, ()>::Commit((coins, meta)))
            })?
            .unwrap_commit();
        env.force_sync()?;
        Ok(HeedStore { env, coins, meta })
    }

    fn apply(&mut self, batch: &Batch, durability: Durability) -> Result<(), StoreError> {
        let mut tx = self.env.write_txn()?;
        self.write(&mut tx, batch)?;
        match durability {
            Durability::Deferred => tx.commit()?,
            Durability::Immediate => {
                set_nosync(&self.env, false)?;
                let committed = tx.commit();
                set_nosync(&self.env, true)?;
                committed?;
            }
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.env.force_sync()?;
        Ok(())
    }

    fn best_block(&self) -> Result<Option<BlockHash>, StoreError> {
        let tx = self.env.read_txn()?;
        self.meta
            .get(&tx, BEST_BLOCK)?
            .map(best_block_from)
            .transpose()
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.env.read_txn()?;
        Ok(self.meta.get(&tx, key)?.map(<[u8]>::to_vec))
    }

    fn meta_scan(&self, prefix: &str, f: &mut super::MetaVisitor<'_>) -> Result<(), StoreError> {
        let tx = self.env.read_txn()?;
        for entry in self.meta.prefix_iter(&tx, prefix)? {
            let (k, v) = entry?;
            f(k, v)?;
        }
        Ok(())
    }

    fn get(&self, key: &OutPointKey) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.env.read_txn()?;
        Ok(self.coins.get(&tx, key)?.map(<[u8]>::to_vec))
    }

    fn get_many(
        &self,
        keys: &[OutPointKey],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError> {
        let tx = self.env.read_txn()?;
        for (i, key) in keys.iter().enumerate() {
            f(i, self.coins.get(&tx, key)?);
        }
        Ok(())
    }

    fn for_each(
        &self,
        f: &mut dyn FnMut(&OutPointKey, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let tx = self.env.read_txn()?;
        for entry in self.coins.iter(&tx)? {
            let (k, v) = entry?;
            if f(key_from(k)?, v).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn write_then_abort(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let mut tx = self.env.write_txn()?;
        self.write(&mut tx, batch)?;
        tx.abort();
        Ok(())
    }
}
