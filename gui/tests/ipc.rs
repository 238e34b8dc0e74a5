//! The IPC backend against a fake node in this process: a
//! `Connection::pair()` whose other end answers `HELLO` and `NODE_RPC`
//! like the node will, and offers the `UI_CHANNEL` ring of notifications.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use btc_core::interfaces::event::now_ns;
use btc_core::interfaces::{
    calls, method, Event, EventKind, EventRecord, Hello, HelloReply, Role, RpcReply, RpcRequest,
    PROTOCOL_VERSION, UI_CHANNEL, UI_RING_BYTES,
};
use btc_gui::app::{AppConfig, GuiApp};
use btc_gui::backend::{Backend, Connector, Notification};
use btc_gui::error::BackendError;
use btc_gui::ipc::{AttachConnector, IpcBackend};
use btc_gui::model::Phase;
use crossbeam_channel as cc;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use serde_json::{json, Value};
use shm_ipc::{ChannelConfig, Connection, Policy, Sender};

/// What the test asks the fake node to do.
enum Cmd {
    /// Publish a notification.
    Publish(EventKind, Vec<u8>),
    /// Go away (drop the connection).
    Vanish,
}

/// The fake node's state: the wallet's trusted balance, in satoshis.
struct FakeNode {
    cmds: cc::Sender<Cmd>,
    balance: Arc<AtomicI64>,
    /// Methods called, in order.
    calls: Arc<Mutex<Vec<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeNode {
    /// Serves `conn` on a thread, like the node serves its GUI.
    fn serve(conn: Connection) -> FakeNode {
        FakeNode::serve_with_secret(conn, None)
    }

    /// [`serve`](Self::serve), refusing a hello without `secret` as a node
    /// bound beyond loopback does.
    fn serve_with_secret(conn: Connection, secret: Option<String>) -> FakeNode {
        let (cmds, rx) = cc::unbounded();
        let balance = Arc::new(AtomicI64::new(100_000_000));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (b, c) = (Arc::clone(&balance), Arc::clone(&calls));
        let thread = std::thread::spawn(move || node_loop(conn, secret.as_deref(), &rx, &b, &c));
        FakeNode {
            cmds,
            balance,
            calls,
            thread: Some(thread),
        }
    }

    fn publish(&self, kind: EventKind, body: &[u8]) {
        self.cmds.send(Cmd::Publish(kind, body.to_vec())).unwrap();
    }

    fn vanish(mut self) {
        self.cmds.send(Cmd::Vanish).unwrap();
        self.thread.take().unwrap().join().unwrap();
    }

    fn called(&self, m: &str) -> bool {
        self.calls.lock().unwrap().iter().any(|c| c == m)
    }
}

fn btc(sats: i64) -> Value {
    serde_json::from_str(&format!("{}.{:08}", sats / 100_000_000, sats % 100_000_000)).unwrap()
}

fn answer(req: &RpcRequest, balance: i64) -> RpcReply {
    let wallet_ok = req.wallet.as_deref().is_none_or(|w| w == "alice");
    match req.method.as_str() {
        "getblockchaininfo" => RpcReply::ok(json!({
            "chain": "regtest", "blocks": 7, "headers": 7, "bestblockhash": "00".repeat(32),
            "verificationprogress": 1, "initialblockdownload": false,
        })),
        "getmempoolinfo" => RpcReply::ok(json!({"size": 0, "bytes": 0})),
        "getnetworkinfo" => RpcReply::ok(json!({"subversion": "/fake:0/", "connections": 0})),
        "uptime" => RpcReply::ok(json!(5)),
        "getipcinfo" => RpcReply::ok(json!({"rings": [{"name": "ui", "records": 3}]})),
        "listwallets" => RpcReply::ok(json!(["alice"])),
        "listwalletdir" => RpcReply::ok(json!({"wallets": [{"name": "alice"}]})),
        _ if !wallet_ok => RpcReply::err(-18, "Requested wallet does not exist or is not loaded"),
        "getwalletinfo" => {
            RpcReply::ok(json!({"walletname": "alice", "private_keys_enabled": true}))
        }
        "getbalances" => RpcReply::ok(json!({"mine": {
            "trusted": btc(balance), "untrusted_pending": 0, "immature": 0}})),
        "listtransactions" => RpcReply::ok(json!([])),
        "sendtoaddress" => RpcReply::err(-6, "Insufficient funds"),
        _ => RpcReply::err(-32601, "Method not found"),
    }
}

fn node_loop(
    conn: Connection,
    secret: Option<&str>,
    cmds: &cc::Receiver<Cmd>,
    balance: &AtomicI64,
    calls: &Mutex<Vec<String>>,
) {
    let mut ring: Sender<EventRecord> =
        Sender::new(ChannelConfig::new(UI_RING_BYTES, Policy::Lag)).unwrap();
    conn.offer(UI_CHANNEL, &ring).unwrap();
    let requests = conn.requests().clone();
    loop {
        cc::select! {
            recv(requests) -> r => {
                let Ok(req) = r else { return };
                let reply = match req.method {
                    method::HELLO => {
                        let h: Hello = calls::decode(&req.payload).unwrap();
                        assert_eq!(h.role, Role::Gui);
                        if secret.is_some() && h.auth.as_deref() != secret {
                            // The node's words (node/src/ipc/peer.rs).
                            let _ = req.reply(Err("wrong or missing IPC secret"));
                            return;
                        }
                        calls::encode(&HelloReply {
                            version: PROTOCOL_VERSION,
                            role: Role::Node,
                            chain: h.chain,
                            block_files: false,
                        })
                    }
                    method::NODE_RPC => {
                        let r: RpcRequest = calls::decode(&req.payload).unwrap();
                        calls.lock().unwrap().push(r.method.clone());
                        calls::encode(&answer(&r, balance.load(Ordering::Acquire)))
                    }
                    _ => {
                        let _ = req.reply(Err("unknown method"));
                        continue;
                    }
                };
                let _ = req.reply(Ok(&reply));
            }
            recv(cmds) -> c => match c {
                Ok(Cmd::Publish(kind, body)) => {
                    let mut v = rkyv::util::AlignedVec::<16>::new();
                    v.extend_from_slice(&body);
                    let ev = Event { kind, height: 8, hash: [7; 32], time_ns: now_ns(), body: v };
                    ring.send(&ev).unwrap();
                }
                Ok(Cmd::Vanish) | Err(_) => return, // drops the connection
            },
        }
    }
}

/// Hands the GUI the pair's other end once (an attached node).
struct PairConnector(Mutex<Option<Connection>>);

impl Connector for PairConnector {
    fn connect(&self, progress: &dyn Fn(&str)) -> Result<Arc<dyn Backend>, BackendError> {
        let conn = self
            .0
            .lock()
            .unwrap()
            .take()
            .ok_or_else(|| BackendError::Start("gone".into()))?;
        Ok(Arc::new(IpcBackend::handshake(
            conn, "regtest", None, progress,
        )?))
    }
    fn spawns(&self) -> bool {
        false
    }
    fn describe(&self) -> String {
        "fake node over a socketpair".into()
    }
}

#[test]
fn the_backend_calls_the_node_and_hears_its_notifications() {
    let (gui, node_end) = Connection::pair().unwrap();
    let node = FakeNode::serve(node_end);
    let b = IpcBackend::handshake(gui, "regtest", None, &|_| {}).unwrap();
    assert!(b.subscribed);
    assert_eq!(b.chain(), "regtest");
    assert!(!b.owns_node());
    let v = b.rpc(Some("alice"), "getbalances", json!([])).unwrap();
    assert_eq!(v["mine"]["trusted"].to_string(), "1.00000000");
    // Core's error codes come through unchanged.
    let e = b
        .rpc(Some("alice"), "sendtoaddress", json!(["x", 1]))
        .unwrap_err();
    assert_eq!(e.code(), Some(-6));
    assert_eq!(
        b.rpc(Some("bob"), "getbalances", json!([]))
            .unwrap_err()
            .code(),
        Some(-18)
    );

    let notes = b.notifications();
    node.publish(EventKind::WalletChanged, b"alice");
    node.publish(EventKind::TipUpdated, b"");
    node.publish(EventKind::Flushed, b"");
    node.publish(EventKind::TxAdded, b"\x01\x02");
    let got: Vec<_> = (0..3)
        .map(|_| notes.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    assert_eq!(
        got[0].what,
        Notification::WalletChanged {
            wallet: "alice".into()
        }
    );
    assert!(matches!(&got[1].what, Notification::Tip { height: 8, hash } if hash.len() == 64));
    assert_eq!(
        got[2].what,
        Notification::Mempool,
        "Flushed is not for the GUI"
    );
    assert!(got[0].latency_us.is_some());

    node.vanish();
    let last = notes.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(last.what, Notification::Disconnected { .. }),
        "{last:?}"
    );
    assert!(!b.is_connected());
    assert!(b
        .rpc(None, "uptime", json!([]))
        .unwrap_err()
        .is_disconnect());
    // Closing an attached connection is just a disconnect, and idempotent.
    b.close(&|_| {});
    b.close(&|_| {});
}

#[test]
fn a_node_refusing_the_gui_is_an_error_not_a_hang() {
    let (gui, node_end) = Connection::pair().unwrap();
    let t = std::thread::spawn(move || {
        let req = node_end.requests().recv().unwrap();
        req.reply(Err("wrong chain: the node runs main")).unwrap();
        node_end
    });
    let e = IpcBackend::handshake(gui, "regtest", None, &|_| {})
        .err()
        .unwrap();
    assert!(e.to_string().contains("wrong chain"), "{e}");
    drop(t.join().unwrap());
}

#[test]
fn the_window_updates_from_ipc_notifications_and_survives_the_node_vanishing() {
    let (gui, node_end) = Connection::pair().unwrap();
    let node = FakeNode::serve(node_end);
    let quit = Arc::new(AtomicBool::new(false));
    let connector = Arc::new(PairConnector(Mutex::new(Some(gui))));
    let mut h = Harness::builder()
        .with_size(egui::vec2(1000.0, 800.0))
        .build_eframe(move |cc| {
            GuiApp::new(
                &cc.egui_ctx,
                AppConfig {
                    connector,
                    chain: "regtest".into(),
                    wallets: vec![],
                    quit,
                },
            )
        });
    let settle = |h: &mut Harness<'_, GuiApp>, what: &str, cond: &dyn Fn(&GuiApp) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond(h.state()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            h.step();
            std::thread::sleep(Duration::from_millis(2));
        }
        h.step();
    };
    settle(&mut h, "the balance", &|a| {
        a.model.balances.is_some_and(|b| b.trusted == 100_000_000)
    });
    assert_eq!(a_wallet(&h), Some("alice".into()));

    // The node's wallet changes and it says so: the window follows, with
    // no click and no timer.
    node.balance.store(250_000_000, Ordering::Release);
    node.publish(EventKind::WalletChanged, b"alice");
    settle(&mut h, "the pushed balance", &|a| {
        a.model.balances.is_some_and(|b| b.trusted == 250_000_000)
    });
    assert!(node.called("getbalances") && node.called("getipcinfo"));
    assert!(h.state().model.notifications >= 1);

    // The node vanishes: the window says so, keeps what it knew, and keeps
    // painting.
    node.vanish();
    settle(&mut h, "the lost connection", &|a| {
        matches!(a.model.phase, Phase::Lost(_))
    });
    let t = Instant::now();
    for _ in 0..30 {
        h.step();
    }
    assert!(t.elapsed() < Duration::from_secs(2), "frames kept coming");
    assert!(h
        .query_all_by(|n| n.value().as_deref() == Some("Node disconnected"))
        .next()
        .is_some());
    assert!(h
        .query_all_by(|n| n.label().as_deref() == Some("Reconnect"))
        .next()
        .is_some());
    assert_eq!(h.state().model.balances.unwrap().trusted, 250_000_000);
}

