//! Keeping the wallet in step with the chain: blocks connected and
//! disconnected, mempool arrivals and removals, rescans (sequential or
//! matched on several threads), and resuming after a restart.
//!
//! Every block's effects (new and updated transactions, descriptor
//! indexes moved by used scripts, the last processed block and the
//! locator) go into one [`Batch`] committed atomically: durably when the
//! block touched the wallet, without fsync otherwise (losing such a commit
//! in a crash only makes the node replay blocks that change nothing).

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, OutPoint, Transaction, Txid};
use btc_core::archive::{ArchivedBlockShape, BlockTables};
use btc_core::ArchivedBlockArchive;
use serde::{Deserialize, Serialize};

use crate::chain::{BatchBlock, BlockBatch, Chain};
use crate::error::WalletError;
use crate::index::{OutpointIndex, ScriptIndex, ScriptOrigin};
use crate::records::{self, LastBlock, META_LAST_BLOCK};
use crate::scan::{match_block, Matches};
use crate::store::Batch;
use crate::tx::TxState;
use crate::wallet::Wallet;

/// Blocks a rescan asks the node for at once.
const RESCAN_BATCH: u32 = 256;

/// Meta key of the [`Locator`].
pub const META_LOCATOR: &str = "locator";
/// Blocks kept one by one at the tip of the locator.
const RECENT: usize = 144;
/// Spacing of the older locator entries.
const SPARSE_EVERY: u32 = 1000;

/// The wallet's block locator (Core's `CBlockLocator` of the last
/// processed block): the last [`RECENT`] processed blocks, then every
/// 1000th, so the node can find where the wallet left the active chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locator {
    /// `(height, hash, time)` of the most recent blocks, ascending.
    recent: Vec<(u32, [u8; 32], u32)>,
    /// `(height, hash)` every [`SPARSE_EVERY`] blocks, ascending.
    sparse: Vec<(u32, [u8; 32])>,
}

impl Locator {
    fn push(&mut self, height: u32, hash: BlockHash, time: u32) {
        self.truncate(height);
        self.recent.push((height, hash.to_byte_array(), time));
        if self.recent.len() > RECENT {
            let drop = self.recent.len() - RECENT;
            self.recent.drain(..drop);
        }
        if height.is_multiple_of(SPARSE_EVERY) {
            self.sparse.push((height, hash.to_byte_array()));
        }
    }

    fn truncate(&mut self, height: u32) {
        self.recent.retain(|e| e.0 < height);
        self.sparse.retain(|e| e.0 < height);
    }

    fn entry(&self, height: u32) -> Option<(u32, [u8; 32], u32)> {
        self.recent.iter().rev().find(|e| e.0 == height).copied()
    }

    /// The hashes, newest first.
    pub fn hashes(&self) -> Vec<BlockHash> {
        let mut out: Vec<BlockHash> = self
            .recent
            .iter()
            .rev()
            .map(|e| BlockHash::from_byte_array(e.1))
            .collect();
        let lowest = self.recent.first().map(|e| e.0).unwrap_or(u32::MAX);
        out.extend(
            self.sparse
                .iter()
                .rev()
                .filter(|e| e.0 < lowest)
                .map(|e| BlockHash::from_byte_array(e.1)),
        );
        out
    }
}

/// Why a transaction left the mempool (Core's `MemPoolRemovalReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// Expired from the mempool.
    Expiry,
    /// Evicted by the size limit.
    SizeLimit,
    /// Removed for a reorg.
    Reorg,
    /// Included in a block.
    Block,
    /// Conflicts with a block's transaction.
    Conflict,
    /// Replaced (BIP125).
    Replaced,
}

impl RemovalReason {
    const ALL: [RemovalReason; 6] = [
        RemovalReason::Expiry,
        RemovalReason::SizeLimit,
        RemovalReason::Reorg,
        RemovalReason::Block,
        RemovalReason::Conflict,
        RemovalReason::Replaced,
    ];

