//! A hostile wallet: a client that speaks the protocol itself with the
//! shm-ipc crate (bad hellos, garbage payloads, huge requests, floods, a
//! reader that never reads, a process killed mid-flood, an impostor), and a
//! node that must keep serving RPC and its own wallet process through all
//! of it.

use bitcoin::hashes::Hash;
use btc_core::interfaces::calls::{decode, encode, MAX_LOCATOR};
use btc_core::interfaces::{
    method, BlockLocations, BlockRange, BroadcastRequest, EventRecord, Hello, Locator, Role,
    RpcRequest, EVENTS_CHANNEL, PROTOCOL_VERSION,
};
use shm_ipc::{Address, Connection, Trust};

use super::*;

// ---------------------------------------------------------------------------
// 6. A hostile wallet: a client speaking the protocol itself

const CALL_T: Option<Duration> = Some(Duration::from_secs(20));

/// A node with its own wallet process (wallet "own", 101 blocks mined to
/// it) listening on a unix socket for wallets.
struct Target {
    _dir: tempfile::TempDir,
    n: Node,
    bind: String,
    own: String,
}

impl Target {
    fn start() -> Target {
        let dir = tempdir();
        let bind = format!("unix:{}", dir.path().join("node.sock").display());
        let n = Node::start_program(
            &bitcoin_node(),
            dir.path(),
            &[FEE, &format!("-ipcbind={bind}")],
        );
        n.rpc("createwallet", json!(["own"]));
        let own = n.w("own", "getnewaddress", json!([]));
        let own = own.as_str().unwrap().to_string();
        n.mine(101, &own);
        Target {
            _dir: dir,
            n,
            bind,
            own,
        }
    }

    /// A connection (shm-ipc's handshake done, no hello yet).
    fn connect(&self) -> Connection {
        Address::parse(&self.bind)
            .unwrap()
            .connect(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.bind))
    }

    /// A connection that said a good hello.
    fn greeted(&self) -> Connection {
        let c = self.connect();
        c.call(
            method::HELLO,
            &hello(PROTOCOL_VERSION, "regtest", Role::Wallet),
            CALL_T,
        )
        .unwrap_or_else(|e| panic!("a good hello was refused: {e}"));
        c
    }

    /// The node answers, mines, and its own wallet process follows the
    /// chain and answers, each within 20 s.
    fn assert_healthy(&self, after: &str) {
        let n = &self.n;
        let h = within(n, "/", "getblockcount", json!([]), 20)
            .unwrap_or_else(|| panic!("after {after}: getblockcount did not answer in 20 s"))
            .unwrap_or_else(|e| panic!("after {after}: getblockcount: {e:?}"));
        let h = h.as_u64().unwrap();
        within(n, "/", "generatetoaddress", json!([1, self.own]), 20)
            .unwrap_or_else(|| panic!("after {after}: mining did not answer in 20 s"))
            .unwrap_or_else(|e| panic!("after {after}: mining: {e:?}"));
        let info = within(n, "/wallet/own", "getwalletinfo", json!([]), 20)
            .unwrap_or_else(|| {
                panic!("after {after}: the node's own wallet did not answer in 20 s")
            })
            .unwrap_or_else(|e| panic!("after {after}: the node's own wallet: {e:?}"));
        assert_eq!(
            info["lastprocessedblock"]["height"],
            h + 1,
            "after {after}: the node's own wallet is not at the tip"
        );
    }
}

/// A call on a thread: its answer if it comes within `secs` seconds.
fn within(n: &Node, path: &str, method: &str, params: Value, secs: u64) -> Option<Answer> {
    let (port, auth, path, method) = (n.port, n.auth.clone(), path.to_string(), method.to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = match rpc_call_at(port, &path, &auth, &method, &params) {
            Ok(v) => Ok(v),
            Err(CallError::Rpc(e)) => Err(e),
            Err(e) => Err(RpcErr {
                code: 0,
                message: format!("{e:?}"),
            }),
        };
        let _ = tx.send(r);
    });
    rx.recv_timeout(Duration::from_secs(secs)).ok()
}

fn hello(version: u32, chain: &str, role: Role) -> Vec<u8> {
    encode(&Hello {
        version,
        role,
        chain: chain.to_string(),
        auth: None,
    })
}

