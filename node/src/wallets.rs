//! Wallets in the node's own process (`bitcoind`): the wallet library,
//! fed with the node's block events through an ordered queue, its RPC
//! methods served through the node's dispatcher, and the node seen through
//! the wallet's [`Chain`] trait.
//!
//! Events never reach a wallet while the chainstate lock is held: the node
//! queues them, one thread applies them in order, and a wallet RPC first
//! waits until every event queued before it has been applied (Core's
//! `BlockUntilSyncedToCurrentChain`). The multiprocess mode replaces the
//! queue with a shared-memory ring and the calls with the control channel.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use bitcoin::{Amount, BlockHash, FeeRate, Network, Transaction, Txid};
use btc_core::{ArchivedBlockArchive, BlockWire};
use btc_wallet::{Chain, WalletManager, WalletOptions};
use rkyv::util::AlignedVec;
use serde_json::Value;

use crate::http::RpcError;
use crate::mempool::AcceptOptions;
use crate::node::{Node, View};

/// What a wallet is told about the chain and mempool.
pub enum WalletEvent {
    /// A block joined the active chain.
    Connected {
        /// Its height.
        height: u32,
        /// The archived block.
        archive: AlignedVec<{ btc_core::archive::ARCHIVE_ALIGN }>,
    },
    /// A block left the active chain.
    Disconnected {
        /// Its height.
        height: u32,
        /// The archived block.
        archive: AlignedVec<{ btc_core::archive::ARCHIVE_ALIGN }>,
    },
    /// A transaction entered the mempool.
    TxAdded(Transaction),
}

/// The node as a wallet sees it, in process.
pub struct NodeChain<'a>(pub &'a Node);

fn archive_block(bytes: &[u8]) -> Option<AlignedVec<{ btc_core::archive::ARCHIVE_ALIGN }>> {
    BlockWire::parse(bytes).ok().map(|w| w.to_archive())
}

impl Chain for NodeChain<'_> {
    fn tip(&self) -> Option<(u32, BlockHash)> {
        let st = self.0.lock();
        let tip = st.chain.tree().get(st.chain.tip());
        Some((tip.height, tip.hash))
    }

    fn block_hash(&self, height: u32) -> Option<BlockHash> {
        self.0.lock().chain.hash_at(height)
    }

    fn find_locator_fork(&self, locator: &[BlockHash]) -> Option<(u32, BlockHash)> {
        let st = self.0.lock();
        for h in locator {
            if let Some(idx) = st.chain.lookup(h) {
                if st.chain.is_active(idx) {
                    return Some((st.chain.tree().get(idx).height, *h));
                }
            }
        }
        None
    }

    fn with_block(&self, height: u32, f: &mut dyn FnMut(&ArchivedBlockArchive)) -> bool {
        let bytes = {
            let mut st = self.0.lock();
            let Some(idx) = st.chain.at_height(height) else {
                return false;
            };
            match st.chain.read_block(idx) {
                Ok(b) => b,
                Err(_) => return false,
            }
        };
        let Some(archive) = archive_block(&bytes) else {
            return false;
        };
        match ArchivedBlockArchive::from_bytes(&archive) {
            Ok(b) => {
                f(b);
                true
            }
            Err(_) => false,
        }
    }

    fn find_first_block_with_time(&self, time: u64) -> Option<u32> {
        let st = self.0.lock();
        let c = &st.chain;
        // Core compares with the greatest time up to each block, which
        // only grows along the chain, so a forward scan finds the first.
        let mut max_time = 0u64;
        for h in 0..=c.height() {
            let idx = c.at_height(h)?;
            max_time = max_time.max(u64::from(c.tree().get(idx).header.time));
            if max_time >= time {
                return Some(h);
            }
        }
        None
    }

    fn estimate_fee(&self, _conf_target: u32) -> Option<FeeRate> {
        // No fee estimator yet (no P2P, no relayed transactions to learn
        // from); wallets fall back to -fallbackfee, as Core does on a fresh
        // regtest node.
        None
    }

    fn min_fee(&self) -> FeeRate {
        let st = self.0.lock();
        let kvb = st.mempool.options().min_relay_fee.sat_per_kvb().max(0) as u64;
        FeeRate::from_sat_per_kwu(kvb.div_ceil(4))
    }

    fn broadcast(&self, tx: &Transaction, max_fee: Amount) -> Result<Txid, String> {
        let txid = tx.compute_txid();
        let mut st = self.0.lock();
        let st = &mut *st;
        if st.mempool.contains(&txid) {
            return Ok(txid);
        }
        let now = st.chain.now();
        let test = AcceptOptions {
            test_only: true,
            max_fee_rate: None,
            now,
        };
        let accepted = st
            .mempool
            .accept(tx.clone(), &View::new(&mut st.chain), test)
            .map_err(|r| r.reason.clone())?;
        if accepted.fee > max_fee.to_sat() as i64 {
            return Err("max-fee-exceeded".into());
        }
        let real = AcceptOptions {
            test_only: false,
            ..test
        };
        st.mempool
            .accept(tx.clone(), &View::new(&mut st.chain), real)
            .map(|a| a.txid)
            .map_err(|r| r.reason.clone())
    }

    fn mempool_accept_test(&self, tx: &Transaction) -> Result<(), String> {
        let mut st = self.0.lock();
        let st = &mut *st;
        let now = st.chain.now();
        let opts = AcceptOptions {
            test_only: true,
            max_fee_rate: None,
            now,
        };
        st.mempool
            .accept(tx.clone(), &View::new(&mut st.chain), opts)
            .map(|_| ())
            .map_err(|r| r.reason.clone())
    }
}

