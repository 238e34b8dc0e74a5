//! Process tests: the GUI's backend starts a node process (this very test
//! binary, acting as a fake `bitcoin-node` when it finds `-ipcfd=N`),
//! stops it on close, escalates to SIGTERM and SIGKILL (of the node's
//! whole process group, so the wallet it started goes too) when it does
//! not stop, and notices a node that crashes. Also the `bitcoin-gui`
//! binary's command line.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use btc_core::interfaces::{
    calls, method, EventRecord, Hello, HelloReply, Role, RpcReply, RpcRequest, PROTOCOL_VERSION,
    UI_CHANNEL, UI_RING_BYTES,
};
use btc_gui::backend::{Backend, Connector, Notification};
use btc_gui::ipc::SpawnConnector;
use serde_json::json;
use shm_ipc::{ChannelConfig, Connection, Policy, Sender};

fn arg(prefix: &str) -> Option<String> {
    std::env::args().find_map(|a| a.strip_prefix(prefix).map(str::to_owned))
}

/// The fake node: `-mode=normal|ignore-stop|ignore-term|crash|mute`,
/// `-pidfile=PATH` gets "node_pid wallet_pid".
fn fake_node(conn: Connection) -> ! {
    let mode = arg("-mode=").unwrap_or_else(|| "normal".into());
    if mode == "ignore-term" {
        // SAFETY: installing SIG_IGN runs no handler code.
        unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGTERM,
                nix::sys::signal::SigHandler::SigIgn,
            )
        }
        .unwrap();
    }
    // A stand-in for bitcoin-wallet, in the node's process group.
    let mut wallet = Command::new("sleep").arg("600").spawn().unwrap();
    if let Some(p) = arg("-pidfile=") {
        std::fs::write(p, format!("{} {}", std::process::id(), wallet.id())).unwrap();
    }
    let ring: Sender<EventRecord> =
        Sender::new(ChannelConfig::new(UI_RING_BYTES, Policy::Lag)).unwrap();
    conn.offer(UI_CHANNEL, &ring).unwrap();
    let mut crash_at = None;
    let mut held = Vec::new();
    loop {
        if crash_at.is_some_and(|t: Instant| Instant::now() >= t) {
            std::process::exit(3);
        }
        let req = match conn.requests().recv_timeout(Duration::from_millis(20)) {
            Ok(r) => r,
            Err(e) if e.is_timeout() => continue,
            // The GUI went away: a real node shuts down then too.
            Err(_) => {
                let _ = wallet.kill();
                let _ = wallet.wait();
                std::process::exit(0);
            }
        };
        match req.method {
            // A node still loading: HELLO is not answered.
            method::HELLO if mode == "mute" => held.push(req),
            method::HELLO => {
                let h: Hello = calls::decode(&req.payload).unwrap();
                let r = HelloReply {
                    version: PROTOCOL_VERSION,
                    role: Role::Node,
                    chain: h.chain,
                    block_files: true,
                };
                req.reply(Ok(&calls::encode(&r))).unwrap();
                if mode == "crash" {
                    crash_at = Some(Instant::now() + Duration::from_millis(200));
                }
            }
            method::NODE_RPC => {
                let r: RpcRequest = calls::decode(&req.payload).unwrap();
                let stop = r.method == "stop";
                let reply = match r.method.as_str() {
                    "stop" => RpcReply::ok(json!("Bitcoin Core stopping")),
                    "getblockcount" => RpcReply::ok(json!(0)),
                    _ => RpcReply::err(-32601, "Method not found"),
                };
                req.reply(Ok(&calls::encode(&reply))).unwrap();
                if stop && mode == "normal" {
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = wallet.kill();
                    let _ = wallet.wait();
                    std::process::exit(0);
                }
            }
            _ => drop(req),
        }
    }
}

/// Whether `pid` runs (a zombie does not count: it is only waiting to be
/// reaped).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s
                .rsplit_once(')')
                .and_then(|(_, r)| r.trim_start().chars().next());
            state != Some('Z')
        }
    }
}

fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

