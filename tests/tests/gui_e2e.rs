//! `bitcoin-gui` against the real processes (issue "bitcoin-gui"): the
//! window's logic (`GuiApp` in a headless egui_kittest `Harness`, no
//! display) with the real `IpcBackend`, on a `bitcoin-node` it spawns over a
//! socketpair (which spawns `bitcoin-wallet`) or attaches to.
//!
//! - the end-to-end test: a wallet made in the wizard, mined to over
//!   JSON-RPC, its balance on the Overview with no user action, a send to a
//!   second wallet through the Send screen, the Transactions list;
//! - process tests: nothing is left running after the GUI exits (closed,
//!   dropped, or a real `bitcoin-gui` process sent SIGTERM), a node it
//!   attached to keeps running;
//! - `-ipccookiefile`: attaching to a node bound beyond loopback.
//!
//! Every test starts its processes on fresh temporary directories and free
//! ports; waits poll with a deadline.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use btc_gui::app::{AppConfig, Closing, GuiApp};
use btc_gui::backend::Connector;
use btc_gui::ipc::{AttachConnector, SpawnConnector};
use btc_gui::model::Phase;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use serde_json::{json, Value};

mod common;
use common::*;

const FEE: &str = "-fallbackfee=0.0002";
const COIN: i64 = 100_000_000;

// ---------------------------------------------------------------------------
// The window

type H = Harness<'static, GuiApp>;

fn window(connector: Arc<dyn Connector>, wallets: &[&str], quit: Arc<AtomicBool>) -> H {
    let wallets = wallets.iter().map(|w| w.to_string()).collect();
    let mut h = Harness::builder()
        .with_size(egui::vec2(1100.0, 900.0))
        .build_eframe(move |cc| {
            GuiApp::new(
                &cc.egui_ctx,
                AppConfig {
                    connector,
                    chain: "regtest".into(),
                    wallets,
                    quit,
                },
            )
        });
    h.step();
    h
}

/// Steps frames until `cond` holds, for at most `secs` seconds. Only frames:
/// no click, no typing.
#[track_caller]
fn settle(h: &mut H, what: &str, secs: u64, cond: impl Fn(&H) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        h.step();
        if cond(h) {
            h.step();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}; phase {:?}, wallets {:?}, shown {:?}, blocks {:?}, balances {:?}",
            h.state().model.phase,
            h.state().model.wallets,
            h.state().model.wallet,
            h.state().model.chain.as_ref().map(|c| c.blocks),
            h.state().model.balances,
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether a widget is named `text` or shows it.
fn shows(h: &H, text: &str) -> bool {
    let t = text.to_string();
    h.query_all_by(move |n| n.label().as_deref() == Some(&*t) || n.value().as_deref() == Some(&*t))
        .next()
        .is_some()
}

/// Whether a widget's name or text contains `text`.
fn shows_part(h: &H, text: &str) -> bool {
    let t = text.to_string();
    h.query_all_by(move |n| {
        n.label().is_some_and(|l| l.contains(&*t)) || n.value().is_some_and(|v| v.contains(&*t))
    })
    .next()
    .is_some()
}

#[track_caller]
fn wait_for_text(h: &mut H, text: &str, secs: u64) {
    let t = text.to_string();
    settle(h, text, secs, move |h| shows(h, &t));
}

#[track_caller]
fn wait_for_part(h: &mut H, text: &str, secs: u64) {
    let t = text.to_string();
    settle(h, text, secs, move |h| shows_part(h, &t));
}

fn click(h: &mut H, label: &str) {
    h.step();
    h.get_by_label(label).click();
    h.step();
    h.step();
}

fn type_into(h: &mut H, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.step();
    h.get_by_label(label).type_text(text);
    h.step();
}

fn close_window(h: &mut H) {
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.step();
}

/// A connector that starts the real `bitcoin-node` on regtest in `dir`,
/// with RPC on `port`, as `bitcoin-gui -regtest -datadir=DIR
/// -rpcport=PORT -fallbackfee=...` does.
fn spawner(dir: &Path, port: u16) -> Arc<SpawnConnector> {
    let mut c = SpawnConnector::new(
        program("bitcoin-node"),
        regtest_args(dir, port, &[FEE]),
        "regtest",
    );
    // A node that does not stop in time is a failure here, not a wait.
    c.stop_timeout = Duration::from_secs(20);
    c.term_timeout = Duration::from_secs(5);
    Arc::new(c)
}

// ---------------------------------------------------------------------------
// Processes

/// Whether process `pid` runs (a zombie does not).
fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(_, st)| st != 'Z')
}

