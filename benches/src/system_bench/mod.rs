//! `system-bench`: the node and its wallet on a synthetic regtest history
//! (issue 4's headline benchmark).
//!
//! 1. A seeded regtest history ([`history`]), built once and cached
//!    ([`cache`]): ~1.5 MB blocks of realistic transactions with real
//!    signatures, and a wallet of 1,000 scripts paid through it.
//! 2. The runs ([`runs`]), against the release binaries next to this one:
//!    block ingest with a wallet attached (A `bitcoind` against B
//!    `bitcoin-node` + `bitcoin-wallet`), `rescanblockchain` over the whole
//!    history (A in one process, B across processes through shm, C across
//!    processes over TCP), and the node's block-to-wallet notification
//!    latency (`getipcinfo`). Repetitions alternate A and B; figures are
//!    medians.
//! 3. A table, or with `--json` one JSON object on stdout ([`report`]).
//!    Progress goes to stderr. A wrong wallet balance, a failed or missing
//!    mode is an error: exit status 1 (the JSON still printed, with nulls).

pub mod cache;
pub mod history;
pub mod keys;
pub mod procs;
pub mod report;
pub mod rng;
pub mod rpc;
pub mod runs;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use procs::Bins;
use runs::{Mode, ModeResult, RunOptions};

const USAGE: &str = "\
system-bench: block ingest, rescans and notification latency of the node
with a wallet attached, on a synthetic regtest history (built once, cached
under $SYSTEM_BENCH_CACHE or ~/.cache/shmbtc-system-bench/).

