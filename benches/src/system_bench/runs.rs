//! The measured runs against real processes.
//!
//! * Mode A: `bitcoind` (node and wallets in one process).
//! * Mode B: `bitcoin-node`, which spawns `bitcoin-wallet` on
//!   `createwallet`/`loadwallet` and talks to it through shm-ipc.
//! * Mode C (rescan only): `bitcoin-node -disablewallet -ipcbind=tcp:...`
//!   and a separately started `bitcoin-wallet -ipcconnect=tcp:...`, on the
//!   data directory mode B ingested.
//!
//! For A and B a run is: start on a fresh data directory, create the blank
//! wallet `w` and import the history's descriptor, submit every block, wait
//! for `w` to have processed the tip (ingest); create a blank wallet, import
//! the descriptor with timestamp `now` (no automatic rescan) and time
//! `rescanblockchain` on it, `rescan_passes` times (rescan); restart with `-wallet=w` (so the
//! node's counters start clean) and mine blocks paying `w` one at a time,
//! waiting for each to reach the wallet, then read `getipcinfo` (notify).
//! Every wallet's trusted balance is checked against the history's.

use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::cache::History;
use super::procs::{children_named, cpu_seconds, free_port, Bins, Daemon, TempDir};
use super::rpc::{amount_sat, is_rpc_code, Rpc, RPC_METHOD_NOT_FOUND};

/// Which processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `bitcoind`.
    A,
    /// `bitcoin-node` + spawned `bitcoin-wallet` (shm).
    B,
    /// `bitcoin-node -ipcbind=tcp` + `bitcoin-wallet -ipcconnect=tcp`.
    C,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::A => "A bitcoind (in-process)",
            Mode::B => "B bitcoin-node + bitcoin-wallet (shm)",
            Mode::C => "C bitcoin-node + bitcoin-wallet (tcp)",
        }
    }
}

/// The knobs of the runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Blocks mined one at a time for the notification latency.
    pub notify_blocks: u32,
    /// Rescans per run, each on a fresh wallet (a short history rescans in
    /// a fraction of a second: CPU time is counted in 10 ms ticks).
    pub rescan_passes: u32,
    /// Keep data directories.
    pub keep: bool,
}

/// One ingest.
#[derive(Clone, Debug)]
pub struct Ingest {
    /// From the first submitblock to the wallet having processed the tip.
    pub secs: f64,
    /// From the first to the last submitblock's answer.
    pub submit_secs: f64,
    pub blocks: u32,
    pub bytes: u64,
    /// CPU seconds of the node and wallet processes over the ingest (one
    /// process in mode A): what the work cost, less sensitive than the
    /// wall time to other work on the machine.
    pub cpu_s: Option<f64>,
}

/// One rescan.
#[derive(Clone, Debug)]
pub struct Rescan {
    pub secs: f64,
    pub blocks: u32,
    pub bytes: u64,
    /// CPU seconds of the process that matched (the wallet's; bitcoind's in
    /// mode A, where it is also the node).
    pub wallet_cpu_s: Option<f64>,
    /// CPU seconds of the node process (modes B and C).
    pub node_cpu_s: Option<f64>,
    /// `wallet_cpu_s` of the first pass alone (the one that maps the block
    /// files, and reads them from disk if they are not in the page cache).
    pub first_wallet_cpu_s: Option<f64>,
}

