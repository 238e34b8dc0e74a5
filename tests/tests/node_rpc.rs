//! `bitcoin-node` from the outside: every test starts the real binary with
//! a fresh datadir on a free port and talks JSON-RPC over HTTP to it, as
//! bitcoin-cli, scripts and python-bitcoinlib do. The node is killed when
//! its [`Node`] guard drops, also when a test panics.
//!
//! The harness (binaries, built when stale; HTTP; the `Node` guard; keys)
//! is in `common/mod.rs`, shared with `wallet_process.rs`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::{hmac, sha256, Hash, HashEngine};
use bitcoin::{Amount, Block, OutPoint, ScriptBuf, Transaction, TxOut, Txid};
use serde_json::{json, Value};

mod common;
use common::*;

// ---------------------------------------------------------------------------
// 1. Start and stop

#[test]
fn start_writes_cookie_and_log_and_stop_or_sigterm_exit_cleanly() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempdir();
    let mut n = Node::start(d.path(), &[]);
    let cookie = n.cookie_path();
    let meta = fs::metadata(&cookie).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "cookie mode");
    let content = fs::read_to_string(&cookie).unwrap();
    let (user, pass) = content.split_once(':').unwrap();
    assert_eq!(user, "__cookie__");
    assert!(
        pass.len() == 64 && pass.bytes().all(|b| b.is_ascii_hexdigit()),
        "{pass}"
    );
    let log = fs::read_to_string(n.debug_log()).unwrap();
    assert!(
        log.contains(&format!(":{}", n.port)),
        "debug.log names the RPC port:\n{log}"
    );
    n.mine(5, OTHER_ADDR);

    // A second node on the same datadir (even with -reindex) refuses to
    // start, as Core does, and leaves the first one alone.
    let mut second = spawn_node(
        d.path(),
        &regtest_args(d.path(), free_port(), &["-reindex"]),
    );
    let st = wait_child(&mut second, 60);
    let err = fs::read_to_string(d.path().join("node.stderr")).unwrap();
    assert!(!st.success(), "a second node started on the same datadir");
    assert!(
        err.contains("lock") && err.contains("already running"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&cookie).unwrap(), content);
    assert_eq!(n.height(), 5);
    n.mine(1, OTHER_ADDR);
    assert_eq!(n.rpc("verifychain", json!([4, 0])), true);
    n.stop();
    assert!(!cookie.exists(), "the cookie is removed at shutdown");

    // SIGTERM: the same orderly stop; the chain was kept.
    let mut n = Node::start(d.path(), &[]);
    assert_eq!(n.height(), 6);
    let content2 = fs::read_to_string(&cookie).unwrap();
    assert_ne!(content, content2, "a new cookie each start");
    n.signal(libc::SIGTERM);
    let st = n.wait_exit(60);
    assert!(st.success(), "SIGTERM: exit {st}\n{}", n.diagnostics());
    assert!(!cookie.exists(), "the cookie is removed after SIGTERM");
    let log = fs::read_to_string(n.debug_log()).unwrap();
    assert_eq!(log.matches("Shutdown: done").count(), 2, "{log}");

    // SIGHUP reopens debug.log (logrotate), as in Core; SIGINT (Ctrl-C)
    // stops like SIGTERM.
    let mut n = Node::start(d.path(), &[]);
    let rotated = d.path().join("regtest/debug.log.1");
    fs::rename(n.debug_log(), &rotated).unwrap();
    n.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    assert!(n.running(), "SIGHUP ended the node\n{}", n.diagnostics());
    assert_eq!(n.height(), 6);
    n.signal(libc::SIGINT);
    assert!(n.wait_exit(60).success());
    assert!(!cookie.exists());
    let log = fs::read_to_string(n.debug_log()).unwrap_or_default();
    assert!(
        log.contains("Shutdown: done"),
        "no new debug.log after SIGHUP: {log}"
    );
    assert!(log.contains("Received a termination signal"), "{log}");
    let old = fs::read_to_string(&rotated).unwrap();
    assert_eq!(old.matches("Shutdown: done").count(), 2, "{old}");
}

#[test]
fn log_file_console_and_cookie_file_options() {
    use std::os::unix::fs::PermissionsExt;
    // -debuglogfile (relative: in the chain's directory), -printtoconsole,
    // -rpccookiefile (relative: in the chain's directory).
    let d = tempdir();
    let port = free_port();
    let args = regtest_args(
        d.path(),
        port,
        &[
            "-debuglogfile=custom.log",
            "-printtoconsole",
            "-rpccookiefile=my.cookie",
        ],
    );
    let mut n = Node {
        child: spawn_node(d.path(), &args),
        program: node_bin(),
        dir: d.path().to_path_buf(),
        port,
        auth: String::new(),
        cookie: d.path().join("regtest/my.cookie"),
    };
    n.wait_ready(true);
    let mode = fs::metadata(&n.cookie).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!d.path().join("regtest/.cookie").exists());
    n.stop();
    assert!(!n.cookie.exists(), "the -rpccookiefile cookie is removed");
    let log = fs::read_to_string(d.path().join("regtest/custom.log"))
        .expect("-debuglogfile=custom.log is written in the chain's directory");
    assert!(log.contains("Shutdown: done"), "{log}");
    assert!(
        !d.path().join("regtest/debug.log").exists(),
        "debug.log written although -debuglogfile names another file"
    );
    let out = fs::read_to_string(d.path().join("node.stdout")).unwrap();
    assert!(out.contains("Shutdown: done"), "-printtoconsole: {out}");

    // -nodebuglogfile: no log file at all.
    let d = tempdir();
    let mut n = Node::start(d.path(), &["-nodebuglogfile"]);
    n.stop();
    let names: Vec<_> = fs::read_dir(d.path().join("regtest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|f| f.ends_with(".log")), "{names:?}");
}

// ---------------------------------------------------------------------------
// 2. Authentication

fn rpcauth_line(user: &str, salt: &str, password: &str) -> String {
    let mut e = hmac::HmacEngine::<sha256::Hash>::new(salt.as_bytes());
    e.input(password.as_bytes());
    let mac = hmac::Hmac::<sha256::Hash>::from_engine(e);
    format!("{user}:{salt}${}", hex(mac.as_byte_array()))
}

#[test]
fn authentication_by_password_rpcauth_and_cookie() {
    let d = tempdir();
    let port = free_port();
    let auth = rpcauth_line("bob", "f00dfeedcafe0123456789abcdef0123", "hunter2");
    let args = regtest_args(
        d.path(),
        port,
        &[
            "-rpcuser=alice",
            "-rpcpassword=s3cret",
            &format!("-rpcauth={auth}"),
        ],
    );
    let n = Node::start_with(d.path(), port, args, Some("alice:s3cret"));
    assert!(
        !n.cookie_path().exists(),
        "with -rpcpassword there is no cookie (as in Core)"
    );
    let body = request_body("getblockcount", &json!([]));
    let r = post(port, None, &body).unwrap();
    assert_eq!(r.status, 401, "no credentials: {r:?}");
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "401 asks for Basic: {}",
        r.head
    );
    for bad in ["alice:wrong", "bob:s3cret", "alice:", "nobody:hunter2", ":"] {
        let t = Instant::now();
        let r = post(port, Some(bad), &body).unwrap();
        assert_eq!(r.status, 401, "{bad}: {r:?}");
        assert!(
            t.elapsed() >= Duration::from_millis(200),
            "a wrong password is answered after a delay"
        );
    }
    for good in ["alice:s3cret", "bob:hunter2"] {
        let r = post(port, Some(good), &body).unwrap();
        assert_eq!(r.status, 200, "{good}: {r:?}");
        assert_eq!(serde_json::from_str::<Value>(&r.body).unwrap()["result"], 0);
    }
    drop(n);

    // -rpcauth alone: the cookie is written too, and both work.
    let d = tempdir();
    let port = free_port();
    let args = regtest_args(d.path(), port, &[&format!("-rpcauth={auth}")]);
    let n = Node::start_with(d.path(), port, args, None);
    assert!(n.cookie_path().exists());
    assert_eq!(post(port, Some("bob:hunter2"), &body).unwrap().status, 200);
    assert_eq!(post(port, Some(&n.auth), &body).unwrap().status, 200);
    assert_eq!(post(port, Some("bob:hunter3"), &body).unwrap().status, 401);

    // A malformed -rpcauth stops the node with an error.
    let d2 = tempdir();
    let mut c = spawn_node(
        d2.path(),
        &regtest_args(d2.path(), free_port(), &["-rpcauth=bob:nodollar"]),
    );
    let st = wait_child(&mut c, 60);
    assert!(!st.success());
    let err = fs::read_to_string(d2.path().join("node.stderr")).unwrap();
    assert!(err.contains("rpcauth"), "{err}");
}

