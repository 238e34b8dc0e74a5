//! The node: chainstate and mempool behind one lock (Core's `cs_main`),
//! the operations RPC methods share (submit a block, mine, accept a
//! transaction), and shutdown.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use bitcoin::consensus::serialize;
use bitcoin::{Block, BlockHash, OutPoint, ScriptBuf, Transaction, Txid};
use btc_core::archive::ArchivedBlockArchive;

use crate::chainstate::{ChainError, Chainstate, ChainstateOptions, ConnectedBlock, ProcessError};
use crate::mempool::{ChainView, Mempool, MempoolOptions};
use crate::params::ChainParams;
use crate::store::Coin;

/// What the node is made of, resolved from the configuration.
pub struct NodeOptions {
    /// `<datadir>/<network>`.
    pub net_dir: PathBuf,
    /// The network.
    pub params: ChainParams,
    /// Chainstate options.
    pub chainstate: ChainstateOptions,
    /// Mempool options.
    pub mempool: MempoolOptions,
    /// Block assembly (`-blockmaxweight`, `-blockmintxfee`).
    pub mining: MiningOptions,
}

/// Block assembly options.
#[derive(Clone, Copy, Debug)]
pub struct MiningOptions {
    /// `-blockmaxweight`.
    pub max_weight: u64,
    /// `-blockmintxfee`.
    pub min_fee_rate: crate::mempool::FeeRate,
}

impl Default for MiningOptions {
    fn default() -> Self {
        MiningOptions {
            max_weight: crate::mining::DEFAULT_BLOCK_MAX_WEIGHT,
            min_fee_rate: crate::mempool::FeeRate::from_sat_per_kvb(
                crate::mining::DEFAULT_BLOCK_MIN_TX_FEE,
            ),
        }
    }
}

/// Chainstate and mempool, locked together.
pub struct State {
    /// The chainstate.
    pub chain: Chainstate,
    /// The mempool.
    pub mempool: Mempool,
    /// Blocks appended to the block files so far (for group commit).
    appended: u64,
}

/// A running node.
pub struct Node {
    state: Mutex<State>,
    /// The network's parameters.
    pub params: ChainParams,
    /// `<datadir>/<network>`.
    pub net_dir: PathBuf,
    /// Block assembly options.
    pub mining: MiningOptions,
    /// When the node started.
    pub started: Instant,
    stop: (Mutex<bool>, Condvar),
    /// Group commit: how many appended blocks are known durable. Holding
    /// this lock means syncing.
    synced: Mutex<u64>,
    /// Wallets in this process (`bitcoind`), once attached.
    wallets: std::sync::OnceLock<Arc<dyn crate::wallets::Wallets>>,
    /// The chainstate's flush count last announced (`chainStateFlushed`).
    flushes_announced: std::sync::atomic::AtomicU64,
    /// Group-commit syncs made, for tests and stats.
    syncs: std::sync::atomic::AtomicU64,
}

/// The chain as the mempool sees it.
pub struct View<'a> {
    chain: RefCell<&'a mut Chainstate>,
}

impl<'a> View<'a> {
    /// A view of `chain`.
    pub fn new(chain: &'a mut Chainstate) -> View<'a> {
        View {
            chain: RefCell::new(chain),
        }
    }
}

impl ChainView for View<'_> {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        // A database error here reads as a missing coin: the transaction
        // is refused, never accepted on a guess.
        self.chain.borrow_mut().coin(outpoint).ok().flatten()
    }
    fn tip_height(&self) -> u32 {
        self.chain.borrow().height()
    }
    fn tip_hash(&self) -> BlockHash {
        let c = self.chain.borrow();
        c.tree().get(c.tip()).hash
    }
    fn median_time_past(&self) -> i64 {
        let c = self.chain.borrow();
        c.tree().get(c.tip()).mtp
    }
    fn mtp_at_height(&self, height: u32) -> i64 {
        let c = self.chain.borrow();
        let h = height.min(c.height());
        c.at_height(h).map_or(0, |i| c.tree().get(i).mtp)
    }
    fn script_flags(&self) -> btc_core::script::VerifyFlags {
        let c = self.chain.borrow();
        let tip = c.tree().get(c.tip());
        c.params().script_flags(tip.height + 1, &tip.hash)
    }
}