    /// The reason's number on the wire (Core's `MemPoolRemovalReason`
    /// order).
    pub fn code(self) -> u32 {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0) as u32
    }

    /// The reason of number `code`, if it is one.
    pub fn from_code(code: u32) -> Option<RemovalReason> {
        Self::ALL.get(code as usize).copied()
    }
}

/// What applying one block changed, for rescans that match blocks ahead
/// of applying them.
#[derive(Debug, Default)]
struct Applied {
    /// Outpoints added to the index.
    outpoints: Vec<OutPoint>,
    /// Descriptors whose range grew: `(id, old end)`.
    grown: Vec<(u32, u32)>,
    /// Whether the wallet changed.
    changed: bool,
}

impl Wallet {
    /// The locator of the last processed block, newest first (for the
    /// node's `find_locator_fork`).
    pub fn locator(&self) -> Vec<BlockHash> {
        self.locator.hashes()
    }

    /// Core's `blockConnected`: the wallet's transactions of `block` at
    /// `height` are recorded as confirmed there, transactions they
    /// conflict with as conflicted, used scripts move the keypool on, and
    /// the block becomes the last processed one, all in one commit.
    pub fn block_connected(
        &mut self,
        block: &ArchivedBlockArchive,
        height: u32,
    ) -> Result<(), WalletError> {
        let matches = match_block(&self.scripts, &self.outpoints, block);
        self.apply_matches(block, height, matches)
    }

    /// The apply step of [`Wallet::block_connected`], for matches computed
    /// elsewhere (on another thread) with [`match_block`] against this
    /// wallet's current indexes.
    pub fn apply_matches(
        &mut self,
        block: &ArchivedBlockArchive,
        height: u32,
        matches: Matches,
    ) -> Result<(), WalletError> {
        let mut batch = Batch::default();
        let applied = self.apply_block(block, height, matches, &mut batch, true)?;
        self.commit(&batch, applied.changed)
    }

    /// Applies `matches` of `block`, then matches the block again against
    /// scripts the keypool gained meanwhile, until nothing new turns up.
    fn apply_block(
        &mut self,
        block: &ArchivedBlockArchive,
        height: u32,
        matches: Matches,
        batch: &mut Batch,
        advance: bool,
    ) -> Result<Applied, WalletError> {
        let mut total = Applied::default();
        let mut matches = matches;
        loop {
            let applied = self.apply_once(block, height, matches, batch)?;
            total.changed |= applied.changed;
            total.outpoints.extend(applied.outpoints.iter().copied());
            if applied.grown.is_empty() {
                break;
            }
            let delta = self.script_delta(&applied.grown)?;
            total.grown.extend(applied.grown);
            matches = match_block(&delta, &OutpointIndex::new(), block);
            if matches.is_empty() {
                break;
            }
        }
        if advance || self.last_block.is_none_or(|b| height > b.height) {
            self.set_last_block(height, block.block_hash(), block.header().time, batch);
        }
        Ok(total)
    }

    fn set_last_block(&mut self, height: u32, hash: BlockHash, time: u32, batch: &mut Batch) {
        let last = LastBlock {
            height,
            hash: hash.to_byte_array(),
            time,
        };
        self.last_block = Some(last);
        self.locator.push(height, hash, time);
        batch
            .meta
            .retain(|(k, _)| *k != META_LAST_BLOCK && *k != META_LOCATOR);
        batch
            .meta
            .push((META_LAST_BLOCK, Some(records::encode(&last))));
        batch
            .meta
            .push((META_LOCATOR, Some(records::encode(&self.locator))));
    }

    /// The scripts descriptors gained since `grown`'s old ends.
    fn script_delta(&self, grown: &[(u32, u32)]) -> Result<ScriptIndex, WalletError> {
        let mut delta = ScriptIndex::new();
        for (id, old_end) in grown {
            if let Some(d) = self.descriptors.get(id) {
                for (index, script) in d.derive_range(*old_end, d.range_end)? {
                    delta.insert(&script, ScriptOrigin { desc: *id, index });
                }
            }
        }
        Ok(delta)
    }