// ---------------------------------------------------------------------------
// 3. Bad input

#[test]
fn bad_input_is_answered_and_the_node_keeps_serving() {
    let d = tempdir();
    let mut n = Node::start(d.path(), &[]);
    n.mine(3, OTHER_ADDR);

    for h in ["zz", "00", "0000000000", "deadbeef"] {
        let m = n.rpc_err("submitblock", json!([h]), -22);
        assert_eq!(m, "Block decode failed", "{h}");
    }
    for h in ["zz", "", "0100", "02000000000100"] {
        let m = n.rpc_err("sendrawtransaction", json!([h]), -22);
        assert_eq!(m, "TX decode failed", "{h}");
    }
    n.rpc_err("decoderawtransaction", json!(["beef"]), -22);
    n.rpc_err("testmempoolaccept", json!([["beef"]]), -22);

    // Malformed JSON: HTTP 500 with a parse error, as Core.
    for body in ["{\"method\": getblockcount", "", "[", "nul", "\u{7f}\u{0}"] {
        let r = post(n.port, Some(&n.auth), body).unwrap();
        assert_eq!(r.status, 500, "{body:?}: {r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["code"], -32700, "{body:?}: {v}");
    }
    // JSON, but neither a request object nor a batch: Core's "Top-level
    // object parse error"; bad fields of a request: -32600 and HTTP 400.
    for body in ["42", "\"getblockcount\"", "null"] {
        let r = post(n.port, Some(&n.auth), body).unwrap();
        assert_eq!(r.status, 500, "{body:?}: {r:?}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["code"], -32700, "{body:?}: {v}");
    }
    let r = post(
        n.port,
        Some(&n.auth),
        r#"{"method":"getblockcount","params":"x","id":1}"#,
    )
    .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let r = post(n.port, Some(&n.auth), r#"{"method":7,"id":1}"#).unwrap();
    assert_eq!(r.status, 400, "{r:?}");

    // Unknown method: 404 and -32601.
    let r = post(
        n.port,
        Some(&n.auth),
        &request_body("nosuchmethod", &json!([])),
    )
    .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(
        n.rpc_err("nosuchmethod", json!([]), -32601),
        "Method not found"
    );

    // Wrong parameter types and values.
    let m = n.rpc_err("getblockhash", json!(["x"]), -3);
    assert!(m.contains("type string") && m.contains("number"), "{m}");
    let m = n.rpc_err("getblock", json!([123]), -3);
    assert!(m.contains("type number") && m.contains("string"), "{m}");
    let m = n.rpc_err("getblock", json!(["xyz"]), -8);
    assert!(m.contains("must be of length 64"), "{m}");
    let m = n.rpc_err("getblock", json!(["g".repeat(64)]), -8);
    assert!(m.contains("must be hexadecimal"), "{m}");
    assert_eq!(
        n.rpc_err("getblockhash", json!([999999]), -8),
        "Block height out of range"
    );
    assert_eq!(
        n.rpc_err("getblockhash", json!([-1]), -8),
        "Block height out of range"
    );
    assert_eq!(
        n.rpc_err("getblock", json!(["00".repeat(32)]), -5),
        "Block not found"
    );
    assert_eq!(
        n.rpc_err("getblockheader", json!(["11".repeat(32)]), -5),
        "Block not found"
    );
    n.rpc_err("getblockhash", json!([]), -1); // usage
    n.rpc_err("getblockcount", json!([1]), -1); // too many
    n.rpc_err("getblockhash", json!({"nosuch": 1}), -8);
    n.rpc_err("generatetoaddress", json!([1, "notanaddress"]), -5);
    n.rpc_err(
        "generatetoaddress",
        json!([1, "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"]),
        -5,
    ); // mainnet
    n.rpc_err("generatetodescriptor", json!([1, "pkh(nonsense)"]), -5);
    n.rpc_err("gettxout", json!(["zz", 0]), -8);

    // Not POST: 405; a line that is no HTTP: an error status or a close.
    let r = http_exchange(
        n.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 405, "{r:?}");
    // Closed without an answer is fine too.
    if let Ok(r) = http_exchange(n.port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n") {
        assert!(r.status >= 400, "{r:?}");
    }

    // A 100 MB body: 413 before it is read, promptly.
    let mut s = TcpStream::connect(("127.0.0.1", n.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        base64(n.auth.as_bytes())
    );
    let t = Instant::now();
    s.write_all(head.as_bytes()).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        let mut sent = 0usize;
        while sent < 100_000_000 {
            match w.write(&chunk) {
                Ok(k) => sent += k,
                Err(_) => break,
            }
        }
        sent
    });
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
        }
    }
    let elapsed = t.elapsed();
    let r = parse_reply(&buf).expect("a reply to the 100 MB request");
    assert_eq!(r.status, 413, "{r:?}");
    assert!(elapsed < Duration::from_secs(10), "413 took {elapsed:?}");
    let _ = s.shutdown(std::net::Shutdown::Both);
    writer.join().unwrap();

    // Still serving, same chain.
    assert!(n.running(), "the node died\n{}", n.diagnostics());
    assert_eq!(n.height(), 3);
    n.mine(1, OTHER_ADDR);
    assert_eq!(n.height(), 4);
    // A batch of two, one bad.
    let r = post(
        n.port,
        Some(&n.auth),
        r#"[{"method":"getblockcount","id":1},{"method":"nope","id":2}]"#,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v[0]["result"], 4);
    assert_eq!(v[1]["error"]["code"], -32601);
    n.stop();
}

// ---------------------------------------------------------------------------
// 4. The chain through RPC

#[test]
fn chain_mempool_and_transactions_through_rpc() {
    let d = tempdir();
    let mut n = Node::start(d.path(), &[]);
    let k = key(0x11);
    let a = k.addr.to_string();
    assert!(a.starts_with("bcrt1q"));
    let hashes = n.mine(101, &a);
    assert_eq!(hashes.len(), 101);
    assert_eq!(n.height(), 101);
    let tip = hashes[100].clone();

    let info = n.rpc("getblockchaininfo", json!([]));
    has_keys(
        &info,
        &[
            "chain",
            "blocks",
            "headers",
            "bestblockhash",
            "difficulty",
            "time",
            "mediantime",
            "verificationprogress",
            "initialblockdownload",
            "chainwork",
            "size_on_disk",
            "pruned",
            "warnings",
        ],
        "getblockchaininfo",
    );
    assert_eq!(info["chain"], "regtest");
    assert_eq!(info["blocks"], 101);
    assert_eq!(info["headers"], 101);
    assert_eq!(info["bestblockhash"], tip);
    assert!(is_hex64(&info["chainwork"]));
    // regtest: 2 units of work per block, genesis included
    assert_eq!(
        info["chainwork"].as_str().unwrap().trim_start_matches('0'),
        format!("{:x}", 2 * 102)
    );
    assert!(btc(&info["difficulty"]) > 0.0);
    assert_eq!(info["pruned"], false);
    assert_eq!(n.rpc("getbestblockhash", json!([])), tip);
    assert_eq!(n.rpc("getblockhash", json!([101])), tip);
    assert_eq!(n.rpc("getdifficulty", json!([])), info["difficulty"]);

    // getblock 0/1/2
    let h1 = hashes[0].clone();
    let raw = n.rpc("getblock", json!([h1, 0]));
    let block: Block = deserialize_hex(raw.as_str().unwrap()).unwrap();
    assert_eq!(block.block_hash().to_string(), h1);
    assert!(block.check_merkle_root() && block.check_witness_commitment());
    let b1 = n.rpc("getblock", json!([h1]));
    has_keys(
        &b1,
        &[
            "hash",
            "confirmations",
            "height",
            "version",
            "versionHex",
            "merkleroot",
            "time",
            "mediantime",
            "nonce",
            "bits",
            "difficulty",
            "chainwork",
            "nTx",
            "previousblockhash",
            "nextblockhash",
            "strippedsize",
            "size",
            "weight",
            "tx",
        ],
        "getblock 1",
    );
    assert_eq!(b1, n.rpc("getblock", json!([h1, 1])));
    assert_eq!(b1["confirmations"], 101);
    assert_eq!(b1["height"], 1);
    assert_eq!(b1["nextblockhash"], hashes[1]);
    assert_eq!(b1["tx"][0], block.txdata[0].compute_txid().to_string());
    assert_eq!(b1["size"], raw.as_str().unwrap().len() / 2);
    let b2 = n.rpc("getblock", json!([h1, 2]));
    let cb = &b2["tx"][0];
    assert!(cb["vin"][0].get("coinbase").is_some(), "{cb:#}");
    let cb_vout = vout_paying(cb, &a);
    assert_eq!(btc(&cb["vout"][cb_vout as usize]["value"]), 50.0);
    let cb_txid: Txid = cb["txid"].as_str().unwrap().parse().unwrap();
    assert_eq!(n.rpc("getblock", json!([h1, true])), b1);
    assert_eq!(n.rpc("getblock", json!([h1, false])), raw);

    // getblockheader true/false
    let hdr = n.rpc("getblockheader", json!([h1]));
    has_keys(
        &hdr,
        &[
            "hash",
            "confirmations",
            "height",
            "version",
            "versionHex",
            "merkleroot",
            "time",
            "mediantime",
            "nonce",
            "bits",
            "difficulty",
            "chainwork",
            "nTx",
            "previousblockhash",
            "nextblockhash",
        ],
        "getblockheader",
    );
    assert_eq!(hdr["merkleroot"], b1["merkleroot"]);
    let hraw = n.rpc("getblockheader", json!([h1, false]));
    assert_eq!(hraw.as_str().unwrap().len(), 160);
    let header: bitcoin::block::Header = deserialize_hex(hraw.as_str().unwrap()).unwrap();
    assert_eq!(header, block.header);

    let tips = n.rpc("getchaintips", json!([]));
    assert_eq!(
        tips,
        json!([{"height": 101, "hash": tip, "branchlen": 0, "status": "active"}])
    );

    let stats = n.rpc("getblockstats", json!([101]));
    has_keys(
        &stats,
        &[
            "avgfee",
            "avgfeerate",
            "avgtxsize",
            "blockhash",
            "height",
            "ins",
            "maxfee",
            "mediantime",
            "outs",
            "subsidy",
            "swtotal_size",
            "swtxs",
            "time",
            "total_out",
            "total_size",
            "total_weight",
            "totalfee",
            "txs",
            "utxo_increase",
        ],
        "getblockstats",
    );
    assert_eq!(stats["blockhash"], tip);
    assert_eq!(stats["height"], 101);
    assert_eq!(stats["subsidy"], 5_000_000_000u64);
    assert_eq!(stats["txs"], 1);
    assert_eq!(
        n.rpc("getblockstats", json!([tip, ["height", "txs"]])),
        json!({"height": 101, "txs": 1})
    );

    let out = n.rpc("gettxout", json!([cb_txid.to_string(), cb_vout]));
    assert_eq!(out["confirmations"], 101);
    assert_eq!(out["coinbase"], true);
    assert_eq!(btc(&out["value"]), 50.0);
    assert_eq!(out["scriptPubKey"]["address"], a);
    assert_eq!(out["bestblock"], tip);
    assert_eq!(
        n.rpc("gettxout", json!([cb_txid.to_string(), 7])),
        Value::Null
    );

    let set = n.rpc("gettxoutsetinfo", json!([]));
    has_keys(
        &set,
        &[
            "height",
            "bestblock",
            "txouts",
            "bogosize",
            "hash_serialized_3",
            "total_amount",
            "transactions",
            "disk_size",
        ],
        "gettxoutsetinfo",
    );
    assert_eq!(set["height"], 101);
    assert_eq!(set["bestblock"], tip);
    assert!(is_hex64(&set["hash_serialized_3"]), "{set}");
    assert_eq!(btc(&set["total_amount"]), 5050.0);
    assert_eq!(set["txouts"], 101);
    let set_none = n.rpc("gettxoutsetinfo", json!(["none"]));
    assert!(set_none.get("hash_serialized_3").is_none());
    n.rpc_err("gettxoutsetinfo", json!(["sha1"]), -8);

    let mi = n.rpc("getmininginfo", json!([]));
    has_keys(
        &mi,
        &[
            "blocks",
            "difficulty",
            "networkhashps",
            "pooledtx",
            "chain",
            "warnings",
        ],
        "getmininginfo",
    );
    assert_eq!(mi["blocks"], 101);
    assert_eq!(mi["chain"], "regtest");
    let ni = n.rpc("getnetworkinfo", json!([]));
    has_keys(
        &ni,
        &[
            "version",
            "subversion",
            "protocolversion",
            "localservices",
            "connections",
            "networks",
            "relayfee",
            "incrementalfee",
            "warnings",
        ],
        "getnetworkinfo",
    );
    assert!(ni["version"].as_u64().is_some());
    assert!(n.rpc("uptime", json!([])).as_u64().is_some());
    let help = n.rpc("help", json!([]));
    let help = help.as_str().unwrap();
    for m in [
        "getblock ",
        "getblockchaininfo",
        "sendrawtransaction",
        "generatetoaddress",
        "stop",
    ] {
        assert!(help.contains(m), "help lacks {m}:\n{help}");
    }
    assert!(help.contains("== Blockchain =="), "{help}");
    let hg = n.rpc("help", json!(["getblock"]));
    assert!(
        hg.as_str().unwrap().starts_with("getblock \"blockhash\""),
        "{hg}"
    );
    assert!(n
        .rpc("help", json!(["nosuch"]))
        .as_str()
        .unwrap()
        .contains("unknown command"));
    assert_eq!(n.rpc("verifychain", json!([])), true);
    assert_eq!(n.rpc("verifychain", json!([4, 0])), true);

    // A real spend of the coinbase of block 1, signed here.
    let k2 = key(0x22);
    let value = Amount::from_btc(50.0).unwrap();
    let fee = Amount::from_sat(10_000);
    let tx = spend(
        &k,
        OutPoint::new(cb_txid, cb_vout),
        value,
        &k2.addr.script_pubkey(),
        fee,
    );
    let txid = tx.compute_txid().to_string();
    let txhex = serialize_hex(&tx);
    let t = n.rpc("testmempoolaccept", json!([[txhex]]));
    assert_eq!(t[0]["txid"], txid, "{t}");
    assert_eq!(t[0]["wtxid"], tx.compute_wtxid().to_string());
    assert_eq!(t[0]["allowed"], true, "{t}");
    assert_eq!(t[0]["vsize"], tx.vsize());
    assert_eq!(btc(&t[0]["fees"]["base"]), 0.0001);
    assert_eq!(
        n.rpc("getrawmempool", json!([])),
        json!([]),
        "testmempoolaccept adds nothing"
    );

    // What the mempool refuses, with Core's codes and reasons.
    let cb_of = |height: u64| -> (OutPoint, Amount) {
        let h = n.rpc("getblockhash", json!([height]));
        let cb = n.rpc("getblock", json!([h, 2]))["tx"][0].clone();
        let vout = vout_paying(&cb, &a);
        (
            OutPoint::new(cb["txid"].as_str().unwrap().parse().unwrap(), vout),
            Amount::from_btc(btc(&cb["vout"][vout as usize]["value"])).unwrap(),
        )
    };
    let reject = |t: &Transaction| {
        let r = n.rpc("testmempoolaccept", json!([[serialize_hex(t)]]));
        assert_eq!(r[0]["allowed"], false, "{r}");
        r[0]["reject-reason"].as_str().unwrap().to_string()
    };
    let (op3, v3) = cb_of(3);
    let young = spend(&k, op3, v3, &spk2(&k2), fee);
    assert_eq!(reject(&young), "bad-txns-premature-spend-of-coinbase");
    let m = n.rpc_err("sendrawtransaction", json!([serialize_hex(&young)]), -26);
    assert!(m.starts_with("bad-txns-premature-spend-of-coinbase"), "{m}");
    let (op2, v2) = cb_of(2);
    let forged = spend(&k2, op2, v2, &spk2(&k2), fee); // signed by the wrong key
    let mut forged_tx = spend(&k, op2, v2, &spk2(&k2), fee);
    forged_tx.input[0].witness = forged.input[0].witness.clone();
    let r = reject(&forged_tx);
    assert!(r.starts_with("mandatory-script-verify-flag-failed"), "{r}");
    let greedy = spend(&k, op2, v2, &spk2(&k2), Amount::from_btc(10.0).unwrap());
    assert_eq!(reject(&greedy), "max-fee-exceeded");
    let m = n.rpc_err("sendrawtransaction", json!([serialize_hex(&greedy)]), -25);
    assert!(
        m.starts_with("Fee exceeds maximum configured by user"),
        "{m}"
    );
    // ... which maxfeerate 0 (no limit) lets through.
    let g = n.rpc("testmempoolaccept", json!([[serialize_hex(&greedy)], 0]));
    assert_eq!(g[0]["allowed"], true, "{g}");

    assert_eq!(n.rpc("sendrawtransaction", json!([txhex])), txid);
    assert_eq!(
        n.rpc("sendrawtransaction", json!([txhex])),
        txid,
        "again: same answer"
    );
    assert_eq!(n.rpc("getrawmempool", json!([])), json!([txid]));
    // A conflicting spend paying no more: refused (replacement rules).
    let rival = spend(&k, OutPoint::new(cb_txid, cb_vout), value, &spk2(&k), fee);
    let m = n.rpc_err("sendrawtransaction", json!([serialize_hex(&rival)]), -26);
    assert!(m.starts_with("insufficient fee"), "{m}");
    let verbose = n.rpc("getrawmempool", json!([true]));
    let e = &verbose[&txid];
    has_keys(
        e,
        &[
            "vsize",
            "weight",
            "time",
            "height",
            "descendantcount",
            "descendantsize",
            "ancestorcount",
            "ancestorsize",
            "wtxid",
            "fees",
            "depends",
            "spentby",
            "bip125-replaceable",
            "unbroadcast",
        ],
        "getrawmempool verbose",
    );
    assert_eq!(e["vsize"], tx.vsize());
    assert_eq!(e["weight"], tx.weight().to_wu());
    assert_eq!(e["height"], 101);
    assert_eq!(btc(&e["fees"]["base"]), 0.0001);
    assert_eq!(e["bip125-replaceable"], true);
    assert_eq!(&n.rpc("getmempoolentry", json!([txid])), e);
    n.rpc_err("getmempoolentry", json!(["00".repeat(32)]), -5);
    let mp = n.rpc("getmempoolinfo", json!([]));
    has_keys(
        &mp,
        &[
            "loaded",
            "size",
            "bytes",
            "usage",
            "total_fee",
            "maxmempool",
            "mempoolminfee",
            "minrelaytxfee",
        ],
        "getmempoolinfo",
    );
    assert_eq!(mp["size"], 1);
    assert_eq!(mp["bytes"], tx.vsize());
    assert_eq!(btc(&mp["total_fee"]), 0.0001);
    assert_eq!(n.rpc("getmininginfo", json!([]))["pooledtx"], 1);

    assert_eq!(n.rpc("getrawtransaction", json!([txid])), txhex);
    let v = n.rpc("getrawtransaction", json!([txid, true]));
    assert_eq!(v["txid"], txid);
    assert_eq!(v["hash"], tx.compute_wtxid().to_string());
    assert_eq!(v["hex"], txhex);
    assert!(v.get("blockhash").is_none());
    assert_eq!(v["vin"][0]["txid"], cb_txid.to_string());
    // The coin is spent in the mempool; the new one is there.
    assert_eq!(
        n.rpc("gettxout", json!([cb_txid.to_string(), cb_vout])),
        Value::Null
    );
    assert!(n
        .rpc("gettxout", json!([cb_txid.to_string(), cb_vout, false]))
        .is_object());
    assert_eq!(n.rpc("gettxout", json!([txid, 0]))["confirmations"], 0);

    let dec = n.rpc("decoderawtransaction", json!([txhex]));
    assert_eq!(dec["txid"], txid);
    assert_eq!(dec["vin"][0]["txinwitness"].as_array().unwrap().len(), 2);
    assert_eq!(
        dec["vout"][0]["scriptPubKey"]["address"],
        k2.addr.to_string()
    );
    assert_eq!(dec["vout"][0]["scriptPubKey"]["type"], "witness_v0_keyhash");
    assert_eq!(btc(&dec["vout"][0]["value"]), 49.9999);
    let spk = k2.addr.script_pubkey();
    let ds = n.rpc("decodescript", json!([hex(spk.as_bytes())]));
    assert_eq!(ds["type"], "witness_v0_keyhash", "{ds}");
    assert_eq!(ds["address"], k2.addr.to_string());
    assert_eq!(ds["asm"], format!("0 {}", hex(&spk.as_bytes()[2..])));
    let ds = n.rpc("decodescript", json!(["51"]));
    assert_eq!(ds["asm"], "1");
    assert!(ds["p2sh"].is_string(), "{ds}");

    // Mined by generateblock naming the mempool txid.
    let gb = n.rpc("generateblock", json!([a, [txid]]));
    let bh = gb["hash"].as_str().unwrap().to_string();
    assert!(gb.get("hex").is_none());
    assert_eq!(n.height(), 102);
    assert_eq!(n.rpc("getrawmempool", json!([])), json!([]));
    let blk = n.rpc("getblock", json!([bh, 2]));
    assert_eq!(blk["tx"].as_array().unwrap().len(), 2);
    assert_eq!(blk["tx"][1]["txid"], txid);
    assert_eq!(btc(&blk["tx"][1]["fee"]), 0.0001);
    let st = n.rpc("getblockstats", json!([bh]));
    assert_eq!(st["totalfee"], 10_000);
    assert_eq!(st["txs"], 2);
    assert_eq!(n.rpc("getrawtransaction", json!([txid, false, bh])), txhex);
    let v = n.rpc("getrawtransaction", json!([txid, 1, bh]));
    assert_eq!(v["blockhash"], bh);
    assert_eq!(v["in_active_chain"], true);
    assert_eq!(v["confirmations"], 1);
    // Verbosity 2 (Core 25+): the fee and each input's prevout, from the
    // undo data; getblock's verbosity 3 the same.
    let v2 = n.rpc("getrawtransaction", json!([txid, 2, bh]));
    assert_eq!(btc(&v2["fee"]), 0.0001, "{v2:#}");
    let prevout = &v2["vin"][0]["prevout"];
    assert_eq!(btc(&prevout["value"]), 50.0, "{v2:#}");
    assert_eq!(prevout["generated"], true);
    assert_eq!(prevout["height"], 1);
    assert_eq!(prevout["scriptPubKey"]["address"], a);
    let b3 = n.rpc("getblock", json!([bh, 3]));
    assert_eq!(b3["tx"][1]["vin"][0]["prevout"], *prevout);
    assert_eq!(b3["tx"][1]["fee"], v2["fee"]);
    // In the mempool there is no undo data: as verbosity 1 (Core).
    let m = n.rpc_err("getrawtransaction", json!([txid]), -5);
    assert!(m.contains("-txindex"), "{m}");
    n.rpc_err("getrawtransaction", json!([txid, 0, hashes[5]]), -5);
    assert_eq!(n.rpc("gettxout", json!([txid, 0]))["confirmations"], 1);
    n.rpc_err("sendrawtransaction", json!([txhex]), -27); // already in the chain

    // generatetodescriptor: addr(), a checksummed wpkh() of the same key,
    // and a wrong checksum.
    let g = n.rpc("generatetodescriptor", json!([1, format!("addr({a})")]));
    let gb = n.rpc("getblock", json!([g[0], 2]));
    vout_paying(&gb["tx"][0], &a);
    let desc = with_checksum(&format!("wpkh({})", k.pk));
    let g = n.rpc("generatetodescriptor", json!([2, desc]));
    assert_eq!(g.as_array().unwrap().len(), 2);
    let gb = n.rpc("getblock", json!([g[1], 2]));
    vout_paying(&gb["tx"][0], &a);
    let mut bad = desc.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'q' { 'p' } else { 'q' });
    n.rpc_err("generatetodescriptor", json!([1, bad]), -5);
    assert_eq!(n.height(), 105);
    // generateblock with a raw transaction and submit=false: nothing changes.
    let gb = n.rpc("generateblock", json!([a, [], false]));
    let b: Block = deserialize_hex(gb["hex"].as_str().unwrap()).unwrap();
    assert_eq!(b.block_hash().to_string(), gb["hash"]);
    assert_eq!(n.height(), 105);
    assert_eq!(n.rpc("submitblock", json!([gb["hex"]])), Value::Null);
    assert_eq!(n.height(), 106);
    // The block with the spend leaves the chain: the spend is back in the
    // mempool; back in the chain: gone from it again.
    n.rpc("invalidateblock", json!([bh]));
    assert_eq!(n.height(), 101);
    assert_eq!(n.rpc("getrawmempool", json!([])), json!([txid]));
    n.rpc("reconsiderblock", json!([bh]));
    assert_eq!(n.height(), 106);
    assert_eq!(n.rpc("getrawmempool", json!([])), json!([]));
    n.stop();

    // -txindex on the same datadir finds the transaction without a block hash.
    let mut n = Node::start(d.path(), &["-txindex"]);
    let v = n.rpc("getrawtransaction", json!([txid, true]));
    assert_eq!(v["blockhash"], bh);
    assert_eq!(v["confirmations"], 5);
    assert_eq!(
        btc(&n.rpc("getrawtransaction", json!([txid, 2]))["fee"]),
        0.0001
    );
    assert_eq!(
        n.rpc("getrawtransaction", json!([cb_txid.to_string()])),
        serialize_hex(&block.txdata[0])
    );
    let m = n.rpc_err("getrawtransaction", json!(["00".repeat(32)]), -5);
    assert!(
        m.starts_with("No such mempool or blockchain transaction"),
        "{m}"
    );
    n.stop();
}

