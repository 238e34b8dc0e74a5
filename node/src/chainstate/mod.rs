//! The chainstate: the block tree, the active chain, the UTXO set (a cache
//! over the database) and the block files, kept consistent with each other.
//!
//! Blocks come in through [`Chainstate::process_block`]: the header and the
//! context-free rules are checked, the block is appended to the block files
//! and entered in the tree, and [`Chainstate::activate_best_chain`] moves
//! the tip to the valid chain with the most work, disconnecting (with undo
//! data) and connecting blocks as needed.
//!
//! Durability: the block files are the log. A block is acknowledged after
//! [`Chainstate::sync_blocks`]; the database (UTXO set, block index, and how
//! far the block files have been indexed) is flushed only now and then, in
//! one atomic batch, after the files. On start, the records appended since
//! the last flush are read back from the files and connected again, so a
//! `kill -9` loses nothing that was acknowledged and needs no `-reindex`.

mod archives;
mod connect;
mod load;
mod rules;
pub mod utxo_stats;
mod verify;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bitcoin::BlockHash;
use btc_core::archive::ARCHIVE_ALIGN;
use rkyv::util::AlignedVec;
use thiserror::Error;

use crate::blockfiles::{BlockFiles, FilePos, FilesError, Kind};
use crate::blockindex::{BlockTree, Idx, IndexDecodeError, Status};
use crate::params::ChainParams;
use crate::store::{Batch, CoinsCache, Durability, FjallStore, StoreError, UtxoStore};
use crate::validation::ScriptPool;

pub use connect::ConnectedBlock;
pub use rules::Rejection;

/// Meta key: the block files are indexed up to this record header.
const META_INDEXED_END: &str = "indexed_end";
/// Meta key prefix of the block index records.
const META_BLOCK: &str = "b/";
/// Meta key prefix of the transaction index (`-txindex`).
const META_TX: &str = "t/";
/// Meta key present while the transaction index covers the whole active
/// chain (written by flushes with `-txindex`, removed by those without).
const META_TXINDEX_SYNCED: &str = "txindex_synced";

/// Options of the chainstate.
#[derive(Clone, Debug)]
pub struct ChainstateOptions {
    /// `-dbcache`, in bytes: the UTXO cache's limit.
    pub dbcache_bytes: usize,
    /// `-assumevalid`: skip script checks below this block (`None`: off).
    pub assumevalid: Option<BlockHash>,
    /// Script-checking threads (`-par` resolved).
    pub script_threads: usize,
    /// `-reindex`: rebuild the index and UTXO set from the block files.
    pub reindex: bool,
    /// Flush the database after this many connected blocks at most.
    pub flush_blocks: u32,
    /// ... or after this long.
    pub flush_interval: Duration,
    /// `-txindex`: keep a txid → block index.
    pub txindex: bool,
}

impl Default for ChainstateOptions {
    fn default() -> Self {
        ChainstateOptions {
            dbcache_bytes: 450 << 20,
            assumevalid: None,
            script_threads: 1,
            reindex: false,
            flush_blocks: 2000,
            flush_interval: Duration::from_secs(600),
            txindex: false,
        }
    }
}

/// Where connecting blocks spent its wall time, summed since the
/// chainstate was opened or [`Chainstate::reset_connect_timings`]. Only
/// blocks taken through [`Chainstate::process_block`] count in `accept`;
/// every block connected counts in the rest. For benchmarks and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectTimings {
    /// Blocks connected.
    pub blocks: u64,
    /// Inputs whose scripts were run.
    pub script_checks: u64,
    /// `process_block` before connecting: decoding into an archive, the
    /// header and block checks, appending to the block files.
    pub accept: Duration,
    /// Loading the archive, BIP30, looking up the spent coins (cache, then
    /// database) and building the overlay of created coins.
    pub lookups: Duration,
    /// `connect_block_checks` except the scripts: inputs, fees, sequence
    /// locks, sigops, coinbase amount.
    pub checks: Duration,
    /// The script checks on the [`ScriptPool`].
    pub scripts: Duration,
    /// Spending and adding coins in the cache, writing the undo data,
    /// `-txindex`.
    pub commit: Duration,
    /// Database flushes ([`Chainstate::flush`]), the block-file sync
    /// before each included.
    pub flush: Duration,
    /// Flushes done.
    pub flushes: u64,
    /// Coins those flushes wrote (puts plus deletes).
    pub flushed_coins: u64,
}

impl ConnectTimings {
    /// Everything but `accept` and `flush`: connecting proper.
    pub fn connect(&self) -> Duration {
        self.lookups + self.checks + self.scripts + self.commit
    }
}

