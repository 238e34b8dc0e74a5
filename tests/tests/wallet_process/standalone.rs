//! `bitcoin-wallet` started on its own: `-ipcconnect` to a node's
//! `-ipcbind` (unix and TCP), its own `-server`, the node killed or stopped
//! under it, `-ipcreconnect`, and `-ipcallowremote` with the IPC cookie.

use std::process::Child;

use super::*;

// ---------------------------------------------------------------------------
// A bitcoin-wallet started on its own (-ipcconnect, -server)

/// A `bitcoin-wallet -ipcconnect=... -server` with its own data directory;
/// killed (SIGKILL) on drop if still running.
struct WalletProc {
    child: Child,
    dir: PathBuf,
    port: u16,
    auth: String,
    args: Vec<String>,
}

impl Rpc for WalletProc {
    fn rpc_port(&self) -> u16 {
        self.port
    }
    fn rpc_auth(&self) -> String {
        self.auth.clone()
    }
    fn diag(&self) -> String {
        self.diagnostics()
    }
}

impl WalletProc {
    /// The arguments of a regtest wallet in `dir` on RPC port `port`,
    /// connecting to `connect`, loading (creating) wallet `w`.
    fn args(dir: &Path, port: u16, connect: &str, extra: &[&str]) -> Vec<String> {
        let mut a = vec![
            "-regtest".to_string(),
            format!("-datadir={}", dir.display()),
            format!("-ipcconnect={connect}"),
            "-server".into(),
            format!("-rpcport={port}"),
            "-wallet=w".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// Starts it without waiting.
    fn spawn(dir: &Path, connect: &str, extra: &[&str]) -> WalletProc {
        let port = free_port();
        let args = WalletProc::args(dir, port, connect, extra);
        WalletProc {
            child: spawn_logged(&program("bitcoin-wallet"), dir, "wallet", &args, true),
            dir: dir.to_path_buf(),
            port,
            auth: String::new(),
            args,
        }
    }

    /// Starts it and waits until its RPC serves wallet `w`.
    fn start(dir: &Path, connect: &str, extra: &[&str]) -> WalletProc {
        let mut w = WalletProc::spawn(dir, connect, extra);
        w.wait_ready();
        w
    }

    /// Starts it again with the same arguments (after it ended).
    fn restart(&mut self) {
        assert!(!self.running(), "restart of a running wallet");
        self.child = spawn_logged(
            &program("bitcoin-wallet"),
            &self.dir,
            "wallet",
            &self.args,
            true,
        );
        self.auth.clear();
        self.wait_ready();
    }

    fn cookie(&self) -> PathBuf {
        self.dir.join("regtest/.cookie")
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- wallet stderr:\n{}\n--- wallet debug.log (tail):\n{}",
            tail(&self.dir.join("wallet.stderr"), 20),
            tail(&self.dir.join("regtest/debug.log"), 20)
        )
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits until the wallet's RPC answers for wallet `w`.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                panic!(
                    "bitcoin-wallet exited ({st}) before answering RPC\n{}",
                    self.diagnostics()
                );
            }
            if let Ok(c) = fs::read_to_string(self.cookie()) {
                self.auth = c.trim().to_string();
            }
            if !self.auth.is_empty()
                && rpc_call_at(
                    self.port,
                    "/wallet/w",
                    &self.auth,
                    "getwalletinfo",
                    &json!([]),
                )
                .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "bitcoin-wallet did not serve wallet w within 60 s\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for it to exit by itself, at most `limit`; its status and
    /// how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st, t.elapsed());
            }
            assert!(
                t.elapsed() < limit,
                "bitcoin-wallet still runs {limit:?} later\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM; it must exit 0 (an orderly stop).
    fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
        let (st, _) = self.wait_exit(Duration::from_secs(30));
        assert!(st.success(), "SIGTERM: exit {st}\n{}", self.diagnostics());
    }

    /// Polls until wallet `w` shows the (trusted, immature) balances
    /// `expect`: it catches up on its own, no call waits for it.
    fn wait_balances(&self, expect: (f64, f64), what: &str) {
        let mut last;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.wcall("w", "getbalances", json!([])) {
                Ok(b) => {
                    let got = (btc(&b["mine"]["trusted"]), btc(&b["mine"]["immature"]));
                    if got == expect {
                        return;
                    }
                    last = Some(format!("{got:?}"));
                }
                Err(e) => last = Some(format!("{e:?}")),
            }
            assert!(
                Instant::now() < deadline,
                "{what}: the wallet shows {last:?}, not {expect:?}, 30 s on\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WalletProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_tree(self.child.id());
            let _ = self.child.wait();
        }
    }
}

