//! The wallet process's work: the node's notifications applied in order
//! from the ring, and wallet RPC calls answered, from the node and (with
//! `-server`) from our own RPC server.
//!
//! One thread reads the ring and applies each record to every loaded
//! wallet, in place. An RPC forwarded by the node names the ring sequence
//! number it must see applied first (Core's
//! `BlockUntilSyncedToCurrentChain`).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bitcoin::consensus::encode::deserialize;
use btc_core::interfaces::calls::{decode, encode};
use btc_core::interfaces::latency::Latencies;
use btc_core::interfaces::{
    method, ArchivedEventSchema, EventKind, EventRecord, RpcReply, RpcRequest,
};
use btc_core::ArchivedBlockArchive;
use serde_json::Value;
use shm_ipc::Receiver;

use super::remote_chain::RemoteChain;
use crate::{Wallet, WalletManager};

/// Node calls answered at once (more wait their turn).
const MAX_CALLS_IN_FLIGHT: usize = 16;

#[derive(Default)]
struct Progress {
    /// Sequence number of the last record applied.
    applied: Option<u64>,
    /// The first record our subscription could get.
    start: u64,
    /// The ring ended (the node went away).
    closed: bool,
    latency: Latencies,
}

/// A wallet process's wallets, fed by one node.
pub struct WalletService {
    manager: Mutex<WalletManager>,
    chain: RemoteChain,
    progress: Mutex<Progress>,
    changed: Condvar,
    info: crate::progress::InfoCache,
}

impl WalletService {
    pub fn new(manager: WalletManager, chain: RemoteChain, start_seq: u64) -> Arc<WalletService> {
        Arc::new(WalletService {
            manager: Mutex::new(manager),
            chain,
            progress: Mutex::new(Progress {
                start: start_seq,
                ..Progress::default()
            }),
            changed: Condvar::new(),
            info: Default::default(),
        })
    }

    fn manager(&self) -> MutexGuard<'_, WalletManager> {
        self.manager.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node.
    pub fn chain(&self) -> &RemoteChain {
        &self.chain
    }

    /// Applies the ring's records until the node goes away.
    pub fn follow(&self, mut rx: Receiver<EventRecord>) {
        loop {
            let rec = match rx.recv() {
                Ok(r) => r,
                Err(_) => break,
            };
            let seq = rec.seq();
            let changed = self.apply(&rec);
            let kind = rec.event_kind();
            let sent = rec.time_ns.to_native();
            drop(rec);
            {
                let mut p = self.progress();
                p.applied = Some(seq);
                if kind == Some(EventKind::BlockConnected) {
                    p.latency.record_since(sent);
                }
                self.changed.notify_all();
            }
            for name in changed {
                let _ = self.chain.conn().call(
                    method::WALLET_CHANGED,
                    &encode(&name),
                    Some(std::time::Duration::from_secs(5)),
                );
            }
        }
        let mut p = self.progress();
        p.closed = true;
        self.changed.notify_all();
    }

    /// Applies one record to every wallet; the names of wallets it changed.
    fn apply(&self, rec: &ArchivedEventSchema) -> Vec<String> {
        let mut changed = Vec::new();
        let mut m = self.manager();
        match rec.event_kind() {
            Some(EventKind::BlockConnected) => {
                let Ok(block) = rec.block() else {
                    btc_service::log_line!("wallet: a block notification does not validate");
                    return changed;
                };
                let height = rec.height.to_native();
                for w in m.wallets_mut() {
                    if connect(w, block, height, &self.chain) {
                        changed.push(w.name().to_owned());
                    }
                }
            }
            Some(EventKind::BlockDisconnected) => {
                let Ok(block) = rec.block() else {
                    return changed;
                };
                let height = rec.height.to_native();
                for w in m.wallets_mut() {
                    // Only the wallet's own tip can be disconnected: other
                    // records predate what its catch-up already read.
                    if w.last_block() == Some((height, block.block_hash())) {
                        if let Err(e) = w.block_disconnected(block, height) {
                            btc_service::log_line!("wallet {}: disconnect {height}: {e}", w.name());
                        }
                        changed.push(w.name().to_owned());
                    }
                }
            }
            Some(EventKind::TxAdded) => {
                let Ok(tx) = deserialize::<bitcoin::Transaction>(rec.body.as_slice()) else {
                    return changed;
                };
                for w in m.wallets_mut() {
                    if let Ok(true) = w.transaction_added_to_mempool(&tx) {
                        changed.push(w.name().to_owned());
                    }
                }
            }
            Some(EventKind::TxRemoved) => {
                let txid = <bitcoin::Txid as bitcoin::hashes::Hash>::from_byte_array(rec.hash);
                let Some(reason) = crate::RemovalReason::from_code(rec.height.to_native()) else {
                    return changed;
                };
                for w in m.wallets_mut() {
                    let had = w.ledger().get(&txid).is_some_and(|t| t.in_mempool());
                    match w.transaction_removed_from_mempool(&txid, reason) {
                        Ok(()) if had => changed.push(w.name().to_owned()),
                        Ok(()) => {}
                        Err(e) => {
                            btc_service::log_line!("wallet {}: removal of {txid}: {e}", w.name())
                        }
                    }
                }
            }
            _ => {}
        }
        changed
    }

