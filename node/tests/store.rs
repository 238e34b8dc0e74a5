//! Correctness of the three UTXO stores: batches persist across a reopen, an
//! uncommitted batch leaves no trace, and `kill -9` at a random moment
//! leaves a store whose best-block marker matches its coins.
//!
//! The batches are a deterministic chain: batch `b` creates `PUTS` coins and
//! spends the first `SPENDS` coins of batch `b - 1`, and sets the best block
//! to `b`. So the expected set after `n` batches is known without replaying.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::ops::ControlFlow;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use btc_node::store::{
    outpoint_key, Batch, BlockHash, Coin, CoinsCache, Durability, FjallStore, FlushStats,
    GroupCommit, HeedStore, OutPointKey, RedbStore, StoreOptions, UtxoStore,
};

const PUTS: u32 = 24;
const SPENDS: u32 = 16;

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Output `j` of batch `b`: four outputs per transaction.
fn key(b: u64, j: u32) -> OutPointKey {
    let mut txid = [0u8; 32];
    let seed = (b << 20) | u64::from(j / 4);
    for (i, chunk) in txid.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(seed ^ ((i as u64) << 56)).to_le_bytes());
    }
    outpoint_key(&txid, j % 4)
}

fn value(b: u64, j: u32) -> Vec<u8> {
    let r = mix((b << 20) ^ u64::from(j) ^ 0xc0ffee);
    let script = if j.is_multiple_of(5) {
        vec![0x6a; (r % 40) as usize]
    } else {
        let mut s = vec![0x00, 0x14];
        s.extend_from_slice(&r.to_le_bytes());
        s.extend_from_slice(&[j as u8; 12]);
        s
    };
    Coin {
        height: b as u32,
        coinbase: j == 0,
        amount: r % 2_100_000_000_000_000,
        script,
    }
    .encode()
}

fn block_hash(b: u64) -> BlockHash {
    let mut h = [0xbb; 32];
    h[..8].copy_from_slice(&b.to_le_bytes());
    h
}

fn height_of(h: &BlockHash) -> u64 {
    assert_eq!(h[8..], [0xbb; 24], "not a test block hash");
    u64::from_le_bytes(h[..8].try_into().unwrap())
}

fn batch(b: u64) -> Batch {
    let mut batch = Batch::new(block_hash(b));
    if b > 1 {
        for j in 0..SPENDS {
            batch.delete(key(b - 1, j));
        }
    }
    for j in 0..PUTS {
        batch.put(key(b, j), value(b, j));
    }
    batch
}

fn expected(n: u64) -> BTreeMap<OutPointKey, Vec<u8>> {
    let mut m = BTreeMap::new();
    for b in 1..=n {
        let first = if b < n { SPENDS } else { 0 };
        for j in first..PUTS {
            m.insert(key(b, j), value(b, j));
        }
    }
    m
}