fn cmdline(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[track_caller]
fn wait_gone(pid: u32, what: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}: {}) still runs after {secs} s",
            cmdline(pid)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The child of `parent` named `name`, once there.
#[track_caller]
fn child_named(parent: u32, name: &str, secs: u64) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let found: Vec<u32> = children_of(parent)
            .into_iter()
            .filter(|&c| proc_name(c).as_deref() == Some(name))
            .collect();
        match found.as_slice() {
            [one] => return *one,
            [] => {}
            more => panic!("{} {name} children of {parent}: {more:?}", more.len()),
        }
        assert!(
            Instant::now() < deadline,
            "no {name} child of {parent} ({}) after {secs} s",
            cmdline(parent)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The node the window started, and the wallet process that node started,
/// checked to be the ones of `dir`.
fn node_and_wallet(h: &H, dir: &Path) -> (u32, u32) {
    let node = h.state().node_pid().expect("the window started a node");
    assert_eq!(proc_name(node).as_deref(), Some("bitcoin-node"));
    assert!(
        cmdline(node).contains(&format!("-datadir={}", dir.display())),
        "{}",
        cmdline(node)
    );
    assert_eq!(
        proc_stat(node).map(|(ppid, _)| ppid),
        Some(std::process::id()),
        "the node is this process's child"
    );
    let wallet = child_named(node, "bitcoin-wallet", 30);
    (node, wallet)
}

/// JSON-RPC to a node the GUI started, with the cookie of its datadir.
struct Rpc {
    port: u16,
    auth: String,
    dir: PathBuf,
}

impl Rpc {
    /// Waits until the node in `dir` answers on `port`.
    fn wait(dir: &Path, port: u16) -> Rpc {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(c) = fs::read_to_string(dir.join("regtest/.cookie")) {
                let r = Rpc {
                    port,
                    auth: c.trim().to_string(),
                    dir: dir.to_path_buf(),
                };
                if rpc_call(port, &r.auth, "getblockcount", &json!([])).is_ok() {
                    return r;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the node in {} never answered RPC on {port}\n{}",
                dir.display(),
                tail(&dir.join("regtest/debug.log"), 20)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn call(&self, wallet: Option<&str>, method: &str, params: Value) -> Result<Value, RpcErr> {
        let path = wallet.map_or("/".to_string(), |w| format!("/wallet/{w}"));
        match rpc_call_at(self.port, &path, &self.auth, method, &params) {
            Ok(v) => Ok(v),
            Err(CallError::Rpc(e)) => Err(e),
            Err(e) => panic!(
                "{path} {method} {params}: {e:?}\n{}",
                tail(&self.dir.join("regtest/debug.log"), 20)
            ),
        }
    }

    fn rpc(&self, wallet: Option<&str>, method: &str, params: Value) -> Value {
        self.call(wallet, method, params.clone())
            .unwrap_or_else(|e| panic!("{wallet:?} {method} {params}: {e:?}"))
    }
}

/// An amount in BTC (JSON) in satoshis, exactly.
fn sats(v: &Value) -> i64 {
    let s = v.to_string();
    let (w, f) = s.split_once('.').unwrap_or((&s, ""));
    let neg = w.starts_with('-');
    let w: i64 = w.trim_start_matches('-').parse().unwrap();
    let f: i64 = format!("{f:0<8}")[..8].parse().unwrap();
    let n = w * COIN + f;
    if neg {
        -n
    } else {
        n
    }
}

/// (trusted, immature) of `wallet` over RPC, in satoshis.
fn rpc_balances(rpc: &Rpc, wallet: &str) -> (i64, i64) {
    let b = rpc.rpc(Some(wallet), "getbalances", json!([]));
    (sats(&b["mine"]["trusted"]), sats(&b["mine"]["immature"]))
}

// ---------------------------------------------------------------------------
// The end-to-end test

/// The end-to-end test, on real `bitcoin-node` + `bitcoin-wallet`:
/// the wallet is created in the wizard and its address made on the Receive
/// screen; coins are mined to it over JSON-RPC and the Overview shows them
/// with no user action (the node's notifications alone); a send to a second
/// wallet goes through the Send screen and its confirmation dialog; after a
/// block, the second wallet has the coins (RPC) and the Transactions list
/// shows the send, confirmed. Closing the window leaves nothing running.
#[test]
fn e2e_mine_and_send_through_the_window_on_the_real_node_and_wallet() {
    let t0 = Instant::now();
    let dir = tempdir();
    let port = free_port();
    let mut h = window(
        spawner(dir.path(), port),
        &[],
        Arc::new(AtomicBool::new(false)),
    );
    settle(&mut h, "the node started", 60, |h| {
        h.state().model.connected()
    });
    let (node, wallet) = node_and_wallet(&h, dir.path());
    let rpc = Rpc::wait(dir.path(), port);

    // First run: the wizard creates wallet "alice".
    wait_for_text(&mut h, "Create a new wallet", 20);
    type_into(&mut h, "Wallet name:", "alice");
    click(&mut h, "Create wallet");
    settle(&mut h, "alice shown", 30, |h| {
        h.state().model.wallet.as_deref() == Some("alice") && h.state().model.balances.is_some()
    });
    assert_eq!(h.state().model.balances.unwrap().total(), 0);
    let listed = rpc.rpc(None, "listwallets", json!([]));
    assert_eq!(listed, json!(["alice"]), "created in the wallet process");

    // Alice's address from the Receive screen.
    click(&mut h, "Receive");
    type_into(&mut h, "Label:", "mining");
    click(&mut h, "Create new receiving address");
    settle(&mut h, "a receiving address", 20, |h| {
        h.state().screens.receive.current().is_some()
    });
    let alice = h.state().screens.receive.current().unwrap().address.clone();
    assert!(alice.starts_with("bcrt1"), "{alice}");
    let info = rpc.rpc(Some("alice"), "getaddressinfo", json!([alice]));
    assert_eq!(info["ismine"], json!(true), "{info}");

    // A second wallet, over RPC.
    rpc.rpc(None, "createwallet", json!(["bob"]));
    let bob = rpc.rpc(Some("bob"), "getnewaddress", json!([]));
    let bob = bob.as_str().unwrap().to_string();

    // Mine to alice over RPC; the window only steps frames from here on.
    click(&mut h, "Overview");
    rpc.rpc(None, "generatetoaddress", json!([101, alice]));
    settle(&mut h, "the mined balance, pushed", 20, |h| {
        h.state().model.balances.is_some_and(|b| {
            b.trusted == 50 * COIN && b.immature == 100 * 50 * COIN && b.pending == 0
        }) && h
            .state()
            .model
            .chain
            .as_ref()
            .is_some_and(|c| c.blocks == 101)
    });
    assert_eq!(
        rpc_balances(&rpc, "alice"),
        (50 * COIN, 5000 * COIN),
        "what the wallet process says"
    );
    assert!(shows(&h, "50.00000000 BTC"), "available on the Overview");
    assert!(shows(&h, "5000.00000000 BTC"), "immature on the Overview");
    assert!(shows(&h, "5050.00000000 BTC"), "total on the Overview");
    assert!(h.state().model.notifications > 0, "through notifications");

    // Send 12.5 BTC to bob through the Send screen.
    click(&mut h, "Send");
    type_into(&mut h, "Pay to:", &bob);
    type_into(&mut h, "Amount:", "12.5");
    click(&mut h, "Send…");
    wait_for_text(&mut h, "Confirm send coins", 30);
    assert!(shows(&h, "12.50000000 BTC"), "the amount in the dialog");
    assert!(shows(&h, &bob), "the recipient in the dialog");
    click(&mut h, "Confirm send");
    wait_for_text(&mut h, "Transaction sent.", 30);
    let txid = match &h.state().screens.send.result {
        Some(Ok(t)) => t.clone(),
        other => panic!("send: {other:?}"),
    };
    assert!(is_hex64(&json!(txid)), "{txid}");
    let mempool = rpc.rpc(None, "getrawmempool", json!([]));
    assert_eq!(mempool, json!([txid]), "the send is in the node's mempool");
    let fee = -sats(&rpc.rpc(Some("alice"), "gettransaction", json!([txid]))["fee"]);
    assert!(fee > 0 && fee < COIN / 100, "fee {fee}");
    // Pending for bob, spent for alice, before any block.
    settle(&mut h, "the send in the window", 20, |h| {
        h.state()
            .model
            .txs
            .iter()
            .any(|t| t.txid == txid && t.category == "send")
    });

    // A block confirms it; bob has the coins (RPC) and the window follows.
    rpc.rpc(None, "generatetoaddress", json!([1, OTHER_ADDR]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while rpc_balances(&rpc, "bob").0 != 25 * COIN / 2 {
        assert!(
            Instant::now() < deadline,
            "bob: {:?}",
            rpc_balances(&rpc, "bob")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Alice: 2 coinbases mature at height 102, less 12.5 and the fee.
    let expect = 100 * COIN - 25 * COIN / 2 - fee;
    assert_eq!(rpc_balances(&rpc, "alice").0, expect);
    settle(
        &mut h,
        "alice's new balance and the confirmation",
        20,
        |h| {
            let m = &h.state().model;
            m.balances
                .is_some_and(|b| b.trusted == expect && b.pending == 0)
                && m.txs
                    .iter()
                    .any(|t| t.txid == txid && t.confirmations == 1 && t.amount == -25 * COIN / 2)
        },
    );
    click(&mut h, "Transactions");
    wait_for_text(&mut h, "-12.50000000 BTC", 10);
    assert!(shows(&h, "Sent to"));
    click(&mut h, "-12.50000000 BTC");
    wait_for_text(&mut h, "Transaction details", 10);
    assert!(shows(&h, &txid), "the details pane");

    // A rescan from the console: answered; no progress left behind.
    click(&mut h, "Console");
    type_into(&mut h, "Command:", "rescanblockchain");
    h.key_press(egui::Key::Enter);
    wait_for_part(&mut h, "\"stop_height\": 102", 30);
    assert_eq!(h.state().model.scan, None);

    // Closing the window stops the node, which stops its wallet.
    close_window(&mut h);
    settle(&mut h, "closed", 40, |h| {
        h.state().closing() == Closing::Done
    });
    wait_gone(node, "bitcoin-node", 10);
    wait_gone(wallet, "bitcoin-wallet", 10);
    let log = fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    assert!(log.contains("Shutdown: done"), "a clean stop:\n{log}");
    eprintln!("e2e: {:.1} s", t0.elapsed().as_secs_f64());
}

/// Stops a process (SIGSTOP) until dropped (SIGCONT), also when a test
/// fails meanwhile.
struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Paused {
        // SAFETY: kill(2) on a process this test's window started, seen
        // running.
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

/// A rescan started in the console of a window on the real node and
/// wallet: while it runs, the window asks the wallet's `getwalletinfo`
/// once a second and shows its `scanning` progress; frames never wait.
///
/// A rescan of regtest's small blocks is quick (20000 blocks with a
/// payment each in about 0.5 s here; block times cap a fast regtest chain
/// near 40000 blocks), so the rescan is made slow from outside: the
/// wallet process is stopped (SIGSTOP) 150 ms into it, for 1.35 s, long
/// enough for the window's first question; resumed, it answers that
/// question while the rescan still has work left.
///
/// The node answers a GUI's calls each on its own thread (`Hub::serve`),
/// so the progress question does not wait behind the rescan.
#[test]
fn a_console_rescan_on_the_real_wallet_shows_its_progress() {
    const BLOCKS: u64 = 20_000;
    let dir = tempdir();
    let port = free_port();
    let mut h = window(
        spawner(dir.path(), port),
        &[],
        Arc::new(AtomicBool::new(false)),
    );
    settle(&mut h, "the node started", 60, |h| {
        h.state().model.connected()
    });
    let (_, wallet) = node_and_wallet(&h, dir.path());
    let rpc = Rpc::wait(dir.path(), port);
    // Blocks paying a key no wallet has yet (no wallet work meanwhile)...
    let k = key(42);
    rpc.rpc(
        None,
        "generatetoaddress",
        json!([BLOCKS, k.addr.to_string()]),
    );
    wait_for_text(&mut h, "Create a new wallet", 20);
    type_into(&mut h, "Wallet name:", "scan");
    click(&mut h, "Create wallet");
    settle(&mut h, "the wallet shown at the tip", 30, |h| {
        let m = &h.state().model;
        m.wallet.as_deref() == Some("scan")
            && m.chain.as_ref().is_some_and(|c| c.blocks == BLOCKS)
            && m.balances.is_some_and(|b| b.total() == 0)
    });
    // ...then the key, imported into the window's wallet over RPC.
    let wif = bitcoin::PrivateKey::new(k.sk, bitcoin::Network::Regtest).to_wif();
    let r = rpc.rpc(
        Some("scan"),
        "importdescriptors",
        json!([[{"desc": with_checksum(&format!("wpkh({wif})")), "timestamp": "now"}]]),
    );
    assert_eq!(r[0]["success"], json!(true), "{r}");
    let found = rpc_balances(&rpc, "scan");
    assert!(found.0 + found.1 > 0, "the import found the payments");

    click(&mut h, "Console");
    type_into(&mut h, "Command:", "rescanblockchain");
    h.key_press(egui::Key::Enter);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let mut seen: Vec<f64> = Vec::new();
    let mut paused: Option<Paused> = None;
    let mut resumed = false;
    let answer = format!("\"stop_height\": {BLOCKS}");
    while !shows_part(&h, &answer) {
        let at = started.elapsed();
        if !resumed && paused.is_none() && at >= Duration::from_millis(150) {
            paused = Some(Paused::new(wallet));
        }
        if paused.is_some() && at >= Duration::from_millis(1500) {
            paused = None;
            resumed = true;
        }
        let t = Instant::now();
        h.step();
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "a frame waited for the node"
        );
        if let Some(s) = &h.state().model.scan {
            assert_eq!(s.wallet, "scan");
            if seen.last() != Some(&s.progress) {
                seen.push(s.progress);
            }
            assert!(shows_part(&h, "Rescanning wallet scan: "), "the bar");
        }
        assert!(Instant::now() < deadline, "no answer to rescanblockchain");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(paused);
    let took = started.elapsed();
    assert!(
        resumed,
        "the rescan ended in {:.2} s, before the wallet was paused",
        took.as_secs_f64()
    );
    assert_eq!(rpc_balances(&rpc, "scan"), found);
    assert!(
        !seen.is_empty(),
        "no rescan progress shown while it ran ({:.1} s)",
        took.as_secs_f64()
    );
    settle(&mut h, "the bar gone", 5, |h| {
        h.state().model.scan.is_none()
    });
}

// ---------------------------------------------------------------------------
// Process tests

/// Dropping the window (the app goes away without the close path) still
/// stops the node it started, and the node its wallet process.
#[test]
fn dropping_the_window_leaves_no_node_or_wallet_process() {
    let dir = tempdir();
    let mut h = window(
        spawner(dir.path(), free_port()),
        &[],
        Arc::new(AtomicBool::new(false)),
    );
    settle(&mut h, "the node started", 60, |h| {
        h.state().model.connected()
    });
    let (node, wallet) = node_and_wallet(&h, dir.path());
    let t = Instant::now();
    drop(h);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "dropping the window does not wait for the node"
    );
    wait_gone(node, "bitcoin-node", 30);
    wait_gone(wallet, "bitcoin-wallet", 10);
}

/// Whether `xvfb-run` is on the PATH.
fn xvfb_run() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("xvfb-run"))
        .find(|p| p.is_file())
}

/// Kills a process tree this test started when dropped (a failed test
/// leaves nothing behind).
struct Tree(std::process::Child);

impl Drop for Tree {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            kill_tree(self.0.id());
            let _ = self.0.wait();
        }
    }
}

/// `bitcoin-gui` with `args` under `xvfb-run` (output to `gui.stdout` and
/// `gui.stderr` in `dir`), and the GUI's own pid once it runs.
fn xvfb_gui(xvfb: &Path, dir: &Path, args: Vec<String>) -> (Tree, u32) {
    let mut all = vec![
        "-a".to_string(),
        "-s".into(),
        "-screen 0 1024x768x24".into(),
        gui_program().display().to_string(),
    ];
    all.extend(args);
    let mut run = Tree(spawn_logged(xvfb, dir, "gui", &all, false));
    // xvfb-run (a shell script) runs bitcoin-gui as its child.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = children_of(run.0.id())
            .into_iter()
            .find(|&c| proc_name(c).as_deref() == Some("bitcoin-gui"));
        if let Some(p) = found {
            return (run, p);
        }
        if let Ok(Some(st)) = run.0.try_wait() {
            panic!(
                "xvfb-run bitcoin-gui exited: {st}\n{}",
                gui_logs(dir, Path::new(""))
            );
        }
        assert!(Instant::now() < deadline, "no bitcoin-gui");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The GUI's stderr and the tail of a node's debug.log, for failures.
fn gui_logs(dir: &Path, debug_log: &Path) -> String {
    format!(
        "--- gui.stderr:\n{}\n--- debug.log:\n{}",
        tail(&dir.join("gui.stderr"), 20),
        tail(debug_log, 20)
    )
}

/// Waits until `log` says `what`.
#[track_caller]
fn wait_log(log: &Path, what: &str, secs: u64, diag: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !fs::read_to_string(log).is_ok_and(|l| l.contains(what)) {
        assert!(
            Instant::now() < deadline,
            "{} never said {what:?}\n{}",
            log.display(),
            diag()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM to a real `bitcoin-gui` process stops the node it started and
/// that node's wallet, and the GUI exits with 0.
///
/// The window needs a display: under `xvfb-run` when it is installed (a
/// real `bitcoin-gui` process, glow on Mesa's software OpenGL). Without
/// it, the same shutdown path is driven through the library instead: the
/// binary's signal thread only sets `AppConfig::quit` (see
/// `gui/src/bin/bitcoin-gui.rs`), which is what this test then sets.
#[test]
fn sigterm_to_bitcoin_gui_leaves_no_node_or_wallet_process() {
    let dir = tempdir();
    let port = free_port();
    let Some(xvfb) = xvfb_run() else {
        eprintln!("no xvfb-run: testing the SIGTERM path through the library");
        let quit = Arc::new(AtomicBool::new(false));
        let mut h = window(spawner(dir.path(), port), &[], Arc::clone(&quit));
        settle(&mut h, "the node started", 60, |h| {
            h.state().model.connected()
        });
        let (node, wallet) = node_and_wallet(&h, dir.path());
        quit.store(true, std::sync::atomic::Ordering::Release);
        settle(&mut h, "closed", 40, |h| {
            h.state().closing() == Closing::Done
        });
        wait_gone(node, "bitcoin-node", 10);
        wait_gone(wallet, "bitcoin-wallet", 10);
        return;
    };
    let (mut run, gui_pid) = xvfb_gui(&xvfb, dir.path(), regtest_args(dir.path(), port, &[FEE]));
    let logs = |dir: &Path| gui_logs(dir, &dir.join("regtest/debug.log"));
    let node = child_named(gui_pid, "bitcoin-node", 30);
    let wallet = child_named(node, "bitcoin-wallet", 30);
    // Wait for the window's connection to the node.
    let log = dir.path().join("regtest/debug.log");
    wait_log(&log, "connected (Gui)", 60, || logs(dir.path()));
    Rpc::wait(dir.path(), port);

    // SAFETY: kill(2) on a process this test started (its grandchild),
    // seen running just above.
    unsafe { libc::kill(gui_pid as i32, libc::SIGTERM) };
    let st = wait_child(&mut run.0, 60);
    assert!(st.success(), "bitcoin-gui: {st}\n{}", logs(dir.path()));
    wait_gone(gui_pid, "bitcoin-gui", 5);
    wait_gone(node, "bitcoin-node", 10);
    wait_gone(wallet, "bitcoin-wallet", 10);
    let l = fs::read_to_string(&log).unwrap();
    assert!(
        l.contains("Shutdown: done"),
        "a clean stop\n{}",
        logs(dir.path())
    );
    let err = fs::read_to_string(dir.path().join("gui.stderr")).unwrap_or_default();
    assert!(err.contains("SIGTERM, shutting down"), "{err}");
}

/// A real `bitcoin-gui -ipcconnect=tcp:127.0.0.1:PORT -ipccookiefile=FILE`
/// (under `xvfb-run`) gets into a node bound on `tcp:0.0.0.0:PORT` with
/// `-ipcallowremote`, and SIGTERM closes it without stopping that node.
/// The library's side of both is tested headless above and below; this
/// checks the program's options reach it. Without `xvfb-run` there is no
/// window to start, and the test says so and passes.
#[test]
fn a_real_bitcoin_gui_attaches_with_its_cookie_file_and_leaves_the_node_running() {
    let Some(xvfb) = xvfb_run() else {
        eprintln!("no xvfb-run: the attach with -ipccookiefile is tested through the library only");
        return;
    };
    let dir = tempdir();
    let ipc_port = free_port();
    let mut n = Node::start_program(
        &program("bitcoin-node"),
        dir.path(),
        &[
            "-disablewallet",
            &format!("-ipcbind=tcp:0.0.0.0:{ipc_port}"),
            "-ipcallowremote",
        ],
    );
    let gui_dir = dir.path().join("gui");
    fs::create_dir_all(&gui_dir).unwrap();
    let (mut run, gui_pid) = xvfb_gui(
        &xvfb,
        &gui_dir,
        vec![
            "-regtest".into(),
            format!("-ipcconnect=tcp:127.0.0.1:{ipc_port}"),
            format!(
                "-ipccookiefile={}",
                dir.path().join("regtest/.ipccookie").display()
            ),
        ],
    );
    let log = n.debug_log();
    let diag = || gui_logs(&gui_dir, &log);
    wait_log(&log, "connected (Gui)", 30, diag);
    assert_eq!(
        children_of(gui_pid),
        Vec::<u32>::new(),
        "it started no node"
    );
    // SAFETY: kill(2) on a process this test started (its grandchild),
    // seen running just above.
    unsafe { libc::kill(gui_pid as i32, libc::SIGTERM) };
    let st = wait_child(&mut run.0, 30);
    assert!(st.success(), "bitcoin-gui: {st}\n{}", diag());
    wait_log(
        &log,
        &format!("peer on tcp:0.0.0.0:{ipc_port} disconnected"),
        10,
        diag,
    );
    assert!(n.running(), "the attached node stopped\n{}", diag());
    assert_eq!(n.height(), 0);
    n.stop();
}

/// A window attached with `-ipcconnect` to a node bound on a unix socket
/// follows it, and closing it leaves the node (and its wallet) running.
#[test]
fn closing_a_window_attached_over_a_unix_socket_leaves_the_node_running() {
    let dir = tempdir();
    let sock = format!("unix:{}", dir.path().join("node.sock").display());
    let mut n = Node::start_program(
        &program("bitcoin-node"),
        dir.path(),
        &[&format!("-ipcbind={sock}"), FEE],
    );
    let wallet = child_named(n.child.id(), "bitcoin-wallet", 30);
    n.rpc("createwallet", json!(["carol"]));
    let carol = n
        .call_at("/wallet/carol", "getnewaddress", json!([]))
        .unwrap();

    let mut h = window(
        Arc::new(AttachConnector::new(&sock, "regtest")),
        &["carol"],
        Arc::new(AtomicBool::new(false)),
    );
    settle(&mut h, "carol shown", 30, |h| {
        h.state().model.wallet.as_deref() == Some("carol") && h.state().model.balances.is_some()
    });
    assert_eq!(h.state().node_pid(), None, "attached, not started");
    n.mine(1, carol.as_str().unwrap());
    settle(&mut h, "the coinbase, pushed over the socket", 20, |h| {
        h.state()
            .model
            .balances
            .is_some_and(|b| b.immature == 50 * COIN)
    });

    close_window(&mut h);
    settle(&mut h, "closed", 10, |h| {
        h.state().closing() == Closing::Done
    });
    drop(h);
    let log = n.debug_log();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !fs::read_to_string(&log)
        .is_ok_and(|l| l.contains(&format!("peer on {sock} disconnected")))
    {
        assert!(Instant::now() < deadline, "{}", n.diagnostics());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(n.running(), "the node stopped with the window");
    assert!(alive(wallet), "its wallet stopped with the window");
    assert_eq!(n.height(), 1);
    assert_eq!(
        sats(
            &n.call_at("/wallet/carol", "getbalances", json!([]))
                .unwrap()["mine"]["immature"]
        ),
        50 * COIN
    );
    n.stop();
    wait_gone(wallet, "bitcoin-wallet", 10);
}

// ---------------------------------------------------------------------------
// -ipccookiefile

/// A node bound on `tcp:0.0.0.0` with `-ipcallowremote` lets a GUI in only
/// with its IPC secret: `-ipccookiefile` with the node's `.ipccookie` works
/// (and notifications arrive, as a stream over TCP); a wrong secret, none,
/// or a file that can't be read is a clear error in the window.
#[test]
fn an_attached_window_needs_the_ipc_cookie_of_a_node_bound_beyond_loopback() {
    let dir = tempdir();
    let ipc_port = free_port();
    let mut n = Node::start_program(
        &program("bitcoin-node"),
        dir.path(),
        &[
            "-disablewallet",
            &format!("-ipcbind=tcp:0.0.0.0:{ipc_port}"),
            "-ipcallowremote",
        ],
    );
    let cookie = dir.path().join("regtest/.ipccookie");
    assert!(
        cookie.is_file(),
        "-ipcallowremote writes {}",
        cookie.display()
    );
    let connect = format!("tcp:127.0.0.1:{ipc_port}");
    let attach = |file: Option<PathBuf>| -> H {
        window(
            Arc::new(AttachConnector::new(&connect, "regtest").with_cookie_file(file)),
            &[],
            Arc::new(AtomicBool::new(false)),
        )
    };

    // The wrong secret, no secret, a missing file: refused, and said so.
    let wrong = dir.path().join("wrong.cookie");
    fs::write(&wrong, "00".repeat(32)).unwrap();
    let missing = dir.path().join("missing.cookie");
    for (file, says) in [
        (Some(wrong), "wrong or missing IPC secret"),
        (None, "wrong or missing IPC secret"),
        (
            Some(missing.clone()),
            &*format!("cannot read -ipccookiefile {}", missing.display()),
        ),
    ] {
        let mut h = attach(file.clone());
        wait_for_text(&mut h, "Could not connect to the node", 20);
        assert!(
            shows_part(&h, says),
            "{file:?}: {:?}",
            h.state().model.phase
        );
        assert!(matches!(h.state().model.phase, Phase::Failed(_)));
        assert!(shows(&h, "Reconnect"));
    }

    // The node's secret: in; a block mined over RPC arrives by itself.
    let mut h = attach(Some(cookie));
    settle(&mut h, "connected", 20, |h| {
        h.state()
            .model
            .chain
            .as_ref()
            .is_some_and(|c| c.blocks == 0)
    });
    assert_eq!(h.state().model.chain_name, "regtest");
    n.mine(1, OTHER_ADDR);
    settle(&mut h, "the block, pushed", 20, |h| {
        h.state()
            .model
            .chain
            .as_ref()
            .is_some_and(|c| c.blocks == 1)
    });
    close_window(&mut h);
    settle(&mut h, "closed", 10, |h| {
        h.state().closing() == Closing::Done
    });
    assert!(n.running(), "an attached node keeps running");
    let log = fs::read_to_string(n.debug_log()).unwrap();
    assert!(log.contains("wrong or missing IPC secret"), "{log}");
    n.stop();
}

/// `bitcoin-gui -ipcbind=tcp:0.0.0.0:PORT -ipcallowremote` passes both
/// options to the node it starts, which then also accepts remote wallets
/// and GUIs; its own GUI (on `-ipcfd`) and its own wallet child need
/// no secret.
///
/// Only peers of the listener beyond loopback are asked for the secret
/// (`hub::Origin`).
#[test]
fn a_started_node_bound_beyond_loopback_still_lets_its_gui_and_wallet_in() {
    let dir = tempdir();
    let port = free_port();
    let mut c = SpawnConnector::new(
        program("bitcoin-node"),
        regtest_args(
            dir.path(),
            port,
            &[
                FEE,
                &format!("-ipcbind=tcp:0.0.0.0:{}", free_port()),
                "-ipcallowremote",
            ],
        ),
        "regtest",
    );
    c.stop_timeout = Duration::from_secs(20);
    c.term_timeout = Duration::from_secs(5);
    let mut h = window(Arc::new(c), &[], Arc::new(AtomicBool::new(false)));
    settle(&mut h, "the node started", 60, |h| {
        let p = &h.state().model.phase;
        h.state().model.connected() || matches!(p, Phase::Failed(_))
    });
    assert!(
        h.state().model.connected(),
        "{:?}\n{}",
        h.state().model.phase,
        tail(&dir.path().join("regtest/debug.log"), 10)
    );
    let (node, wallet) = node_and_wallet(&h, dir.path());
    wait_for_text(&mut h, "Create a new wallet", 20);
    type_into(&mut h, "Wallet name:", "alice");
    click(&mut h, "Create wallet");
    settle(&mut h, "alice shown", 30, |h| {
        h.state().model.wallet.as_deref() == Some("alice")
    });
    close_window(&mut h);
    settle(&mut h, "closed", 40, |h| {
        h.state().closing() == Closing::Done
    });
    wait_gone(node, "bitcoin-node", 10);
    wait_gone(wallet, "bitcoin-wallet", 10);
}