/// Starts `bitcoin-node` on `dir` listening on `bind`, without a wallet of
/// its own.
fn ipc_node(dir: &Path, bind: &str, extra: &[&str]) -> Node {
    let mut args = vec!["-disablewallet".to_string(), format!("-ipcbind={bind}")];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Node::start_program(&bitcoin_node(), dir, &args)
}

/// The wallet's next receiving address.
fn new_address(w: &WalletProc) -> String {
    w.w("w", "getnewaddress", json!([]))
        .as_str()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------
// 4. kill -9 the node under a wallet started on its own

/// A node listening on a unix socket in a fresh directory, and the
/// directory, socket address and a directory for a wallet.
struct IpcSetup {
    dn: tempfile::TempDir,
    dw: tempfile::TempDir,
    bind: String,
}

impl IpcSetup {
    fn unix() -> IpcSetup {
        let dn = tempdir();
        let bind = format!("unix:{}", dn.path().join("node.sock").display());
        IpcSetup {
            dn,
            dw: tempdir(),
            bind,
        }
    }

    /// TCP on the loopback interface, on a free port.
    fn tcp() -> IpcSetup {
        IpcSetup {
            dn: tempdir(),
            dw: tempdir(),
            bind: format!("tcp:127.0.0.1:{}", free_port()),
        }
    }

    fn node(&self) -> Node {
        ipc_node(self.dn.path(), &self.bind, &[])
    }

    fn wallet(&self, extra: &[&str]) -> WalletProc {
        WalletProc::start(self.dw.path(), &self.bind, extra)
    }
}

#[test]
fn kill9_of_the_node_the_wallet_exits_within_a_second_and_loses_nothing() {
    let s = IpcSetup::unix();
    let mut n = s.node();
    let mut w = s.wallet(&[]);
    let addr = new_address(&w);
    n.mine(101, &addr);
    w.wait_balances(coinbase_balances(1..=101, 101), "after 101 blocks");
    // Without -ipcreconnect: it exits, within a second, cleanly.
    n.kill9();
    let (st, took) = w.wait_exit(Duration::from_secs(10));
    assert!(
        took < Duration::from_secs(1),
        "the wallet noticed the node's death after {took:?}"
    );
    assert!(st.success(), "exit {st}\n{}", w.diagnostics());
    let log = fs::read_to_string(s.dw.path().join("regtest/debug.log")).unwrap();
    assert!(log.contains("The node went away"), "{log}");

    // The node comes back on the same socket path (the stale file is
    // replaced) with every block it acknowledged; so does the wallet.
    let n = s.node();
    assert_eq!(n.height(), 101);
    w.restart();
    w.wait_balances(coinbase_balances(1..=101, 101), "restarted wallet");
    n.mine(10, &addr);
    w.wait_balances(coinbase_balances(1..=111, 111), "10 blocks more");

    // kill -9 of both at once: nothing lost either.
    drop(n);
    w.signal(libc::SIGKILL);
    let _ = w.wait_exit(Duration::from_secs(10));
    let n = s.node();
    assert_eq!(n.height(), 111);
    w.restart();
    w.wait_balances(coinbase_balances(1..=111, 111), "after kill -9 of both");
    assert_eq!(
        w.w("w", "getwalletinfo", json!([]))["lastprocessedblock"]["height"],
        111
    );
}

/// With -ipcreconnect the wallet outlives the node: it answers (-18, the
/// node is away) and connects again when the node is back. (That it then
/// serves its wallet again is
/// `kill9_of_the_node_a_wallet_with_ipcreconnect_waits_and_catches_up`.)
#[test]
fn kill9_of_the_node_a_wallet_with_ipcreconnect_stays_up_and_reconnects() {
    let s = IpcSetup::unix();
    let mut n = s.node();
    let mut w = s.wallet(&["-ipcreconnect"]);
    let addr = new_address(&w);
    n.mine(101, &addr);
    w.wait_balances(coinbase_balances(1..=101, 101), "after 101 blocks");
    n.kill9();
    let t = Instant::now();
    let e = wait_for("the wallet to notice the node is gone", 10, || {
        w.wcall("w", "getbalances", json!([])).err()
    });
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "noticed after {:?}",
        t.elapsed()
    );
    assert_eq!(e.code, -18, "{e:?}");
    std::thread::sleep(Duration::from_millis(700));
    assert!(w.running(), "{}", w.diagnostics());
    assert_eq!(w.w_err("w", "getwalletinfo", json!([])).code, -18);
    let log = s.dw.path().join("regtest/debug.log");
    let connected = || {
        fs::read_to_string(&log)
            .unwrap()
            .matches("Connected to the node")
            .count()
    };
    assert_eq!(connected(), 1);
    let n = s.node();
    wait_for("the wallet to connect again", 20, || {
        (connected() == 2).then_some(())
    });
    // The node's log goes on across its restarts: one connection each.
    let nlog = fs::read_to_string(n.debug_log()).unwrap();
    assert_eq!(nlog.matches("connected (Wallet)").count(), 2, "{nlog}");
    assert!(w.running(), "{}", w.diagnostics());
}