    fn apply_once(
        &mut self,
        block: &ArchivedBlockArchive,
        height: u32,
        matches: Matches,
        batch: &mut Batch,
    ) -> Result<Applied, WalletError> {
        let mut applied = Applied::default();
        if matches.is_empty() {
            return Ok(applied);
        }
        let hash = block.block_hash();
        let time = block.header().time;
        let ends: HashMap<u32, u32> = self
            .descriptors
            .values()
            .map(|d| (d.id, d.range_end))
            .collect();
        let mut conflicted: Vec<Txid> = Vec::new();
        for m in matches.txs {
            let Some(txref) = block.tx(m.index as usize) else {
                continue;
            };
            let Ok(tx) = txref.to_transaction() else {
                continue;
            };
            let txid = txref.txid();
            let state = TxState::Confirmed {
                block_hash: hash,
                height,
                index: m.index,
                block_time: time,
            };
            for &i in &m.spends {
                if let Some(input) = tx.input.get(i as usize) {
                    for other in self.ledger.spenders(&input.previous_output) {
                        if *other != txid && !conflicted.contains(other) {
                            conflicted.push(*other);
                        }
                    }
                }
            }
            self.add_or_update(tx, state, Some(u64::from(time)), batch);
            for (vout, origin) in &m.outputs {
                let op = OutPoint::new(txid, *vout);
                if !self.outpoints.contains(&op) {
                    self.outpoints.insert(op);
                    applied.outpoints.push(op);
                }
                self.mark_used(*origin, batch)?;
            }
            applied.changed = true;
        }
        for c in conflicted {
            self.mark_conflicted(c, hash, height, batch);
        }
        for d in self.descriptors.values() {
            if let Some(old) = ends.get(&d.id) {
                if d.range_end > *old {
                    applied.grown.push((d.id, *old));
                }
            }
        }
        Ok(applied)
    }

    /// Core's `MarkConflicted`: `txid` and its wallet descendants conflict
    /// with block `hash` at `height` (unless confirmed themselves).
    fn mark_conflicted(&mut self, txid: Txid, hash: BlockHash, height: u32, batch: &mut Batch) {
        let mut all = vec![txid];
        all.extend(self.ledger.descendants(txid));
        for t in all {
            if let Some(w) = self.ledger.get_mut(&t) {
                if matches!(w.state, TxState::Confirmed { .. }) {
                    continue;
                }
                w.state = TxState::Conflicted {
                    block_hash: hash,
                    height,
                };
                self.persist_tx(&t, batch);
            }
        }
    }

    /// Core's `blockDisconnected`: the wallet's transactions of `block`
    /// become inactive (the node re-adds them to its mempool and says so),
    /// transactions conflicted by it or later blocks become inactive, and
    /// the previous block becomes the last processed one.
    pub fn block_disconnected(
        &mut self,
        block: &ArchivedBlockArchive,
        height: u32,
    ) -> Result<(), WalletError> {
        let hash = block.block_hash();
        let mut batch = Batch::default();
        let mut changed = false;
        for txid in block.txids() {
            if let Some(w) = self.ledger.get_mut(&txid) {
                if matches!(w.state, TxState::Confirmed { block_hash, .. } if block_hash == hash) {
                    w.state = TxState::Inactive { abandoned: false };
                    self.persist_tx(&txid, &mut batch);
                    changed = true;
                }
            }
        }
        for txid in self.ledger.conflicted_from(height) {
            if let Some(w) = self.ledger.get_mut(&txid) {
                w.state = TxState::Inactive { abandoned: false };
                self.persist_tx(&txid, &mut batch);
                changed = true;
            }
        }
        let prev = block.header().prev_blockhash;
        self.locator.truncate(height);
        match height.checked_sub(1) {
            Some(h) => {
                let time = self.locator.entry(h).map(|e| e.2).unwrap_or(0);
                self.set_last_block(h, prev, time, &mut batch);
            }
            None => {
                self.last_block = None;
                batch.meta.push((META_LAST_BLOCK, None));
                batch
                    .meta
                    .push((META_LOCATOR, Some(records::encode(&self.locator))));
            }
        }
        self.commit(&batch, changed)
    }