/// The node drops the connection (within 15 s).
fn assert_dropped(c: &Connection, what: &str) {
    wait_for(
        &format!("the node to drop a peer that sent {what}"),
        15,
        || (!c.is_alive()).then_some(()),
    );
}

/// A call the node must refuse with an error that says `why`.
fn assert_refused(c: &Connection, m: u32, payload: &[u8], why: &str, what: &str) {
    match c.call(m, payload, CALL_T) {
        Err(shm_ipc::Error::Remote(e)) => assert!(e.contains(why), "{what}: refused with {e:?}"),
        Err(e) => panic!("{what}: no error reply but {e}"),
        Ok(v) => panic!(
            "{what}: accepted, answered {:?}",
            String::from_utf8_lossy(&v[..v.len().min(200)])
        ),
    }
}

#[test]
fn a_hostile_wallet_bad_hellos_are_refused_and_dropped() {
    let t = Target::start();
    // Connected, but never a word: dropped once the hello is overdue.
    let silent = t.connect();
    let since = Instant::now();

    let c = t.connect();
    assert_refused(
        &c,
        method::TIP,
        b"null",
        "hello",
        "a first call that is not a hello",
    );
    assert_dropped(&c, "a first call that is not a hello");

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a wrong protocol version",
            hello(PROTOCOL_VERSION + 1, "regtest", Role::Wallet),
            "protocol version",
        ),
        (
            "version 0",
            hello(0, "regtest", Role::Wallet),
            "protocol version",
        ),
        (
            "the wrong chain",
            hello(PROTOCOL_VERSION, "main", Role::Wallet),
            "chain",
        ),
        (
            "an unknown chain",
            hello(PROTOCOL_VERSION, "nochain", Role::Wallet),
            "chain",
        ),
        (
            "the role node",
            hello(PROTOCOL_VERSION, "regtest", Role::Node),
            "node",
        ),
        ("garbage", b"\xff\x00{{not json".to_vec(), "malformed"),
        (
            "JSON of another shape",
            br#"{"version":"one"}"#.to_vec(),
            "malformed",
        ),
        ("an empty hello", Vec::new(), "malformed"),
    ];
    for (what, payload, why) in cases {
        let c = t.connect();
        assert_refused(&c, method::HELLO, &payload, why, what);
        assert_dropped(&c, what);
        t.n.rpc("getblockcount", json!([]));
    }
    // A hello with a secret the node does not ask for is fine.
    let c = t.connect();
    let h = encode(&Hello {
        version: PROTOCOL_VERSION,
        role: Role::Wallet,
        chain: "regtest".into(),
        auth: Some("x".repeat(100_000)),
    });
    c.call(method::HELLO, &h, CALL_T).unwrap();
    drop(c);

    assert_dropped(&silent, "nothing");
    assert!(
        since.elapsed() >= Duration::from_secs(5),
        "dropped too early"
    );
    t.assert_healthy("bad hellos");
    let log = fs::read_to_string(t.n.debug_log()).unwrap();
    assert!(log.contains("refused"), "the node logs the refusals: {log}");
}

