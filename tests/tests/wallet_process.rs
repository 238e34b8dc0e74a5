//! The wallet in its own process (issue "wallet process"), from the
//! outside: `bitcoin-node`, the `bitcoin-wallet` it spawns or that connects
//! to it on `-ipcbind`, and `bitcoind`, the same node with the wallet in one
//! process, which is the reference every answer is compared with.
//!
//! Every test starts real processes on fresh temporary directories and free
//! ports; the guards kill them (and their children) when dropped, also when
//! a test panics. Waits poll with a deadline.
//!
//! Here: the same scenario on both programs, the wallet as a child process
//! (ps, kill -9 while blocks stream), encryption. `standalone.rs`: a
//! `bitcoin-wallet` started on its own (`-ipcconnect`). `hostile.rs`: a
//! client speaking the protocol against the node.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::bip32::Xpriv;
use bitcoin::Network;
use serde_json::{json, Value};

mod common;
use common::*;

#[path = "wallet_process/hostile.rs"]
mod hostile;
#[path = "wallet_process/standalone.rs"]
mod standalone;

// ---------------------------------------------------------------------------
// Helpers

const FEE: &str = "-fallbackfee=0.0002";

/// Polls `f` every 20 ms until it gives `Some`, for at most `secs` seconds.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a JSON-RPC client gets back: the result, or Core's error.
type Answer = Result<Value, RpcErr>;

/// Anything that answers JSON-RPC: a node, or a wallet with `-server`.
trait Rpc {
    fn rpc_port(&self) -> u16;
    fn rpc_auth(&self) -> String;
    fn diag(&self) -> String;

    /// A call on `/wallet/<wallet>`; an RPC error is returned, anything
    /// else (no reply, no JSON) panics.
    fn wcall(&self, wallet: &str, method: &str, params: Value) -> Answer {
        let path = format!("/wallet/{wallet}");
        match rpc_call_at(self.rpc_port(), &path, &self.rpc_auth(), method, &params) {
            Ok(v) => Ok(v),
            Err(CallError::Rpc(e)) => Err(e),
            Err(e) => panic!("{path} {method} {params}: {e:?}\n{}", self.diag()),
        }
    }

    /// A wallet call that must succeed.
    fn w(&self, wallet: &str, method: &str, params: Value) -> Value {
        self.wcall(wallet, method, params.clone())
            .unwrap_or_else(|e| panic!("{wallet} {method} {params}: {e:?}\n{}", self.diag()))
    }

    /// A wallet call that must fail: its error.
    fn w_err(&self, wallet: &str, method: &str, params: Value) -> RpcErr {
        match self.wcall(wallet, method, params.clone()) {
            Ok(v) => panic!("{wallet} {method} {params} should fail, returned {v}"),
            Err(e) => e,
        }
    }

    /// The wallet's trusted and immature balances, in BTC.
    fn balances(&self, wallet: &str) -> (f64, f64) {
        let b = self.w(wallet, "getbalances", json!([]));
        (btc(&b["mine"]["trusted"]), btc(&b["mine"]["immature"]))
    }
}

impl Rpc for Node {
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

fn bitcoind() -> PathBuf {
    program("bitcoind")
}

fn bitcoin_node() -> PathBuf {
    program("bitcoin-node")
}

/// The `bitcoin-wallet` children of process `pid`.
fn wallet_children(pid: u32) -> Vec<u32> {
    children_of(pid)
        .into_iter()
        .filter(|&c| proc_name(c).as_deref() == Some("bitcoin-wallet"))
        .collect()
}

/// The one `bitcoin-wallet` child of the node (waits for it).
fn wallet_child(n: &Node) -> u32 {
    let pid = n.child.id();
    wait_for(
        "a bitcoin-wallet child of bitcoin-node",
        30,
        || match wallet_children(pid).as_slice() {
            [one] => Some(*one),
            _ => None,
        },
    )
}

fn kill9_pid(pid: u32) {
    // SAFETY: kill(2) on a process a test of ours started (directly or as
    // the child of one).
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

/// Waits until the wallet child of `n` is a process other than `old` and
/// answers `wallet`'s calls again; its pid.
fn wait_wallet_back(n: &Node, old: u32, wallet: &str) -> u32 {
    let pid = n.child.id();
    let new = wait_for("a new bitcoin-wallet child after kill -9", 30, || {
        wallet_children(pid).into_iter().find(|&c| c != old)
    });
    wait_for("the restarted wallet process answers", 30, || {
        match n.wcall(wallet, "getwalletinfo", json!([])) {
            Ok(_) => Some(()),
            Err(e) if e.code == -18 => None,
            Err(e) => panic!("getwalletinfo after restart: {e:?}"),
        }
    });
    new
}

/// Keys whose values differ with the seed and the clock, not the code:
/// addresses and scripts, txids and hashes, times, seed ids, descriptors,
/// and the position of an output in a transaction (the change position is
/// random, as in Core).
const VOLATILE: &[&str] = &[
    "address",
    "txid",
    "wtxid",
    "blockhash",
    "bestblockhash",
    "hash",
    "hex",
    "scriptPubKey",
    "desc",
    "parent_descs",
    "time",
    "timereceived",
    "blocktime",
    "mediantime",
    "hdseedid",
    "hdmasterfingerprint",
    "keypoololdest",
    "birthtime",
    "vout",
    "walletconflicts",
];

/// `v` without the [`VOLATILE`] keys, arrays sorted (their order follows
/// txids and times).
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !VOLATILE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(normalize).collect();
            items.sort_by_key(|x| x.to_string());
            Value::Array(items)
        }
        _ => v.clone(),
    }
}