#[test]
fn kill9_of_the_node_a_wallet_with_ipcreconnect_waits_and_catches_up() {
    let s = IpcSetup::unix();
    let mut n = s.node();
    let mut w = s.wallet(&["-ipcreconnect"]);
    let addr = new_address(&w);
    n.mine(101, &addr);
    w.wait_balances(coinbase_balances(1..=101, 101), "after 101 blocks");

    // It stays up and answers (-18: the node is away)...
    n.kill9();
    let t = Instant::now();
    let e = wait_for("the wallet to notice the node is gone", 10, || {
        w.wcall("w", "getbalances", json!([])).err()
    });
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "noticed after {:?}",
        t.elapsed()
    );
    assert_eq!(e.code, -18, "{e:?}");
    std::thread::sleep(Duration::from_millis(700));
    assert!(w.running(), "{}", w.diagnostics());
    assert_eq!(w.w_err("w", "getwalletinfo", json!([])).code, -18);

    // ... and reconnects when the node is back, catching up on blocks
    // mined before and after it is connected again.
    let n = s.node();
    n.mine(5, &addr);
    w.wait_balances(coinbase_balances(1..=106, 106), "after the node came back");
    assert_eq!(w.w("w", "listwallets", json!([])), json!(["w"]));
    n.mine(5, &addr);
    w.wait_balances(coinbase_balances(1..=111, 111), "after 5 more");
    assert_eq!(
        w.w("w", "getwalletinfo", json!([]))["lastprocessedblock"]["height"],
        111
    );
}

// ---------------------------------------------------------------------------
// 5. -ipcconnect over a unix socket and over TCP loopback

/// The wallet's last block is the node's tip.
fn assert_wallet_at_tip(w: &WalletProc, n: &Node) {
    let info = w.w("w", "getwalletinfo", json!([]));
    assert_eq!(info["lastprocessedblock"]["height"], n.height());
    assert_eq!(
        info["lastprocessedblock"]["hash"],
        n.rpc("getbestblockhash", json!([]))
    );
}

/// Follows the chain over `s`; SIGTERM and restart of the wallet while the
/// node mines; a reorg while the wallet is stopped.
fn wallet_stops_and_starts_while_the_node_mines(s: &IpcSetup) {
    let n = s.node();
    let mut w = s.wallet(&[]);
    let addr = new_address(&w);
    n.mine(101, &addr);
    w.wait_balances(coinbase_balances(1..=101, 101), "after 101 blocks");

    let miner = Miner::start(&n, &addr, 2_000);
    miner.wait_more(3);
    w.terminate();
    miner.wait_more(5);
    w.restart();
    miner.wait_more(5);
    miner.finish();
    let tip = n.height();
    w.wait_balances(coinbase_balances(1..=tip, tip), "restarted while mining");
    assert_wallet_at_tip(&w, &n);

    // A reorg while it is stopped: its last 3 blocks leave the chain, 4
    // others (not its coinbases) replace them.
    w.terminate();
    let fork = n.rpc("getblockhash", json!([tip - 2]));
    n.rpc("invalidateblock", json!([fork]));
    n.mine(4, OTHER_ADDR);
    w.restart();
    w.wait_balances(
        coinbase_balances(1..=tip - 3, tip + 1),
        "restarted after a reorg",
    );
    assert_wallet_at_tip(&w, &n);
    let txs = w.w("w", "listtransactions", json!(["*", 10_000]));
    let orphaned = txs
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["confirmations"].as_i64().unwrap() <= 0)
        .count();
    assert_eq!(orphaned, 3, "the 3 coinbases of the stale blocks: {txs}");

    // The other way round: the node stops (the wallet, without
    // -ipcreconnect, ends with it), mines without it, and both restart.
    let tip = n.height();
    let mut n = n;
    n.stop();
    let (st, took) = w.wait_exit(Duration::from_secs(10));
    assert!(st.success(), "exit {st}\n{}", w.diagnostics());
    assert!(
        took < Duration::from_secs(1),
        "the wallet ended {took:?} after the node"
    );
    let n = s.node();
    assert_eq!(n.height(), tip);
    n.mine(5, &addr);
    w.restart();
    w.wait_balances(
        coinbase_balances((1..=tip - 4).chain(tip + 1..=tip + 5), tip + 5),
        "restarted after the node's restart",
    );
    assert_wallet_at_tip(&w, &n);
}