fn contents<S: UtxoStore>(store: &S) -> BTreeMap<OutPointKey, Vec<u8>> {
    let mut m = BTreeMap::new();
    store
        .for_each(&mut |k, v| {
            m.insert(*k, v.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
    m
}

/// The store's best block, and a check that its coins are exactly the ones
/// that block's batch left.
fn check_consistent<S: UtxoStore>(store: &S) -> u64 {
    let n = store.best_block().unwrap().map_or(0, |h| height_of(&h));
    let want = expected(n);
    let got = contents(store);
    assert_eq!(
        got.len(),
        want.len(),
        "{}: coin count at best block {n}",
        S::ENGINE
    );
    assert!(
        got == want,
        "{}: coins differ from best block {n}",
        S::ENGINE
    );
    // Point lookups agree with the scan, hits and misses alike.
    for b in [1, n / 2, n.saturating_sub(1), n] {
        if b == 0 {
            continue;
        }
        for j in [0, SPENDS - 1, SPENDS, PUTS - 1] {
            let k = key(b, j);
            assert_eq!(
                store.get(&k).unwrap().as_ref(),
                want.get(&k),
                "{}",
                S::ENGINE
            );
        }
    }
    let keys: Vec<OutPointKey> = want
        .keys()
        .take(50)
        .copied()
        .chain([key(n + 1, 0)])
        .collect();
    let mut hits = 0;
    store
        .get_many(&keys, &mut |i, v| {
            assert_eq!(v, want.get(&keys[i]).map(Vec::as_slice));
            hits += usize::from(v.is_some());
        })
        .unwrap();
    assert_eq!(hits, keys.len() - 1);
    n
}

fn small() -> StoreOptions {
    StoreOptions {
        cache_bytes: 8 << 20,
        lmdb_map_size: 256 << 20,
        ..StoreOptions::default()
    }
}

fn reopen_keeps_state<S: UtxoStore>() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = S::open(dir.path(), &small()).unwrap();
        assert_eq!(store.best_block().unwrap(), None);
        assert_eq!(check_consistent(&store), 0);
        for b in 1..=10 {
            store.apply(&batch(b), Durability::Immediate).unwrap();
        }
        let mut group = GroupCommit::new(4, Duration::from_secs(3600));
        for b in 11..=30 {
            let synced = group.apply(&mut store, &batch(b)).unwrap();
            assert_eq!(synced, b % 4 == 2, "batch {b}");
        }
        group.sync(&mut store).unwrap();
        assert_eq!(group.pending(), 0);
        assert_eq!(check_consistent(&store), 30);
    }
    let store = S::open(dir.path(), &small()).unwrap();
    assert_eq!(check_consistent(&store), 30);
}

fn uncommitted_batch_is_not_applied<S: UtxoStore>() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = S::open(dir.path(), &small()).unwrap();
        for b in 1..=3 {
            store.apply(&batch(b), Durability::Immediate).unwrap();
        }
        store.write_then_abort(&batch(4)).unwrap();
        assert_eq!(check_consistent(&store), 3);
    }
    let mut store = S::open(dir.path(), &small()).unwrap();
    assert_eq!(check_consistent(&store), 3);
    // The store is still usable and the aborted batch can be applied later.
    store.apply(&batch(4), Durability::Deferred).unwrap();
    store.sync().unwrap();
    assert_eq!(check_consistent(&store), 4);
}

/// Meta records ride in the coins' transaction: written, read back by key
/// and by prefix (in key order), deleted, kept across a reopen, dropped with
/// an aborted batch; the engine's own marker key is refused.
fn meta_records<S: UtxoStore>() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = S::open(dir.path(), &small()).unwrap();
        let mut b = batch(1);
        b.meta("idx/b".into(), Some(vec![2]));
        b.meta("idx/a".into(), Some(vec![1]));
        b.meta("other".into(), Some(vec![9]));
        store.apply(&b, Durability::Immediate).unwrap();
        let mut b = batch(2);
        b.meta("idx/b".into(), None);
        b.meta("idx/c".into(), Some(vec![3, 3]));
        store.apply(&b, Durability::Deferred).unwrap();
        let mut aborted = batch(3);
        aborted.meta("idx/d".into(), Some(vec![4]));
        store.write_then_abort(&aborted).unwrap();
        store.sync().unwrap();
        let mut bad = batch(3);
        bad.meta("best_block".into(), Some(vec![0; 32]));
        assert!(store.apply(&bad, Durability::Immediate).is_err());
    }
    let store = S::open(dir.path(), &small()).unwrap();
    assert_eq!(check_consistent(&store), 2);
    assert_eq!(store.meta_get("other").unwrap(), Some(vec![9]));
    assert_eq!(store.meta_get("idx/b").unwrap(), None);
    let mut seen = Vec::new();
    store
        .meta_scan("idx/", &mut |k, v| {
            seen.push((k.to_string(), v.to_vec()));
            Ok(())
        })
        .unwrap();
    assert_eq!(
        seen,
        vec![
            ("idx/a".to_string(), vec![1]),
            ("idx/c".to_string(), vec![3, 3])
        ]
    );
}