/// Where `a` and `b` differ (paths and both values), at most `max`.
fn json_diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>, max: usize) {
    if out.len() >= max || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                json_diff(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                    max,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                json_diff(p, q, &format!("{path}[{i}]"), out, max);
            }
        }
        _ => out.push(format!("{path}: {a} != {b}")),
    }
}

/// A fixed BIP32 key: both modes' wallets import the same descriptor and
/// so have the same addresses.
fn fixed_xpriv() -> Xpriv {
    Xpriv::new_master(Network::Regtest, &[7u8; 32]).unwrap()
}

/// A blank wallet `name` with the fixed wpkh descriptor (receive and
/// change) imported.
fn create_fixed_wallet(n: &Node, name: &str) {
    n.rpc("createwallet", json!([name, false, true]));
    let x = fixed_xpriv();
    let r = n.w(
        name,
        "importdescriptors",
        json!([[
            {"desc": with_checksum(&format!("wpkh({x}/84h/1h/0h/0/*)")), "active": true,
             "range": [0, 50], "timestamp": 0, "internal": false},
            {"desc": with_checksum(&format!("wpkh({x}/84h/1h/0h/1/*)")), "active": true,
             "range": [0, 50], "timestamp": 0, "internal": true},
        ]]),
    );
    for one in r.as_array().unwrap() {
        assert_eq!(one["success"], true, "importdescriptors: {r}");
    }
}

// ---------------------------------------------------------------------------
// 1. The same scenario on bitcoind and bitcoin-node + bitcoin-wallet

/// Everything the scenario saw, step by step, normalized.
type Transcript = Vec<(String, Value)>;

/// getbalances, listunspent, listtransactions, getwalletinfo and
/// gettransaction of each listed transaction, for each wallet.
fn snapshot(n: &Node, wallets: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for &w in wallets {
        let txs = n.w(w, "listtransactions", json!(["*", 1000]));
        let mut txids: Vec<String> = txs
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["txid"].as_str().unwrap().to_string())
            .collect();
        txids.sort();
        txids.dedup();
        let gettx: Vec<Value> = txids
            .iter()
            .map(|t| n.w(w, "gettransaction", json!([t])))
            .collect();
        // Which coins a send spent is random (coin selection), so which
        // remain, and their confirmations, differ from run to run.
        let mut unspent = n.w(w, "listunspent", json!([]));
        for u in unspent.as_array_mut().unwrap() {
            u.as_object_mut().unwrap().remove("confirmations");
        }
        out.insert(
            w.to_string(),
            json!({
                "getbalances": n.w(w, "getbalances", json!([])),
                "listunspent": unspent,
                "listtransactions": txs,
                "getwalletinfo": n.w(w, "getwalletinfo", json!([])),
                "gettransaction": gettx,
            }),
        );
    }
    normalize(&Value::Object(out))
}

fn answer_json(a: Answer) -> Value {
    match a {
        Ok(v) => json!({"result": normalize(&v)}),
        Err(e) => json!({"error": {"code": e.code, "message": e.message}}),
    }
}

