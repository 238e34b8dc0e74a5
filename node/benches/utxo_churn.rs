//! UTXO churn on redb, fjall and LMDB (heed), as block connection makes it.
//!
//! Each engine gets its own temporary directory (under cargo's target tmp
//! dir, on the same disk as the build, never tmpfs) and is loaded with N
//! random coins. Then:
//!
//! - `churn-group-commit`: rounds of `ROUND` batches; each batch looks up
//!   2,000-5,000 random existing coins in one snapshot, deletes them,
//!   creates 2,500-6,000 new ones and moves the best-block marker, committed
//!   atomically with deferred durability; the round ends with one sync
//!   (group commit: one sync per `ROUND` batches).
//! - `churn-fsync-per-batch`: the same rounds, every batch committed with
//!   immediate durability (a sync per batch).
//! - `lookup-cold`: the first lookups of random coins after reopening the
//!   store (engine caches empty, the OS page cache warm: "cold-ish").
//! - `lookup-warm`: random point lookups, each in its own read snapshot.
//! - `lookup-warm-shared`: random lookups, 1,000 to a snapshot (`get_many`).
//!
//! Before them, 40 untimed batches let the store settle after the bulk load.
//! Criterion prints its usual statistics; at the end a markdown table gives
//! the median over samples of each measurement (a sample of the churn
//! benches is a whole number of rounds, so a round's sync is in it).
//!
//! Environment: `UTXO_BENCH_COINS` (initial coins, default 2,000,000),
//! `UTXO_BENCH_QUICK=1` (100,000 coins and short measurements),
//! `UTXO_BENCH_ENGINES` (comma-separated subset of `redb,fjall,lmdb`),
//! `UTXO_BENCH_ROUND` (batches per round and per group commit, default 10),
//! `UTXO_BENCH_SECS` (measurement time of each churn bench, default 10),
//! `UTXO_BENCH_DIR` (where the temporary directories go).
//!
//! Run: `cargo bench -p btc-node --bench utxo_churn`.

mod common;
use common::random_coin;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use btc_node::store::{
    outpoint_key, Batch, Durability, FjallStore, GroupCommit, HeedStore, OutPointKey, RedbStore,
    StoreOptions, UtxoStore,
};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

struct Config {
    coins: usize,
    round: u32,
    settle_batches: u32,
    churn_time: Duration,
    lookup_time: Duration,
    engines: Vec<String>,
    dir: PathBuf,
}

impl Config {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let quick = var("UTXO_BENCH_QUICK").is_some_and(|v| v != "0");
        let num = |name: &str, default: u64| -> u64 {
            var(name).map_or(default, |v| {
                v.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={v}"))
            })
        };
        Config {
            coins: num("UTXO_BENCH_COINS", if quick { 100_000 } else { 2_000_000 }) as usize,
            round: num("UTXO_BENCH_ROUND", 10) as u32,
            settle_batches: if quick { 10 } else { 40 },
            churn_time: Duration::from_secs(num("UTXO_BENCH_SECS", if quick { 2 } else { 10 })),
            lookup_time: Duration::from_secs(if quick { 1 } else { 3 }),
            engines: var("UTXO_BENCH_ENGINES")
                .unwrap_or_else(|| "redb,fjall,lmdb".into())
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect(),
            dir: var("UTXO_BENCH_DIR")
                .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from),
        }
    }
}

/// Medians collected for the summary table, per engine.
#[derive(Default)]
struct Row {
    engine: &'static str,
    load_coins_per_s: f64,
    /// Per churn mode: (seconds per batch, coins per batch) of each sample.
    group: Vec<(f64, f64)>,
    fsync: Vec<(f64, f64)>,
    /// Seconds of each group-commit sync (one per round).
    sync_secs: Vec<f64>,
    cold_ns: Vec<f64>,
    /// Seconds to open the store after a clean close.
    open_secs: Vec<f64>,
    warm_ns: Vec<f64>,
    warm_shared_ns: Vec<f64>,
    coins_after: usize,
    disk_bytes: u64,
}

