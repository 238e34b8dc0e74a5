//! The node's IPC hub against wallet processes played by the test over a
//! socketpair: an honest one that reads every notification, and a hostile
//! one that says hello, subscribes, sends garbage and then never reads.
//! The node must answer the garbage with errors, drop the one that stopped
//! reading once the ring has stayed full, and keep the honest one fed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::ScriptBuf;
use btc_core::interfaces::calls::{decode, encode};
use btc_core::interfaces::{
    method, EventKind, EventRecord, Hello, HelloReply, Role, RpcReply, RpcRequest, EVENTS_CHANNEL,
    PROTOCOL_VERSION,
};
use btc_node::chainstate::ChainstateOptions;
use btc_node::ipc::{Hub, Origin, Publisher};
use btc_node::mempool::MempoolOptions;
use btc_node::node::{Node, NodeOptions};
use btc_node::params::ChainParams;
use shm_ipc::{Connection, Receiver, Trust};

const T: Duration = Duration::from_secs(10);

fn open(dir: &std::path::Path) -> Arc<Node> {
    Node::open(NodeOptions {
        net_dir: dir.to_path_buf(),
        params: ChainParams::for_network(bitcoin::Network::Regtest),
        chainstate: ChainstateOptions::default(),
        mempool: MempoolOptions::default(),
        mining: Default::default(),
    })
    .expect("open node")
}

fn hello(conn: &Connection, version: u32, chain: &str) -> Result<HelloReply, String> {
    let h = Hello {
        version,
        role: Role::Wallet,
        chain: chain.into(),
        auth: None,
    };
    conn.call(method::HELLO, &encode(&h), Some(T))
        .map_err(|e| e.to_string())
        .and_then(|b| decode(&b))
}

/// A hub with a 16 KiB event ring (a few dozen regtest blocks) and no
/// wallet child.
fn hub(node: &Arc<Node>) -> Arc<Hub> {
    let (publisher, _) = Publisher::start(Some(16 * 1024)).unwrap();
    let hub = Hub::new(node, publisher.clone(), None, None);
    let weak = Arc::downgrade(&hub);
    publisher.set_on_stuck(move |last| {
        if let Some(h) = weak.upgrade() {
            h.drop_laggards(last);
        }
    });
    node.attach_wallets(hub.clone());
    hub
}

#[test]
fn bad_hellos_are_refused_and_the_node_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let hub = hub(&node);
    // Wrong version, wrong chain, a first call that is not a hello, garbage.
    for (i, attempt) in ["version", "chain", "not-hello", "garbage"]
        .iter()
        .enumerate()
    {
        let (ours, theirs) = Connection::pair().unwrap();
        hub.accept(theirs, format!("bad peer {i}"), Origin::Local, false);
        let r = match *attempt {
            "version" => hello(&ours, PROTOCOL_VERSION + 1, "regtest"),
            "chain" => hello(&ours, PROTOCOL_VERSION, "main"),
            "not-hello" => ours
                .call(method::TIP, &encode(&()), Some(T))
                .map(|_| HelloReply {
                    version: 0,
                    role: Role::Node,
                    chain: String::new(),
                    block_files: false,
                })
                .map_err(|e| e.to_string()),
            _ => ours
                .call(method::HELLO, b"\xff{not json", Some(T))
                .map(|_| HelloReply {
                    version: 0,
                    role: Role::Node,
                    chain: String::new(),
                    block_files: false,
                })
                .map_err(|e| e.to_string()),
        };
        assert!(r.is_err(), "{attempt}: the node accepted it");
    }
    let tip = node
        .generate(1, &ScriptBuf::new_op_return([1u8; 4]), 1_000_000)
        .unwrap();
    assert_eq!(tip.len(), 1);
}