#[test]
fn a_hostile_wallet_garbage_calls_huge_requests_and_a_flood_leave_the_node_serving() {
    let t = Target::start();
    let tip = t.n.height() as u32;
    let c = t.greeted();

    // Garbage to every method number.
    let garbage: [&[u8]; 8] = [
        b"",
        b"\xff\xfe\x00",
        b"{\"a\":",
        b"[1,2,3]",
        b"null",
        b"-1",
        b"18446744073709551616",
        b"\"\\ud800\"",
    ];
    for m in 0..=50u32 {
        for g in garbage {
            match c.call(m, g, CALL_T) {
                Ok(_) | Err(shm_ipc::Error::Remote(_)) => {}
                Err(e) => panic!("method {m} with {g:?}: {e}"),
            }
        }
    }
    assert!(c.is_alive(), "the node dropped a wallet for bad payloads");
    // A wallet is no GUI: no node RPC through it.
    let stop = encode(&RpcRequest {
        wallet: None,
        method: "stop".into(),
        params: json!([]),
        sync_seq: None,
    });
    assert!(c.call(method::NODE_RPC, &stop, CALL_T).is_err());
    assert!(c.call(method::WALLET_RPC, &stop, CALL_T).is_err());
    t.n.rpc("getblockcount", json!([]));

    // Locators: over the limit, bad hashes, unknown hashes.
    let zero = "00".repeat(32);
    let big = Locator(vec![zero.clone(); MAX_LOCATOR + 1]);
    assert_refused(
        &c,
        method::FIND_LOCATOR_FORK,
        &encode(&big),
        "locator",
        "a huge locator",
    );
    let huge = Locator(vec![zero.clone(); 200_000]);
    assert_refused(
        &c,
        method::FIND_LOCATOR_FORK,
        &encode(&huge),
        "locator",
        "a 200,000-hash locator",
    );
    let bad = Locator(vec!["zz".repeat(32); MAX_LOCATOR]);
    assert_refused(
        &c,
        method::FIND_LOCATOR_FORK,
        &encode(&bad),
        "bad hash",
        "bad hashes",
    );
    let unknown = Locator(vec!["11".repeat(32); MAX_LOCATOR]);
    let r = c
        .call(method::FIND_LOCATOR_FORK, &encode(&unknown), CALL_T)
        .unwrap();
    assert_eq!(r, b"null", "unknown hashes fork nowhere");

    // Block locations: from > to, a huge range (capped at the tip), and
    // the block files come read-only.
    let r = c
        .call(
            method::BLOCK_LOCATIONS,
            &encode(&BlockRange { from: 50, to: 10 }),
            CALL_T,
        )
        .unwrap();
    assert!(decode::<BlockLocations>(&r).unwrap().blocks.is_empty());
    let r = c
        .call(
            method::BLOCK_LOCATIONS,
            &encode(&BlockRange {
                from: 0,
                to: u32::MAX,
            }),
            CALL_T,
        )
        .unwrap();
    let locs = decode::<BlockLocations>(&r).unwrap().blocks;
    assert_eq!(locs.len() as u32, tip + 1, "{locs:?}");
    let (_, fds) = c
        .fds()
        .recv_timeout(Duration::from_secs(5))
        .expect("the block file's descriptor");
    for fd in &fds {
        use std::os::fd::AsRawFd;
        // SAFETY: fcntl(F_GETFL) on a descriptor we own.
        let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(
            fl & libc::O_ACCMODE,
            libc::O_RDONLY,
            "a block file came writable"
        );
        // SAFETY: write(2) of one byte from a valid buffer.
        let w = unsafe { libc::write(fd.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        assert_eq!(w, -1, "a block file handed to a wallet is writable");
    }
    for range in [
        BlockRange {
            from: tip + 1,
            to: u32::MAX,
        },
        BlockRange {
            from: u32::MAX,
            to: u32::MAX,
        },
    ] {
        let r = c
            .call(method::BLOCK_LOCATIONS, &encode(&range), CALL_T)
            .unwrap();
        assert!(decode::<BlockLocations>(&r).unwrap().blocks.is_empty());
    }
    // A block past the tip.
    for h in [tip + 1, u32::MAX] {
        assert_refused(
            &c,
            method::BLOCK_ARCHIVE,
            &encode(&h),
            "no block",
            "BLOCK_ARCHIVE past the tip",
        );
    }
    assert!(!c
        .call(method::BLOCK_ARCHIVE, &encode(&tip), CALL_T)
        .unwrap()
        .is_empty());

    // Broadcasts: garbage hex, a transaction that spends nothing, an
    // oversized one, and a payload over the call limit.
    let bcast = |hex: String| {
        encode(&BroadcastRequest {
            tx_hex: hex,
            max_fee_sat: u64::MAX,
        })
    };
    assert_refused(
        &c,
        method::BROADCAST,
        &bcast("zz".into()),
        "decode",
        "garbage hex",
    );
    assert_refused(
        &c,
        method::BROADCAST,
        &bcast("0200".into()),
        "decode",
        "a truncated tx",
    );
    let k = key(3);
    let orphan = spend(
        &k,
        bitcoin::OutPoint::new(bitcoin::Txid::from_byte_array([9; 32]), 0),
        bitcoin::Amount::from_sat(100_000),
        &k.addr.script_pubkey(),
        bitcoin::Amount::from_sat(1_000),
    );
    let hex = bitcoin::consensus::encode::serialize_hex(&orphan);
    match c.call(method::BROADCAST, &bcast(hex), CALL_T) {
        Err(shm_ipc::Error::Remote(_)) => {}
        other => panic!("a transaction spending nothing: {other:?}"),
    }
    assert_refused(
        &c,
        method::BROADCAST,
        &bcast("00".repeat(500_000)),
        "too large",
        "an oversized tx",
    );
    let over = vec![b' '; 33 << 20];
    assert_refused(&c, method::BROADCAST, &over, "too large", "a 33 MB payload");
    assert_eq!(t.n.rpc("getrawmempool", json!([])), json!([]));
    assert!(c.is_alive());

    // A flood: 10,000 calls from 8 threads.
    let started = Instant::now();
    let ok = AtomicU64::new(0);
    let unknown = encode(&unknown);
    std::thread::scope(|s| {
        for i in 0..8u32 {
            let (c, ok, unknown) = (c.clone(), &ok, &unknown);
            s.spawn(move || {
                for j in 0..1250u32 {
                    let r = match (i + j) % 3 {
                        0 => c.call(method::TIP, b"null", CALL_T),
                        1 => c.call(method::BLOCK_HASH, &encode(&(j % (tip + 5))), CALL_T),
                        _ => c.call(method::FIND_LOCATOR_FORK, unknown, CALL_T),
                    };
                    match r {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("call {j} of thread {i} in the flood: {e}"),
                    }
                }
            });
        }
    });
    assert_eq!(ok.load(Ordering::Relaxed), 10_000);
    eprintln!("flood of 10,000 calls: {:?}", started.elapsed());
    assert!(c.is_alive());
    t.assert_healthy("garbage, huge requests and a flood");
    drop(c);
    t.assert_healthy("the hostile wallet hung up");
}

/// Subscribes to the node's notification ring and never reads it.
fn subscribe_and_stall(c: &Connection) -> shm_ipc::Receiver<EventRecord> {
    c.subscribe(EVENTS_CHANNEL, Trust::UNTRUSTED, Duration::from_secs(10))
        .expect("subscribe to the node's notifications")
}

/// The notification ring's statistics from getipcinfo (if it answers
/// within 10 s).
fn ring_stats(n: &Node) -> Option<Value> {
    let info = within(n, "/", "getipcinfo", json!([]), 10)?.ok()?;
    info["rings"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == "events")
        .cloned()
}

#[test]
fn a_hostile_wallet_that_subscribes_and_never_reads_while_50_blocks_are_mined() {
    let t = Target::start();
    let c = t.greeted();
    let rx = subscribe_and_stall(&c);
    let h0 = t.n.height();
    for i in 0..50 {
        within(&t.n, "/", "generatetoaddress", json!([1, t.own]), 20)
            .unwrap_or_else(|| panic!("block {i}: mining hangs behind a reader that never reads"))
            .unwrap();
        let h = within(&t.n, "/", "getblockcount", json!([]), 5)
            .unwrap_or_else(|| panic!("block {i}: getblockcount hangs"))
            .unwrap();
        assert_eq!(h, h0 + i + 1);
    }
    // 50 small blocks are far from filling the ring: the node's own wallet
    // answers, at the tip.
    let info = within(&t.n, "/wallet/own", "getwalletinfo", json!([]), 20)
        .expect("the node's own wallet hangs behind a reader that never reads")
        .unwrap();
    assert_eq!(info["lastprocessedblock"]["height"], h0 + 50);
    let ring = ring_stats(&t.n).expect("getipcinfo answers");
    assert_eq!(ring["subscribers"], 2, "{ring}");
    eprintln!("after 50 blocks unread by one subscriber: {ring}");
    drop(rx);
    drop(c);
    t.assert_healthy("a reader that never read hung up");
}

/// A taproot key and its address.
struct TapKey {
    keypair: bitcoin::key::Keypair,
    spk: bitcoin::ScriptBuf,
}

fn tap_key(seed: u8) -> TapKey {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let sk = bitcoin::secp256k1::SecretKey::from_slice(&[seed; 32]).unwrap();
    let keypair = bitcoin::key::Keypair::from_secret_key(&secp, &sk);
    let (xonly, _) = keypair.x_only_public_key();
    let spk = bitcoin::Address::p2tr(&secp, xonly, None, Network::Regtest).script_pubkey();
    TapKey { keypair, spk }
}

/// Spends `prev` (an output of `k` worth `value`) by key path to
/// `outputs`, with an annex of `annex_len` bytes (0: none) in the witness:
/// valid by consensus, and as big as a block allows.
fn tap_spend(
    k: &TapKey,
    prev: bitcoin::OutPoint,
    value: bitcoin::Amount,
    outputs: Vec<bitcoin::TxOut>,
    annex_len: usize,
) -> bitcoin::Transaction {
    use bitcoin::key::TapTweak;
    use bitcoin::sighash::{Annex, Prevouts, SighashCache, TapSighashType};
    let mut tx = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: prev,
            script_sig: bitcoin::ScriptBuf::new(),
            sequence: bitcoin::Sequence::MAX,
            witness: bitcoin::Witness::new(),
        }],
        output: outputs,
    };
    let mut annex = vec![0u8; annex_len];
    if annex_len > 0 {
        annex[0] = 0x50;
    }
    let prevout = [bitcoin::TxOut {
        value,
        script_pubkey: k.spk.clone(),
    }];
    let sighash = SighashCache::new(&tx)
        .taproot_signature_hash(
            0,
            &Prevouts::All(&prevout),
            (annex_len > 0).then(|| Annex::new(&annex).unwrap()),
            None,
            TapSighashType::Default,
        )
        .unwrap();
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let tweaked = k.keypair.tap_tweak(&secp, None);
    let msg = bitcoin::secp256k1::Message::from_digest(sighash.to_byte_array());
    let sig = secp.sign_schnorr_no_aux_rand(&msg, &tweaked.to_keypair());
    let mut w = bitcoin::Witness::new();
    w.push(sig.as_ref());
    if annex_len > 0 {
        w.push(&annex);
    }
    tx.input[0].witness = w;
    tx
}