/// The transactions of an archived block.
pub fn block_transactions(archive: &[u8]) -> Vec<Transaction> {
    match ArchivedBlockArchive::from_bytes(archive) {
        Ok(b) => b.txs().filter_map(|t| t.to_transaction().ok()).collect(),
        Err(_) => Vec::new(),
    }
}

impl State {
    /// Brings the mempool in step with blocks that left and joined the
    /// chain. Returns the transactions a disconnect put back in the
    /// mempool, and the mempool's removals with their reasons: conflicts
    /// with a connected block's transactions, and what a reorg made
    /// invalid (with the size limits' evictions after it, also counted as
    /// the reorg's).
    pub fn apply_events(
        &mut self,
        events: &[ConnectedBlock],
    ) -> (Vec<Transaction>, Vec<(Txid, btc_wallet::RemovalReason)>) {
        let mut conflicted = Vec::new();
        let mut reorged = Vec::new();
        let mut back = Vec::new();
        // Everything a disconnect offered back to the mempool.
        let mut offered: Vec<Transaction> = Vec::new();
        for ev in events {
            if ev.connected {
                if !back.is_empty() {
                    let txs = std::mem::take(&mut back);
                    offered.extend(txs.iter().cloned());
                    let now = self.chain.now();
                    let gone =
                        self.mempool
                            .readd_after_disconnect(txs, &View::new(&mut self.chain), now);
                    reorged.extend(gone);
                }
                if !self.mempool.is_empty() {
                    let now = self.chain.now();
                    let removal = self
                        .mempool
                        .remove_for_block(&block_transactions(&ev.archive), now);
                    conflicted.extend(removal.conflicts);
                }
            } else {
                // Disconnected blocks come tip first; their transactions go
                // back oldest block first.
                let mut txs = block_transactions(&ev.archive);
                txs.append(&mut back);
                back = txs;
            }
        }
        if !back.is_empty() {
            offered.extend(back.iter().cloned());
            let now = self.chain.now();
            let gone = self
                .mempool
                .readd_after_disconnect(back, &View::new(&mut self.chain), now);
            reorged.extend(gone);
        }
        // Those still in the mempool now are announced to the wallets
        // (Core's transactionAddedToMempool after a reorg).
        offered.retain(|tx| self.mempool.contains(&tx.compute_txid()));
        let removed = conflicted
            .into_iter()
            .map(|t| (t, btc_wallet::RemovalReason::Conflict))
            .chain(
                reorged
                    .into_iter()
                    .map(|t| (t, btc_wallet::RemovalReason::Reorg)),
            )
            .collect();
        (offered, removed)
    }
}