/// The scenario of the issue: two wallets, mining, a send, a reorg, a
/// rescan, a restart, and bad calls; everything answered, normalized.
fn scenario(bin: &Path) -> Transcript {
    let d = tempdir();
    let mut t: Transcript = Vec::new();
    let mut n = Node::start_program(bin, d.path(), &[FEE]);
    t.push(("createwallet a".into(), n.rpc("createwallet", json!(["a"]))));
    t.push(("createwallet b".into(), n.rpc("createwallet", json!(["b"]))));
    let a = n.w("a", "getnewaddress", json!([]));
    let b = n.w("b", "getnewaddress", json!([]));
    let (a, b) = (a.as_str().unwrap(), b.as_str().unwrap());
    n.mine(110, a);
    t.push(("mined 110 to a".into(), snapshot(&n, &["a", "b"])));
    let txid = n.w("a", "sendtoaddress", json!([b, 12.5]));
    assert!(is_hex64(&txid), "{txid}");
    assert_eq!(n.rpc("getrawmempool", json!([])), json!([txid]));
    // Wallet b's view of the unconfirmed send is compared in
    // `a_send_shows_in_the_receiving_wallet_before_it_confirms`.
    t.push(("sent 12.5 a->b".into(), snapshot(&n, &["a"])));
    let last = n.mine(1, a).remove(0);
    t.push(("mined 1".into(), snapshot(&n, &["a", "b"])));
    n.rpc("invalidateblock", json!([last]));
    assert_eq!(n.height(), 110);
    t.push((
        "invalidated the last block".into(),
        snapshot(&n, &["a", "b"]),
    ));
    n.rpc("reconsiderblock", json!([last]));
    assert_eq!(n.height(), 111);
    t.push(("reconsidered it".into(), snapshot(&n, &["a", "b"])));
    t.push((
        "rescanblockchain b".into(),
        n.w("b", "rescanblockchain", json!([])),
    ));
    t.push(("after the rescan".into(), snapshot(&n, &["a", "b"])));

    // Bad calls.
    let bad: Vec<(&str, &str, &str, Value)> = vec![
        ("getbalance on /wallet/x", "x", "getbalance", json!([])),
        (
            "sendtoaddress to an invalid address",
            "a",
            "sendtoaddress",
            json!(["bcrt1qnotanaddress", 1]),
        ),
        (
            "sendtoaddress over the balance",
            "a",
            "sendtoaddress",
            json!([b, 100000]),
        ),
    ];
    for (what, w, m, p) in bad {
        t.push((what.into(), answer_json(n.wcall(w, m, p))));
    }

    // Restart with the wallets named on the command line.
    n.stop();
    let n = Node::start_program(bin, d.path(), &[FEE, "-wallet=a", "-wallet=b"]);
    t.push((
        "listwallets after restart".into(),
        n.rpc("listwallets", json!([])),
    ));
    t.push(("after restart".into(), snapshot(&n, &["a", "b"])));
    t
}