fn a_wallet(h: &Harness<'_, GuiApp>) -> Option<String> {
    h.state().model.wallet.clone()
}

/// A listener on a fresh unix socket, and its address.
fn unix_listener(name: &str) -> (shm_ipc::Listener, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("gui-ipc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let addr = format!("unix:{}", dir.join("node.sock").display());
    let l = shm_ipc::Listener::bind(&shm_ipc::Address::parse(&addr).unwrap()).unwrap();
    (l, addr, dir)
}

/// Accepts one peer (the listener may be non-blocking).
fn accept_one(l: &shm_ipc::Listener) -> Connection {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match l.accept(Duration::from_secs(10)) {
            Ok(c) => return c,
            Err(shm_ipc::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no peer came");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn an_attached_gui_presents_the_ipc_secret_of_its_cookie_file() {
    let (l, addr, dir) = unix_listener("secret");
    let secret = "5ec2e7".repeat(8);
    let good = dir.join(".ipccookie");
    // As the node writes it; the GUI trims, like the wallet process.
    std::fs::write(&good, format!("{secret}\n")).unwrap();
    let wrong = dir.join("wrong.cookie");
    std::fs::write(&wrong, "00".repeat(32)).unwrap();

    // The right secret: in, and calls work.
    let connector = AttachConnector::new(&addr, "regtest").with_cookie_file(Some(good));
    let node = std::thread::scope(|s| {
        let t = s.spawn(|| FakeNode::serve_with_secret(accept_one(&l), Some(secret.clone())));
        let b = connector.connect(&|_| {}).unwrap();
        assert_eq!(b.rpc(None, "uptime", json!([])).unwrap(), json!(5));
        assert!(!b.owns_node());
        b.close(&|_| {});
        t.join().unwrap()
    });
    assert!(node.called("uptime"));

    // A wrong secret, and none: refused, with the node's reason and what
    // to do, not a hang.
    for (cookie, hint) in [
        (Some(wrong), "is not this node's current .ipccookie"),
        (None, "-ipccookiefile=<its datadir>/<chain>/.ipccookie"),
    ] {
        let c = AttachConnector::new(&addr, "regtest").with_cookie_file(cookie);
        let e = std::thread::scope(|s| {
            let t = s.spawn(|| FakeNode::serve_with_secret(accept_one(&l), Some(secret.clone())));
            let e = c.connect(&|_| {}).err().expect("refused");
            drop(t.join().unwrap());
            e
        });
        let msg = e.to_string();
        assert!(msg.contains("wrong or missing IPC secret"), "{msg}");
        assert!(msg.contains(hint), "{msg}");
    }

    // A cookie file that can't be read, or is empty: an error before
    // connecting at all.
    let missing = dir.join("missing.cookie");
    let e = AttachConnector::new(&addr, "regtest")
        .with_cookie_file(Some(missing.clone()))
        .connect(&|_| {})
        .err()
        .expect("no cookie");
    assert!(
        e.to_string()
            .contains(&format!("cannot read -ipccookiefile {}", missing.display())),
        "{e}"
    );
    let empty = dir.join("empty.cookie");
    std::fs::write(&empty, "\n").unwrap();
    let e = AttachConnector::new(&addr, "regtest")
        .with_cookie_file(Some(empty))
        .connect(&|_| {})
        .err()
        .expect("empty cookie");
    assert!(e.to_string().contains("is empty"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