/// Mines `count` blocks of nearly 4 MB each (one transaction with a big
/// annex) on `n`, from a coinbase it first mines to a key of ours.
fn mine_big_blocks(n: &Node, count: usize, mut each: impl FnMut(usize)) {
    let k = tap_key(0x42);
    let addr = bitcoin::Address::from_script(&k.spk, Network::Regtest).unwrap();
    let hash = n.mine(1, &addr.to_string()).remove(0);
    n.mine(100, OTHER_ADDR);
    let block = n.rpc("getblock", json!([hash, 2]));
    let cb = &block["tx"][0];
    let cb_txid: bitcoin::Txid = cb["txid"].as_str().unwrap().parse().unwrap();
    let cb_value = bitcoin::Amount::from_btc(btc(&cb["vout"][0]["value"])).unwrap();
    // One output per big block.
    let part = (cb_value - bitcoin::Amount::from_sat(10_000)) / count as u64;
    let outs = (0..count)
        .map(|_| bitcoin::TxOut {
            value: part,
            script_pubkey: k.spk.clone(),
        })
        .collect();
    let fan = tap_spend(&k, bitcoin::OutPoint::new(cb_txid, 0), cb_value, outs, 0);
    let hex = bitcoin::consensus::encode::serialize_hex(&fan);
    n.rpc("generateblock", json!([OTHER_ADDR, [hex]]));
    for i in 0..count {
        let out = vec![bitcoin::TxOut {
            value: part - bitcoin::Amount::from_sat(1_000),
            script_pubkey: key(5).addr.script_pubkey(),
        }];
        let prev = bitcoin::OutPoint::new(fan.compute_txid(), i as u32);
        let big = tap_spend(&k, prev, part, out, 3_900_000);
        let hex = bitcoin::consensus::encode::serialize_hex(&big);
        within(n, "/", "generateblock", json!([OTHER_ADDR, [hex]]), 60)
            .unwrap_or_else(|| panic!("big block {i}: generateblock hangs"))
            .unwrap_or_else(|e| panic!("big block {i}: {e:?}"));
        each(i);
    }
}