/// The event ring carries Core's Chain notifications in order: each
/// block's `blockConnected`, then `updatedBlockTip` for the batch, and
/// `chainStateFlushed` once the chainstate reached disk (here after every
/// block: `flush_blocks` 1).
#[test]
fn block_events_are_followed_by_tip_updated_and_flushed() {
    use bitcoin::hashes::Hash;
    let dir = tempfile::tempdir().unwrap();
    let node = Node::open(NodeOptions {
        net_dir: dir.path().to_path_buf(),
        params: ChainParams::for_network(bitcoin::Network::Regtest),
        chainstate: ChainstateOptions {
            flush_blocks: 1,
            ..ChainstateOptions::default()
        },
        mempool: MempoolOptions::default(),
        mining: Default::default(),
    })
    .expect("open node");
    let hub = hub(&node);
    let (wallet, theirs) = Connection::pair().unwrap();
    hub.accept(theirs, "listener".into(), Origin::Local, false);
    hello(&wallet, PROTOCOL_VERSION, "regtest").unwrap();
    let mut rx: Receiver<EventRecord> = wallet
        .subscribe(EVENTS_CHANNEL, Trust::UNTRUSTED, T)
        .unwrap();
    let hashes = node
        .generate(2, &ScriptBuf::new_op_return([1u8; 4]), 1_000_000)
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let rec = rx.recv().unwrap();
        let kind = rec.event_kind().unwrap();
        let hash = bitcoin::BlockHash::from_byte_array(rec.hash);
        seen.push((kind, rec.height.to_native(), hash));
    }
    let expect = |i: usize| {
        let h = hashes[i];
        let height = i as u32 + 1;
        [
            (EventKind::BlockConnected, height, h),
            (EventKind::TipUpdated, height, h),
            (EventKind::Flushed, height, h),
        ]
    };
    let want: Vec<_> = expect(0).into_iter().chain(expect(1)).collect();
    assert_eq!(seen, want);
}

/// With a secret (a listener beyond loopback), only the peers of that
/// listener must present it: the node's own child and the GUI that started
/// it (socketpairs), and local listeners, are not asked.
#[test]
fn only_remote_peers_are_asked_for_the_ipc_secret() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let (publisher, _) = Publisher::start(Some(16 * 1024)).unwrap();
    let hub = Hub::new(&node, publisher, None, Some("s3cret".into()));
    let try_hello = |origin: Origin, auth: Option<&str>| {
        let (ours, theirs) = Connection::pair().unwrap();
        hub.accept(theirs, format!("{origin:?} peer"), origin, false);
        let h = Hello {
            version: PROTOCOL_VERSION,
            role: Role::Wallet,
            chain: "regtest".into(),
            auth: auth.map(str::to_owned),
        };
        ours.call(method::HELLO, &encode(&h), Some(T))
            .map_err(|e| e.to_string())
    };
    for origin in [Origin::Inherited, Origin::Local] {
        assert!(try_hello(origin, None).is_ok(), "{origin:?}");
    }
    let refused = try_hello(Origin::Remote, None).unwrap_err();
    assert!(refused.contains("IPC secret"), "{refused}");
    assert!(try_hello(Origin::Remote, Some("wrong")).is_err());
    assert!(try_hello(Origin::Remote, Some("s3cret")).is_ok());
}