// ---------------------------------------------------------------------------
// 5. Reorgs through RPC

fn tip_status(tips: &Value, hash: &str) -> (u64, String) {
    let t = tips
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["hash"] == hash)
        .unwrap_or_else(|| panic!("{hash} is not among the tips {tips:#}"));
    (
        t["branchlen"].as_u64().unwrap(),
        t["status"].as_str().unwrap().to_string(),
    )
}

#[test]
fn reorgs_by_invalidate_reconsider_and_competing_blocks() {
    let d = tempdir();
    let mut n = Node::start(d.path(), &[]);
    let h = n.mine(10, OTHER_ADDR);
    // invalidateblock 5 deep: the tip goes back to height 5.
    n.rpc("invalidateblock", json!([h[5]]));
    assert_eq!(n.height(), 5);
    assert_eq!(n.rpc("getbestblockhash", json!([])), h[4]);
    let tips = n.rpc("getchaintips", json!([]));
    assert_eq!(tip_status(&tips, &h[9]), (5, "invalid".into()));
    assert_eq!(tip_status(&tips, &h[4]), (0, "active".into()));
    assert_eq!(n.rpc("getblockheader", json!([h[7]]))["confirmations"], -1);
    // Resubmitting an invalidated block.
    let raw6 = n.rpc("getblock", json!([h[5], 0]));
    assert_eq!(n.rpc("submitblock", json!([raw6])), "duplicate-invalid");
    // Six more on the other branch, then reconsider: the longer one stays.
    // (To another address: the same template in the same second would
    // give the invalidated block again, in Core too.)
    let h2 = n.mine(6, &key(0x33).addr.to_string());
    assert_eq!(n.height(), 11);
    n.rpc("reconsiderblock", json!([h[5]]));
    assert_eq!(n.height(), 11);
    assert_eq!(n.rpc("getbestblockhash", json!([])), h2[5]);
    let tips = n.rpc("getchaintips", json!([]));
    assert_eq!(tip_status(&tips, &h2[5]), (0, "active".into()));
    assert_eq!(tip_status(&tips, &h[9]), (5, "valid-fork".into()));
    assert_eq!(n.rpc("verifychain", json!([4, 0])), true);
    // Invalidate the new branch: back to the old one, reconsider: forward again.
    n.rpc("invalidateblock", json!([h2[0]]));
    assert_eq!(n.rpc("getbestblockhash", json!([])), h[9]);
    n.rpc("reconsiderblock", json!([h2[0]]));
    assert_eq!(n.rpc("getbestblockhash", json!([])), h2[5]);
    // Invalidating genesis is refused or harmless; unknown hash: -5.
    n.rpc_err("invalidateblock", json!(["00".repeat(32)]), -5);
    n.rpc_err("reconsiderblock", json!(["00".repeat(32)]), -5);

    // A competing chain from a second node with its own datadir: it takes
    // the first 8 blocks of A's active chain by submitblock.
    let d_b = tempdir();
    let mut nb = Node::start(d_b.path(), &[]);
    for height in 1..=8 {
        let hash = n.rpc("getblockhash", json!([height]));
        let raw = n.rpc("getblock", json!([hash, 0]));
        assert_eq!(
            nb.rpc("submitblock", json!([raw])),
            Value::Null,
            "block {height}"
        );
        assert_eq!(nb.rpc("submitblock", json!([raw])), "duplicate");
    }
    assert_eq!(nb.height(), 8);
    // X9: a block on A's block 8 that B does not keep.
    let x9 = nb.rpc("generateblock", json!([OTHER_ADDR, [], false]));
    assert_eq!(nb.height(), 8);
    let x9_hex = x9["hex"].clone();
    // On A (tip at 11) it is a valid fork with less work: Core says
    // "inconclusive" (accepted, not connected), then "duplicate".
    assert_eq!(n.rpc("submitblock", json!([x9_hex])), "inconclusive");
    assert_eq!(n.rpc("submitblock", json!([x9_hex])), "duplicate");
    assert_eq!(n.height(), 11);
    let tips = n.rpc("getchaintips", json!([]));
    // Data received, never connected: Core's "valid-headers".
    assert_eq!(
        tip_status(&tips, x9["hash"].as_str().unwrap()),
        (1, "valid-headers".into())
    );
    // B builds X9..X12 (one more than A); A gets X12 first (no parent),
    // then X10, X11 (inconclusive) and X12 again: A reorgs to B's chain.
    assert_eq!(nb.rpc("submitblock", json!([x9_hex])), Value::Null);
    let xs = nb.mine(3, OTHER_ADDR);
    let raw = |hash: &str| nb.rpc("getblock", json!([hash, 0]));
    assert_eq!(
        n.rpc("submitblock", json!([raw(&xs[2])])),
        "prev-blk-not-found"
    );
    assert_eq!(n.rpc("submitblock", json!([raw(&xs[0])])), "inconclusive");
    assert_eq!(n.rpc("submitblock", json!([raw(&xs[1])])), "inconclusive");
    assert_eq!(n.height(), 11);
    assert_eq!(n.rpc("submitblock", json!([raw(&xs[2])])), Value::Null);
    assert_eq!(n.height(), 12);
    assert_eq!(n.rpc("getbestblockhash", json!([])), xs[2]);
    let tips = n.rpc("getchaintips", json!([]));
    assert_eq!(tip_status(&tips, &xs[2]), (0, "active".into()));
    assert_eq!(tip_status(&tips, &h2[5]), (3, "valid-fork".into()));
    assert_eq!(n.rpc("getblockheader", json!([h2[5]]))["confirmations"], -1);
    // A block that breaks a rule (its coinbase claims one satoshi too
    // many): answered with Core's reject reason, then "duplicate-invalid".
    let t = nb.rpc("generateblock", json!([OTHER_ADDR, [], false]));
    let mut bad: Block = deserialize_hex(t["hex"].as_str().unwrap()).unwrap();
    bad.txdata[0].output[0].value += Amount::from_sat(1);
    bad.header.merkle_root = bad.compute_merkle_root().unwrap();
    while bad.header.validate_pow(bad.header.target()).is_err() {
        bad.header.nonce += 1;
    }
    let bad_hex = serialize_hex(&bad);
    assert_eq!(n.rpc("submitblock", json!([bad_hex])), "bad-cb-amount");
    assert_eq!(n.rpc("submitblock", json!([bad_hex])), "duplicate-invalid");
    assert_eq!(n.height(), 12);
    let tips = n.rpc("getchaintips", json!([]));
    assert_eq!(
        tip_status(&tips, &bad.block_hash().to_string()),
        (1, "invalid".into())
    );
    // Both nodes agree on the UTXO set.
    let ua = n.rpc("gettxoutsetinfo", json!([]));
    let ub = nb.rpc("gettxoutsetinfo", json!([]));
    assert_eq!(ua["hash_serialized_3"], ub["hash_serialized_3"]);
    assert_eq!(ua["bestblock"], ub["bestblock"]);
    nb.stop();
    n.stop();
}