/// A reader that never reads, and blocks big enough to fill the 64 MB
/// ring (`EVENTS_RING_BYTES`): the `Block` policy then holds the node's
/// publisher back. The node must go on serving its other wallets.
#[test]
fn a_hostile_wallet_that_never_reads_cannot_stall_the_other_wallets() {
    let t = Target::start();
    let c = t.greeted();
    let rx = subscribe_and_stall(&c);
    let mut getblockcount_slowest = Duration::ZERO;
    let mut ring_answers = true;
    let mut trace = Vec::new();
    mine_big_blocks(&t.n, 20, |i| {
        let s = Instant::now();
        within(&t.n, "/", "getblockcount", json!([]), 10)
            .unwrap_or_else(|| panic!("big block {i}: getblockcount hangs"))
            .unwrap();
        getblockcount_slowest = getblockcount_slowest.max(s.elapsed());
        if ring_answers {
            match within(&t.n, "/", "getipcinfo", json!([]), 2) {
                Some(Ok(info)) => trace.push(format!(
                    "block {i}: ring occupancy {}",
                    info["rings"][0]["occupancy"]
                )),
                _ => {
                    trace.push(format!("block {i}: getipcinfo hangs"));
                    ring_answers = false;
                }
            }
        }
    });
    eprintln!("getblockcount answered in at most {getblockcount_slowest:?} while the ring filled");
    eprintln!("{}", trace.join("\n"));
    let own = within(&t.n, "/wallet/own", "getwalletinfo", json!([]), 30);
    let own_answered = own.is_some();
    // A new wallet process would not get the ring either.
    let late = t.greeted();
    let late_sub: shm_ipc::Result<shm_ipc::Receiver<EventRecord>> =
        late.subscribe(EVENTS_CHANNEL, Trust::UNTRUSTED, Duration::from_secs(10));
    let late_ok = late_sub.is_ok();
    drop(late_sub);
    drop(late);
    drop(rx);
    drop(c);
    // Once the reader is gone, everything flows again.
    t.assert_healthy("the reader that never read hung up");
    assert!(
        own_answered && late_ok,
        "while another wallet process held the notification ring full: the node's own wallet \
         answered in 30 s: {own_answered}; a new wallet process got the ring: {late_ok}; \
         getipcinfo answered: {ring_answers}\n{}",
        trace.join("\n")
    );
}