struct Started {
    backend: Arc<dyn Backend>,
    node: i32,
    wallet: i32,
}

fn start(mode: &str, stop: Duration, term: Duration) -> Started {
    let pidfile = std::env::temp_dir().join(format!("gui-proc-{}-{mode}", std::process::id()));
    let _ = std::fs::remove_file(&pidfile);
    let mut c = SpawnConnector::new(
        std::env::current_exe().unwrap(),
        vec![
            "-regtest".into(),
            format!("-mode={mode}"),
            format!("-pidfile={}", pidfile.display()),
        ],
        "regtest",
    );
    c.stop_timeout = stop;
    c.term_timeout = term;
    assert!(c.spawns());
    let backend = c.connect(&|_| {}).unwrap();
    assert!(backend.owns_node());
    let deadline = Instant::now() + Duration::from_secs(10);
    let pids = loop {
        if let Ok(s) = std::fs::read_to_string(&pidfile) {
            if let Some((a, b)) = s.split_once(' ') {
                break (a.parse().unwrap(), b.parse().unwrap());
            }
        }
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = std::fs::remove_file(&pidfile);
    Started {
        backend,
        node: pids.0,
        wallet: pids.1,
    }
}

fn closing_stops_the_node_and_its_wallet() {
    let s = start("normal", Duration::from_secs(20), Duration::from_secs(5));
    assert!(alive(s.node) && alive(s.wallet));
    assert_eq!(
        s.backend.rpc(None, "getblockcount", json!([])).unwrap(),
        json!(0)
    );
    let t = Instant::now();
    let steps = std::sync::Mutex::new(Vec::new());
    s.backend
        .close(&|p| steps.lock().unwrap().push(p.to_string()));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stopped on `stop`, not by a signal"
    );
    assert!(
        wait_gone(s.node, Duration::from_secs(5)),
        "node left running"
    );
    assert!(
        wait_gone(s.wallet, Duration::from_secs(5)),
        "wallet left running"
    );
    assert!(steps.lock().unwrap().iter().any(|p| p.contains("Stopping")));
}

fn a_node_ignoring_stop_gets_sigterm() {
    let s = start(
        "ignore-stop",
        Duration::from_millis(300),
        Duration::from_secs(5),
    );
    s.backend.close(&|_| {});
    assert!(
        wait_gone(s.node, Duration::from_secs(5)),
        "node left running"
    );
    assert!(
        wait_gone(s.wallet, Duration::from_secs(5)),
        "wallet left running"
    );
}

fn a_node_ignoring_sigterm_is_killed_with_its_group() {
    let s = start(
        "ignore-term",
        Duration::from_millis(200),
        Duration::from_millis(300),
    );
    s.backend.close(&|_| {});
    assert!(
        wait_gone(s.node, Duration::from_secs(5)),
        "node left running"
    );
    assert!(
        wait_gone(s.wallet, Duration::from_secs(5)),
        "wallet left running"
    );
}

fn dropping_the_backend_stops_the_node() {
    let s = start("normal", Duration::from_secs(20), Duration::from_secs(5));
    let (node, wallet) = (s.node, s.wallet);
    drop(s);
    assert!(wait_gone(node, Duration::from_secs(5)), "node left running");
    assert!(
        wait_gone(wallet, Duration::from_secs(5)),
        "wallet left running"
    );
}

fn a_crashing_node_is_noticed_and_can_be_restarted() {
    let s = start("crash", Duration::from_secs(20), Duration::from_secs(5));
    let notes = s.backend.notifications();
    let n = notes.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(matches!(n.what, Notification::Disconnected { .. }), "{n:?}");
    assert!(!s.backend.is_connected());
    assert!(s
        .backend
        .rpc(None, "getblockcount", json!([]))
        .unwrap_err()
        .is_disconnect());
    s.backend.close(&|_| {}); // nothing to stop; returns at once
    assert!(wait_gone(s.node, Duration::from_secs(5)));
    // The orphaned "wallet" of a crashed fake node: a real node's wallet
    // dies with its parent; here the test cleans up.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.wallet),
        nix::sys::signal::Signal::SIGKILL,
    );
    let again = start("normal", Duration::from_secs(20), Duration::from_secs(5));
    assert!(again.backend.is_connected());
    again.backend.close(&|_| {});
}