/// `getipcinfo`'s `wallet_notify`.
#[derive(Clone, Debug)]
pub struct Notify {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// What one mode gave in one repetition.
#[derive(Clone, Debug, Default)]
pub struct ModeResult {
    pub ingest: Option<Ingest>,
    pub rescan: Option<Rescan>,
    pub notify: Option<Notify>,
    /// Why `notify` is missing, if it is.
    pub notify_missing: Option<String>,
}

/// The arguments every node gets.
fn node_args(datadir: &TempDir, rpc_port: u16, h: &History) -> Vec<String> {
    vec![
        "-regtest".into(),
        format!("-datadir={}", datadir.path.display()),
        format!("-rpcport={rpc_port}"),
        format!("-assumevalid={}", h.meta.tip_hash),
        "-fallbackfee=0.0002".into(),
    ]
}

fn import_request(h: &History, timestamp: Value) -> Value {
    json!([[{
        "desc": h.meta.descriptor,
        "timestamp": timestamp,
        "range": [0, h.meta.wallet_scripts + 100],
        "active": true,
    }]])
}

/// Creates blank wallet `name` and imports the history's descriptor.
fn create_wallet(rpc: &mut Rpc, h: &History, name: &str, timestamp: Value) -> Result<()> {
    rpc.call("createwallet", json!([name, false, true]))
        .with_context(|| format!("createwallet {name}"))?;
    let r = rpc.wallet(name, "importdescriptors", import_request(h, timestamp))?;
    let ok = r
        .as_array()
        .and_then(|a| a.first())
        .and_then(|x| x.get("success"))
        .and_then(Value::as_bool);
    if ok != Some(true) {
        bail!("importdescriptors into {name} failed: {r}");
    }
    Ok(())
}

/// The wallet's `lastprocessedblock.height`.
fn wallet_height(rpc: &mut Rpc, wallet: &str) -> Result<i64> {
    let info = rpc.wallet(wallet, "getwalletinfo", json!([]))?;
    info.get("lastprocessedblock")
        .and_then(|b| b.get("height"))
        .and_then(Value::as_i64)
        .with_context(|| format!("getwalletinfo without lastprocessedblock.height: {info}"))
}

/// Polls until `wallet` has processed `height` (up to `limit`).
fn wait_wallet(rpc: &mut Rpc, wallet: &str, height: i64, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if wallet_height(rpc, wallet)? >= height {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("wallet {wallet} did not reach height {height} within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Checks the wallet's trusted balance against the history's.
pub fn check_balance(rpc: &mut Rpc, wallet: &str, h: &History, what: &str) -> Result<()> {
    let b = rpc.wallet(wallet, "getbalances", json!([]))?;
    let trusted = b
        .get("mine")
        .and_then(|m| m.get("trusted"))
        .with_context(|| format!("getbalances without mine.trusted: {b}"))?;
    let got = amount_sat(trusted)?;
    if got != h.meta.expected_balance_sat {
        bail!(
            "WRONG ANSWER after {what}: wallet {wallet} has {got} sat trusted, the history pays it {} sat",
            h.meta.expected_balance_sat
        );
    }
    Ok(())
}

fn hex_params(raw: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = Vec::with_capacity(raw.len() * 2 + 4);
    s.extend_from_slice(b"[\"");
    for &b in raw {
        s.push(HEX[(b >> 4) as usize]);
        s.push(HEX[(b & 15) as usize]);
    }
    s.extend_from_slice(b"\"]");
    String::from_utf8(s).expect("ascii")
}

/// Submits every block of the history (a reader thread hex-encodes ahead),
/// then waits for `w` to reach the tip.
fn ingest(rpc: &mut Rpc, h: &History, pids: &[i32]) -> Result<Ingest> {
    let cpu = || -> Option<f64> { pids.iter().map(|&p| cpu_seconds(p)).sum() };
    let cpu0 = cpu();
    let (tx, rx) = sync_channel::<(u32, String)>(4);
    let n = h.meta.blocks;
    std::thread::scope(|s| -> Result<Ingest> {
        let reader = s.spawn(move || {
            h.for_each_block(&mut |height, raw| {
                tx.send((height, hex_params(raw)))
                    .map_err(|_| anyhow::anyhow!("submitter stopped"))
            })
        });
        let mut started = None;
        let mut last_report = Instant::now();
        for (height, params) in rx.iter() {
            let t0 = *started.get_or_insert_with(Instant::now);
            let r = rpc.call_at("/", "submitblock", &params)?;
            if !r.is_null() {
                bail!("submitblock rejected block {height}: {r}");
            }
            if last_report.elapsed() > Duration::from_secs(5) {
                eprintln!(
                    "  ingest: block {height}/{n}, {:.1} s",
                    t0.elapsed().as_secs_f64()
                );
                last_report = Instant::now();
            }
        }
        match reader.join() {
            Ok(r) => r?,
            Err(_) => bail!("the block reader panicked"),
        }
        let t0 = started.context("no blocks")?;
        let submit_secs = t0.elapsed().as_secs_f64();
        wait_wallet(rpc, "w", i64::from(n), Duration::from_secs(3600))?;
        let secs = t0.elapsed().as_secs_f64();
        Ok(Ingest {
            secs,
            submit_secs,
            blocks: n,
            bytes: h.meta.history_bytes,
            cpu_s: cpu0.zip(cpu()).map(|(a, b)| b - a),
        })
    })
}

/// `passes` times: creates a fresh wallet, imports the descriptor with
/// timestamp `now` (no rescan yet), times `rescanblockchain` over the whole
/// chain with the CPU time of `wallet_pid` and `node_pid`, checks the
/// balance and unloads it. The time and the CPU times are the medians of
/// the passes.
fn rescan_passes(
    rpc: &mut Rpc,
    h: &History,
    passes: u32,
    wallet_pid: Option<i32>,
    node_pid: Option<i32>,
) -> Result<Rescan> {
    let mut v = Vec::new();
    for p in 0..passes.max(1) {
        let name = format!("r{p}");
        create_wallet(rpc, h, &name, json!("now"))?;
        v.push(rescan(rpc, &name, h, wallet_pid, node_pid)?);
        let _ = rpc.call("unloadwallet", json!([name]));
    }
    // Medians, like every figure (the first pass also maps the block
    // files and may find them out of the page cache).
    let median = |f: fn(&Rescan) -> Option<f64>| -> Option<f64> {
        let all: Option<Vec<f64>> = v.iter().map(f).collect();
        all.and_then(super::report::median)
    };
    let secs = super::report::median(v.iter().map(|r| r.secs).collect()).unwrap_or(f64::NAN);
    let r = Rescan {
        secs,
        blocks: h.meta.blocks,
        bytes: h.meta.history_bytes,
        wallet_cpu_s: median(|r| r.wallet_cpu_s),
        node_cpu_s: median(|r| r.node_cpu_s),
        first_wallet_cpu_s: v.first().and_then(|r| r.wallet_cpu_s),
    };
    let passes: Vec<String> = v
        .iter()
        .map(|p| match p.wallet_cpu_s {
            Some(c) => format!("{:.3} s (CPU {c:.3} s)", p.secs),
            None => format!("{:.3} s", p.secs),
        })
        .collect();
    eprintln!(
        "  rescan: {:.3} s ({:.0} blocks/s, median of {}), wallet CPU {} per pass; passes: {}",
        r.secs,
        f64::from(r.blocks) / r.secs,
        v.len(),
        r.wallet_cpu_s
            .map_or("unknown".to_string(), |c| format!("{c:.3} s")),
        passes.join(", ")
    );
    Ok(r)
}

/// Times `rescanblockchain` on the fresh wallet `name`.
fn rescan(
    rpc: &mut Rpc,
    name: &str,
    h: &History,
    wallet_pid: Option<i32>,
    node_pid: Option<i32>,
) -> Result<Rescan> {
    let cpu = |p: Option<i32>| p.and_then(cpu_seconds);
    let (w0, n0) = (cpu(wallet_pid), cpu(node_pid));
    let t0 = Instant::now();
    // The history's blocks only (mode C's node also has the blocks mined
    // for the notification latency).
    let r = rpc.wallet(name, "rescanblockchain", json!([0, h.meta.blocks]))?;
    let secs = t0.elapsed().as_secs_f64();
    let (w1, n1) = (cpu(wallet_pid), cpu(node_pid));
    let stop = r.get("stop_height").and_then(Value::as_i64);
    if stop != Some(i64::from(h.meta.blocks)) {
        bail!(
            "rescanblockchain stopped at {stop:?}, not {}: {r}",
            h.meta.blocks
        );
    }
    check_balance(rpc, name, h, "rescanblockchain")?;
    Ok(Rescan {
        secs,
        blocks: h.meta.blocks,
        bytes: h.meta.history_bytes,
        wallet_cpu_s: w0.zip(w1).map(|(a, b)| b - a),
        node_cpu_s: n0.zip(n1).map(|(a, b)| b - a),
        first_wallet_cpu_s: None,
    })
}

/// Finds `"wallet_notify": {...}` anywhere in `getipcinfo`'s answer.
fn find_notify(v: &Value) -> Option<&Value> {
    match v {
        Value::Object(m) => m
            .get("wallet_notify")
            .or_else(|| m.values().find_map(find_notify)),
        Value::Array(a) => a.iter().find_map(find_notify),
        _ => None,
    }
}

/// Mines `k` blocks to `w` one at a time, each waited for in the wallet,
/// then reads the node's `getipcinfo`.
fn notify(rpc: &mut Rpc, k: u32) -> Result<(Option<Notify>, Option<String>)> {
    let addr = rpc.wallet("w", "getnewaddress", json!([]))?;
    let mut height = i64::from(rpc.call("getblockcount", json!([]))?.as_u64().unwrap_or(0) as u32);
    for _ in 0..k {
        rpc.call("generatetoaddress", json!([1, addr]))?;
        height += 1;
        wait_wallet(rpc, "w", height, Duration::from_secs(60))?;
    }
    let info = match rpc.call("getipcinfo", json!([])) {
        Ok(v) => v,
        Err(e) if is_rpc_code(&e, RPC_METHOD_NOT_FOUND) => {
            return Ok((None, Some("the node has no getipcinfo".into())));
        }
        Err(e) => return Err(e),
    };
    let Some(n) = find_notify(&info) else {
        return Ok((
            None,
            Some(format!("getipcinfo has no wallet_notify: {info}")),
        ));
    };
    let num = |key: &str| n.get(key).and_then(Value::as_f64);
    match (num("count"), num("p50_us"), num("p99_us")) {
        (Some(c), Some(p50), Some(p99)) if c > 0.0 => Ok((
            Some(Notify {
                count: c as u64,
                p50_us: p50,
                p99_us: p99,
            }),
            None,
        )),
        _ => Ok((None, Some(format!("wallet_notify without samples: {n}")))),
    }
}

/// The wallet process `bitcoin-node` spawned, if exactly one.
fn spawned_wallet(node_pid: i32) -> Option<i32> {
    let v = children_named(node_pid, "bitcoin-wallet");
    (v.len() == 1).then(|| v[0])
}

/// Mode A or B on a fresh data directory. Returns the results and, for B,
/// the data directory (for mode C).
pub fn run_node_mode(
    mode: Mode,
    bins: &Bins,
    h: &History,
    o: &RunOptions,
) -> (ModeResult, Result<Option<TempDir>>) {
    let mut res = ModeResult::default();
    let r = run_node_mode_inner(mode, bins, h, o, &mut res);
    (res, r)
}

fn run_node_mode_inner(
    mode: Mode,
    bins: &Bins,
    h: &History,
    o: &RunOptions,
    res: &mut ModeResult,
) -> Result<Option<TempDir>> {
    let bin = match mode {
        Mode::A => bins.get("bitcoind")?,
        Mode::B => {
            bins.get("bitcoin-wallet")?;
            bins.get("bitcoin-node")?
        }
        Mode::C => bail!("mode C is run by run_tcp_mode"),
    };
    let dir = TempDir::new(if mode == Mode::A { "a" } else { "b" }, o.keep)?;
    let port = free_port()?;
    let args = node_args(&dir, port, h);
    let mut node = Daemon::start(&bin, &dir.path, port, &args)?;
    let mut rpc = node.connect()?;
    create_wallet(&mut rpc, h, "w", json!(0))
        .with_context(|| format!("{}: wallet w", mode.label()))?;
    let wallet_pid = match mode {
        Mode::A => Some(node.pid),
        _ => spawned_wallet(node.pid),
    };
    if mode == Mode::B && wallet_pid.is_none() {
        eprintln!(
            "  warning: no single bitcoin-wallet child of bitcoin-node (pid {}): the wallet's CPU time is unknown",
            node.pid
        );
    }
    eprintln!("  {}: ingest of {} blocks", mode.label(), h.meta.blocks);
    // CPU time of the processes doing the work (none if the wallet child
    // was not found: a node-only figure would flatter mode B).
    let pids: Vec<i32> = match (mode, wallet_pid) {
        (Mode::A, _) => vec![node.pid],
        (_, Some(w)) => vec![node.pid, w],
        (_, None) => Vec::new(),
    };
    let ing = ingest(&mut rpc, h, &pids).with_context(|| format!("{}: ingest", mode.label()))?;
    check_balance(&mut rpc, "w", h, "ingest")?;
    eprintln!(
        "  ingest: {:.2} s ({:.1} blocks/s; submitblock done at {:.2} s), CPU {}",
        ing.secs,
        ing.blocks as f64 / ing.secs,
        ing.submit_secs,
        ing.cpu_s
            .filter(|_| !pids.is_empty())
            .map_or("unknown".to_string(), |c| format!("{c:.1} s"))
    );
    res.ingest = Some(ing);

    let node_pid = (mode != Mode::A).then_some(node.pid);
    let rs = rescan_passes(&mut rpc, h, o.rescan_passes, wallet_pid, node_pid)
        .with_context(|| format!("{}: rescan", mode.label()))?;
    res.rescan = Some(rs);
    node.stop(&mut rpc)?;

    if o.notify_blocks > 0 {
        let mut args = args.clone();
        args.push("-wallet=w".into());
        let mut node = Daemon::start(&bin, &dir.path, port, &args)?;
        let mut rpc = node.connect()?;
        wait_wallet(
            &mut rpc,
            "w",
            i64::from(h.meta.blocks),
            Duration::from_secs(60),
        )
        .context("wallet w after the restart")?;
        let (n, why) = notify(&mut rpc, o.notify_blocks)
            .with_context(|| format!("{}: notify", mode.label()))?;
        check_balance(&mut rpc, "w", h, "the notification blocks")?;
        match &n {
            Some(n) => eprintln!(
                "  notify: p50 {:.0} us, p99 {:.0} us over {} notifications",
                n.p50_us, n.p99_us, n.count
            ),
            None => eprintln!(
                "  notify: no figure for {}: {}",
                mode.label(),
                why.as_deref().unwrap_or("?")
            ),
        }
        res.notify = n;
        res.notify_missing = why;
        node.stop(&mut rpc)?;
    }
    Ok((mode == Mode::B).then_some(dir))
}

/// Mode C on the data directory mode B ingested: the node with
/// `-disablewallet -ipcbind=tcp:127.0.0.1:P` and a `bitcoin-wallet` with
/// `-ipcconnect` and its own RPC port; times `rescanblockchain` on a fresh
/// wallet there.
pub fn run_tcp_mode(
    bins: &Bins,
    h: &History,
    node_dir: &TempDir,
    o: &RunOptions,
) -> Result<Rescan> {
    let node_bin = bins.get("bitcoin-node")?;
    let wallet_bin = bins.get("bitcoin-wallet")?;
    let ipc_port = free_port()?;
    let port = free_port()?;
    let mut args = node_args(node_dir, port, h);
    args.push("-disablewallet".into());
    args.push(format!("-ipcbind=tcp:127.0.0.1:{ipc_port}"));
    let mut node = Daemon::start(&node_bin, &node_dir.path, port, &args)?;
    let mut node_rpc = node.connect()?;
    let wdir = TempDir::new("c-wallet", o.keep)?;
    let wport = free_port()?;
    let wargs = vec![
        "-regtest".into(),
        format!("-datadir={}", wdir.path.display()),
        format!("-ipcconnect=tcp:127.0.0.1:{ipc_port}"),
        "-server".into(),
        format!("-rpcport={wport}"),
    ];
    let mut wallet = Daemon::start(&wallet_bin, &wdir.path, wport, &wargs)?;
    let mut wrpc = wallet.connect()?;
    let rs = rescan_passes(
        &mut wrpc,
        h,
        o.rescan_passes,
        Some(wallet.pid),
        Some(node.pid),
    )
    .context("mode C: rescan")?;
    drop(wrpc);
    wallet.stop_signal()?;
    node.stop(&mut node_rpc)?;
    Ok(rs)
}