/// Not a test of its own: the hostile wallet in a process of its own, for
/// `a_hostile_wallet_killed_mid_flood_is_dropped` (which runs this test
/// binary again with `HOSTILE_PEER` set; without it this returns at once).
/// It connects, says hello, subscribes to the ring without reading it,
/// prints "ready" and floods the node with calls until it is killed.
#[test]
fn hostile_peer_process() {
    let Some(bind) = std::env::var_os("HOSTILE_PEER") else {
        return;
    };
    let c = Address::parse(bind.to_str().unwrap())
        .unwrap()
        .connect(Duration::from_secs(10))
        .unwrap();
    c.call(
        method::HELLO,
        &hello(PROTOCOL_VERSION, "regtest", Role::Wallet),
        CALL_T,
    )
    .unwrap();
    let _rx = subscribe_and_stall(&c);
    println!("ready");
    let big = encode(&Locator(vec!["11".repeat(32); MAX_LOCATOR]));
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (c, big) = (c.clone(), &big);
            s.spawn(move || loop {
                let _ = c.call(method::FIND_LOCATOR_FORK, big, CALL_T);
                let _ = c.call(method::TIP, b"null", CALL_T);
            });
        }
    });
}

#[test]
fn a_hostile_wallet_killed_mid_flood_is_dropped() {
    use std::io::BufRead;
    let t = Target::start();
    let mut peer = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "hostile::hostile_peer_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HOSTILE_PEER", &t.bind)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            kill_tree(self.0);
        }
    }
    let guard = Kill(peer.id());
    let out = std::io::BufReader::new(peer.stdout.take().unwrap());
    let ready = out
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("ready"));
    assert!(ready, "the hostile peer process did not get ready");
    wait_for("the node to count the hostile subscriber", 10, || {
        ring_stats(&t.n).filter(|r| r["subscribers"] == 2)
    });
    // Blocks stream to both while it floods.
    for _ in 0..10 {
        t.n.mine(1, &t.own);
    }
    t.assert_healthy("a flooding wallet process");
    // kill -9 mid-flood: no goodbye.
    kill9_pid(peer.id());
    let _ = peer.wait();
    drop(guard);
    wait_for("the node to drop the killed subscriber", 10, || {
        ring_stats(&t.n).filter(|r| r["subscribers"] == 1)
    });
    t.assert_healthy("a wallet process killed mid-flood");
    let log = fs::read_to_string(t.n.debug_log()).unwrap();
    assert!(log.contains("disconnected"), "{log}");
}