/// What can go wrong in the chainstate (other than a block breaking a
/// rule, which is a [`Rejection`]).
#[derive(Debug, Error)]
pub enum ChainError {
    /// The block files failed.
    #[error("block files: {0}")]
    Files(#[from] FilesError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The block index in the database does not decode.
    #[error("{0}")]
    Index(#[from] IndexDecodeError),
    /// The stored data contradict each other.
    #[error(
        "{0}. Restart with -reindex to rebuild the block index and UTXO set from the block files."
    )]
    Inconsistent(String),
}

/// Why a block submitted to [`Chainstate::process_block`] was not taken.
#[derive(Debug, Error)]
pub enum ProcessError {
    /// The block breaks a rule (Core's reject reason inside).
    #[error("{0}")]
    Invalid(Rejection),
    /// The block is already known (and valid, or the tip).
    #[error("duplicate")]
    Duplicate,
    /// The block is already known to be invalid.
    #[error("duplicate-invalid")]
    DuplicateInvalid,
    /// Its parent is unknown.
    #[error("prev-blk-not-found")]
    MissingParent,
    /// The node failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// The chainstate of one network.
pub struct Chainstate {
    params: ChainParams,
    opts: ChainstateOptions,
    /// Flushes so far (for `chainStateFlushed` notifications).
    flushes: u64,
    tree: BlockTree,
    /// The active chain: `active[h]` is the block at height `h`.
    active: Vec<Idx>,
    files: BlockFiles,
    store: FjallStore,
    store_dir: PathBuf,
    cache: CoinsCache,
    scripts: ScriptPool,
    /// Archives of blocks received but not yet connected: connecting them
    /// reads them here instead of from the files.
    archives: HashMap<Idx, AlignedVec<ARCHIVE_ALIGN>>,
    /// Why a block failed, for `getchaintips` and `submitblock` answers.
    failures: HashMap<Idx, String>,
    /// Block files are indexed up to here (a record header).
    indexed_end: FilePos,
    blocks_since_flush: u32,
    last_flush: Instant,
    /// `setmocktime`: the clock's value, if set.
    mocktime: Option<i64>,
    /// `-txindex` changes not yet flushed: txid → block (`None`: removed).
    txindex_pending: HashMap<bitcoin::Txid, Option<BlockHash>>,
    /// The transaction index covers the active chain (false until a node
    /// that ran without `-txindex` has indexed its existing blocks).
    txindex_synced: bool,
    /// Where connecting blocks spent its time.
    timings: ConnectTimings,
}

impl Chainstate {
    /// The network's parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The block tree.
    pub fn tree(&self) -> &BlockTree {
        &self.tree
    }

    /// The active chain, by height.
    pub fn active(&self) -> &[Idx] {
        &self.active
    }

    /// The tip of the active chain.
    pub fn tip(&self) -> Idx {
        *self.active.last().expect("the active chain has genesis")
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        self.tree.get(self.tip()).height
    }

    /// The active block at `height`.
    pub fn at_height(&self, height: u32) -> Option<Idx> {
        self.active.get(height as usize).copied()
    }

    /// Whether `idx` is in the active chain.
    pub fn is_active(&self, idx: Idx) -> bool {
        let h = self.tree.get(idx).height as usize;
        self.active.get(h) == Some(&idx)
    }

    /// The reject reason recorded when `idx` failed.
    pub fn failure(&self, idx: Idx) -> Option<&str> {
        self.failures.get(&idx).map(String::as_str)
    }

