//! The UTXO set on disk: one small trait, [`UtxoStore`], over three embedded
//! engines (redb, fjall, LMDB through heed), so that they can be compared by
//! the `utxo_churn` benchmark and the node can keep the one that won.
//!
//! The model is Bitcoin Core's chainstate flush: the in-memory coins cache
//! collects the coins that blocks created and spent, and writes them out as
//! one [`Batch`] (puts, deletes and the best-block marker) that an engine
//! applies in a single transaction. After a crash the store is at some batch
//! boundary, and the best-block marker says which; the node reconnects the
//! blocks after it.
//!
//! Durability is chosen per batch ([`Durability`]); [`GroupCommit`] makes
//! every K-th batch (or the first after T ms) durable, so a node does not
//! pay a sync per block. What a deferred batch survives differs by engine:
//!
//! | engine | deferred batch after `kill -9` | after power loss |
//! | --- | --- | --- |
//! | redb (`Durability::None`) | lost (the file's commit slot still names the last durable commit) | lost; the last durable commit is intact |
//! | fjall (journal written to the OS per batch, `PersistMode::SyncData` on sync) | kept | lost; journal recovery stops at the first torn batch |
//! | LMDB (`MDB_NOSYNC`, `mdb_env_sync` on sync) | kept | **can corrupt the file**: LMDB may reuse pages of the last synced snapshot |
//!
//! In every case a batch is all-or-nothing and the best-block marker matches
//! the coins.

pub mod cache;
pub mod coin;
pub mod fjall_store;
pub mod heed_store;
pub mod redb_store;

use std::ops::ControlFlow;
use std::path::Path;
use std::time::{Duration, Instant};

use thiserror::Error;

pub use cache::{CoinsCache, FlushStats};
pub use coin::{outpoint_key, split_outpoint_key, Coin, CoinDecodeError, OutPointKey};
pub use fjall_store::FjallStore;
pub use heed_store::HeedStore;
pub use redb_store::RedbStore;

/// A block hash as the best-block marker stores it.
pub type BlockHash = [u8; 32];

/// Errors of the storage layer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// redb failed.
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    /// fjall failed.
    #[error("fjall: {0}")]
    Fjall(#[from] fjall::Error),
    /// LMDB (heed) failed.
    #[error("lmdb: {0}")]
    Lmdb(#[from] heed::Error),
    /// A filesystem operation around the engine failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The store holds something this code did not write.
    #[error("corrupt store: {0}")]
    Corrupt(&'static str),
}

macro_rules! from_redb {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for StoreError {
            fn from(e: redb::$t) -> Self {
                StoreError::Redb(e.into())
            }
        }
    )*};
}
from_redb!(
    DatabaseError,
    TransactionError,
    TableError,
    StorageError,
    CommitError,
    SetDurabilityError
);

/// When a batch must be on stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Synced before [`UtxoStore::apply`] returns.
    Immediate,
    /// Atomic and ordered, but synced only by a later [`UtxoStore::sync`] or
    /// immediate batch (see the module docs for what a crash keeps).
    Deferred,
}

/// Engine tuning shared by the three stores.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Engine cache: redb's page cache, fjall's block cache. LMDB has none
    /// of its own (it reads through the OS page cache).
    pub cache_bytes: usize,
    /// LMDB map size: the largest the file may grow to (address space only).
    pub lmdb_map_size: usize,
    /// redb: save the allocator state with each durable commit, so that
    /// opening after a crash is quick instead of a walk of the whole file.
    pub redb_quick_repair: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_bytes: 256 << 20,
            lmdb_map_size: 64 << 30,
            redb_quick_repair: true,
        }
    }
}

/// One atomic update of the UTXO set: deletes are applied before puts (so a
/// batch may re-create a spent outpoint), then the best-block marker is set,
/// all in one transaction.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Coins created: key and [`Coin`] encoding.
    pub puts: Vec<(OutPointKey, Vec<u8>)>,
    /// Coins spent.
    pub deletes: Vec<OutPointKey>,
    /// The block the set is at once the batch is applied.
    pub best_block: BlockHash,
    /// Other records written in the same transaction (the block index, say),
    /// by key; `None` deletes. Keys must not collide with the engines' own
    /// `best_block` marker.
    pub meta: Vec<(String, Option<Vec<u8>>)>,
}

impl Batch {
    /// An empty batch that moves the best block to `best_block`.
    pub fn new(best_block: BlockHash) -> Self {
        Batch {
            puts: Vec::new(),
            deletes: Vec::new(),
            best_block,
            meta: Vec::new(),
        }
    }

