//! Wallets in the node's own process (`bitcoind`): the wallet library,
//! fed with the node's block events through an ordered queue, its RPC
//! methods served through the node's dispatcher, and the node seen through
//! the wallet's [`Chain`](btc_wallet::Chain) trait ([`NodeChain`]).
//!
//! Events never reach a wallet while the chainstate lock is held: the node
//! queues them, one thread applies them in order, and a wallet RPC first
//! waits until every event queued before it has been applied (Core's
//! `BlockUntilSyncedToCurrentChain`).

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use bitcoin::Network;
use btc_core::ArchivedBlockArchive;
use btc_wallet::{WalletManager, WalletOptions};
use serde_json::Value;

use super::{is_wallet_method, NodeChain, WalletEvent, Wallets};
use crate::http::RpcError;
use crate::node::Node;

/// Events queued, and how far the applying thread has come.
#[derive(Default)]
struct Progress {
    queued: u64,
    applied: u64,
    stop: bool,
    /// Sequence number, time queued (ns) and event.
    events: std::collections::VecDeque<(u64, u64, WalletEvent)>,
    /// Queued to applied, for block events.
    latency: btc_core::interfaces::latency::Latencies,
}

/// The wallets of a `bitcoind`.
pub struct LocalWallets {
    manager: Mutex<WalletManager>,
    progress: Mutex<Progress>,
    changed: Condvar,
    info: btc_wallet::progress::InfoCache,
}

impl LocalWallets {
    /// Wallets kept in `walletdir`.
    pub fn new(walletdir: &Path, options: WalletOptions) -> Arc<LocalWallets> {
        Arc::new(LocalWallets {
            manager: Mutex::new(WalletManager::new(walletdir, options)),
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
            info: Default::default(),
        })
    }

    /// Core's wallet options for `network` with `-fallbackfee` (BTC/kvB).
    pub fn options(network: Network, fallback_fee_sat_kvb: Option<u64>) -> WalletOptions {
        WalletOptions::with_fallback_fee(network, fallback_fee_sat_kvb)
    }

    /// Queues events in chain order (called with the chainstate lock
    /// held, so the order is the chain's).
    fn push(&self, events: impl IntoIterator<Item = WalletEvent>) {
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        for ev in events {
            p.queued += 1;
            let seq = p.queued;
            p.events
                .push_back((seq, btc_core::interfaces::event::now_ns(), ev));
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
            let (seq, queued_ns, ev) = {
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
            let block = matches!(ev, WalletEvent::Connected { .. });
            self.apply(node, ev);
            let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
            p.applied = seq;
            if block {
                p.latency.record_since(queued_ns);
            }
            self.changed.notify_all();
        }
    }

    fn apply(&self, _node: &Node, ev: WalletEvent) {
        let mut m = self.manager.lock().unwrap_or_else(|e| e.into_inner());
        match ev {
            WalletEvent::Connected {
                height, archive, ..
            } => {
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
            WalletEvent::Disconnected {
                height, archive, ..
            } => {
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
            // The wallets store their last block with every block they
            // apply, so neither needs anything done (Core's wallet writes its
            // locator on chainStateFlushed).
            WalletEvent::TipUpdated { .. } | WalletEvent::Flushed { .. } => {}
            WalletEvent::TxRemoved { txid, reason } => {
                for w in m.wallets_mut() {
                    if let Err(e) = w.transaction_removed_from_mempool(&txid, reason) {
                        crate::log_line!("wallet {}: removal of {txid}: {e}", w.name());
                    }
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

    /// Loads the wallets named by `-wallet` at start. As Core (22+), a
    /// name with no wallet behind it is skipped with a warning; any other
    /// failure stops the start.
    pub fn load_at_start(&self, node: &Node, names: &[String]) -> Result<(), String> {
        for name in names {
            let params = Value::Array(vec![Value::String(name.clone())]);
            let chain = NodeChain(node);
            let mut m = self.manager.lock().unwrap_or_else(|e| e.into_inner());
            if !m.exists(name) {
                crate::log_line!("Warning: Skipping -wallet path that doesn't exist: {name}");
                continue;
            }
            if let Err(e) = m.call(None, "loadwallet", &params, &chain) {
                return Err(format!("-wallet={name}: {}", e.message));
            }
        }
        Ok(())
    }
}

impl Wallets for LocalWallets {
    fn handles(&self, method: &str) -> bool {
        is_wallet_method(method)
    }

    fn call(
        &self,
        node: &Node,
        wallet: Option<&str>,
        method: &str,
        params: &Value,
    ) -> Result<Value, RpcError> {
        self.sync();
        let chain = NodeChain(node);
        btc_wallet::progress::call(&self.manager, &self.info, wallet, method, params, &chain)
            .map_err(|e| RpcError {
                code: e.code,
                message: e.message,
            })
    }

    fn queue(&self, events: Vec<WalletEvent>) {
        self.push(events);
    }

    fn ipc_info(&self) -> Value {
        let p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({
            "rings": [],
            "connections": 0,
            "wallet_notify": p.latency.to_json(),
        })
    }

    /// Stops the applying thread once the queue is drained.
    fn stop(&self) {
        self.sync();
        let mut p = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        p.stop = true;
        self.changed.notify_all();
    }
}