fn closing_during_a_slow_start_cancels_it_and_stops_the_node() {
    let pidfile = std::env::temp_dir().join(format!("gui-proc-{}-mute", std::process::id()));
    let c = Arc::new(SpawnConnector::new(
        std::env::current_exe().unwrap(),
        vec![
            "-mode=mute".into(),
            format!("-pidfile={}", pidfile.display()),
        ],
        "regtest",
    ));
    let c2 = Arc::clone(&c);
    let t = std::thread::spawn(move || c2.connect(&|_| {}).err());
    let deadline = Instant::now() + Duration::from_secs(10);
    let node: i32 = loop {
        if let Some((a, _)) = std::fs::read_to_string(&pidfile).ok().and_then(|s| {
            s.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        }) {
            break a.parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no pid file");
        std::thread::sleep(Duration::from_millis(10));
    };
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    c.cancel();
    let e = t.join().unwrap().expect("the start fails once cancelled");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "cancel took {:?}: {e}",
        t0.elapsed()
    );
    assert!(wait_gone(node, Duration::from_secs(5)), "node left running");
    let _ = std::fs::remove_file(&pidfile);
}

fn a_missing_node_binary_is_a_clear_error() {
    let c = SpawnConnector::new(
        PathBuf::from("/nonexistent/bitcoin-node"),
        vec![],
        "regtest",
    );
    let e = c.connect(&|_| {}).err().unwrap();
    assert!(e.to_string().contains("not found"), "{e}");
}

fn the_binary_prints_help_and_refuses_bad_options() {
    let exe = env!("CARGO_BIN_EXE_bitcoin-gui");
    let out = Command::new(exe).arg("-help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("-ipcconnect=<address>") && text.contains("-regtest"),
        "{text}"
    );
    let out = Command::new(exe)
        .args(["-regtest", "-testnet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid combination"));
    let out = Command::new(exe)
        .arg("-ipcconnect=nonsense")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-ipcconnect=nonsense"));
    assert!(text.contains("-ipccookiefile=<file>"), "{text}");
    let out = Command::new(exe)
        .args(["-regtest", "-ipccookiefile=/tmp/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("-ipccookiefile is the secret of a node attached to with -ipcconnect"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn main() {
    if let Some(conn) =
        shm_ipc::connection::connection_from_args(std::env::args(), Duration::from_secs(10))
    {
        fake_node(conn.expect("the GUI's connection"));
    }
    let tests: &[(&str, fn())] = &[
        (
            "closing_stops_the_node_and_its_wallet",
            closing_stops_the_node_and_its_wallet,
        ),
        (
            "a_node_ignoring_stop_gets_sigterm",
            a_node_ignoring_stop_gets_sigterm,
        ),
        (
            "a_node_ignoring_sigterm_is_killed_with_its_group",
            a_node_ignoring_sigterm_is_killed_with_its_group,
        ),
        (
            "dropping_the_backend_stops_the_node",
            dropping_the_backend_stops_the_node,
        ),
        (
            "a_crashing_node_is_noticed_and_can_be_restarted",
            a_crashing_node_is_noticed_and_can_be_restarted,
        ),
        (
            "closing_during_a_slow_start_cancels_it_and_stops_the_node",
            closing_during_a_slow_start_cancels_it_and_stops_the_node,
        ),
        (
            "a_missing_node_binary_is_a_clear_error",
            a_missing_node_binary_is_a_clear_error,
        ),
        (
            "the_binary_prints_help_and_refuses_bad_options",
            the_binary_prints_help_and_refuses_bad_options,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, f) in tests {
        if !filter.is_empty() && !filter.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        match std::panic::catch_unwind(f) {
            Ok(()) => {
                println!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!("\ntest result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out");
    std::process::exit(i32::from(failed > 0));
}