    /// Whether `tx` pays a wallet script or spends a wallet output.
    pub fn is_relevant(&self, tx: &Transaction) -> bool {
        tx.output
            .iter()
            .any(|o| self.scripts.contains(o.script_pubkey.as_bytes()))
            || tx
                .input
                .iter()
                .any(|i| self.outpoints.contains(&i.previous_output))
    }

    /// Core's `transactionAddedToMempool`: a relevant transaction is
    /// recorded (or moved back) as in the mempool. Returns whether it
    /// concerns the wallet.
    pub fn transaction_added_to_mempool(&mut self, tx: &Transaction) -> Result<bool, WalletError> {
        let txid = tx.compute_txid();
        if !self.ledger.contains(&txid) && !self.is_relevant(tx) {
            return Ok(false);
        }
        let mut batch = Batch::default();
        if let Some(w) = self.ledger.get(&txid) {
            if matches!(w.state, TxState::Confirmed { .. }) {
                return Ok(true);
            }
        }
        self.add_or_update(tx.clone(), TxState::InMempool, None, &mut batch);
        for (n, o) in tx.output.iter().enumerate() {
            if let Some(origin) = self.scripts.get(o.script_pubkey.as_bytes()) {
                self.outpoints.insert(OutPoint::new(txid, n as u32));
                self.mark_used(origin, &mut batch)?;
            }
        }
        self.commit(&batch, true)?;
        Ok(true)
    }

    /// Core's `transactionRemovedFromMempool`: a wallet transaction that
    /// was in the mempool becomes inactive (a block's own removal is
    /// handled by `block_connected`).
    pub fn transaction_removed_from_mempool(
        &mut self,
        txid: &Txid,
        reason: RemovalReason,
    ) -> Result<(), WalletError> {
        if reason == RemovalReason::Block {
            return Ok(());
        }
        let Some(w) = self.ledger.get_mut(txid) else {
            return Ok(());
        };
        if !w.in_mempool() {
            return Ok(());
        }
        w.state = TxState::Inactive { abandoned: false };
        let mut batch = Batch::default();
        self.persist_tx(txid, &mut batch);
        self.commit(&batch, true)
    }

    /// `abandontransaction`: an unconfirmed transaction that is not in the
    /// mempool, and its descendants, are abandoned (their inputs can be
    /// spent again).
    pub fn abandon_transaction(&mut self, txid: &Txid) -> Result<(), WalletError> {
        let tip = self.last_block.map(|b| b.height);
        let Some(w) = self.ledger.get(txid) else {
            return Err(WalletError::Other(
                "Invalid or non-wallet transaction id".into(),
            ));
        };
        if w.depth(tip) != 0 || w.in_mempool() {
            return Err(WalletError::Other(
                "Transaction not eligible for abandonment".into(),
            ));
        }
        let mut all = vec![*txid];
        all.extend(self.ledger.descendants(*txid));
        let mut batch = Batch::default();
        for t in all {
            if let Some(w) = self.ledger.get_mut(&t) {
                if w.depth(tip) == 0 && !w.in_mempool() {
                    w.state = TxState::Inactive { abandoned: true };
                    self.persist_tx(&t, &mut batch);
                }
            }
        }
        self.commit(&batch, true)
    }