type Report = Arc<Mutex<BTreeMap<&'static str, Row>>>;

/// New coins of 1-3 outputs per transaction.
fn new_coins(rng: &mut StdRng, n: usize, out: &mut Vec<(OutPointKey, Vec<u8>)>) {
    while out.len() < n {
        let mut txid = [0u8; 32];
        rng.fill(&mut txid);
        for vout in 0..rng.random_range(1..=3u32) {
            out.push((outpoint_key(&txid, vout), random_coin(rng)));
        }
    }
}

fn block_hash(rng: &mut StdRng) -> [u8; 32] {
    let mut h = [0u8; 32];
    rng.fill(&mut h);
    h
}

/// The store and what the bench knows about it.
struct State<S> {
    store: Option<S>,
    path: PathBuf,
    options: StoreOptions,
    live: Vec<OutPointKey>,
    rng: StdRng,
}

impl<S: UtxoStore> State<S> {
    fn store(&mut self) -> &mut S {
        self.store.as_mut().expect("store open")
    }

    /// Closes and reopens the store; returns how long the open took.
    fn reopen(&mut self) -> Duration {
        drop(self.store.take());
        let t = Instant::now();
        self.store = Some(S::open(&self.path, &self.options).expect("reopen"));
        t.elapsed()
    }

    /// Builds the next block's batch: spends random live coins, creates new
    /// ones. Returns the spent keys separately for the timed lookup.
    fn next_batch(&mut self) -> (Vec<OutPointKey>, Batch) {
        let spends = self.rng.random_range(2_000..=5_000);
        let creates = self.rng.random_range(2_500..=6_000);
        let mut batch = Batch::new(block_hash(&mut self.rng));
        let mut spent = Vec::with_capacity(spends);
        for _ in 0..spends {
            let i = self.rng.random_range(0..self.live.len());
            spent.push(self.live.swap_remove(i));
        }
        new_coins(&mut self.rng, creates, &mut batch.puts);
        self.live.extend(batch.puts.iter().map(|(k, _)| *k));
        batch.deletes.clone_from(&spent);
        (spent, batch)
    }

    /// One block connected: look up its inputs, apply its batch.
    fn connect(&mut self, spent: &[OutPointKey], batch: &Batch, group: Option<&mut GroupCommit>) {
        let store = self.store.as_mut().expect("store open");
        let mut found = 0usize;
        store
            .get_many(spent, &mut |_, v| found += usize::from(v.is_some()))
            .expect("lookup");
        assert_eq!(found, spent.len(), "spent coins must exist");
        match group {
            Some(group) => {
                group.apply(store, batch).expect("apply");
            }
            None => store.apply(batch, Durability::Immediate).expect("apply"),
        }
    }

    fn random_live(&mut self) -> OutPointKey {
        self.live[self.rng.random_range(0..self.live.len())]
    }
}

fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            total += if meta.is_dir() {
                disk_usage(&entry.path())
            } else {
                meta.blocks() * 512
            };
        }
    }
    total
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn bench_engine<S: UtxoStore>(
    c: &mut Criterion,
    cfg: &Config,
    name: &'static str,
    report: &Report,
) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("utxo-churn-{name}-"))
        .tempdir_in(&cfg.dir)
        .expect("tempdir");
    let path = dir.path().join("db");
    let options = StoreOptions::default();
    let mut st: State<S> = State {
        store: Some(S::open(&path, &options).expect("open")),
        path,
        options,
        live: Vec::with_capacity(cfg.coins * 2),
        rng: StdRng::seed_from_u64(0x5eed_c0de),
    };

    // Initial set: chunks of 100k coins, sorted (setup, not measured).
    let t = Instant::now();
    let mut loaded = 0;
    while loaded < cfg.coins {
        let mut batch = Batch::new(block_hash(&mut st.rng));
        new_coins(
            &mut st.rng,
            (cfg.coins - loaded).min(100_000),
            &mut batch.puts,
        );
        batch.puts.sort_unstable_by_key(|p| p.0);
        loaded += batch.puts.len();
        st.live.extend(batch.puts.iter().map(|(k, _)| *k));
        st.store()
            .apply(&batch, Durability::Deferred)
            .expect("load");
    }
    st.store().sync().expect("sync");
    let load_secs = t.elapsed().as_secs_f64();
    eprintln!("{name}: loaded {loaded} coins in {load_secs:.1} s");
    {
        let mut r = report.lock().unwrap();
        let row = r.entry(name).or_default();
        row.engine = S::ENGINE;
        row.load_coins_per_s = loaded as f64 / load_secs;
    }

    // Settle: some untimed churn, so that neither churn bench measures the
    // aftermath of the bulk load alone (fjall compacts it in the background).
    let mut group = GroupCommit::new(cfg.round, Duration::from_secs(3600));
    for _ in 0..cfg.settle_batches {
        let (spent, batch) = st.next_batch();
        st.connect(&spent, &batch, Some(&mut group));
    }
    group.sync(st.store()).expect("sync");

    let round = cfg.round;
    let mut g = c.benchmark_group(format!("utxo_churn/{name}"));
    g.sampling_mode(SamplingMode::Flat).sample_size(10);

    // Churn: an iteration is a round of `round` batches.
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(cfg.churn_time);
    g.throughput(Throughput::Elements(u64::from(round)));
    for fsync_each in [false, true] {
        let id = if fsync_each {
            "churn-fsync-per-batch"
        } else {
            "churn-group-commit"
        };
        let st = &mut st;
        g.bench_function(BenchmarkId::new(id, format!("{round}-batches")), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut coins = 0usize;
                let mut syncs = Vec::new();
                for _ in 0..iters {
                    let batches: Vec<_> = (0..round).map(|_| st.next_batch()).collect();
                    coins += batches
                        .iter()
                        .map(|(s, b)| s.len() + b.puts.len())
                        .sum::<usize>();
                    // The round's one sync is the explicit one below.
                    let mut group = GroupCommit::new(u32::MAX, Duration::from_secs(3600));
                    let t = Instant::now();
                    for (spent, batch) in &batches {
                        st.connect(spent, batch, (!fsync_each).then_some(&mut group));
                    }
                    if !fsync_each {
                        let s = Instant::now();
                        group.sync(st.store()).expect("sync");
                        syncs.push(s.elapsed().as_secs_f64());
                    }
                    total += t.elapsed();
                }
                let n = (iters * u64::from(round)) as f64;
                let sample = (total.as_secs_f64() / n, coins as f64 / n);
                let mut r = report.lock().unwrap();
                let row = r.entry(name).or_default();
                if fsync_each {
                    &mut row.fsync
                } else {
                    &mut row.group
                }
                .push(sample);
                row.sync_secs.extend(syncs);
                total
            })
        });
    }

    // Lookups.
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(cfg.lookup_time);
    const COLD: usize = 2_000;
    {
        let st = &mut st;
        g.bench_function(format!("lookup-cold-first-{COLD}-after-reopen"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut opens = Vec::new();
                for _ in 0..iters {
                    opens.push(st.reopen().as_secs_f64());
                    let keys: Vec<_> = (0..COLD).map(|_| st.random_live()).collect();
                    let store = st.store();
                    let t = Instant::now();
                    for k in &keys {
                        black_box(store.get(k).expect("get").expect("live coin"));
                    }
                    total += t.elapsed();
                }
                let per = total.as_nanos() as f64 / (iters as usize * COLD) as f64;
                let mut r = report.lock().unwrap();
                let row = r.entry(name).or_default();
                row.cold_ns.push(per);
                row.open_secs.extend(opens);
                // Criterion's iteration is one lookup.
                total / COLD as u32
            })
        });
    }
    {
        let st = &mut st;
        g.bench_function("lookup-warm", |b| {
            b.iter_custom(|iters| {
                let keys: Vec<_> = (0..iters).map(|_| st.random_live()).collect();
                let store = st.store();
                let t = Instant::now();
                for k in &keys {
                    black_box(store.get(k).expect("get").expect("live coin"));
                }
                let total = t.elapsed();
                let per = total.as_nanos() as f64 / iters as f64;
                report
                    .lock()
                    .unwrap()
                    .entry(name)
                    .or_default()
                    .warm_ns
                    .push(per);
                total
            })
        });
    }
    {
        let st = &mut st;
        g.bench_function("lookup-warm-shared-snapshot", |b| {
            b.iter_custom(|iters| {
                let keys: Vec<_> = (0..iters).map(|_| st.random_live()).collect();
                let store = st.store();
                let mut found = 0usize;
                let t = Instant::now();
                for chunk in keys.chunks(1_000) {
                    store
                        .get_many(chunk, &mut |_, v| found += usize::from(v.is_some()))
                        .expect("get_many");
                }
                let total = t.elapsed();
                assert_eq!(found, keys.len());
                let per = total.as_nanos() as f64 / iters as f64;
                report
                    .lock()
                    .unwrap()
                    .entry(name)
                    .or_default()
                    .warm_shared_ns
                    .push(per);
                total
            })
        });
    }
    g.finish();

    drop(st.store.take());
    let mut r = report.lock().unwrap();
    let row = r.entry(name).or_default();
    row.coins_after = st.live.len();
    row.disk_bytes = disk_usage(dir.path());
}