// ---------------------------------------------------------------------------
// 6. kill -9 under load, restart, -reindex, a truncated block file

fn utxo_digest(u: &Value) -> Value {
    let keys = [
        "height",
        "bestblock",
        "txouts",
        "bogosize",
        "total_amount",
        "transactions",
        "hash_serialized_3",
    ];
    Value::Object(keys.iter().map(|k| (k.to_string(), u[k].clone())).collect())
}

#[test]
fn kill9_under_load_keeps_acknowledged_blocks_and_matches_reindex() {
    let d = tempdir();
    let mut n = Node::start(d.path(), &[]);
    let base = n.mine(50, OTHER_ADDR);
    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::new(Mutex::new(
        base.iter()
            .enumerate()
            .map(|(i, h)| (i as u64 + 1, h.clone()))
            .collect(),
    ));
    let miner = {
        let (port, auth, acked) = (n.port, n.auth.clone(), acked.clone());
        std::thread::spawn(move || {
            let mut height = 50;
            for _ in 0..20_000 {
                match rpc_call(port, &auth, "generatetoaddress", &json!([1, OTHER_ADDR])) {
                    Ok(v) => {
                        height += 1;
                        let hash = v[0].as_str().unwrap().to_string();
                        acked.lock().unwrap().push((height, hash));
                    }
                    Err(_) => break,
                }
            }
        })
    };
    let t = Instant::now();
    while acked.lock().unwrap().len() < 50 + 40 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(150));
    n.kill9();
    miner.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    let max = acked.last().unwrap().0;
    assert!(max > 50, "the miner thread got no block acknowledged");

    let mut n = Node::start(d.path(), &[]);
    let h1 = n.height();
    assert!(
        h1 >= max,
        "after kill -9 the node restarted at height {h1}, below the {max} it had acknowledged"
    );
    for (h, hash) in &acked {
        assert_eq!(
            &n.rpc("getblockhash", json!([h])),
            hash,
            "block {h} changed"
        );
    }
    assert_eq!(n.rpc("verifychain", json!([4, 0])), true);
    let u1 = n.rpc("gettxoutsetinfo", json!([]));
    assert_eq!(u1["height"], h1);
    // Still mines after the crash.
    n.mine(1, OTHER_ADDR);
    n.rpc(
        "invalidateblock",
        json!([n.rpc("getblockhash", json!([h1 + 1]))]),
    );
    assert_eq!(
        utxo_digest(&n.rpc("gettxoutsetinfo", json!([]))),
        utxo_digest(&u1)
    );
    n.stop();

    let mut n = Node::start(d.path(), &["-reindex"]);
    let h2 = n.height();
    assert!(h2 >= h1, "-reindex found {h2} blocks, fewer than {h1}");
    if h2 > h1 {
        n.rpc(
            "invalidateblock",
            json!([n.rpc("getblockhash", json!([h1 + 1]))]),
        );
    }
    let u2 = n.rpc("gettxoutsetinfo", json!([]));
    assert_eq!(
        utxo_digest(&u2),
        utxo_digest(&u1),
        "the UTXO set after kill -9 differs from -reindex's"
    );
    n.stop();

    // The block file cut to half while stopped: the restart refuses with a
    // message that names -reindex; -reindex then starts.
    let blk = d.path().join("regtest/blocks/blk00000.dat");
    let len = fs::metadata(&blk).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&blk)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let mut c = spawn_node(d.path(), &regtest_args(d.path(), free_port(), &[]));
    let st = wait_child(&mut c, 60);
    assert!(!st.success(), "started on a truncated block file");
    let stderr = fs::read_to_string(d.path().join("node.stderr")).unwrap();
    let log = tail(&d.path().join("regtest/debug.log"), 5);
    assert!(
        stderr.contains("-reindex") || log.contains("-reindex"),
        "the error does not mention -reindex:\nstderr: {stderr}\ndebug.log: {log}"
    );
    assert!(stderr.contains("blk00000.dat"), "{stderr}");
    let mut n = Node::start(d.path(), &["-reindex"]);
    let h3 = n.height();
    assert!(
        h3 > 0 && h3 < h1,
        "after -reindex of half the file: height {h3}"
    );
    assert_eq!(n.rpc("verifychain", json!([4, 0])), true);
    assert_eq!(n.rpc("getblockhash", json!([h3])), acked[h3 as usize - 1].1);
    n.mine(1, OTHER_ADDR);
    n.stop();
    let n = Node::start(d.path(), &[]);
    assert_eq!(n.height(), h3 + 1);
}

