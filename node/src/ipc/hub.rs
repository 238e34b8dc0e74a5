//! The node's end of every IPC connection: its wallet child, wallet
//! processes and GUIs that connect on `-ipcbind`, and the GUI that spawned
//! it. Wallet RPC methods are routed to the process holding the wallet,
//! after the notifications queued before the call are in the ring.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use btc_core::interfaces::calls::{decode, encode};
use btc_core::interfaces::{method, RemoteError, Role, RpcReply, RpcRequest};
use btc_core::rpc_codes as codes;
use serde_json::{json, Value};
use shm_ipc::{Connection, Listener};

use super::chain_server;
use super::peer::Peer;
use super::publisher::Publisher;
use super::supervisor::Supervisor;
use crate::http::{RpcError, RpcHandler};
use crate::node::Node;
use crate::wallets::{is_wallet_method, WalletEvent, Wallets};

/// How long a `loadwallet` or `createwallet` waits for a restarting
/// wallet child.
const CHILD_WAIT: Duration = Duration::from_secs(20);

/// GUI calls answered at once, each on its own thread (more wait for one
/// to finish): a rescan never holds up the calls that watch its progress.
const MAX_GUI_CALLS_IN_FLIGHT: usize = 16;

/// Where a connection came from, which decides whether its peer must
/// present the IPC secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A socketpair this node made or inherited: its wallet child, the GUI
    /// that started it.
    Inherited,
    /// A listener on a unix socket (0600) or a loopback address.
    Local,
    /// A listener beyond loopback (`-ipcallowremote`): the peer must
    /// present the secret.
    Remote,
}

/// The node's IPC connections.
pub struct Hub {
    node: Weak<Node>,
    chain: String,
    auth: Option<String>,
    publisher: Arc<Publisher>,
    supervisor: Option<Arc<Supervisor>>,
    /// Connected processes other than the child.
    peers: Mutex<Vec<Arc<Peer>>>,
    /// Runs a GUI's RPC calls (the node's dispatcher).
    rpc: OnceLock<Arc<dyn RpcHandler>>,
}