    /// Current time, honouring `setmocktime`.
    pub fn now(&self) -> i64 {
        self.mocktime.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    /// Sets (`Some`) or clears (`None`, or 0 as in Core) the mock time.
    pub fn set_mocktime(&mut self, t: Option<i64>) {
        self.mocktime = t.filter(|&t| t != 0);
    }

    /// The undo data of a connected block.
    pub fn read_undo(&mut self, idx: Idx) -> Result<crate::undo::BlockUndo, ChainError> {
        let e = self.tree.get(idx);
        let (hash, pos) = (e.hash, e.undo);
        let pos =
            pos.ok_or_else(|| ChainError::Inconsistent(format!("block {hash} has no undo data")))?;
        let bytes = self.files.read(Kind::Undo, pos)?;
        crate::undo::BlockUndo::decode(&bytes)
            .map_err(|e| ChainError::Inconsistent(format!("undo data of block {hash}: {e}")))
    }

    /// The coin at an outpoint in the UTXO set (confirmed only).
    pub fn coin(
        &mut self,
        outpoint: &bitcoin::OutPoint,
    ) -> Result<Option<crate::store::Coin>, ChainError> {
        let key = crate::store::outpoint_key(outpoint.txid.as_ref(), outpoint.vout);
        match self.cache.get(&self.store, &key)? {
            None => Ok(None),
            Some(bytes) => crate::store::Coin::decode(bytes)
                .map(Some)
                .map_err(|e| ChainError::Inconsistent(format!("coin {outpoint}: {e}"))),
        }
    }

    /// Makes every block appended so far durable: one sync covers every
    /// block since the last one (group commit).
    pub fn sync_blocks(&mut self) -> Result<(), ChainError> {
        self.files.sync()?;
        Ok(())
    }

    /// The files being appended to, to be synced by the caller without
    /// holding the chainstate (group commit, see `Node::submit_block`).
    pub fn tail_files(&self) -> Result<Vec<std::fs::File>, ChainError> {
        Ok(self.files.tail_handles()?)
    }

    /// How many times the chainstate was flushed since it was opened.
    pub fn flush_count(&self) -> u64 {
        self.flushes
    }

    /// Flushes if the cache is full or enough blocks or time have passed.
    pub fn maybe_flush(&mut self) -> Result<(), ChainError> {
        if self.cache.needs_flush()
            || self.blocks_since_flush >= self.opts.flush_blocks
            || (self.blocks_since_flush > 0
                && self.last_flush.elapsed() >= self.opts.flush_interval)
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the UTXO cache, the changed index entries and the indexed
    /// position of the block files to the database in one atomic batch,
    /// after syncing the files it refers to.
    pub fn flush(&mut self) -> Result<(), ChainError> {
        let start = Instant::now();
        self.files.sync()?;
        let tip_hash = self.tree.get(self.tip()).hash;
        let mut batch = Batch::new(tip_hash.to_byte_array());
        for idx in self.tree.take_dirty() {
            let e = self.tree.get(idx);
            batch.meta(block_key(&e.hash), Some(e.encode()));
        }
        for (txid, block) in self.txindex_pending.drain() {
            batch.meta(
                format!("{META_TX}{txid}"),
                block.map(|h| h.to_byte_array().to_vec()),
            );
        }
        batch.meta(
            META_TXINDEX_SYNCED.to_string(),
            (self.opts.txindex && self.txindex_synced).then(|| vec![1]),
        );
        batch.meta(
            META_INDEXED_END.to_string(),
            Some(self.indexed_end.encode().to_vec()),
        );
        let written = self
            .cache
            .flush(&mut self.store, batch, Durability::Immediate)?;
        self.blocks_since_flush = 0;
        self.last_flush = Instant::now();
        self.flushes += 1;
        self.timings.flush += start.elapsed();
        self.timings.flushes += 1;
        self.timings.flushed_coins += (written.puts + written.deletes) as u64;
        Ok(())
    }

    /// Where connecting blocks has spent its time so far.
    pub fn connect_timings(&self) -> ConnectTimings {
        self.timings
    }

    /// Starts [`Chainstate::connect_timings`] again from zero.
    pub fn reset_connect_timings(&mut self) {
        self.timings = ConnectTimings::default();
    }

    /// Whether `-txindex` is on.
    pub fn has_txindex(&self) -> bool {
        self.opts.txindex
    }

    /// The block holding `txid`, from `-txindex`.
    pub fn txindex_lookup(&self, txid: &bitcoin::Txid) -> Option<Idx> {
        if !self.opts.txindex {
            return None;
        }
        let hash = match self.txindex_pending.get(txid) {
            Some(h) => *h,
            None => self
                .store
                .meta_get(&format!("{META_TX}{txid}"))
                .ok()
                .flatten()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .map(BlockHash::from_byte_array),
        }?;
        self.tree.find(&hash)
    }

    /// Records the transactions of a connected (or disconnected) block in
    /// the transaction index.
    fn txindex_update(
        &mut self,
        block: &btc_core::ArchivedBlockArchive,
        hash: BlockHash,
        connected: bool,
    ) {
        if self.opts.txindex {
            for txid in block.txids() {
                self.txindex_pending.insert(txid, connected.then_some(hash));
            }
        }
    }

    /// Statistics and Core's hash of the UTXO set as flushed to the
    /// database (callers flush first).
    pub fn utxo_stats(&self) -> Result<utxo_stats::UtxoStats, utxo_stats::StatsError> {
        utxo_stats::compute(&self.store)
    }

    /// The UTXO cache's memory use.
    pub fn cache_usage(&self) -> usize {
        self.cache.usage()
    }

    /// Bytes of block and undo files.
    pub fn size_on_disk(&self) -> u64 {
        self.files.size_on_disk()
    }

    /// Where the database lives.
    pub fn store_dir(&self) -> &Path {
        &self.store_dir
    }

    /// Marks `idx` failed (with `reason`) and its descendants failed-child.
    fn mark_failed(&mut self, idx: Idx, reason: String) {
        self.tree.update_status(idx, |s| s.set(Status::FAILED));
        for d in self.tree.descendants(idx) {
            self.tree.update_status(d, |s| s.set(Status::FAILED_CHILD));
        }
        self.failures.insert(idx, reason);
        self.archives.remove(&idx);
    }
}

use bitcoin::hashes::Hash;

fn block_key(hash: &BlockHash) -> String {
    format!("{META_BLOCK}{hash}")
}