#[test]
fn ipcconnect_over_unix_the_wallet_stops_and_starts_while_the_node_mines() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let s = IpcSetup::unix();
    wallet_stops_and_starts_while_the_node_mines(&s);
    let sock = s.dn.path().join("node.sock");
    let meta = fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");
}

#[test]
fn ipcconnect_over_tcp_loopback_the_wallet_stops_and_starts_while_the_node_mines() {
    wallet_stops_and_starts_while_the_node_mines(&IpcSetup::tcp());
}

#[test]
fn the_node_stops_and_starts_under_a_wallet_with_ipcreconnect_over_unix_and_tcp() {
    for s in [IpcSetup::unix(), IpcSetup::tcp()] {
        let mut n = s.node();
        let mut w = s.wallet(&["-ipcreconnect"]);
        let addr = new_address(&w);
        n.mine(101, &addr);
        w.wait_balances(coinbase_balances(1..=101, 101), "after 101 blocks");
        n.stop();
        wait_for("the wallet to notice the node stopped", 10, || {
            w.wcall("w", "getbalances", json!([])).err()
        });
        assert!(w.running(), "{}", w.diagnostics());
        let n = s.node();
        n.mine(10, &addr);
        w.wait_balances(
            coinbase_balances(1..=111, 111),
            &format!("{}: after the node's restart", s.bind),
        );
        assert_wallet_at_tip(&w, &n);
    }
}

/// `-ipcbind` on an address other than loopback needs `-ipcallowremote`,
/// and then the secret in `.ipccookie`.
#[test]
fn ipcbind_beyond_loopback_needs_ipcallowremote_and_the_ipc_cookie() {
    use std::os::unix::fs::PermissionsExt;
    let dn = tempdir();
    let port = free_port();
    let bind = format!("tcp:0.0.0.0:{port}");
    let args = regtest_args(
        dn.path(),
        free_port(),
        &["-disablewallet", &format!("-ipcbind={bind}")],
    );
    let mut c = spawn_program(&bitcoin_node(), dn.path(), &args);
    let st = wait_child(&mut c, 30);
    let err = fs::read_to_string(dn.path().join("node.stderr")).unwrap();
    assert!(!st.success(), "bitcoin-node started with -ipcbind={bind}");
    assert!(err.contains("-ipcallowremote"), "{err}");

    let n = ipc_node(dn.path(), &bind, &["-ipcallowremote"]);
    let cookie = dn.path().join("regtest/.ipccookie");
    let meta = fs::metadata(&cookie).expect("-ipcallowremote writes .ipccookie");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, ".ipccookie mode");
    let secret = fs::read_to_string(&cookie).unwrap();
    assert!(secret.trim().len() >= 32, "{secret:?}");

    // Through 127.0.0.1 to the 0.0.0.0 bind: no secret, a wrong one: refused.
    let connect = format!("tcp:127.0.0.1:{port}");
    let wrong = dn.path().join("wrong.cookie");
    fs::write(&wrong, "00".repeat(32)).unwrap();
    let wrong_arg = format!("-ipccookiefile={}", wrong.display());
    for extra in [vec![], vec![wrong_arg.as_str()]] {
        let dw = tempdir();
        let mut w = WalletProc::spawn(dw.path(), &connect, &extra);
        let (st, _) = w.wait_exit(Duration::from_secs(30));
        assert!(!st.success(), "{extra:?}: a wallet was let in");
        let said = format!(
            "{}{}",
            fs::read_to_string(dw.path().join("wallet.stderr")).unwrap_or_default(),
            fs::read_to_string(dw.path().join("regtest/debug.log")).unwrap_or_default()
        );
        assert!(said.contains("secret"), "{extra:?}: {said}");
    }
    let log = fs::read_to_string(n.debug_log()).unwrap();
    assert!(log.contains("wrong or missing IPC secret"), "{log}");

    // With the secret: in, and following the chain.
    let dw = tempdir();
    let ok_arg = format!("-ipccookiefile={}", cookie.display());
    let w = WalletProc::start(dw.path(), &connect, &[&ok_arg]);
    let addr = new_address(&w);
    n.mine(101, &addr);
    w.wait_balances(
        coinbase_balances(1..=101, 101),
        "the wallet with the secret",
    );
}
