//! UTXO flush throughput: coins per second that `CoinsCache::flush` writes
//! to fjall, as `Chainstate::flush` does it (one atomic batch, immediate
//! durability: journal written and `fdatasync`ed before it returns; the
//! fjall cache 64 MiB as the chainstate opens it).
//!
//! Scenarios, each for several flush sizes N (coins written in one flush):
//!
//! - `create, empty store`: a fresh store; the cache holds N new coins.
//! - `create, full store`: a store loaded with `--base` coins (2,000,000)
//!   first; the cache holds N new coins.
//! - `spend + create, full store`: the cache read N/2 coins of the base
//!   through from the store and spent them, and holds N/2 new ones: N/2
//!   deletes and N/2 puts, what a flush after a stretch of blocks is like.
//!
//! Only the flush is timed (draining the cache into a batch, fjall's
//! journal and memtable writes, the sync); filling the cache is not. Coins
//! are random, with a realistic script mix (half P2WPKH). The full-store
//! scenarios run on one store per run, which grows by the coins created
//! (the store size at each flush is in the table). Runs repeat everything;
//! the table gives medians and the range over runs, and the CPU other
//! processes used meanwhile (in cores; 2 cores here).
//!
//! ```text
//! cargo bench -p btc-node --bench utxo_flush                  # N = 100k, 400k, 1M; 5 runs
//! cargo bench -p btc-node --bench utxo_flush -- --quick       # N = 20k, 100k; base 200k; 2 runs
//! cargo bench -p btc-node --bench utxo_flush -- --json
//! ```
//!
//! Options: `--quick`, `--runs N`, `--base N`, `--sizes 100000,400000`,
//! `--json`, `--max-others CORES` (before each flush, wait until the
//! machine is that quiet for 3 s).

mod common;
use common::{cpu_jiffies, median, random_coin};
use std::path::PathBuf;
use std::time::Instant;

use btc_node::store::{
    outpoint_key, Batch, CoinsCache, Durability, FjallStore, OutPointKey, StoreOptions, UtxoStore,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// The chainstate's fjall cache (`Chainstate::open`).
const FJALL_CACHE: usize = 64 << 20;
/// A cache limit no flush size here reaches.
const CACHE_LIMIT: usize = 16 << 30;

struct Args {
    runs: usize,
    base: usize,
    sizes: Vec<usize>,
    json: bool,
    max_others: Option<f64>,
}

impl Args {
    fn parse() -> Args {
        let mut quick = false;
        let (mut runs, mut base, mut sizes, mut json) = (None, None, None, false);
        let mut max_others = None;
        let mut it = std::env::args().skip(1);
        let num = |v: Option<String>, name: &str| -> usize {
            v.and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => quick = true,
                "--json" => json = true,
                "--runs" => runs = Some(num(it.next(), "--runs")),
                "--base" => base = Some(num(it.next(), "--base")),
                "--max-others" => {
                    max_others = Some(
                        it.next()
                            .and_then(|v| v.parse().ok())
                            .expect("--max-others needs a number of cores"),
                    )
                }
                "--sizes" => {
                    sizes = Some(
                        it.next()
                            .expect("--sizes needs a list")
                            .split(',')
                            .map(|n| n.trim().replace('_', "").parse().expect("--sizes"))
                            .collect(),
                    )
                }
                // `--bench` from cargo, and anything else: ignored.
                _ => {}
            }
        }
        Args {
            runs: runs.unwrap_or(if quick { 2 } else { 5 }).max(1),
            base: base.unwrap_or(if quick { 200_000 } else { 2_000_000 }),
            sizes: sizes.unwrap_or_else(|| {
                if quick {
                    vec![20_000, 100_000]
                } else {
                    vec![100_000, 400_000, 1_000_000]
                }
            }),
            json,
            max_others,
        }
    }
}

/// `n` new coins, 1-3 outputs per transaction.
fn new_coins(rng: &mut StdRng, n: usize) -> Vec<(OutPointKey, Vec<u8>)> {
    let mut out = Vec::with_capacity(n + 2);
    while out.len() < n {
        let mut txid = [0u8; 32];
        rng.fill(&mut txid);
        for vout in 0..rng.random_range(1..=3u32) {
            out.push((outpoint_key(&txid, vout), random_coin(rng)));
        }
    }
    out.truncate(n);
    out
}

fn block_hash(rng: &mut StdRng) -> [u8; 32] {
    let mut h = [0u8; 32];
    rng.fill(&mut h);
    h
}