fn print_summary(cfg: &Config, report: &Report) {
    let mut r = report.lock().unwrap();
    println!();
    println!(
        "UTXO churn summary: {} initial coins, {} batches per round/group commit; medians over criterion samples",
        cfg.coins, cfg.round
    );
    println!();
    println!("| engine | load coins/s | group commit: batches/s | coins/s | fsync per batch: batches/s | coins/s | sync per batch, extra | one group sync | lookup cold-ish | warm | warm, shared snapshot | open after close | coins after | on disk |");
    println!("| --- |{}", " ---: |".repeat(13));
    for row in r.values_mut() {
        let name = row.engine;
        let split = |v: &[(f64, f64)]| -> (f64, f64) {
            let mut secs: Vec<f64> = v.iter().map(|s| s.0).collect();
            let mut coins: Vec<f64> = v.iter().map(|s| s.1 / s.0).collect();
            (median(&mut secs), median(&mut coins))
        };
        let (g_secs, g_coins) = split(&row.group);
        let (f_secs, f_coins) = split(&row.fsync);
        println!(
            "| {name} | {:.0} k | {:.1} | {:.0} k | {:.1} | {:.0} k | {:+.1} ms | {:.1} ms | {:.1} µs | {:.1} µs | {:.1} µs | {:.0} ms | {:.2} M | {:.0} MiB |",
            row.load_coins_per_s / 1e3,
            1.0 / g_secs,
            g_coins / 1e3,
            1.0 / f_secs,
            f_coins / 1e3,
            (f_secs - g_secs) * 1e3,
            median(&mut row.sync_secs) * 1e3,
            median(&mut row.cold_ns) / 1e3,
            median(&mut row.warm_ns) / 1e3,
            median(&mut row.warm_shared_ns) / 1e3,
            median(&mut row.open_secs) * 1e3,
            row.coins_after as f64 / 1e6,
            row.disk_bytes as f64 / (1 << 20) as f64,
        );
    }
}

fn main() {
    let cfg = Config::from_env();
    std::fs::create_dir_all(&cfg.dir).expect("bench dir");
    let mut c = Criterion::default().configure_from_args();
    let report = Report::default();
    eprintln!(
        "utxo_churn: {} initial coins, engines {:?}, in {}",
        cfg.coins,
        cfg.engines,
        cfg.dir.display()
    );
    for engine in &cfg.engines {
        match engine.as_str() {
            "redb" => bench_engine::<RedbStore>(&mut c, &cfg, "redb", &report),
            "fjall" => bench_engine::<FjallStore>(&mut c, &cfg, "fjall", &report),
            "lmdb" => bench_engine::<HeedStore>(&mut c, &cfg, "lmdb", &report),
            other => panic!("unknown engine {other:?} (redb, fjall, lmdb)"),
        }
    }
    c.final_summary();
    print_summary(&cfg, &report);
}