/// The coins cache against a model: blocks spend old coins and coins of
/// their own, create new ones; flushes (when the cache is full or every 40
/// blocks) leave the store equal to the model at that block.
fn cache_flushes_atomically<S: UtxoStore>() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = S::open(dir.path(), &small()).unwrap();
    let mut cache = CoinsCache::new(48 << 10);
    let mut model: BTreeMap<OutPointKey, Vec<u8>> = BTreeMap::new();
    let mut live: Vec<OutPointKey> = Vec::new();
    let mut r = 7u64;
    let mut flushes = 0;
    for h in 1..=300u64 {
        // Spend up to 6 older coins, checking what the cache returns.
        for _ in 0..6 {
            r = mix(r);
            if live.is_empty() {
                break;
            }
            let k = live.swap_remove((r % live.len() as u64) as usize);
            let want = model.remove(&k);
            assert!(want.is_some());
            assert_eq!(cache.spend(&store, &k).unwrap(), want, "block {h}");
            assert_eq!(cache.get(&store, &k).unwrap(), None);
        }
        // Spending what does not exist finds nothing.
        assert_eq!(cache.spend(&store, &key(h + 1_000_000, 0)).unwrap(), None);
        // Create 10; spend two of them again in the same block (fresh).
        for j in 0..10 {
            cache.add(key(h, j), value(h, j), false);
            model.insert(key(h, j), value(h, j));
        }
        for j in [3, 7] {
            assert_eq!(cache.spend(&store, &key(h, j)).unwrap(), Some(value(h, j)));
            model.remove(&key(h, j));
        }
        live.extend((0..10).filter(|j| ![3, 7].contains(j)).map(|j| key(h, j)));
        if cache.needs_flush() || h % 40 == 0 {
            cache
                .flush(&mut store, Batch::new(block_hash(h)), Durability::Deferred)
                .unwrap();
            assert!(cache.is_empty() && cache.usage() == 0);
            flushes += 1;
            assert_eq!(store.best_block().unwrap(), Some(block_hash(h)));
            assert!(
                contents(&store) == model,
                "{}: store after flush at {h}",
                S::ENGINE
            );
        }
    }
    assert!(
        flushes > 8,
        "the limit should force flushes between the periodic ones"
    );
    cache
        .flush(
            &mut store,
            Batch::new(block_hash(301)),
            Durability::Immediate,
        )
        .unwrap();
    drop(store);
    let store = S::open(dir.path(), &small()).unwrap();
    assert_eq!(store.best_block().unwrap(), Some(block_hash(301)));
    assert!(contents(&store) == model, "{}: after reopen", S::ENGINE);

    // A coin created and spent between flushes never reaches the store; a
    // stored coin spent and a new one kept are one delete and one put.
    let mut store = store;
    let old = *model.keys().next().unwrap();
    let mut cache = CoinsCache::new(1 << 20);
    cache.add(key(400, 0), value(400, 0), false);
    assert!(cache.spend(&store, &key(400, 0)).unwrap().is_some());
    assert!(cache.spend(&store, &old).unwrap().is_some());
    cache.add(key(400, 1), value(400, 1), false);
    let stats = cache
        .flush(
            &mut store,
            Batch::new(block_hash(400)),
            Durability::Immediate,
        )
        .unwrap();
    assert_eq!(
        stats,
        FlushStats {
            puts: 1,
            deletes: 1
        }
    );
    assert_eq!(store.get(&key(400, 0)).unwrap(), None);
    assert_eq!(store.get(&old).unwrap(), None);
    assert_eq!(store.get(&key(400, 1)).unwrap(), Some(value(400, 1)));
}

/// Whether a deferred batch that reached the engine survives `kill -9`.
#[derive(Clone, Copy)]
enum DeferredOnKill {
    Kept,
    Lost,
}

const CHILD_ENGINE: &str = "BTC_NODE_STORE_CRASH_ENGINE";
const CHILD_DIR: &str = "BTC_NODE_STORE_CRASH_DIR";