/// Cores other processes used over an interval (`/proc/stat` less this
/// process's time).
struct OthersCpu {
    start: Option<(u64, u64)>,
    at: Instant,
}

impl OthersCpu {
    fn start() -> OthersCpu {
        OthersCpu {
            start: cpu_jiffies(),
            at: Instant::now(),
        }
    }

    fn stop(self) -> f64 {
        let secs = self.at.elapsed().as_secs_f64();
        // SAFETY: sysconf has no preconditions.
        let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            t if t > 0 => t as f64,
            _ => 100.0,
        };
        match (self.start, cpu_jiffies()) {
            (Some((b0, m0)), Some((b1, m1))) => {
                (b1 - b0).saturating_sub(m1 - m0) as f64 / hz / secs
            }
            _ => f64::NAN,
        }
    }
}

/// Waits (sleeping) until the whole machine, this process's background
/// threads included, stays under `max` busy cores for 3 s (at most 30
/// minutes).
fn wait_quiet(max: Option<f64>) {
    let Some(max) = max else { return };
    let since = Instant::now();
    while since.elapsed().as_secs() < 1800 {
        let (Some((b0, _)), at) = (cpu_jiffies(), Instant::now()) else {
            return;
        };
        std::thread::sleep(std::time::Duration::from_secs(3));
        let Some((b1, _)) = cpu_jiffies() else { return };
        // SAFETY: sysconf has no preconditions.
        let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            t if t > 0 => t as f64,
            _ => 100.0,
        };
        if (b1 - b0) as f64 / hz / at.elapsed().as_secs_f64() < max {
            return;
        }
    }
}

/// A store in a fresh directory under cargo's target tmp dir (the build's
/// disk, not tmpfs), and the keys of the coins it holds.
struct Store {
    store: FjallStore,
    live: Vec<OutPointKey>,
    _dir: tempfile::TempDir,
}

impl Store {
    fn new() -> Store {
        let parent = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("utxo_flush");
        std::fs::create_dir_all(&parent).expect("bench dir");
        let dir = tempfile::Builder::new()
            .prefix("store-")
            .tempdir_in(parent)
            .expect("store dir");
        let store = FjallStore::open(
            dir.path(),
            &StoreOptions {
                cache_bytes: FJALL_CACHE,
                ..StoreOptions::default()
            },
        )
        .expect("open fjall");
        Store {
            store,
            live: Vec::new(),
            _dir: dir,
        }
    }

    /// Loads `n` random coins in batches of 100,000 (untimed set-up).
    /// Returns the load rate, coins/s.
    fn load(&mut self, rng: &mut StdRng, n: usize) -> f64 {
        let start = Instant::now();
        let mut left = n;
        while left > 0 {
            let k = left.min(100_000);
            let mut batch = Batch::new(block_hash(rng));
            batch.puts = new_coins(rng, k);
            self.live.extend(batch.puts.iter().map(|(key, _)| *key));
            self.store
                .apply(&batch, Durability::Deferred)
                .expect("load");
            left -= k;
        }
        self.store.sync().expect("sync");
        n as f64 / start.elapsed().as_secs_f64()
    }

    /// Fills a cache with `spends` coins of the store spent and `creates`
    /// new coins, then times its flush. Returns (seconds, coins written,
    /// cores other processes used meanwhile).
    fn flush(
        &mut self,
        rng: &mut StdRng,
        spends: usize,
        creates: usize,
        max_others: Option<f64>,
    ) -> (f64, usize, f64) {
        let mut cache = CoinsCache::new(CACHE_LIMIT);
        for _ in 0..spends {
            let i = rng.random_range(0..self.live.len());
            let key = self.live.swap_remove(i);
            let coin = cache.spend(&self.store, &key).expect("spend");
            assert!(coin.is_some(), "a live coin");
        }
        for (key, coin) in new_coins(rng, creates) {
            self.live.push(key);
            cache.add(key, coin, false);
        }
        let batch = Batch::new(block_hash(rng));
        wait_quiet(max_others);
        let cpu = OthersCpu::start();
        let start = Instant::now();
        let stats = cache
            .flush(&mut self.store, batch, Durability::Immediate)
            .expect("flush");
        let secs = start.elapsed().as_secs_f64();
        let others = cpu.stop();
        assert_eq!((stats.deletes, stats.puts), (spends, creates));
        (secs, stats.puts + stats.deletes, others)
    }
}