// ---------------------------------------------------------------------------
// 7. bitcoin.conf

fn refuses_to_start(dir: &Path, args: &[String], expect_in_stderr: &str) {
    let mut c = spawn_node(dir, args);
    let st = wait_child(&mut c, 60);
    let stderr = fs::read_to_string(dir.join("node.stderr")).unwrap();
    assert!(!st.success(), "{args:?} started; stderr: {stderr}");
    assert!(
        stderr.contains(expect_in_stderr),
        "{args:?}: stderr does not say {expect_in_stderr:?}: {stderr}"
    );
    assert!(stderr.contains("Error"), "{stderr}");
}

#[test]
fn bitcoin_conf_sections_conf_option_and_bad_options() {
    let d = tempdir();
    let dd = format!("-datadir={}", d.path().display());
    let port = free_port();
    fs::write(
        d.path().join("bitcoin.conf"),
        format!(
            "# the node reads this by default\nregtest=1\nunknownfileoption=1\n\n[main]\nrpcport=1\n[regtest]\nrpcport={port}\nrpcuser=confuser\nrpcpassword=confpass\n"
        ),
    )
    .unwrap();
    let mut n = Node::start_with(d.path(), port, vec![dd.clone()], Some("confuser:confpass"));
    assert_eq!(n.rpc("getblockchaininfo", json!([]))["chain"], "regtest");
    assert!(
        !n.cookie_path().exists(),
        "rpcpassword from the file: no cookie"
    );
    let log = fs::read_to_string(n.debug_log()).unwrap();
    assert!(
        log.contains("unknownfileoption"),
        "an unknown option in the file is ignored with a log line, as in Core:\n{log}"
    );
    n.stop();

    // The command line beats the file.
    let port2 = free_port();
    let mut n = Node::start_with(
        d.path(),
        port2,
        vec![dd.clone(), format!("-rpcport={port2}")],
        Some("confuser:confpass"),
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    n.stop();

    // -conf: another file, relative to the datadir.
    let port3 = free_port();
    fs::write(
        d.path().join("other.conf"),
        format!("chain=regtest\n[regtest]\nrpcport={port3}\nrpcuser=other\nrpcpassword=pw2\n"),
    )
    .unwrap();
    let mut n = Node::start_with(
        d.path(),
        port3,
        vec![dd.clone(), "-conf=other.conf".into()],
        Some("other:pw2"),
    );
    assert_eq!(
        post(port3, Some("confuser:confpass"), "{}").unwrap().status,
        401
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    n.stop();

    // Options that stop the node with an error.
    let p = format!("-rpcport={}", free_port());
    let args = |extra: &[&str]| {
        let mut a = vec!["-regtest".to_string(), dd.clone(), p.clone()];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    refuses_to_start(d.path(), &args(&["-nosuchoption=1"]), "nosuchoption");
    refuses_to_start(d.path(), &args(&["-nosuchflag"]), "nosuchflag");
    refuses_to_start(d.path(), &args(&["-conf=missing.conf"]), "missing.conf");
    refuses_to_start(d.path(), &args(&["-rpcport=notaport"]), "notaport");
    refuses_to_start(d.path(), &args(&["-testnet"]), "");
    let gone = d.path().join("does-not-exist");
    refuses_to_start(
        d.path(),
        &[
            "-regtest".into(),
            format!("-datadir={}", gone.display()),
            p.clone(),
        ],
        "does-not-exist",
    );
    fs::write(d.path().join("bad.conf"), "regtest=1\n-rpcport=5\n").unwrap();
    refuses_to_start(
        d.path(),
        &args(&["-conf=bad.conf"]),
        "parse error on line 2",
    );
}

// ---------------------------------------------------------------------------
// 8. python-bitcoinlib, a client nobody here wrote

#[test]
fn python_bitcoinlib_client_works_against_the_node() {
    match Command::new("python3").args(["-c", "import bitcoin.rpc"]).output() {
        Err(e) => panic!("python3 is needed for this test: {e}"),
        Ok(o) if !o.status.success() => panic!(
            "python-bitcoinlib is not installed: pip install python-bitcoinlib (or apt-get install python3-bitcoinlib)\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => {}
    }
    let d = tempdir();
    let n = Node::start(d.path(), &[]);
    n.mine(5, OTHER_ADDR);
    // A client configuration as python-bitcoinlib reads it: rpcport, and
    // the cookie under datadir/regtest.
    let client_conf = d.path().join("client.conf");
    fs::write(
        &client_conf,
        format!("rpcport={}\ndatadir={}\n", n.port, d.path().display()),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/bitcoinlib_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(format!("--url=http://{}@127.0.0.1:{}", n.auth, n.port))
        .arg(format!("--conf={}", client_conf.display()))
        .arg(format!("--address={OTHER_ADDR}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("not a JSON summary ({e}): {stdout}"));
    assert_eq!(s["count_before"], 5, "{s:#}");
    assert_eq!(s["generated"].as_array().unwrap().len(), 3);
    assert_eq!(s["count"], 8);
    assert_eq!(n.height(), 8);
    let best = n.rpc("getbestblockhash", json!([]));
    assert_eq!(s["best"], best);
    assert_eq!(s["generated"][2], best);
    assert_eq!(
        s["block_hash"], best,
        "the block it deserialized hashes right"
    );
    assert_eq!(s["merkle_ok"], true);
    let b = n.rpc("getblock", json!([best]));
    assert_eq!(s["block_ntx"], b["nTx"]);
    assert_eq!(s["coinbase_txid"], b["tx"][0]);
    assert_eq!(s["rawtx_txid"], b["tx"][0]);
    assert_eq!(s["rawtx_verbose_blockhash"], best);
    assert_eq!(s["rawtx_verbose_confirmations"], 1);
    assert_eq!(s["header_hash"], best);
    assert_eq!(s["header_height"], 8);
    assert_eq!(s["header_prev"], b["previousblockhash"]);
    assert_eq!(s["block1"], n.rpc("getblockhash", json!([1])));
    assert_eq!(s["txout_value_sat"], 5_000_000_000u64);
    assert_eq!(s["mining_blocks"], 8);
    assert_eq!(s["chain"], "regtest");
    assert!(s["network_version"].as_u64().is_some(), "{s:#}");
    assert_eq!(s["getinfo_error"], -32601, "getinfo is gone, as in Core");
    assert!(
        s["bad_height"].as_str().unwrap().contains("out of range"),
        "{s:#}"
    );
    assert!(
        s["missing_block"].as_str().unwrap().contains("not found"),
        "{s:#}"
    );
    assert_eq!(s["mempool"], json!([]));
    assert_eq!(s["conf_count"], 8, "btc_conf_file with the cookie");
}

// ---------------------------------------------------------------------------
// 9. Every method with odd arguments: answered, never a crash or an
// internal error (which is what a panic in a handler becomes)

#[test]
fn every_method_with_odd_arguments_is_answered_without_internal_errors() {
    let d = tempdir();
    let mut n = Node::start(d.path(), &[]);
    let k = key(0x44);
    n.mine(3, &k.addr.to_string());
    let help = n.rpc("help", json!([]));
    let methods: Vec<String> = help
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("=="))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .filter(|m| m != "stop")
        .collect();
    assert!(methods.len() >= 30, "{methods:?}");
    let tip = n
        .rpc("getbestblockhash", json!([]))
        .as_str()
        .unwrap()
        .to_string();
    let big = "1".repeat(40);
    let raw_args = [
        "[]".to_string(),
        "[null]".into(),
        "[-1]".into(),
        "[0]".into(),
        "[1.5]".into(),
        "[2147483648]".into(),
        "[9223372036854775807]".into(),
        "[-9223372036854775808]".into(),
        "[18446744073709551616]".into(),
        format!("[{big}]"),
        "[1e400]".into(),
        "[-0]".into(),
        "[\"\"]".into(),
        "[\"x\"]".into(),
        format!("[\"{}\"]", "00".repeat(32)),
        format!("[\"{tip}\"]"),
        format!("[\"{tip}\", -1]"),
        format!("[\"{tip}\", 9223372036854775807]"),
        format!("[\"{tip}\", \"x\"]"),
        format!("[\"{tip}\", 1, 2]"),
        "[true]".into(),
        "[[]]".into(),
        "[[\"zz\"]]".into(),
        "[{}]".into(),
        "[\"x\", \"y\"]".into(),
        "[1, \"x\"]".into(),
        "[-1, \"x\", -1]".into(),
        "[0, true]".into(),
        format!("[\"{}\", 9223372036854775807]", "ff".repeat(32)),
        "{}".into(),
        "{\"nosuch\": 1}".into(),
        "\"notarray\"".into(),
    ];
    let mut answered = 0;
    for m in &methods {
        for a in &raw_args {
            let body = format!(r#"{{"jsonrpc":"1.0","id":1,"method":"{m}","params":{a}}}"#);
            let r = post(n.port, Some(&n.auth), &body)
                .unwrap_or_else(|e| panic!("{m} {a}: no answer ({e})\n{}", n.diagnostics()));
            let v: Value = serde_json::from_str(&r.body)
                .unwrap_or_else(|_| panic!("{m} {a}: not JSON: {r:?}"));
            assert_ne!(v["error"]["code"], -32603, "{m} {a}: internal error {v}");
            answered += 1;
        }
        assert!(n.running(), "the node died in {m}\n{}", n.diagnostics());
    }
    assert_eq!(answered, methods.len() * raw_args.len());
    // Whatever the calls did (setmocktime, invalidateblock of the tip...),
    // the node still works.
    n.rpc("setmocktime", json!([0]));
    n.rpc("reconsiderblock", json!([tip]));
    assert!(n.height() >= 3);
    n.mine(1, OTHER_ADDR);
    assert_eq!(n.rpc("verifychain", json!([4, 0])), true);
    n.stop();
}

// ---------------------------------------------------------------------------
// 10. Many clients at once, keep-alive and pipelined requests

/// Reads one HTTP reply (with Content-Length) from a kept-alive stream.
fn read_one_reply(s: &mut TcpStream, buf: &mut Vec<u8>) -> HttpReply {
    let mut tmp = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("a Content-Length");
            if buf.len() >= end + 4 + len {
                let r = parse_reply(&buf[..end + 4 + len]).unwrap();
                buf.drain(..end + 4 + len);
                return r;
            }
        }
        let k = s.read(&mut tmp).expect("read a reply");
        assert!(k > 0, "connection closed mid-reply");
        buf.extend_from_slice(&tmp[..k]);
    }
}

#[test]
fn concurrent_clients_keep_alive_and_pipelining() {
    let d = tempdir();
    let mut n = Node::start(d.path(), &[]);
    n.mine(1, OTHER_ADDR);
    let (port, auth) = (n.port, n.auth.clone());
    let miner = {
        let auth = auth.clone();
        std::thread::spawn(move || {
            for _ in 0..100 {
                rpc_call(port, &auth, "generatetoaddress", &json!([1, OTHER_ADDR])).unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let auth = auth.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                for _ in 0..60 {
                    let h = rpc_call(port, &auth, "getblockcount", &json!([]))
                        .unwrap()
                        .as_u64()
                        .unwrap();
                    assert!(h >= last, "the height went back from {last} to {h}");
                    last = h;
                    let best = rpc_call(port, &auth, "getbestblockhash", &json!([])).unwrap();
                    let b = rpc_call(port, &auth, "getblockheader", &json!([best])).unwrap();
                    assert!(b["height"].as_u64().unwrap() >= h);
                }
            })
        })
        .collect();
    miner.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(n.height(), 101);

    // One kept-alive connection: many requests, one at a time, then three
    // written at once (pipelined): answers in order.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = |id: u32| {
        let body = format!(r#"{{"method":"getblockhash","params":[{id}],"id":{id}}}"#);
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Length: {}\r\n\r\n{body}",
            base64(auth.as_bytes()),
            body.len()
        )
    };
    let mut buf = Vec::new();
    for id in 0..50 {
        s.write_all(req(id).as_bytes()).unwrap();
        let r = read_one_reply(&mut s, &mut buf);
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["id"], id);
        assert!(is_hex64(&v["result"]));
    }
    s.write_all((req(1) + &req(2) + &req(3)).as_bytes())
        .unwrap();
    for id in 1..=3 {
        let r = read_one_reply(&mut s, &mut buf);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["id"], id, "pipelined answers in order");
    }
    drop(s);
    n.stop();
}

// ---------------------------------------------------------------------------
// 11. Mempool policy options

#[test]
fn mempool_policy_options_take_effect() {
    let d = tempdir();
    let mut n = Node::start(
        d.path(),
        &["-minrelaytxfee=0.0002", "-maxmempool=5", "-datacarrier=0"],
    );
    let mp = n.rpc("getmempoolinfo", json!([]));
    assert_eq!(btc(&mp["minrelaytxfee"]), 0.0002, "{mp}");
    assert_eq!(mp["maxmempool"], 5_000_000, "{mp}");
    assert_eq!(btc(&n.rpc("getnetworkinfo", json!([]))["relayfee"]), 0.0002);
    let k = key(0x55);
    let hashes = n.mine(102, &k.addr.to_string());
    let coin = |i: usize| {
        let cb = n.rpc("getblock", json!([hashes[i], 2]))["tx"][0].clone();
        let vout = vout_paying(&cb, &k.addr.to_string());
        OutPoint::new(cb["txid"].as_str().unwrap().parse().unwrap(), vout)
    };
    let fifty = Amount::from_btc(50.0).unwrap();
    // ~9 sat/vB: under -minrelaytxfee's 20 sat/vB.
    let cheap = spend(&k, coin(0), fifty, &spk2(&k), Amount::from_sat(1000));
    let r = n.rpc("testmempoolaccept", json!([[serialize_hex(&cheap)]]));
    assert_eq!(r[0]["reject-reason"], "min relay fee not met", "{r}");
    // An OP_RETURN output with -datacarrier=0: not standard.
    let mut data = spend(&k, coin(1), fifty, &spk2(&k), Amount::from_sat(10_000));
    data.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::new_op_return([1u8; 4]),
    });
    let data = sign(&k, data, fifty);
    let r = n.rpc("testmempoolaccept", json!([[serialize_hex(&data)]]));
    assert_eq!(r[0]["reject-reason"], "scriptpubkey", "{r}");
    n.stop();

    // Bad values stop the node with Core's messages.
    let p = free_port();
    let args = |extra: &str| regtest_args(d.path(), p, &[extra]);
    refuses_to_start(
        d.path(),
        &args("-maxmempool=4"),
        "-maxmempool must be at least 5 MB",
    );
    refuses_to_start(
        d.path(),
        &args("-minrelaytxfee=abc"),
        "Invalid amount for -minrelaytxfee",
    );
    refuses_to_start(
        d.path(),
        &args("-blockmaxweight=4000001"),
        "exceeds consensus maximum block weight",
    );
    refuses_to_start(
        d.path(),
        &args("-blockmintxfee=x"),
        "Invalid amount for -blockmintxfee",
    );
}