usage: system-bench [options]
  --quick              small history, two repetitions (under 60 s)
  --json               print one JSON object on stdout (progress on stderr)
  --runs N             repetitions, A and B alternating (3; quick 2)
  --blocks N           blocks in the history (1600; quick 300)
  --block-kb N         target block size in kB (1500; quick 100)
  --wallet-scripts N   wallet scripts paid in the history (1000)
  --seed N             history seed (0x5eedb10c)
  --notify N           blocks mined one by one for the latency (50; quick 20)
  --rescans N          rescans per run, each on a fresh wallet (3; quick 5):
                       the first one also maps the block files and may
                       read them from disk; the figures are medians
  --modes LIST         any of a,b,c (a,b,c)
  --bin-dir DIR        where bitcoind, bitcoin-node, bitcoin-wallet are
                       (default: this executable's directory)
  --keep               keep the data directories
  --generate-only      build (or check) the cached history and stop
  --help
";

/// Command-line options.
#[derive(Clone, Debug)]
pub struct Options {
    pub quick: bool,
    pub json: bool,
    pub runs: u32,
    pub params: history::Params,
    pub notify_blocks: u32,
    pub rescan_passes: u32,
    pub modes: Vec<Mode>,
    pub bin_dir: Option<PathBuf>,
    pub keep: bool,
    pub generate_only: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Option<Options>> {
        let quick = args.iter().any(|a| a == "--quick");
        let mut o = Options {
            quick,
            json: false,
            runs: if quick { 2 } else { 3 },
            params: history::Params {
                blocks: if quick { 300 } else { 1600 },
                block_bytes: if quick { 100_000 } else { 1_500_000 },
                wallet_scripts: 1000,
                seed: 0x5eed_b10c,
            },
            notify_blocks: if quick { 20 } else { 50 },
            rescan_passes: if quick { 5 } else { 3 },
            modes: vec![Mode::A, Mode::B, Mode::C],
            bin_dir: None,
            keep: false,
            generate_only: false,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val = || {
                it.next()
                    .cloned()
                    .with_context(|| format!("{a} needs a value"))
            };
            match a.as_str() {
                "--quick" => {}
                "--json" => o.json = true,
                "--keep" => o.keep = true,
                "--generate-only" => o.generate_only = true,
                "--help" | "-h" => return Ok(None),
                "--runs" => o.runs = val()?.parse()?,
                "--blocks" => o.params.blocks = val()?.parse()?,
                "--block-kb" => o.params.block_bytes = val()?.parse::<u32>()? * 1000,
                "--wallet-scripts" => o.params.wallet_scripts = val()?.parse()?,
                "--seed" => {
                    let v = val()?;
                    o.params.seed = match v.strip_prefix("0x") {
                        Some(h) => u64::from_str_radix(h, 16)?,
                        None => v.parse()?,
                    }
                }
                "--notify" => o.notify_blocks = val()?.parse()?,
                "--rescans" => o.rescan_passes = val()?.parse::<u32>()?.max(1),
                "--bin-dir" => o.bin_dir = Some(PathBuf::from(val()?)),
                "--modes" => {
                    o.modes = val()?
                        .split(',')
                        .map(|m| match m.trim() {
                            "a" | "A" => Ok(Mode::A),
                            "b" | "B" => Ok(Mode::B),
                            "c" | "C" => Ok(Mode::C),
                            other => bail!("unknown mode {other:?} (a, b or c)"),
                        })
                        .collect::<Result<_>>()?
                }
                other => bail!("unknown argument {other:?} (see --help)"),
            }
        }
        if o.runs == 0 {
            bail!("--runs must be at least 1");
        }
        if o.params.block_bytes < 10_000 {
            bail!("--block-kb must be at least 10");
        }
        Ok(Some(o))
    }
}

/// Everything measured, per repetition.
#[derive(Default)]
pub struct Measured {
    pub a: Vec<ModeResult>,
    pub b: Vec<ModeResult>,
    pub c: Vec<runs::Rescan>,
    /// Errors, in order (a failed mode, a wrong answer).
    pub errors: Vec<String>,
    /// Whether an error was a wrong answer (not just a missing mode).
    pub wrong_answer: bool,
}

pub fn main_with_args(args: &[String]) -> Result<ExitCode> {
    let Some(o) = Options::parse(args)? else {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    };
    let started = Instant::now();
    let hist = cache::obtain(&o.params)?;
    if hist.meta.history_bytes < 2_000_000_000 && !o.quick {
        eprintln!(
            "note: this history is {:.2} GB, under the 2 GB the full benchmark calls for",
            hist.meta.history_bytes as f64 / 1e9
        );
    }
    if o.generate_only {
        println!("{}", serde_json::to_string_pretty(&hist.meta)?);
        return Ok(ExitCode::SUCCESS);
    }
    let bins = Bins::new(o.bin_dir.clone())?;
    procs::remove_stale_dirs();
    let ro = RunOptions {
        notify_blocks: o.notify_blocks,
        rescan_passes: o.rescan_passes,
        keep: o.keep,
    };
    let mut m = Measured::default();
    let want = |x: Mode| o.modes.contains(&x);
    for rep in 0..o.runs {
        let order = if rep % 2 == 0 {
            [Mode::A, Mode::B]
        } else {
            [Mode::B, Mode::A]
        };
        for mode in order {
            // B runs for C too (C rescans B's data directory).
            if !(want(mode) || mode == Mode::B && want(Mode::C)) {
                continue;
            }
            eprintln!("run {}/{}: {}", rep + 1, o.runs, mode.label());
            let (res, r) = runs::run_node_mode(mode, &bins, &hist, &ro);
            let dir = match r {
                Ok(d) => d,
                Err(e) => {
                    note_error(&mut m, format!("{}: {e:#}", mode.label()), &e);
                    None
                }
            };
            match mode {
                Mode::A => m.a.push(res),
                _ => {
                    if want(Mode::B) {
                        m.b.push(res)
                    }
                }
            }
            if mode == Mode::B && want(Mode::C) {
                let Some(dir) = dir else {
                    m.errors.push(format!(
                        "{}: not run (needs the data directory of a completed mode B run)",
                        Mode::C.label()
                    ));
                    continue;
                };
                eprintln!("run {}/{}: {}", rep + 1, o.runs, Mode::C.label());
                match runs::run_tcp_mode(&bins, &hist, &dir, &ro) {
                    Ok(rs) => m.c.push(rs),
                    Err(e) => note_error(&mut m, format!("{}: {e:#}", Mode::C.label()), &e),
                }
            }
        }
    }
    let rep = report::Report::build(&o, &hist, &m, started.elapsed().as_secs_f64());
    if o.json {
        println!("{}", serde_json::to_string(&rep.json())?);
    } else {
        print!("{}", rep.table());
    }
    for e in dedup(&m.errors) {
        eprintln!("error: {e}");
    }
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
    Ok(if m.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn note_error(m: &mut Measured, msg: String, e: &anyhow::Error) {
    if format!("{e:#}").contains("WRONG ANSWER") {
        m.wrong_answer = true;
    }
    eprintln!("error: {msg}");
    m.errors.push(msg);
}

/// The errors without repeats (the same missing binary every repetition).
fn dedup(v: &[String]) -> Vec<&String> {
    let mut out: Vec<&String> = Vec::new();
    for e in v {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}