/// Connects to a unix seqpacket socket without saying anything (not even
/// shm-ipc's handshake).
fn raw_unix_connect(path: &Path) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain socket(2)/connect(2) calls with a zeroed, filled-in
    // sockaddr_un; the descriptor is owned by the OwnedFd returned.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let p = path.as_os_str().as_bytes();
        assert!(p.len() < addr.sun_path.len());
        for (d, s) in addr.sun_path.iter_mut().zip(p) {
            *d = *s as libc::c_char;
        }
        let r = libc::connect(
            fd,
            (&addr as *const libc::sockaddr_un).cast(),
            std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        );
        assert_eq!(r, 0, "connect {}", path.display());
        owned
    }
}

/// A connection that never completes shm-ipc's handshake must not keep
/// wallets out.
#[test]
fn a_silent_connection_does_not_keep_other_wallets_out() {
    let t = Target::start();
    let sock = t.bind.strip_prefix("unix:").unwrap();
    let _silent = raw_unix_connect(Path::new(sock));
    let start = Instant::now();
    let c = Address::parse(&t.bind)
        .unwrap()
        .connect(Duration::from_secs(20));
    let took = start.elapsed();
    let c = c.unwrap_or_else(|e| panic!("a wallet could not connect behind a silent one: {e}"));
    c.call(
        method::HELLO,
        &hello(PROTOCOL_VERSION, "regtest", Role::Wallet),
        CALL_T,
    )
    .unwrap();
    assert!(
        took < Duration::from_secs(2),
        "a wallet waited {took:?} to connect behind a connection that said nothing"
    );
}

/// A wallet process that says it holds a wallet of the same name as one
/// the node's own wallet process has loaded must not get that wallet's
/// calls (among them its passphrase).
#[test]
fn a_wallet_process_cannot_take_over_a_wallet_name_of_the_nodes_own() {
    use btc_core::interfaces::RpcReply;
    let t = Target::start();
    let c = t.greeted();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let server = {
        let (c, seen) = (c.clone(), seen.clone());
        std::thread::spawn(move || {
            for req in c.requests().iter() {
                let Ok(r) = decode::<RpcRequest>(&req.payload) else {
                    continue;
                };
                let reply = if r.method == "listwallets" {
                    RpcReply::ok(json!(["own"]))
                } else {
                    seen.lock()
                        .unwrap()
                        .push(format!("{} {}", r.method, r.params));
                    RpcReply::ok(json!("hijacked"))
                };
                let _ = req.reply(Ok(&encode(&reply)));
            }
        })
    };
    // It has said it holds "own" (the node asks at connect).
    wait_for(
        "the node to ask the new wallet process its wallets",
        10,
        || {
            let l = t.n.rpc("listwallets", json!([]));
            (l == json!(["own"])).then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(200));
    let info = t.n.w("own", "getwalletinfo", json!([]));
    let pass = t.n.wcall("own", "walletpassphrase", json!(["s3cret", 10]));
    let seen_calls = seen.lock().unwrap().clone();
    c.shutdown();
    let _ = server.join();
    assert!(
        seen_calls.is_empty() && info.is_object(),
        "calls for the node's own wallet \"own\" went to another wallet process that \
         claimed the name: it saw {seen_calls:?}; getwalletinfo answered {info}, \
         walletpassphrase {pass:?}"
    );
}