    /// Rescans `blocks` (ascending heights), matching them on `threads`
    /// threads ([`scan_block`]) and applying the results in order. Blocks
    /// matched ahead of earlier ones' application are matched again
    /// against what those added (new outputs, scripts the keypool gained),
    /// so the result is the sequential one. The last processed block moves
    /// only forward. Returns how many blocks were applied: all of them, or
    /// those before the first one that is not a valid archive.
    pub fn rescan_blocks<'a>(
        &mut self,
        blocks: &BlockBatch<'a>,
        threads: usize,
    ) -> Result<usize, WalletError> {
        let threads = threads.max(1);
        let mut batch = Batch::default();
        let mut changed = false;
        let mut applied_blocks = 0;
        'chunks: for chunk in blocks.chunks(threads * 8) {
            let scripts = &self.scripts;
            let outpoints = &self.outpoints;
            let scan = move |(_, b): &(u32, BatchBlock<'a>)| scan_block(scripts, outpoints, *b);
            let matched: Vec<_> = if threads == 1 {
                chunk.iter().map(scan).collect()
            } else {
                let per = chunk.len().div_ceil(threads);
                std::thread::scope(|s| {
                    let handles: Vec<_> = chunk
                        .chunks(per)
                        .map(|part| s.spawn(move || part.iter().map(scan).collect::<Vec<_>>()))
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|h| h.join().unwrap_or_default())
                        .collect()
                })
            };
            if matched.len() != chunk.len() {
                return Err(WalletError::Other(
                    "rescan: a matching thread failed".into(),
                ));
            }
            let mut delta_scripts = ScriptIndex::new();
            let mut delta_outpoints = OutpointIndex::new();
            for ((height, _), found) in chunk.iter().zip(matched) {
                let Some(mut scanned) = found else {
                    break 'chunks;
                };
                if !delta_scripts.is_empty() || !delta_outpoints.is_empty() {
                    let more = match_block(&delta_scripts, &delta_outpoints, scanned.tables);
                    scanned.matches.merge(more);
                }
                if scanned.matches.is_empty() {
                    // Nothing of ours: the block only moves the last
                    // processed block forward.
                    let Some(time) = scanned.tables.header_time() else {
                        break 'chunks;
                    };
                    if self.last_block.is_none_or(|b| *height > b.height) {
                        let hash = scanned.tables.block_hash();
                        self.set_last_block(*height, hash, time, &mut batch);
                    }
                    applied_blocks += 1;
                    continue;
                }
                let Some(block) = scanned.archive.or_else(|| scanned.block.archive()) else {
                    break 'chunks;
                };
                let applied =
                    self.apply_block(block, *height, scanned.matches, &mut batch, false)?;
                applied_blocks += 1;
                changed |= applied.changed;
                for op in applied.outpoints {
                    delta_outpoints.insert(op);
                }
                if !applied.grown.is_empty() {
                    for (script, origin) in self.script_delta(&applied.grown)?.iter() {
                        delta_scripts.insert(script, origin);
                    }
                }
            }
            if batch.txs.len() > 1000 {
                self.commit(&batch, true)?;
                batch = Batch::default();
            }
        }
        // Also when a block that is not a valid archive stopped the scan:
        // what came before it is kept.
        self.commit(&batch, changed || !batch.meta.is_empty())?;
        Ok(applied_blocks)
    }

    /// Rescans the active chain from `from` to `to` (the tip when `None`),
    /// fetching blocks in batches through `chain.with_blocks` and matching
    /// each batch on every core ([`Wallet::rescan_blocks`]). Returns the
    /// last height scanned.
    pub fn rescan(
        &mut self,
        chain: &dyn Chain,
        from: u32,
        to: Option<u32>,
    ) -> Result<Option<u32>, WalletError> {
        let Some((tip, _)) = chain.tip() else {
            return Ok(None);
        };
        let to = to.unwrap_or(tip).min(tip);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let progress = crate::progress::begin(self.name());
        let mut last = None;
        let mut height = from;
        while height <= to {
            progress.update(f64::from(height - from) / f64::from(to - from + 1));
            let batch_end = to.min(height.saturating_add(RESCAN_BATCH - 1));
            let mut result = Ok(0);
            let got = chain.with_blocks(height, batch_end, &mut |blocks| {
                result = self.rescan_blocks(blocks, threads);
            });
            let applied = result?;
            if applied > 0 {
                last = Some(height + applied as u32 - 1);
                height += applied as u32;
            }
            if got == 0 || applied < got {
                return Err(WalletError::Other(
                    "Failed to rescan unavailable blocks, potentially caused by data corruption. If the issue persists you may want to reindex (see -reindex option).".into(),
                ));
            }
        }
        Ok(last)
    }

    /// Marks the chain's tip as processed without scanning (Core does this
    /// for a newly created wallet, which has no history to find).
    pub fn set_last_processed(&mut self, chain: &dyn Chain) -> Result<(), WalletError> {
        let Some((height, hash)) = chain.tip() else {
            return Ok(());
        };
        let mut time = 0;
        chain.with_block(height, &mut |b| time = b.header().time);
        let mut batch = Batch::default();
        self.set_last_block(height, hash, time, &mut batch);
        self.commit(&batch, true)
    }

    /// Core's `AttachChain`, after loading: transactions recorded in blocks
    /// that are no longer on the active chain become inactive, and the
    /// blocks from the fork point (found with the locator) to the tip are
    /// scanned. Returns the height the scan started from, if any.
    pub fn attach_chain(&mut self, chain: &dyn Chain) -> Result<Option<u32>, WalletError> {
        let mut batch = Batch::default();
        let mut changed = false;
        let txids: Vec<Txid> = self.ledger.iter().map(|w| w.txid).collect();
        for txid in txids {
            let Some(w) = self.ledger.get_mut(&txid) else {
                continue;
            };
            let stale = match w.state {
                TxState::Confirmed {
                    block_hash, height, ..
                }
                | TxState::Conflicted {
                    block_hash, height, ..
                } => chain.block_hash(height) != Some(block_hash),
                _ => false,
            };
            if stale {
                w.state = TxState::Inactive { abandoned: false };
                self.persist_tx(&txid, &mut batch);
                changed = true;
            }
        }
        let start = match self.last_block {
            None => Some(0),
            Some(_) => match chain.find_locator_fork(&self.locator()) {
                Some((h, hash)) => {
                    if self.last_block.map(|b| (b.height, b.block_hash())) != Some((h, hash)) {
                        let time = self.locator.entry(h).map(|e| e.2).unwrap_or(0);
                        self.set_last_block(h, hash, time, &mut batch);
                    }
                    Some(h + 1)
                }
                None => {
                    // Nothing in common: start over from genesis.
                    self.last_block = None;
                    self.locator = Locator::default();
                    batch.meta.push((META_LAST_BLOCK, None));
                    Some(0)
                }
            },
        };
        self.commit(&batch, changed)?;
        let Some((tip, _)) = chain.tip() else {
            return Ok(None);
        };
        match start {
            Some(s) if s <= tip => {
                let mut batch = Batch::default();
                let mut changed = false;
                for height in s..=tip {
                    let mut result: Result<Applied, WalletError> = Ok(Applied::default());
                    chain.with_block(height, &mut |block| {
                        let m = match_block(&self.scripts, &self.outpoints, block);
                        result = self.apply_block(block, height, m, &mut batch, true);
                    });
                    changed |= result?.changed;
                }
                self.commit(&batch, true)?;
                let _ = changed;
                Ok(Some(s))
            }
            _ => Ok(None),
        }
    }
}