/// The writer that the crash tests kill: it continues the chain from the
/// store's best block with group commit, printing `applied N` after each
/// batch and `synced N` after each sync. Does nothing unless started by
/// [`kill_9_at_random_moments`].
#[test]
fn crash_child() {
    let (Ok(engine), Ok(dir)) = (std::env::var(CHILD_ENGINE), std::env::var(CHILD_DIR)) else {
        return;
    };
    match engine.as_str() {
        "redb" => write_until_killed::<RedbStore>(Path::new(&dir)),
        "fjall" => write_until_killed::<FjallStore>(Path::new(&dir)),
        "lmdb" => write_until_killed::<HeedStore>(Path::new(&dir)),
        other => panic!("unknown engine {other}"),
    }
}

fn write_until_killed<S: UtxoStore>(dir: &Path) {
    let mut store = S::open(dir, &small()).unwrap();
    let start = store.best_block().unwrap().map_or(0, |h| height_of(&h));
    let mut group = GroupCommit::new(8, Duration::from_millis(20));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut b = start;
    // Bounded in case the parent dies without killing us.
    while Instant::now() < deadline {
        b += 1;
        let synced = group.apply(&mut store, &batch(b)).unwrap();
        println!("applied {b}");
        if synced {
            println!("synced {b}");
        }
    }
}

fn kill_9_at_random_moments<S: UtxoStore>(engine: &str, deferred: DeferredOnKill) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = u64::from(std::process::id())
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    let mut last_best = 0;
    for round in 0..4 {
        seed = mix(seed);
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENGINE, engine)
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut applied, mut synced) = (0u64, 0u64);
        let note = |line: &str, applied: &mut u64, synced: &mut u64| {
            if let Some(n) = line.strip_prefix("applied ") {
                *applied = n.parse().unwrap();
            } else if let Some(n) = line.strip_prefix("synced ") {
                *synced = n.parse().unwrap();
            }
        };
        // Wait for a first sync, then kill at a random moment after it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let first_sync = line.starts_with("synced ");
            note(&line, &mut applied, &mut synced);
            if first_sync {
                break;
            }
        }
        assert!(
            synced > 0,
            "{engine} round {round}: the writer never synced"
        );
        std::thread::sleep(Duration::from_micros(mix(seed) % 40_000));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        for line in rx.try_iter() {
            note(&line, &mut applied, &mut synced);
        }

        let store = S::open(dir.path(), &small()).unwrap();
        let best = check_consistent(&store);
        let context = format!(
            "{engine} round {round} (seed {seed:#x}): best {best}, printed applied {applied}, synced {synced}"
        );
        // Synced batches survive; nothing past the batch being applied
        // (whose line may not have been printed) exists.
        assert!(best >= synced && best >= last_best, "{context}");
        assert!(best <= applied + 1, "{context}");
        if let DeferredOnKill::Kept = deferred {
            assert!(best >= applied, "{context}");
        }
        last_best = best;
        drop(store);
    }
}

macro_rules! engine_tests {
    ($module:ident, $store:ty, $engine:literal, $deferred:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn reopen_keeps_state() {
                super::reopen_keeps_state::<$store>();
            }

            #[test]
            fn uncommitted_batch_is_not_applied() {
                super::uncommitted_batch_is_not_applied::<$store>();
            }

            #[test]
            fn meta_records() {
                super::meta_records::<$store>();
            }

            #[test]
            fn cache_flushes_atomically() {
                super::cache_flushes_atomically::<$store>();
            }

            #[test]
            fn kill_9_at_random_moments() {
                super::kill_9_at_random_moments::<$store>($engine, $deferred);
            }
        }
    };
}

engine_tests!(redb, RedbStore, "redb", DeferredOnKill::Lost);
engine_tests!(fjall, FjallStore, "fjall", DeferredOnKill::Kept);
engine_tests!(lmdb, HeedStore, "lmdb", DeferredOnKill::Kept);