impl Node {
    /// Opens the chainstate (replaying or reindexing the block files as
    /// needed) and an empty mempool.
    pub fn open(opts: NodeOptions) -> Result<Arc<Node>, ChainError> {
        let params = opts.params.clone();
        let chain = Chainstate::open(&opts.net_dir, opts.params, opts.chainstate)?;
        Ok(Arc::new(Node {
            state: Mutex::new(State {
                chain,
                mempool: Mempool::new(opts.mempool),
                appended: 0,
            }),
            params,
            net_dir: opts.net_dir,
            mining: opts.mining,
            started: Instant::now(),
            stop: (Mutex::new(false), Condvar::new()),
            synced: Mutex::new(0),
            syncs: std::sync::atomic::AtomicU64::new(0),
            wallets: std::sync::OnceLock::new(),
            flushes_announced: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Attaches the wallets (in this process or in wallet processes): from
    /// now on they get every block event.
    pub fn attach_wallets(&self, wallets: Arc<dyn crate::wallets::Wallets>) {
        let _ = self.wallets.set(wallets);
    }

    /// The wallets, if any are attached.
    pub fn wallets(&self) -> Option<&Arc<dyn crate::wallets::Wallets>> {
        self.wallets.get()
    }

    /// Applies block events to the mempool and queues them for the wallets,
    /// in chain order (the caller holds the state lock).
    pub fn publish(&self, st: &mut State, events: Vec<ConnectedBlock>) {
        let (readded, removed) = st.apply_events(&events);
        if let Some(w) = self.wallets.get() {
            let mut queued: Vec<crate::wallets::WalletEvent> = events
                .into_iter()
                .map(|ev| {
                    if ev.connected {
                        crate::wallets::WalletEvent::Connected {
                            height: ev.height,
                            hash: ev.hash,
                            archive: ev.archive,
                        }
                    } else {
                        crate::wallets::WalletEvent::Disconnected {
                            height: ev.height,
                            hash: ev.hash,
                            archive: ev.archive,
                        }
                    }
                })
                .collect();
            queued.extend(
                removed
                    .into_iter()
                    .map(|(txid, reason)| crate::wallets::WalletEvent::TxRemoved { txid, reason }),
            );
            queued.extend(
                readded
                    .into_iter()
                    .map(crate::wallets::WalletEvent::TxAdded),
            );
            // Core's updatedBlockTip after the batch, and chainStateFlushed
            // when the chainstate was flushed since the last announcement.
            let tip = st.chain.tree().get(st.chain.tip());
            let (height, hash) = (tip.height, tip.hash);
            if !queued.is_empty() {
                queued.push(crate::wallets::WalletEvent::TipUpdated { height, hash });
            }
            let flushes = st.chain.flush_count();
            let announced = self
                .flushes_announced
                .swap(flushes, std::sync::atomic::Ordering::Relaxed);
            if flushes != announced {
                queued.push(crate::wallets::WalletEvent::Flushed { height, hash });
            }
            w.queue(queued);
        }
    }

    /// Tells the wallets about a transaction that entered the mempool, in
    /// Core's order: the transactions it replaced leave, it enters, then
    /// the size limits' removals (expired, trimmed).
    pub fn publish_tx(&self, tx: &Transaction, accepted: &crate::mempool::Accepted) {
        use crate::wallets::WalletEvent;
        use btc_wallet::RemovalReason;
        if let Some(w) = self.wallets.get() {
            let removed = |txids: &[Txid], reason: RemovalReason| -> Vec<WalletEvent> {
                txids
                    .iter()
                    .map(|txid| WalletEvent::TxRemoved {
                        txid: *txid,
                        reason,
                    })
                    .collect()
            };
            let mut events = removed(&accepted.replaced, RemovalReason::Replaced);
            events.push(WalletEvent::TxAdded(tx.clone()));
            events.extend(removed(&accepted.expired, RemovalReason::Expiry));
            events.extend(removed(&accepted.trimmed, RemovalReason::SizeLimit));
            w.queue(events);
        }
    }

    /// Locks chainstate and mempool.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Submits a block; on return it is durable (its record is synced).
    pub fn submit_block(&self, bytes: &[u8]) -> Result<BlockHash, ProcessError> {
        self.submit_block_status(bytes).map(|(hash, _)| hash)
    }

    /// [`Node::submit_block`], also telling whether the block is in the
    /// active chain afterwards (`false`: stored on a side branch, which
    /// `submitblock` answers "inconclusive" as Core).
    pub fn submit_block_status(&self, bytes: &[u8]) -> Result<(BlockHash, bool), ProcessError> {
        let (out, seq) = {
            let mut st = self.lock();
            let result = st.chain.process_block(bytes);
            st.appended += 1;
            let out = match result {
                Ok((idx, events)) => {
                    self.publish(&mut st, events);
                    Ok((st.chain.tree().get(idx).hash, st.chain.is_active(idx)))
                }
                Err(e) => Err(e),
            };
            (out, st.appended)
        };
        self.make_durable(seq)?;
        out
    }

    /// Group commit: returns once every block appended up to the `seq`-th
    /// is on stable storage. The sync runs outside the state lock, so RPC
    /// readers are not held up by it, and one sync covers every block
    /// appended before it started: callers that queue up behind a sync in
    /// progress usually find their blocks covered by the next one.
    fn make_durable(&self, seq: u64) -> Result<(), ChainError> {
        let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
        if *synced >= seq {
            return Ok(());
        }
        let (target, files) = {
            let st = self.lock();
            (st.appended, st.chain.tail_files()?)
        };
        for f in files {
            f.sync_data().map_err(|e| {
                ChainError::Files(crate::blockfiles::FilesError::Io {
                    path: "block files".into(),
                    source: e,
                })
            })?;
        }
        *synced = target;
        self.syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Group-commit syncs made so far.
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Mines `n` blocks paying `script` from the mempool; returns their
    /// hashes. One sync covers all of them.
    pub fn generate(
        &self,
        n: u32,
        script: &ScriptBuf,
        max_tries: u64,
    ) -> Result<Vec<BlockHash>, ProcessError> {
        let mut hashes = Vec::new();
        let mut tries = max_tries;
        let mut failure = None;
        let seq = {
            let mut st = self.lock();
            for _ in 0..n {
                let ctx = self.template_context(&st.chain, script.clone());
                let mut block = crate::mining::assemble(&st.mempool, &ctx);
                if !grind_within(&mut block, &mut tries) {
                    break;
                }
                let result = st.chain.process_block(&serialize(&block));
                st.appended += 1;
                match result {
                    Ok((idx, events)) => {
                        self.publish(&mut st, events);
                        hashes.push(st.chain.tree().get(idx).hash);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            st.appended
        };
        self.make_durable(seq)?;
        match failure {
            Some(e) => Err(e),
            None => Ok(hashes),
        }
    }

    /// Mines one block of exactly `txs` (generateblock).
    pub fn generate_block(
        &self,
        script: &ScriptBuf,
        txs: Vec<Transaction>,
        submit: bool,
    ) -> Result<Block, String> {
        let mut st = self.lock();
        let ctx = self.template_context(&st.chain, script.clone());
        let mut block = crate::mining::assemble_with(txs, &ctx, &View::new(&mut st.chain))
            .map_err(|e| e.to_string())?;
        let mut tries = u64::MAX;
        if !grind_within(&mut block, &mut tries) {
            return Err("Failed to make block.".into());
        }
        if !submit {
            return Ok(block);
        }
        let result = st.chain.process_block(&serialize(&block));
        st.appended += 1;
        let seq = st.appended;
        let result = match result {
            Ok((_, events)) => {
                self.publish(&mut st, events);
                Ok(block)
            }
            Err(e) => Err(format!("TestBlockValidity failed: {e}")),
        };
        drop(st);
        self.make_durable(seq).map_err(|e| e.to_string())?;
        result
    }

    /// The context of the next block on the tip.
    pub fn template_context(
        &self,
        chain: &Chainstate,
        coinbase_script: ScriptBuf,
    ) -> crate::mining::TemplateContext {
        let tip = chain.tree().get(chain.tip());
        let now = chain.now();
        let height = tip.height + 1;
        crate::mining::TemplateContext {
            height,
            prev_hash: tip.hash,
            prev_mtp: tip.mtp,
            time: now.max(tip.mtp + 1) as u32,
            bits: tip.header.bits,
            version: 0x2000_0000,
            subsidy: chain.params().block_subsidy(height),
            coinbase_script,
            max_weight: self.mining.max_weight,
            min_fee_rate: self.mining.min_fee_rate,
        }
    }

    /// Asks the node to stop.
    pub fn request_stop(&self) {
        let (m, c) = &self.stop;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        c.notify_all();
    }

    /// Whether a stop was requested.
    pub fn stopping(&self) -> bool {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until [`Node::request_stop`].
    pub fn wait_for_stop(&self) {
        let (m, c) = &self.stop;
        let mut stopped = m.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            stopped = c.wait(stopped).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Flushes everything to disk (at shutdown).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.lock().chain.flush()
    }
}

/// Grinds the nonce, spending the caller's budget of tries (`maxtries`
/// of generatetoaddress spans all its blocks, as in Core); a template
/// whose nonces run out gets a new time and is ground again.
fn grind_within(block: &mut Block, tries: &mut u64) -> bool {
    loop {
        match crate::mining::grind(block, tries) {
            crate::mining::Grind::Found => return true,
            crate::mining::Grind::OutOfTries => return false,
            crate::mining::Grind::NonceExhausted => {
                block.header.time += 1;
                block.header.nonce = 0;
            }
        }
    }
}