fn assert_same_transcripts(reference: &Transcript, other: &Transcript, what: &str) {
    assert_eq!(
        reference.iter().map(|s| &s.0).collect::<Vec<_>>(),
        other.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    let mut diffs = Vec::new();
    for ((step, x), (_, y)) in reference.iter().zip(other) {
        let mut d = Vec::new();
        json_diff(x, y, "", &mut d, 12);
        diffs.extend(d.into_iter().map(|l| format!("{step}: {l}")));
    }
    assert!(
        diffs.is_empty(),
        "bitcoind and {what} answer differently (bitcoind first):\n{}",
        diffs.join("\n")
    );
}

/// `WALLET_SCENARIO_DUMP=DIR` writes both programs' normalized answers to
/// `DIR/bitcoind.json` and `DIR/bitcoin-node.json`.
#[test]
fn same_scenario_same_answers_on_bitcoind_and_bitcoin_node() {
    let reference = scenario(&bitcoind());
    let multi = scenario(&bitcoin_node());
    if let Some(dir) = std::env::var_os("WALLET_SCENARIO_DUMP") {
        // For reading the answers side by side.
        for (name, t) in [("bitcoind", &reference), ("bitcoin-node", &multi)] {
            let text = serde_json::to_string_pretty(&json!(t)).unwrap();
            fs::write(Path::new(&dir).join(format!("{name}.json")), text).unwrap();
        }
    }
    // The reference itself: what the scenario must show.
    let get = |step: &str| &reference.iter().find(|s| s.0 == step).unwrap().1;
    let bal = |step: &str, w: &str| get(step)[w]["getbalances"]["mine"].clone();
    assert_eq!(btc(&bal("mined 110 to a", "a")["trusted"]), 500.0);
    assert_eq!(btc(&bal("mined 110 to a", "a")["immature"]), 5000.0);
    assert_eq!(btc(&bal("mined 1", "b")["trusted"]), 12.5);
    assert_eq!(btc(&bal("after restart", "b")["trusted"]), 12.5);
    assert_eq!(get("getbalance on /wallet/x")["error"]["code"], -18);
    assert_eq!(
        get("sendtoaddress to an invalid address")["error"]["code"],
        -5
    );
    assert_eq!(get("sendtoaddress over the balance")["error"]["code"], -6);

    assert_same_transcripts(&reference, &multi, "bitcoin-node + bitcoin-wallet");
}

/// Two wallets a and b on `bin`, a with 101 blocks mined to it, and a's
/// send of 12.5 to b in the mempool.
fn send_a_to_b(bin: &Path, d: &Path) -> Node {
    let n = Node::start_program(bin, d, &[FEE]);
    n.rpc("createwallet", json!(["a"]));
    n.rpc("createwallet", json!(["b"]));
    let a = n.w("a", "getnewaddress", json!([]));
    let b = n.w("b", "getnewaddress", json!([]));
    n.mine(101, a.as_str().unwrap());
    n.w("a", "sendtoaddress", json!([b, 12.5]));
    n
}

/// What wallet b shows of the unconfirmed 12.5: "<program>: pending P, N
/// transaction(s)".
fn pending_in_b(n: &Node) -> String {
    let bal = n.w("b", "getbalances", json!([]));
    let txs = n.w("b", "listtransactions", json!([]));
    format!(
        "{}: pending {}, {} transaction(s)",
        n.program.file_name().unwrap().to_string_lossy(),
        btc(&bal["mine"]["untrusted_pending"]),
        txs.as_array().unwrap().len()
    )
}

/// Wallet b's view of a's send while it is in the mempool, on both
/// programs: as in Core, every wallet hears of a transaction entering the
/// mempool (`transactionAddedToMempool`), also one another wallet of the
/// same node sent.
#[test]
fn a_send_shows_in_the_receiving_wallet_before_it_confirms() {
    let mut seen = Vec::new();
    for bin in [bitcoind(), bitcoin_node()] {
        let d = tempdir();
        let n = send_a_to_b(&bin, d.path());
        seen.push(pending_in_b(&n));
    }
    assert_eq!(
        seen,
        [
            "bitcoind: pending 12.5, 1 transaction(s)",
            "bitcoin-node: pending 12.5, 1 transaction(s)"
        ]
    );
}

/// After `invalidateblock` the send is back in the node's mempool; as in
/// Core (the re-added transaction is announced with
/// `transactionAddedToMempool`), the receiving wallet counts it as pending
/// again.
#[test]
fn a_transaction_a_reorg_puts_back_in_the_mempool_is_pending_again() {
    let mut seen = Vec::new();
    for bin in [bitcoind(), bitcoin_node()] {
        let d = tempdir();
        let n = send_a_to_b(&bin, d.path());
        let pool = n.rpc("getrawmempool", json!([]));
        let hash = n.mine(1, OTHER_ADDR).remove(0);
        n.rpc("invalidateblock", json!([hash]));
        assert_eq!(
            n.rpc("getrawmempool", json!([])),
            pool,
            "back in the mempool"
        );
        seen.push(pending_in_b(&n));
    }
    assert_eq!(
        seen,
        [
            "bitcoind: pending 12.5, 1 transaction(s)",
            "bitcoin-node: pending 12.5, 1 transaction(s)"
        ]
    );
}

/// A payment to wallet b from an outside key, replaced in the mempool
/// (BIP125) by a spend of the same coin that pays b nothing; a second one
/// dropped from the mempool by a block that spends its coin otherwise; a
/// third expired: as in Core (`transactionRemovedFromMempool`, reasons
/// REPLACED, CONFLICT and EXPIRY), b stops counting any as pending, on
/// both programs.
#[test]
fn a_payment_replaced_conflicted_or_expired_out_of_the_mempool_is_no_longer_pending() {
    use std::str::FromStr;
    let mut seen = Vec::new();
    for bin in [bitcoind(), bitcoin_node()] {
        let d = tempdir();
        let n = Node::start_program(&bin, d.path(), &[FEE]);
        n.rpc("createwallet", json!(["b"]));
        let b_addr = n.w("b", "getnewaddress", json!([]));
        let to_b = bitcoin::Address::from_str(b_addr.as_str().unwrap())
            .unwrap()
            .assume_checked()
            .script_pubkey();
        let k = key(7);
        let hashes = n.mine(102, &k.addr.to_string());
        let coinbase = |i: usize| {
            let block = n.rpc("getblock", json!([hashes[i]]));
            let txid = block["tx"][0].as_str().unwrap().parse().unwrap();
            bitcoin::OutPoint::new(txid, 0)
        };
        let fifty = bitcoin::Amount::from_btc(50.0).unwrap();
        let pending =
            |n: &Node| btc(&n.w("b", "getbalances", json!([]))["mine"]["untrusted_pending"]);

        // Replaced.
        let pay = spend(
            &k,
            coinbase(0),
            fifty,
            &to_b,
            bitcoin::Amount::from_sat(1_000),
        );
        n.rpc(
            "sendrawtransaction",
            json!([hex(&bitcoin::consensus::serialize(&pay))]),
        );
        let before = pending(&n);
        let back = spend(
            &k,
            coinbase(0),
            fifty,
            &spk2(&k),
            bitcoin::Amount::from_sat(20_000),
        );
        n.rpc(
            "sendrawtransaction",
            json!([hex(&bitcoin::consensus::serialize(&back))]),
        );
        let after_replace = pending(&n);

        // Conflicted out by a block (generateblock with the conflicting
        // spend, which never entered the mempool).
        let pay2 = spend(
            &k,
            coinbase(1),
            fifty,
            &to_b,
            bitcoin::Amount::from_sat(1_000),
        );
        n.rpc(
            "sendrawtransaction",
            json!([hex(&bitcoin::consensus::serialize(&pay2))]),
        );
        let before2 = pending(&n);
        let other = spend(
            &k,
            coinbase(1),
            fifty,
            &spk2(&k),
            bitcoin::Amount::from_sat(2_000),
        );
        n.rpc(
            "generateblock",
            json!([OTHER_ADDR, [hex(&bitcoin::consensus::serialize(&other))]]),
        );
        let after_block = pending(&n);

        // Expired: two weeks and an hour later (setmocktime), the next
        // transaction to enter the mempool makes it drop the old one.
        let pay3 = spend(
            &k,
            coinbase(2),
            fifty,
            &to_b,
            bitcoin::Amount::from_sat(1_000),
        );
        n.rpc(
            "sendrawtransaction",
            json!([hex(&bitcoin::consensus::serialize(&pay3))]),
        );
        let before3 = pending(&n);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        n.rpc("setmocktime", json!([now + 337 * 3600]));
        let later = spend(
            &k,
            coinbase(3),
            fifty,
            &spk2(&k),
            bitcoin::Amount::from_sat(2_000),
        );
        n.rpc(
            "sendrawtransaction",
            json!([hex(&bitcoin::consensus::serialize(&later))]),
        );
        let pool = n.rpc("getrawmempool", json!([]));
        assert_eq!(pool, json!([later.compute_txid().to_string()]), "expired");
        let after_expiry = pending(&n);
        seen.push(format!(
            "{}: {before} -> {after_replace}; {before2} -> {after_block}; {before3} -> {after_expiry}",
            bin.file_name().unwrap().to_string_lossy()
        ));
    }
    assert_eq!(
        seen,
        [
            "bitcoind: 49.99999 -> 0; 49.99999 -> 0; 49.99999 -> 0",
            "bitcoin-node: 49.99999 -> 0; 49.99999 -> 0; 49.99999 -> 0"
        ]
    );
}

// ---------------------------------------------------------------------------
// 2. ps: the wallet is a child process of the node

#[test]
fn the_wallet_is_a_separate_child_process_of_bitcoin_node() {
    let d = tempdir();
    let mut n = Node::start_program(&bitcoin_node(), d.path(), &[]);
    n.rpc("createwallet", json!(["w"]));
    let node_pid = n.child.id();
    let kids = wallet_children(node_pid);
    assert_eq!(kids.len(), 1, "bitcoin-wallet children: {kids:?}");
    let w = kids[0];
    assert_ne!(w, node_pid);
    let (ppid, _) = proc_stat(w).unwrap();
    assert_eq!(ppid, node_pid, "the wallet's parent is bitcoin-node");
    let exe = fs::read_link(format!("/proc/{w}/exe")).unwrap();
    assert_eq!(
        exe,
        program("bitcoin-wallet"),
        "the child runs bitcoin-wallet"
    );
    let cmdline = fs::read(format!("/proc/{w}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(
        cmdline.contains("-ipcfd="),
        "spawned over a socketpair: {cmdline}"
    );
    // It does the wallet's work: an address from it, mined to, a balance.
    let a = n.w("w", "getnewaddress", json!([]));
    n.mine(101, a.as_str().unwrap());
    assert_eq!(n.balances("w"), (50.0, 5000.0));
    // `stop` ends the child too.
    n.stop();
    wait_for("the wallet child to end with its node", 10, || {
        proc_stat(w).is_none_or(|(_, st)| st == 'Z').then_some(())
    });

    // -disablewallet: no wallet process at all; bitcoind: none either.
    for (bin, extra) in [(bitcoin_node(), "-disablewallet"), (bitcoind(), FEE)] {
        let d = tempdir();
        let n = Node::start_program(&bin, d.path(), &[extra]);
        n.mine(1, OTHER_ADDR);
        assert_eq!(
            children_of(n.child.id()),
            Vec::<u32>::new(),
            "{} {extra} has child processes",
            bin.display()
        );
    }
}

// ---------------------------------------------------------------------------
// 3. kill -9 the wallet process while blocks stream

/// Mines one block at a time on a node until told to stop; the hashes, in
/// order.
struct Miner {
    stop: Arc<AtomicBool>,
    mined: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Miner {
    fn start(n: &Node, addr: &str, max: u64) -> Miner {
        let (port, auth, addr) = (n.port, n.auth.clone(), addr.to_string());
        let stop = Arc::new(AtomicBool::new(false));
        let mined = Arc::new(AtomicU64::new(0));
        let (s, m) = (stop.clone(), mined.clone());
        let thread = std::thread::spawn(move || {
            let mut hashes = Vec::new();
            while !s.load(Ordering::SeqCst) && (hashes.len() as u64) < max {
                match rpc_call(port, &auth, "generatetoaddress", &json!([1, addr])) {
                    Ok(v) => hashes.push(v[0].as_str().unwrap().to_string()),
                    Err(e) => panic!("generatetoaddress failed while mining: {e:?}"),
                }
                m.fetch_add(1, Ordering::SeqCst);
            }
            hashes
        });
        Miner {
            stop,
            mined,
            thread: Some(thread),
        }
    }

    fn mined(&self) -> u64 {
        self.mined.load(Ordering::SeqCst)
    }

    /// Waits until `n` more blocks are mined.
    fn wait_more(&self, n: u64) {
        let target = self.mined() + n;
        wait_for("the miner thread to mine more blocks", 60, || {
            (self.mined() >= target).then_some(())
        });
    }

    fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().unwrap().join() {
            Ok(h) => h,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Calls getblockcount on a node without pause until stopped: the number
/// of calls, the failures and the slowest answer.
struct Poller {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<(u64, Vec<String>, Duration)>>,
}

impl Poller {
    fn start(n: &Node) -> Poller {
        let (port, auth) = (n.port, n.auth.clone());
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut calls, mut failures, mut slowest) = (0u64, Vec::new(), Duration::ZERO);
            while !s.load(Ordering::SeqCst) {
                let t = Instant::now();
                if let Err(e) = rpc_call(port, &auth, "getblockcount", &json!([])) {
                    failures.push(format!("{e:?}"));
                }
                slowest = slowest.max(t.elapsed());
                calls += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (calls, failures, slowest)
        });
        Poller {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (u64, Vec<String>, Duration) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Regtest's block subsidy at `height`, in satoshis (halving every 150 blocks).
fn subsidy_sat(height: u64) -> u64 {
    let sat = 50 * 100_000_000u64;
    let halvings = height / 150;
    if halvings >= 64 {
        0
    } else {
        sat >> halvings
    }
}

/// A wallet's (trusted, immature) balances when it holds the coinbases of
/// `heights` and the tip is `tip`: summed in satoshis (a sum of floats
/// drifts from the RPC's 8-decimal amounts), in BTC as the RPC gives them.
fn coinbase_balances(heights: impl IntoIterator<Item = u64>, tip: u64) -> (f64, f64) {
    let (mut trusted, mut immature) = (0u64, 0u64);
    for h in heights {
        if tip - h + 1 > 100 {
            trusted += subsidy_sat(h);
        } else {
            immature += subsidy_sat(h);
        }
    }
    (trusted as f64 / 1e8, immature as f64 / 1e8)
}

/// Copies blocks `hashes` of `from` to `to` (getblock raw, submitblock).
fn copy_blocks(from: &Node, to: &Node, hashes: &[String]) {
    for h in hashes {
        let raw = from.rpc("getblock", json!([h, 0]));
        let r = to.rpc("submitblock", json!([raw]));
        assert!(r.is_null(), "submitblock {h}: {r}");
    }
}

#[test]
fn kill9_of_the_wallet_while_blocks_stream_the_node_serves_on_and_the_wallet_catches_up() {
    let dn = tempdir();
    let n = Node::start_program(&bitcoin_node(), dn.path(), &[FEE]);
    create_fixed_wallet(&n, "w");
    let addr = n.w("w", "getnewaddress", json!([]));
    let addr = addr.as_str().unwrap().to_string();
    let mut hashes = n.mine(100, &addr);
    let first = wallet_child(&n);

    let poller = Poller::start(&n);
    let miner = Miner::start(&n, &addr, 10_000);
    let mut pid = first;
    let mut pids = vec![first];
    for _ in 0..2 {
        miner.wait_more(5);
        kill9_pid(pid);
        // The node mines on while its wallet is down...
        miner.wait_more(5);
        pid = wait_wallet_back(&n, pid, "w");
        pids.push(pid);
    }
    // ... and on once it is back.
    miner.wait_more(5);
    hashes.extend(miner.finish());
    let (calls, failures, slowest) = poller.finish();
    assert!(
        failures.is_empty(),
        "getblockcount failed {} times of {calls} while the wallet was killed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        slowest < Duration::from_secs(2),
        "getblockcount took {slowest:?} while the wallet was killed"
    );
    assert_eq!(n.height(), hashes.len() as u64);
    assert_eq!(wallet_children(n.child.id()), [pid]);
    let spawns = n.rpc("getipcinfo", json!([]))["wallet_process_spawns"].clone();
    assert_eq!(spawns, 3, "wallet processes {pids:?}");

    // bitcoind with the same wallet and the same blocks: the same answers.
    let dd = tempdir();
    let d = Node::start_program(&bitcoind(), dd.path(), &[FEE]);
    create_fixed_wallet(&d, "w");
    assert_eq!(d.w("w", "getnewaddress", json!([])), addr.as_str());
    copy_blocks(&n, &d, &hashes);
    assert_eq!(d.height(), n.height());
    let expect = coinbase_balances(1..=n.height(), n.height());
    assert_eq!(d.balances("w"), expect, "bitcoind's arithmetic");
    for m in ["getbalances", "listunspent"] {
        let mut a = n.w("w", m, json!([]));
        let mut b = d.w("w", m, json!([]));
        if m == "listunspent" {
            let key = |v: &Value| v["txid"].to_string();
            a.as_array_mut().unwrap().sort_by_key(key);
            b.as_array_mut().unwrap().sort_by_key(key);
        }
        assert_eq!(
            a, b,
            "{m}: bitcoin-node's wallet (after two kill -9) and bitcoind's differ"
        );
    }
    let info = |n: &Node| {
        // All but the time each wallet was created.
        let mut i = n.w("w", "getwalletinfo", json!([]));
        i.as_object_mut().unwrap().remove("birthtime");
        i
    };
    assert_eq!(info(&n), info(&d));
}

// ---------------------------------------------------------------------------
// 7. Wallet encryption through the split

/// The result (if `keep`, else only that it succeeded) or the error.
fn outcome(a: Answer, keep: bool) -> Value {
    match a {
        Ok(v) if keep => json!({"result": v}),
        Ok(_) => json!("ok"),
        Err(e) => json!({"error": {"code": e.code, "message": e.message}}),
    }
}

/// Encrypts wallet `e` on `bin` and goes through locking, a wrong and the
/// right passphrase, and a kill -9 of the wallet (the wallet process on
/// bitcoin-node, the whole process on bitcoind): every answer, in order.
fn encryption(bin: &Path) -> Transcript {
    const PASS: &str = "correct horse battery staple";
    let d = tempdir();
    let mut t: Transcript = Vec::new();
    let mut n = Node::start_program(bin, d.path(), &[FEE]);
    n.rpc("createwallet", json!(["e"]));
    let addr = n.w("e", "getnewaddress", json!([]));
    n.mine(101, addr.as_str().unwrap());
    let step = |t: &mut Transcript, n: &Node, what: &str, m: &str, p: Value, keep: bool| {
        t.push((what.to_string(), outcome(n.wcall("e", m, p), keep)));
    };
    let unlocked_until = |n: &Node| n.w("e", "getwalletinfo", json!([]))["unlocked_until"].clone();
    let send = json!([OTHER_ADDR, 1]);
    step(
        &mut t,
        &n,
        "walletpassphrase before encryption",
        "walletpassphrase",
        json!([PASS, 60]),
        true,
    );
    step(
        &mut t,
        &n,
        "walletlock before encryption",
        "walletlock",
        json!([]),
        true,
    );
    step(
        &mut t,
        &n,
        "encryptwallet",
        "encryptwallet",
        json!([PASS]),
        true,
    );
    t.push(("unlocked_until once encrypted".into(), unlocked_until(&n)));
    step(
        &mut t,
        &n,
        "encryptwallet again",
        "encryptwallet",
        json!([PASS]),
        true,
    );
    step(
        &mut t,
        &n,
        "send while locked",
        "sendtoaddress",
        send.clone(),
        true,
    );
    step(
        &mut t,
        &n,
        "getnewaddress while locked",
        "getnewaddress",
        json!([]),
        false,
    );
    step(
        &mut t,
        &n,
        "wrong passphrase",
        "walletpassphrase",
        json!(["not it", 60]),
        true,
    );
    step(
        &mut t,
        &n,
        "empty passphrase",
        "walletpassphrase",
        json!(["", 60]),
        true,
    );
    step(
        &mut t,
        &n,
        "right passphrase",
        "walletpassphrase",
        json!([PASS, 600]),
        true,
    );
    let until = unlocked_until(&n).as_i64().unwrap_or(0);
    t.push(("unlocked_until is in the future".into(), json!(until > 0)));
    step(
        &mut t,
        &n,
        "send while unlocked",
        "sendtoaddress",
        send.clone(),
        false,
    );
    step(&mut t, &n, "walletlock", "walletlock", json!([]), true);
    t.push(("unlocked_until once locked".into(), unlocked_until(&n)));
    step(
        &mut t,
        &n,
        "send after walletlock",
        "sendtoaddress",
        send.clone(),
        true,
    );

    // kill -9 the wallet and let it come back.
    if is_child_wallet(&n) {
        let old = wallet_child(&n);
        kill9_pid(old);
        wait_wallet_back(&n, old, "e");
    } else {
        n.kill9();
        n = Node::start_program(bin, d.path(), &[FEE, "-wallet=e"]);
    }
    let info = n.w("e", "getwalletinfo", json!([]));
    t.push((
        "unlocked_until after kill -9".into(),
        info["unlocked_until"].clone(),
    ));
    t.push((
        "balance after kill -9".into(),
        normalize(&n.w("e", "getbalances", json!([]))),
    ));
    step(
        &mut t,
        &n,
        "send after kill -9",
        "sendtoaddress",
        send.clone(),
        true,
    );
    step(
        &mut t,
        &n,
        "wrong passphrase after kill -9",
        "walletpassphrase",
        json!(["not it", 60]),
        true,
    );
    step(
        &mut t,
        &n,
        "right passphrase after kill -9",
        "walletpassphrase",
        json!([PASS, 600]),
        true,
    );
    step(
        &mut t,
        &n,
        "send after kill -9, unlocked",
        "sendtoaddress",
        send,
        false,
    );
    t
}

/// Whether `n` runs its wallets in a child process (bitcoin-node).
fn is_child_wallet(n: &Node) -> bool {
    n.program.ends_with("bitcoin-node")
}

#[test]
fn wallet_encryption_and_a_wrong_passphrase_through_the_split_as_in_bitcoind() {
    let reference = encryption(&bitcoind());
    let get = |step: &str| reference.iter().find(|s| s.0 == step).unwrap().1.clone();
    assert_eq!(get("send while locked")["error"]["code"], -13);
    assert_eq!(get("wrong passphrase")["error"]["code"], -14);
    assert_eq!(get("right passphrase"), json!({"result": null}));
    assert_eq!(get("send while unlocked"), "ok");
    assert_eq!(get("unlocked_until is in the future"), true);
    assert_eq!(get("unlocked_until once locked"), 0);
    assert_eq!(get("send after walletlock")["error"]["code"], -13);
    assert_eq!(get("unlocked_until after kill -9"), 0);
    assert_eq!(get("send after kill -9")["error"]["code"], -13);
    assert_eq!(get("wrong passphrase after kill -9")["error"]["code"], -14);
    assert_eq!(get("send after kill -9, unlocked"), "ok");
    let multi = encryption(&bitcoin_node());
    assert_same_transcripts(&reference, &multi, "bitcoin-node + bitcoin-wallet");
}