// ---------------------------------------------------------------------------
// bitcoind: the wallets inside the node's process

/// The wallet scenario of `../shared/acceptance/wallet-modes-equal` on
/// `bitcoind`: two wallets, mining, a send, balances and history; then a
/// kill -9 and a restart with `-wallet`, which loses nothing.
#[test]
fn bitcoind_wallets_mine_send_and_survive_kill9() {
    PROGRAM.with(|p| p.set("bitcoind"));
    let d = tempdir();
    let mut n = Node::start(d.path(), &["-fallbackfee=0.0002"]);
    n.rpc("createwallet", json!(["a"]));
    n.rpc("createwallet", json!(["b"]));
    let w = |n: &Node, name: &str, method: &str, params: Value| {
        n.call_at(&format!("/wallet/{name}"), method, params.clone())
            .unwrap_or_else(|e| panic!("{name} {method} {params}: {e:?}"))
    };
    let a = w(&n, "a", "getnewaddress", json!([]));
    let b = w(&n, "b", "getnewaddress", json!([]));
    let a = a.as_str().unwrap().to_string();
    let b = b.as_str().unwrap().to_string();
    n.rpc("generatetoaddress", json!([110, a]));
    let bal = w(&n, "a", "getbalances", json!([]));
    assert_eq!(btc(&bal["mine"]["trusted"]), 500.0, "{bal}");
    assert_eq!(btc(&bal["mine"]["immature"]), 5000.0, "{bal}");
    let txid = w(&n, "a", "sendtoaddress", json!([b, 12.5]));
    assert!(is_hex64(&txid), "{txid}");
    let pool = n.rpc("getrawmempool", json!([]));
    assert_eq!(
        pool,
        json!([txid]),
        "the wallet's send is in the node's mempool"
    );
    n.rpc("generatetoaddress", json!([1, a]));
    let bal_b = w(&n, "b", "getbalances", json!([]));
    assert_eq!(btc(&bal_b["mine"]["trusted"]), 12.5, "{bal_b}");
    let list = w(&n, "b", "listtransactions", json!(["*", 100]));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["category"], "receive");
    // Without a wallet endpoint and two wallets loaded: Core's -19.
    n.rpc_err("getbalance", json!([]), -19);
    // An unknown wallet: -18.
    let e = n
        .call_at("/wallet/nope", "getbalance", json!([]))
        .unwrap_err();
    assert_eq!(e.code, -18, "{e:?}");
    let before_a = w(&n, "a", "getbalances", json!([]));

    n.child.kill().unwrap();
    n.child.wait().unwrap();
    let n = Node::start(d.path(), &["-fallbackfee=0.0002", "-wallet=a", "-wallet=b"]);
    let w = |name: &str, method: &str| {
        n.call_at(&format!("/wallet/{name}"), method, json!([]))
            .unwrap_or_else(|e| panic!("{name} {method}: {e:?}"))
    };
    assert_eq!(w("a", "getbalances")["mine"], before_a["mine"]);
    assert_eq!(btc(&w("b", "getbalances")["mine"]["trusted"]), 12.5);
    // -disablewallet: no wallet methods.
    drop(n);
    let n = Node::start(d.path(), &["-disablewallet"]);
    n.rpc_err("listwallets", json!([]), -32601);
}