/// One flush measured.
struct Sample {
    scenario: &'static str,
    size: usize,
    /// Coins in the store before the flush.
    store_coins: usize,
    secs: f64,
    coins: usize,
    others_cpu: f64,
}

const SCENARIOS: [&str; 3] = [
    "create, empty store",
    "create, full store",
    "spend + create, full store",
];

fn main() {
    let args = Args::parse();
    let log = |s: String| {
        if args.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    };
    let mut rng = StdRng::seed_from_u64(0xf105_u64);
    let mut samples: Vec<Sample> = Vec::new();
    let mut load_rates = Vec::new();
    for run in 0..args.runs {
        for &n in &args.sizes {
            let mut s = Store::new();
            let (secs, coins, others_cpu) = s.flush(&mut rng, 0, n, args.max_others);
            samples.push(Sample {
                scenario: SCENARIOS[0],
                size: n,
                store_coins: 0,
                secs,
                coins,
                others_cpu,
            });
        }
        let mut s = Store::new();
        load_rates.push(s.load(&mut rng, args.base));
        for &n in &args.sizes {
            for (scenario, spends) in [(SCENARIOS[1], 0), (SCENARIOS[2], n / 2)] {
                let store_coins = s.live.len();
                let (secs, coins, others_cpu) =
                    s.flush(&mut rng, spends, n - spends, args.max_others);
                samples.push(Sample {
                    scenario,
                    size: n,
                    store_coins,
                    secs,
                    coins,
                    others_cpu,
                });
            }
        }
        log(format!(
            "run {}/{}: {}",
            run + 1,
            args.runs,
            samples
                .iter()
                .rev()
                .take(args.sizes.len() * 3)
                .rev()
                .map(|s| format!("{} {}k {:.0} ms", s.scenario, s.size / 1000, s.secs * 1e3))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }

    struct Row {
        scenario: &'static str,
        size: usize,
        store_coins: (usize, usize),
        ms: f64,
        coins_per_s: f64,
        min: f64,
        max: f64,
        others_cpu: Vec<f64>,
    }
    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        for &size in &args.sizes {
            let ss: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.scenario == scenario && s.size == size)
                .collect();
            let rates: Vec<f64> = ss.iter().map(|s| s.coins as f64 / s.secs).collect();
            rows.push(Row {
                scenario,
                size,
                store_coins: (
                    ss.iter().map(|s| s.store_coins).min().unwrap_or(0),
                    ss.iter().map(|s| s.store_coins).max().unwrap_or(0),
                ),
                ms: median(ss.iter().map(|s| s.secs * 1e3).collect()),
                coins_per_s: median(rates.clone()),
                min: rates.iter().copied().fold(f64::INFINITY, f64::min),
                max: rates.iter().copied().fold(0.0, f64::max),
                others_cpu: ss.iter().map(|s| s.others_cpu).collect(),
            });
        }
    }
    if args.json {
        let doc = json!({
            "bench": "utxo_flush",
            "engine": FjallStore::ENGINE,
            "runs": args.runs,
            "base_coins": args.base,
            "base_load_coins_per_s": median(load_rates),
            "results": rows.iter().map(|r| json!({
                "scenario": r.scenario,
                "coins": r.size,
                "store_coins": [r.store_coins.0, r.store_coins.1],
                "flush_ms": r.ms,
                "coins_per_s": r.coins_per_s,
                "coins_per_s_min": r.min,
                "coins_per_s_max": r.max,
                "others_cpu_cores": r.others_cpu,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return;
    }
    println!();
    println!(
        "utxo_flush: CoinsCache::flush into {} (immediate durability), medians of {} runs; base load {:.0} k coins/s",
        FjallStore::ENGINE,
        args.runs,
        median(load_rates) / 1e3
    );
    println!();
    println!(
        "| scenario | coins | store before | flush ms | coins/s | range | others' CPU (cores) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    let m = |n: usize| format!("{:.2} M", n as f64 / 1e6);
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} k | {:.0}–{:.0} k | {} |",
            r.scenario,
            r.size,
            if r.store_coins.0 == r.store_coins.1 {
                m(r.store_coins.0)
            } else {
                format!("{}–{}", m(r.store_coins.0), m(r.store_coins.1))
            },
            r.ms,
            r.coins_per_s / 1e3,
            r.min / 1e3,
            r.max / 1e3,
            r.others_cpu
                .iter()
                .map(|c| format!("{c:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
}