#[test]
fn garbage_calls_get_errors_and_a_wallet_that_stops_reading_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let hub = hub(&node);

    // The honest wallet: reads every record and says how far it got.
    let (honest, theirs) = Connection::pair().unwrap();
    hub.accept(theirs, "honest".into(), Origin::Local, false);
    assert_eq!(
        hello(&honest, PROTOCOL_VERSION, "regtest").unwrap().chain,
        "regtest"
    );
    let rx: Receiver<EventRecord> = honest
        .subscribe(EVENTS_CHANNEL, Trust::UNTRUSTED, T)
        .unwrap();
    let applied = Arc::new(AtomicU64::new(0));
    let blocks = Arc::new(AtomicU64::new(0));
    let reader = {
        let (applied, blocks) = (applied.clone(), blocks.clone());
        std::thread::spawn(move || {
            let mut rx = rx;
            while let Ok(rec) = rx.recv() {
                if rec.event_kind() == Some(EventKind::BlockConnected) {
                    assert!(rec.block().is_ok(), "a block record that does not validate");
                    blocks.fetch_add(1, Ordering::SeqCst);
                }
                applied.store(rec.seq(), Ordering::SeqCst);
            }
        })
    };
    let answering = {
        let (conn, applied) = (honest.clone(), applied.clone());
        std::thread::spawn(move || {
            for req in conn.requests().iter() {
                let r: RpcRequest = decode(&req.payload).unwrap();
                let reply = match r.method.as_str() {
                    "getnotificationstats" => {
                        RpcReply::ok(serde_json::json!({"applied": applied.load(Ordering::SeqCst)}))
                    }
                    "listwallets" => RpcReply::ok(serde_json::json!([])),
                    other => panic!("the node asked {other}"),
                };
                let _ = req.reply(Ok(&encode(&reply)));
            }
        })
    };

    // The hostile wallet: hello, subscribe, garbage, then silence.
    let (hostile, theirs) = Connection::pair().unwrap();
    hub.accept(theirs, "hostile".into(), Origin::Local, false);
    hello(&hostile, PROTOCOL_VERSION, "regtest").unwrap();
    let _never_read: Receiver<EventRecord> = hostile
        .subscribe(EVENTS_CHANNEL, Trust::UNTRUSTED, T)
        .unwrap();
    for m in 0..=50u32 {
        for payload in [
            &b""[..],
            b"\xff\xfe",
            b"{\"from\": 5, \"to\": 1}",
            b"[1,2,3]",
        ] {
            let r = hostile.call(m, payload, Some(T));
            // TIP and MIN_FEE take nothing and ignore what they get.
            if m == method::TIP || m == method::MIN_FEE {
                assert!(r.is_ok(), "method {m}: {r:?}");
            } else if m == method::BLOCK_LOCATIONS && payload.starts_with(b"{") {
                // from > to: a valid, empty range.
                let l: btc_core::interfaces::BlockLocations = decode(&r.unwrap()).unwrap();
                assert!(l.blocks.is_empty());
            } else {
                assert!(r.is_err(), "method {m} accepted {payload:?}: {r:?}");
            }
        }
    }
    let huge_locator = encode(&btc_core::interfaces::Locator(vec![
        "00".repeat(32);
        10_000
    ]));
    assert!(hostile
        .call(method::FIND_LOCATOR_FORK, &huge_locator, Some(T))
        .is_err());
    let far = encode(&btc_core::interfaces::BlockRange {
        from: 0,
        to: u32::MAX,
    });
    let locs: btc_core::interfaces::BlockLocations = decode(
        &hostile
            .call(method::BLOCK_LOCATIONS, &far, Some(T))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(locs.blocks.len(), 1, "genesis only");
    assert!(hostile
        .call(method::BLOCK_ARCHIVE, &encode(&1_000u32), Some(T))
        .is_err());
    let junk_tx = encode(&btc_core::interfaces::BroadcastRequest {
        tx_hex: "00".repeat(500_000),
        max_fee_sat: 0,
    });
    assert!(hostile.call(method::BROADCAST, &junk_tx, Some(T)).is_err());

    // Enough blocks to fill the ring many times over.
    let script = ScriptBuf::new_op_return([1u8; 4]);
    let started = Instant::now();
    node.generate(300, &script, 1_000_000).unwrap();
    // While the hostile one holds the ring full, the ring statistics
    // (getipcinfo) answer at once, saying the writer waits.
    let watch = Instant::now();
    loop {
        let asked = Instant::now();
        let info = hub.publisher().info();
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "ring statistics took {:?}",
            asked.elapsed()
        );
        if info[0]["waiting_for_subscribers"] == serde_json::json!(true) {
            break;
        }
        assert!(
            watch.elapsed() < Duration::from_secs(8),
            "the writer never showed as waiting: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The hostile one is dropped once the ring stayed full for 10 s.
    assert!(
        hostile.wait_closed(Duration::from_secs(60)),
        "the node kept a wallet that never reads"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while blocks.load(Ordering::SeqCst) < 300 {
        assert!(
            Instant::now() < deadline,
            "the honest wallet got {} of 300 blocks",
            blocks.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(honest.is_alive(), "the honest wallet was dropped too");
    honest.shutdown();
    let _ = reader.join();
    let _ = answering.join();
}