impl Hub {
    /// A hub for `node`; `supervisor` runs the wallet child (`None` with
    /// `-disablewallet`). `auth`: the secret remote peers must present.
    pub fn new(
        node: &Arc<Node>,
        publisher: Arc<Publisher>,
        supervisor: Option<Arc<Supervisor>>,
        auth: Option<String>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            node: Arc::downgrade(node),
            chain: crate::config::chain_name(node.params.network).to_string(),
            auth,
            publisher,
            supervisor,
            peers: Mutex::new(Vec::new()),
            rpc: OnceLock::new(),
        })
    }

    /// Drops the wallet processes that are behind `last` (or don't say),
    /// when the notification ring has stayed full: one that stops reading
    /// must not hold every other wallet back. A dropped child is restarted
    /// and, like any wallet that reconnects, catches up from its locator.
    pub fn drop_laggards(&self, last: Option<u64>) {
        for p in self.all_wallet_peers() {
            let applied = p
                .rpc_timeout(
                    None,
                    "getnotificationstats",
                    &json!([]),
                    None,
                    Some(Duration::from_secs(2)),
                )
                .ok()
                .and_then(|v| v.get("applied").and_then(Value::as_u64));
            let behind = match (applied, last) {
                (Some(a), Some(l)) => a < l,
                (None, _) => true,
                (Some(_), None) => false,
            };
            if behind {
                crate::log_line!(
                    "ipc: dropping {}: it stopped reading notifications",
                    p.label
                );
                p.conn.shutdown();
            }
        }
    }

    /// The notification rings.
    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// The wallet child's keeper, if any.
    pub fn supervisor(&self) -> Option<&Arc<Supervisor>> {
        self.supervisor.as_ref()
    }

    /// Sets the handler that runs a GUI's RPC calls.
    pub fn set_rpc_handler(&self, h: Arc<dyn RpcHandler>) {
        let _ = self.rpc.set(h);
    }

    fn peers(&self) -> Vec<Arc<Peer>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Hello, then the rings the peer may read. Only a peer from a remote
    /// listener is asked for the secret.
    pub fn handshake(
        &self,
        conn: Connection,
        label: String,
        origin: Origin,
    ) -> Result<Arc<Peer>, String> {
        let secret = match origin {
            Origin::Remote => self.auth.as_deref(),
            Origin::Inherited | Origin::Local => None,
        };
        let peer = Peer::handshake(conn, label, &self.chain, secret).map_err(|e| e.to_string())?;
        self.publisher
            .offer(&peer.conn, peer.role == Role::Gui)
            .map_err(|e| format!("offering the notification rings: {e}"))?;
        Ok(Arc::new(peer))
    }

    /// Takes a connection that is not the wallet child: handshake, serve it
    /// until it ends. `parent`: it is the GUI that spawned this node, whose
    /// going away stops the node.
    pub fn accept(self: &Arc<Self>, conn: Connection, label: String, origin: Origin, parent: bool) {
        let me = self.clone();
        std::thread::spawn(move || {
            let peer = match me.handshake(conn, label.clone(), origin) {
                Ok(p) => p,
                Err(e) => {
                    crate::log_line!("ipc: {label} refused: {e}");
                    if parent {
                        me.stop_node();
                    }
                    return;
                }
            };
            crate::log_line!("ipc: {} connected ({:?})", peer.label, peer.role);
            {
                // Asked aside: the peer may be making calls of its own first.
                let peer = peer.clone();
                std::thread::spawn(move || peer.refresh_wallets());
            }
            me.peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(peer.clone());
            me.serve(&peer);
            me.peers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|p| !Arc::ptr_eq(p, &peer));
            crate::log_line!("ipc: {} disconnected", peer.label);
            if parent {
                crate::log_line!("ipc: the process that started this node is gone; stopping");
                me.stop_node();
            }
        });
    }

    fn stop_node(&self) {
        if let Some(n) = self.node.upgrade() {
            n.request_stop();
        }
    }

    /// Accepts connections on `listener` until the node stops; `origin`
    /// is [`Origin::Local`] or [`Origin::Remote`].
    pub fn listen(self: &Arc<Self>, listener: Listener, origin: Origin) {
        let me = self.clone();
        std::thread::spawn(move || {
            let label = listener.address().to_string();
            loop {
                match listener.accept_pending() {
                    // Handshakes on their own threads: a peer that never
                    // completes one keeps no other waiting.
                    Ok(pending) => {
                        let (me, label) = (me.clone(), label.clone());
                        std::thread::spawn(move || {
                            match pending.handshake(super::peer::HELLO_TIMEOUT) {
                                Ok(conn) => {
                                    me.accept(conn, format!("peer on {label}"), origin, false)
                                }
                                Err(e) => crate::log_line!(
                                    "ipc: a peer on {label} failed its handshake: {e}"
                                ),
                            }
                        });
                    }
                    Err(shm_ipc::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => {
                        crate::log_line!("ipc: accept on {label}: {e}");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                if me.node.upgrade().is_none_or(|n| n.stopping()) {
                    return;
                }
            }
        });
    }

    /// Answers the peer's calls until its connection ends. A GUI's RPC
    /// calls run each on its own thread (up to
    /// [`MAX_GUI_CALLS_IN_FLIGHT`]), as HTTP's do; a wallet's Chain calls
    /// are answered in order.
    pub fn serve(self: &Arc<Self>, peer: &Arc<Peer>) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        let workers = btc_service::workers::BoundedWorkers::new(MAX_GUI_CALLS_IN_FLIGHT);
        for req in peer.conn.requests().iter() {
            if peer.role == Role::Gui && req.method == method::NODE_RPC {
                let me = self.clone();
                workers.run(move || {
                    let reply = me.node_rpc(&req.payload);
                    let _ = req.reply(Ok(&reply));
                });
                continue;
            }
            let result = match (peer.role, req.method) {
                (_, method::HELLO) => Err("already said hello".to_string()),
                (Role::Wallet, method::WALLET_CHANGED) => match decode::<String>(&req.payload) {
                    Ok(name) => {
                        self.publisher.wallet_changed(&name);
                        Ok(encode(&Value::Null))
                    }
                    Err(e) => Err(e),
                },
                (Role::Wallet, m) => chain_server::answer(&node, peer, m, &req.payload),
                (_, m) => Err(format!("method {m} is not for a {:?}", peer.role)),
            };
            let _ = match &result {
                Ok(bytes) => req.reply(Ok(bytes)),
                Err(e) => req.reply(Err(e)),
            };
        }
    }

    /// A GUI's JSON-RPC call, run like one from HTTP.
    fn node_rpc(&self, payload: &[u8]) -> Vec<u8> {
        let reply = match decode::<RpcRequest>(payload) {
            Err(e) => RpcReply::err(i64::from(codes::RPC_PARSE_ERROR), e),
            Ok(r) => match self.rpc.get() {
                None => RpcReply::err(i64::from(codes::RPC_IN_WARMUP), "RPC not ready"),
                Some(h) => {
                    let req = crate::http::RpcRequest {
                        method: r.method,
                        params: r.params,
                        path: match r.wallet {
                            Some(w) => format!("/wallet/{w}"),
                            None => "/".into(),
                        },
                        user: "__ipc__".into(),
                    };
                    match h.call(&req) {
                        Ok(v) => RpcReply::ok(v),
                        Err(e) => RpcReply::err(i64::from(e.code), e.message),
                    }
                }
            },
        };
        encode(&reply)
    }

    /// The wallet process a call for `wallet` goes to.
    fn route(&self, wallet: Option<&str>, method_name: &str) -> Result<Arc<Peer>, RpcError> {
        let peers: Vec<Arc<Peer>> = self
            .peers()
            .into_iter()
            .filter(|p| p.role == Role::Wallet)
            .collect();
        let child = || -> Result<Arc<Peer>, RpcError> {
            let s = self.supervisor.as_ref().ok_or_else(|| {
                err(
                    codes::RPC_WALLET_NOT_FOUND,
                    "No wallet process: the node runs with -disablewallet",
                )
            })?;
            let up = if matches!(method_name, "loadwallet" | "createwallet") {
                s.wait_up(CHILD_WAIT)
            } else {
                s.peer()
            };
            up.ok_or_else(|| {
                err(
                    codes::RPC_WALLET_NOT_FOUND,
                    "Wallet process unavailable; it is being restarted",
                )
            })
        };
        if let Some(name) = wallet {
            // The node's own wallet process first: an outside process can
            // claim any name, and must not take over one of the child's.
            if let Some(c) = self.supervisor.as_ref().and_then(|s| s.peer()) {
                if c.has_wallet(name) {
                    return Ok(c);
                }
            }
            if let Some(p) = peers.iter().find(|p| p.has_wallet(name)) {
                return Ok(p.clone());
            }
            return child();
        }
        if matches!(method_name, "loadwallet" | "createwallet") || self.supervisor.is_some() {
            // The child knows Core's answers for no or several wallets; an
            // outside process is asked only when it holds the one wallet.
            let loaded: Vec<&Arc<Peer>> =
                peers.iter().filter(|p| !p.wallets().is_empty()).collect();
            if self.supervisor.is_none() || loaded.is_empty() {
                return child().or_else(|e| peers.first().cloned().ok_or(e));
            }
            let child_wallets = self
                .supervisor
                .as_ref()
                .and_then(|s| s.peer())
                .map(|p| p.wallets().len())
                .unwrap_or(0);
            if child_wallets == 0 && loaded.len() == 1 && loaded[0].wallets().len() == 1 {
                return Ok(loaded[0].clone());
            }
            return child();
        }
        peers.first().cloned().ok_or_else(|| {
            err(
                codes::RPC_WALLET_NOT_FOUND,
                "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)",
            )
        })
    }

    fn all_wallet_peers(&self) -> Vec<Arc<Peer>> {
        let mut v: Vec<Arc<Peer>> = self
            .supervisor
            .as_ref()
            .and_then(|s| s.peer())
            .into_iter()
            .collect();
        v.extend(self.peers().into_iter().filter(|p| p.role == Role::Wallet));
        v
    }

    /// Notification latency as the wallet processes measured it.
    fn notify_stats(&self) -> Value {
        for p in self.all_wallet_peers() {
            if let Ok(v) = p.rpc(None, "getnotificationstats", &json!([]), None) {
                return v;
            }
        }
        Value::Null
    }
}

fn err(code: i32, message: &str) -> RpcError {
    RpcError {
        code,
        message: message.to_owned(),
    }
}

fn from_remote(e: RemoteError) -> RpcError {
    RpcError {
        code: i32::try_from(e.code).unwrap_or(codes::RPC_MISC_ERROR),
        message: e.message,
    }
}

impl Wallets for Hub {
    fn handles(&self, method_name: &str) -> bool {
        is_wallet_method(method_name)
            && (self.supervisor.is_some() || self.peers().iter().any(|p| p.role == Role::Wallet))
    }

    fn call(
        &self,
        _node: &Node,
        wallet: Option<&str>,
        method_name: &str,
        params: &Value,
    ) -> Result<Value, RpcError> {
        if method_name == "listwallets" {
            let mut names: Vec<String> = self
                .all_wallet_peers()
                .iter()
                .flat_map(|p| p.wallets())
                .collect();
            names.sort();
            names.dedup();
            return Ok(Value::Array(names.into_iter().map(Value::from).collect()));
        }
        let peer = self.route(wallet, method_name)?;
        let sync = self.publisher.sync_point();
        let result = peer
            .rpc(wallet, method_name, params, sync)
            .map_err(from_remote);
        if matches!(method_name, "createwallet" | "loadwallet" | "unloadwallet") {
            peer.refresh_wallets();
            if let Ok(v) = &result {
                let name = v
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| wallet.map(str::to_owned))
                    .or_else(|| params.get(0).and_then(Value::as_str).map(str::to_owned));
                if let Some(name) = name {
                    if let Some(s) = &self.supervisor {
                        if s.peer().is_some_and(|c| Arc::ptr_eq(&c, &peer)) {
                            s.set_loaded(&name, method_name != "unloadwallet");
                        }
                    }
                    // GUIs learn of the wallet list's change at once.
                    self.publisher.wallet_changed(&name);
                }
            }
        }
        result
    }

    fn queue(&self, events: Vec<WalletEvent>) {
        self.publisher.queue(events);
    }

    fn stop(&self) {
        if let Some(s) = &self.supervisor {
            s.stop();
        }
        for p in self.peers() {
            p.conn.shutdown();
        }
        self.publisher.stop();
    }

    fn ipc_info(&self) -> Value {
        json!({
            "rings": self.publisher.info(),
            "connections": self.all_wallet_peers().len()
                + self.peers().iter().filter(|p| p.role == Role::Gui).count(),
            "wallet_process_spawns": self.supervisor.as_ref().map(|s| s.spawns()),
            "wallet_notify": self.notify_stats(),
        })
    }
}