/// A block of a rescan batch after its matching thread: its tables, what
/// matched, and the validated archive if the thread needed it.
struct Scanned<'a> {
    block: BatchBlock<'a>,
    tables: BlockTables<'a>,
    matches: Matches,
    archive: Option<&'a ArchivedBlockArchive>,
}

/// Matches one block of a rescan. Bytes not validated yet are checked
/// structurally only (O(1)) and matched through their tables; the whole
/// archive is validated only when something matched, since applying a
/// match reads its transactions. Most blocks of a rescan match nothing,
/// and validating them would read every table again. `None`: the bytes
/// are not a valid archive.
fn scan_block<'a>(
    scripts: &ScriptIndex,
    outpoints: &OutpointIndex,
    block: BatchBlock<'a>,
) -> Option<Scanned<'a>> {
    match block {
        BatchBlock::Checked(a) => Some(Scanned {
            block,
            tables: a.into(),
            matches: match_block(scripts, outpoints, a),
            archive: Some(a),
        }),
        BatchBlock::Unchecked(bytes) => {
            let shape = ArchivedBlockShape::from_bytes(bytes).ok()?;
            let matches = match_block(scripts, outpoints, shape);
            let archive = if matches.is_empty() {
                None
            } else {
                Some(ArchivedBlockArchive::from_bytes(bytes).ok()?)
            };
            Some(Scanned {
                block,
                tables: shape.into(),
                matches,
                archive,
            })
        }
    }
}