    /// Adds a created coin.
    pub fn put(&mut self, key: OutPointKey, value: Vec<u8>) {
        self.puts.push((key, value));
    }

    /// Adds a spent coin.
    pub fn delete(&mut self, key: OutPointKey) {
        self.deletes.push(key);
    }

    /// Sets meta record `key` to `value` (`None`: deletes it).
    pub fn meta(&mut self, key: String, value: Option<Vec<u8>>) {
        self.meta.push((key, value));
    }
}

/// What [`UtxoStore::meta_scan`] calls for each record.
pub type MetaVisitor<'a> = dyn FnMut(&str, &[u8]) -> Result<(), StoreError> + 'a;

/// The UTXO set in an embedded database.
pub trait UtxoStore: Sized {
    /// Engine name and version, for reports.
    const ENGINE: &'static str;

    /// Opens the store in directory `path`, creating it if needed.
    fn open(path: &Path, options: &StoreOptions) -> Result<Self, StoreError>;

    /// Applies `batch` atomically.
    fn apply(&mut self, batch: &Batch, durability: Durability) -> Result<(), StoreError>;

    /// Makes every applied batch durable.
    fn sync(&mut self) -> Result<(), StoreError>;

    /// The best-block marker of the last applied batch, if any.
    fn best_block(&self) -> Result<Option<BlockHash>, StoreError>;

    /// The meta record at `key` (see [`Batch::meta`]).
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits the meta records whose keys start with `prefix`, in key order.
    fn meta_scan(&self, prefix: &str, f: &mut MetaVisitor<'_>) -> Result<(), StoreError>;

    /// The encoded coin at `key`.
    fn get(&self, key: &OutPointKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Looks up `keys` in one read snapshot, calling `f(index, value)` for
    /// each, in order.
    fn get_many(
        &self,
        keys: &[OutPointKey],
        f: &mut dyn FnMut(usize, Option<&[u8]>),
    ) -> Result<(), StoreError>;

    /// Visits every coin in key order, in one read snapshot, until `f`
    /// breaks.
    fn for_each(
        &self,
        f: &mut dyn FnMut(&OutPointKey, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// Writes `batch` into a transaction and drops it uncommitted, as a
    /// crash between the writes and the commit would. For tests.
    #[doc(hidden)]
    fn write_then_abort(&mut self, batch: &Batch) -> Result<(), StoreError>;
}

/// Group commit: batches are applied deferred, and every `every_batches`-th
/// batch, or the first one `every` after the last sync, is made durable.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    every_batches: u32,
    every: Duration,
    pending: u32,
    last_sync: Instant,
}

impl GroupCommit {
    /// Syncs after `every_batches` batches or `every`, whichever comes first.
    pub fn new(every_batches: u32, every: Duration) -> Self {
        GroupCommit {
            every_batches: every_batches.max(1),
            every,
            pending: 0,
            last_sync: Instant::now(),
        }
    }

    /// Applies `batch`; returns whether the store was synced after it.
    pub fn apply<S: UtxoStore>(
        &mut self,
        store: &mut S,
        batch: &Batch,
    ) -> Result<bool, StoreError> {
        store.apply(batch, Durability::Deferred)?;
        self.pending += 1;
        if self.pending >= self.every_batches || self.last_sync.elapsed() >= self.every {
            self.sync(store)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Syncs now if any batch is pending.
    pub fn sync<S: UtxoStore>(&mut self, store: &mut S) -> Result<(), StoreError> {
        if self.pending > 0 {
            store.sync()?;
            self.pending = 0;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Batches applied since the last sync.
    pub fn pending(&self) -> u32 {
        self.pending
    }
}

pub(crate) fn best_block_from(bytes: &[u8]) -> Result<BlockHash, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("best-block marker is not 32 bytes"))
}

/// Rejects meta keys that would overwrite an engine's own records.
pub(crate) fn check_meta_key(key: &str) -> Result<(), StoreError> {
    if key == BEST_BLOCK_KEY {
        return Err(StoreError::Corrupt(
            "meta key collides with the best-block marker",
        ));
    }
    Ok(())
}

/// The engines' key for the best-block marker in their meta table.
pub(crate) const BEST_BLOCK_KEY: &str = "best_block";

pub(crate) fn key_from(bytes: &[u8]) -> Result<&OutPointKey, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("coin key is not 36 bytes"))
}