    /// Waits until record `seq` is applied (or could never reach us).
    fn sync_to(&self, seq: Option<u64>) {
        let Some(seq) = seq else { return };
        let mut p = self.progress();
        while seq >= p.start && p.applied.is_none_or(|a| a < seq) && !p.closed {
            p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Runs one wallet RPC call.
    pub fn rpc(&self, req: RpcRequest) -> RpcReply {
        self.sync_to(req.sync_seq);
        if req.method == "getnotificationstats" {
            let p = self.progress();
            let mut v = p.latency.to_json();
            v["applied"] = p.applied.into();
            return RpcReply::ok(v);
        }
        let r = crate::progress::call(
            &self.manager,
            &self.info,
            req.wallet.as_deref(),
            &req.method,
            &req.params,
            &self.chain,
        );
        match r {
            Ok(v) => RpcReply::ok(v),
            Err(e) => RpcReply::err(i64::from(e.code), e.message),
        }
    }

    /// Answers the node's calls until it goes away, each on a thread of
    /// its own (a `getwalletinfo` must not wait behind a rescan).
    pub fn serve_node(self: &Arc<Self>) {
        let workers = btc_service::workers::BoundedWorkers::new(MAX_CALLS_IN_FLIGHT);
        for req in self.chain.conn().requests().iter() {
            let me = self.clone();
            workers.run(move || {
                let reply = match req.method {
                    method::WALLET_RPC => match decode::<RpcRequest>(&req.payload) {
                        Ok(r) => Ok(encode(&me.rpc(r))),
                        Err(e) => Err(e),
                    },
                    m => Err(format!("unknown method {m}")),
                };
                let _ = match &reply {
                    Ok(b) => req.reply(Ok(b)),
                    Err(e) => req.reply(Err(e)),
                };
            });
        }
    }

    /// Names of the loaded wallets.
    pub fn wallet_names(&self) -> Vec<String> {
        self.manager().names()
    }

    /// Loads wallet `name`; with `create`, creates it if it does not exist.
    pub fn load(&self, name: &str, create: bool) -> Result<(), String> {
        let mut m = self.manager();
        let exists = m.exists(name);
        let (method_name, params) = if exists {
            ("loadwallet", Value::Array(vec![Value::from(name)]))
        } else if create {
            btc_service::log_line!(
                "Creating wallet {name} (-wallet names one that does not exist)"
            );
            ("createwallet", Value::Array(vec![Value::from(name)]))
        } else {
            btc_service::log_line!("Warning: Skipping -wallet path that doesn't exist: {name}");
            return Ok(());
        };
        m.call(None, method_name, &params, &self.chain)
            .map(|_| ())
            .map_err(|e| format!("-wallet={name}: {}", e.message))
    }
}

/// Applies a connected block to `w` unless the wallet already has it (its
/// catch-up read it) or is behind (then it catches up first). Returns
/// whether the wallet changed.
fn connect(w: &mut Wallet, block: &ArchivedBlockArchive, height: u32, chain: &RemoteChain) -> bool {
    match w.last_block() {
        Some((h, _)) if h >= height => false,
        Some((h, hash)) if h + 1 == height && block.header().prev_blockhash == hash => {
            if let Err(e) = w.block_connected(block, height) {
                btc_service::log_line!("wallet {}: block {height}: {e}", w.name());
            }
            true
        }
        _ => {
            // A gap or a different parent: find the fork and catch up.
            if let Err(e) = w.attach_chain(chain) {
                btc_service::log_line!("wallet {}: catching up: {e}", w.name());
            }
            true
        }
    }
}