/// Events queued, and how far the applying thread has come.
#[derive(Default)]
struct Progress {
    queued: u64,
    applied: u64,
    stop: bool,
    events: std::collections::VecDeque<(u64, WalletEvent)>,
}

/// The wallets of a `bitcoind`.
pub struct LocalWallets {
    manager: Mutex<WalletManager>,
    progress: Mutex<Progress>,
    changed: Condvar,
    methods: Vec<&'static str>,
}

/// Manager-level methods (no wallet endpoint needed).
const MANAGER_METHODS: &[&str] = &["createwallet", "loadwallet", "unloadwallet", "listwallets"];

impl LocalWallets {
    /// Wallets kept in `walletdir`.
    pub fn new(walletdir: &Path, options: WalletOptions) -> Arc<LocalWallets> {
        let methods = btc_wallet::rpc::methods().iter().map(|m| m.name).collect();
        Arc::new(LocalWallets {
            manager: Mutex::new(WalletManager::new(walletdir, options)),
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
            methods,
        })
    }

    /// Core's wallet options for `network` with `-fallbackfee` (BTC/kvB).
    pub fn options(network: Network, fallback_fee_sat_kvb: Option<u64>) -> WalletOptions {
        let mut o = WalletOptions::new(network);
        o.fallback_fee = fallback_fee_sat_kvb
            .filter(|&f| f > 0)
            .map(|f| FeeRate::from_sat_per_kwu(f.div_ceil(4)));
        o
    }

    /// Whether `method` is served by the wallets.
    pub fn handles(&self, method: &str) -> bool {
        MANAGER_METHODS.contains(&method) || self.methods.contains(&method)
    }

    /// Queues events in chain order (called with the chainstate lock
    /// held, so the order is the chain's).
    pub fn queue(&self, events: impl IntoIterator<Item = WalletEvent>) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        for ev in events {
            p.queued += 1;
            let seq = p.queued;
            p.events.push_back((seq, ev));
        }
        self.changed.notify_all();
    }

    /// Starts the thread that applies queued events to the wallets.
    pub fn start(self: &Arc<Self>, node: Arc<Node>) -> JoinHandle<()> {
        let me = self.clone();
        std::thread::spawn(move || me.run(&node))
    }

    fn run(&self, node: &Node) {
        loop {
            let (seq, ev) = {
                let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(item) = p.events.pop_front() {
                        break item;
                    }
                    if p.stop {
                        return;
                    }
                    p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
                }
            };
            self.apply(node, ev);
            let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            p.applied = seq;
            self.changed.notify_all();
        }
    }

    fn apply(&self, _node: &Node, ev: WalletEvent) {
        let mut m = self.manager.lock().unwrap_or_else(|e| e.into_inner());
        match ev {
            WalletEvent::Connected { height, archive } => {
                let Ok(block) = ArchivedBlockArchive::from_bytes(&archive) else {
                    crate::log_line!("wallets: archive of block {height} does not validate");
                    return;
                };
                for w in m.wallets_mut() {
                    if let Err(e) = w.block_connected(block, height) {
                        crate::log_line!("wallet {}: block {height}: {e}", w.name());
                    }
                }
            }
            WalletEvent::Disconnected { height, archive } => {
                let Ok(block) = ArchivedBlockArchive::from_bytes(&archive) else {
                    return;
                };
                for w in m.wallets_mut() {
                    if let Err(e) = w.block_disconnected(block, height) {
                        crate::log_line!("wallet {}: disconnect {height}: {e}", w.name());
                    }
                }
            }
            WalletEvent::TxAdded(tx) => {
                for w in m.wallets_mut() {
                    let _ = w.transaction_added_to_mempool(&tx);
                }
            }
        }
    }

    /// Waits until every event queued so far has been applied.
    pub fn sync(&self) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        let target = p.queued;
        while p.applied < target && !p.stop {
            p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops the applying thread once the queue is drained.
    pub fn stop(&self) {
        self.sync();
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.stop = true;
        self.changed.notify_all();
    }

    /// A wallet RPC: `wallet` is the `/wallet/<name>` endpoint's name.
    pub fn call(
        &self,
        node: &Node,
        wallet: Option<&str>,
        method: &str,
        params: &Value,
    ) -> Result<Value, RpcError> {
        self.sync();
        let chain = NodeChain(node);
        let mut m = self.manager.lock().unwrap_or_else(|e| e.into_inner());
        m.call(wallet, method, params, &chain)
            .map_err(|e| RpcError {
                code: e.code,
                message: e.message,
            })
    }

    /// Loads the wallets named by `-wallet` at start.
    pub fn load_at_start(&self, node: &Node, names: &[String]) -> Result<(), String> {
        for name in names {
            let params = Value::Array(vec![Value::String(name.clone())]);
            let chain = NodeChain(node);
            let mut m = self.manager.lock().unwrap_or_else(|e| e.into_inner());
            let r = m.call(None, "loadwallet", &params, &chain);
            // Core 0.21+ loads only existing wallets and fails to start
            // otherwise.
            if let Err(e) = r {
                return Err(format!("-wallet={name}: {}", e.message));
            }
        }
        Ok(())
    }
}
