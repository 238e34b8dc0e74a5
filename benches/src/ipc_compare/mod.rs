//! `ipc-compare`: the same two measurements (ping-pong latency and one-way
//! throughput, see [`harness`]) over many IPC transports, each between two
//! real processes: the parent re-executes its own binary as the child
//! ([`process::spawn_child`]).
//!
//! # Adding a transport
//!
//! Implement [`Transport`] and add it to [`registry`]. The parent side of a
//! case usually looks like this:
//!
//! ```ignore
//! fn run(&self, case: &Case) -> anyhow::Result<Measurement> {
//!     let sync = SyncChannel::create(case.cfg.child_timeout)?;
//!     // ... create the transport's resources (fds, segments, names) ...
//!     let child = spawn_child(case, &sync, &[child_end.as_fd()], None)?;
//!     drop(child_end); // keep only our own ends
//!     let result = (|| {
//!         let mut ep = MyEndpoint::new(/* our end */, case.mode, sync.clone())?;
//!         harness::run_parent(case, &sync, &mut ep)
//!     })();
//!     child.complete(result)
//! }
//!
//! fn child(&self, args: &ChildArgs) -> anyhow::Result<()> {
//!     let mut ep = MyEndpoint::new(args.take_fd(0)?, args.mode, args.sync.clone())?;
//!     harness::run_child(&args.sync, args.test, &mut ep)
//! }
//! ```
//!
//! Every loop that can wait on the peer (spin loops, timed blocking waits)
//! must call [`SyncChannel::check`] (spin) or [`SyncChannel::check_now`]
//! (after each timed sleep) so that a dead or hung peer becomes an error.

pub mod fdio;
pub mod harness;
pub mod payload;
pub mod process;
pub mod report;
pub mod stats;
pub mod sync;
pub mod transports;

/// The project's own engine: `shm-ipc`, `shm-ipc-untrusted`, `shm-ipc-tcp`.
pub mod shm_ipc;

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use self::payload::{format_size, parse_size, PAYLOAD_SIZES};
pub use self::process::{spawn_child, ChildArgs, ChildGuard};
pub use self::report::Row;
pub use self::stats::{LatencyStats, ThroughputStats};
pub use self::sync::SyncChannel;

/// How receivers wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Receivers busy-poll (non-blocking reads in a loop, `try_recv` loops).
    Spin,
    /// Receivers block in the kernel (blocking read, futex wait, condvar).
    Blocking,
}

/// Both modes, for [`Transport::modes`].
pub const BOTH_MODES: [Mode; 2] = [Mode::Spin, Mode::Blocking];

impl Mode {
    /// `"spin"` / `"blocking"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Spin => "spin",
            Mode::Blocking => "blocking",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "spin" => Ok(Mode::Spin),
            "blocking" => Ok(Mode::Blocking),
            _ => bail!("unknown mode {s:?} (spin|blocking)"),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which measurement a child takes part in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestKind {
    /// Ping-pong round trips ([`harness::latency_parent`]).
    Latency,
    /// One-way stream ([`harness::throughput_parent`]).
    Throughput,
}

/// Both tests, for [`Transport::tests`].
pub const BOTH_TESTS: [TestKind; 2] = [TestKind::Latency, TestKind::Throughput];

impl TestKind {
    /// `"latency"` / `"throughput"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TestKind::Latency => "latency",
            TestKind::Throughput => "throughput",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "latency" => Ok(TestKind::Latency),
            "throughput" => Ok(TestKind::Throughput),
            _ => bail!("unknown test {s:?} (latency|throughput)"),
        }
    }
}

/// Budgets of a run (`--quick` or full).
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// `--quick`.
    pub quick: bool,
    /// Time of timed latency rounds (after warm-up), per case.
    pub latency_budget: Duration,
    /// Minimum warm-up rounds (warm-up also lasts at least budget / 10).
    pub latency_warmup: usize,
    /// At least this many timed rounds, even past the budget.
    pub latency_min_samples: usize,
    /// At most this many timed rounds.
    pub latency_max_samples: usize,
    /// Time of the timed part of a throughput stream.
    pub throughput_budget: Duration,
    /// At least this many timed messages.
    pub throughput_min_msgs: u32,
    /// At most this many timed messages.
    pub throughput_max_msgs: u32,
    /// A child (and every wait on it) is abandoned after this long.
    pub child_timeout: Duration,
}

impl RunConfig {
    /// The `--quick` budgets: the whole default run in well under a minute.
    pub fn quick() -> Self {
        Self {
            quick: true,
            latency_budget: Duration::from_millis(150),
            latency_warmup: 3,
            latency_min_samples: 15,
            latency_max_samples: 200_000,
            throughput_budget: Duration::from_millis(150),
            throughput_min_msgs: 8,
            throughput_max_msgs: 2_000_000,
            child_timeout: Duration::from_secs(20),
        }
    }

    /// The default (full) budgets: a few minutes for the whole run.
    pub fn full() -> Self {
        Self {
            quick: false,
            latency_budget: Duration::from_millis(700),
            latency_warmup: 10,
            latency_min_samples: 100,
            latency_max_samples: 2_000_000,
            throughput_budget: Duration::from_millis(700),
            throughput_min_msgs: 30,
            throughput_max_msgs: 20_000_000,
            child_timeout: Duration::from_secs(60),
        }
    }
}

/// One measurement the driver asks a transport for.
#[derive(Clone, Copy, Debug)]
pub struct Case<'a> {
    /// Budgets.
    pub cfg: &'a RunConfig,
    /// The transport's name (passed to the child).
    pub transport: &'static str,
    /// Nominal payload size ([`payload::make_payload`]).
    pub payload_bytes: usize,
    /// Spin or blocking.
    pub mode: Mode,
    /// Latency or throughput.
    pub test: TestKind,
}

/// What one case measured.
#[derive(Clone, Debug)]
pub enum Measurement {
    /// From [`harness::latency_parent`].
    Latency(LatencyStats),
    /// From [`harness::throughput_parent`].
    Throughput(ThroughputStats),
}

/// An IPC transport under test.
///
/// The driver calls [`Transport::run`] in the parent once per (payload,
/// mode, test); `run` creates the transport's resources, spawns the child
/// with [`spawn_child`], runs its side of the [`harness`] and returns the
/// [`Measurement`]. The child process (`ipc-compare --child <name> ...`)
/// looks the transport up by [`Transport::name`] in [`registry`] and calls
/// [`Transport::child`], which runs the other side. A transport can use any
/// extra process-to-process setup it needs (inherited fds, a named segment
/// or service passed as `extra`, the side channel's user words).
///
/// Errors are per case: the driver prints them to stderr and goes on with
/// the next case.
pub trait Transport {
    /// Name in the table, in `--transport`, and in the child's command line.
    fn name(&self) -> &'static str;

    /// Modes this transport can do; a mode it can't do simply has no row.
    fn modes(&self) -> &'static [Mode] {
        &BOTH_MODES
    }

    /// Payload sizes to run, from the requested ones (default: all).
    fn payloads(&self, requested: &[usize]) -> Vec<usize> {
        requested.to_vec()
    }

    /// Tests to run. Without `Throughput`, the row's throughput is the
    /// ping-pong message rate ([`LatencyStats::pingpong_msgs_per_s`]).
    fn tests(&self) -> &'static [TestKind] {
        &BOTH_TESTS
    }

    /// Parent side of one case (see the module docs for the usual shape).
    fn run(&self, case: &Case<'_>) -> Result<Measurement>;

    /// Child side of one case (in the child process).
    fn child(&self, args: &ChildArgs) -> Result<()>;
}

/// Every transport, in table order.
pub fn registry() -> Vec<Box<dyn Transport>> {
    use transports::*;
    vec![
        Box::new(futex::Futex),
        Box::new(stream::Stream::socketpair()),
        Box::new(stream::Stream::pipe()),
        Box::new(ipc_chan::IpcChannel),
        Box::new(iox::Iceoryx2),
        Box::new(shmem::SharedMemoryRawSync),
        Box::new(capnp_sock::Capnp),
        Box::new(shm_ipc::ShmIpc::trusted()),
        Box::new(shm_ipc::ShmIpc::untrusted()),
        Box::new(shm_ipc::ShmIpc::tcp()),
    ]
}

/// Parsed command line of a normal (parent) run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--quick`.
    pub quick: bool,
    /// `--json`.
    pub json: bool,
    /// `--transport NAME` (repeatable, or comma-separated); empty = all.
    pub transports: Vec<String>,
    /// `--payload N` (repeatable, or comma-separated); empty = all.
    pub payloads: Vec<usize>,
    /// `--mode spin|blocking` (repeatable); empty = both.
    pub modes: Vec<Mode>,
    /// `--list`.
    pub list: bool,
}

const USAGE: &str = "usage: ipc-compare [--quick] [--json] [--transport NAME[,NAME]]... \
[--payload N[,N]]... [--mode spin|blocking] [--list]";

impl Options {
    /// Parses the arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (a.as_str(), None),
            };
            let mut val = || -> Result<String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it
                        .next()
                        .cloned()
                        .with_context(|| format!("{flag} needs a value\n{USAGE}")),
                }
            };
            match flag {
                "--quick" => o.quick = true,
                "--json" => o.json = true,
                "--list" => o.list = true,
                "--transport" => o.transports.extend(
                    val()?
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from),
                ),
                "--payload" => {
                    for p in val()?.split(',').filter(|s| !s.is_empty()) {
                        o.payloads.push(
                            parse_size(p).with_context(|| format!("bad payload size {p:?}"))?,
                        );
                    }
                }
                "--mode" => {
                    for m in val()?.split(',').filter(|s| !s.is_empty()) {
                        o.modes.push(Mode::parse(m)?);
                    }
                }
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        Ok(o)
    }
}

/// Entry point of the binary: a child run if the first argument is
/// `--child`, otherwise a normal run.
pub fn main_with_args(args: &[String]) -> Result<ExitCode> {
    if args.first().map(String::as_str) == Some("--child") {
        return Ok(child_main(args));
    }
    let opts = Options::parse(args)?;
    run(&opts)
}

/// Runs a child: never returns an error (it reports on stderr and through
/// the side channel, and exits non-zero).
fn child_main(args: &[String]) -> ExitCode {
    let parsed = match ChildArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ipc-compare child: {e:#}");
            return ExitCode::from(2);
        }
    };
    // Last-resort guard against a hung child: SIGALRM's default action
    // terminates the process.
    let secs = parsed
        .timeout
        .as_secs()
        .saturating_add(5)
        .min(u32::MAX as u64) as u32;
    // SAFETY: alarm has no preconditions.
    unsafe {
        libc::alarm(secs);
    }
    let result = registry()
        .into_iter()
        .find(|t| t.name() == parsed.transport)
        .with_context(|| format!("unknown transport {:?}", parsed.transport))
        .and_then(|t| t.child(&parsed));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            parsed.sync.mark_failed();
            eprintln!(
                "ipc-compare child [{} {} {} {}]: {e:#}",
                parsed.transport,
                parsed.payload_bytes,
                parsed.mode,
                parsed.test.as_str()
            );
            ExitCode::FAILURE
        }
    }
}

/// A normal run: every selected case, then the table (or JSON) on stdout.
/// Exit code 0 if at least one row was measured.
pub fn run(opts: &Options) -> Result<ExitCode> {
    let all = registry();
    if opts.list {
        for t in &all {
            println!("{}", t.name());
        }
        return Ok(ExitCode::SUCCESS);
    }
    for name in &opts.transports {
        if !all.iter().any(|t| t.name() == name) {
            let names: Vec<&str> = all.iter().map(|t| t.name()).collect();
            bail!("unknown transport {name:?}; known: {}", names.join(", "));
        }
    }
    let cfg = if opts.quick {
        RunConfig::quick()
    } else {
        RunConfig::full()
    };
    let payloads: Vec<usize> = if opts.payloads.is_empty() {
        PAYLOAD_SIZES.to_vec()
    } else {
        opts.payloads.clone()
    };
    let modes: Vec<Mode> = if opts.modes.is_empty() {
        BOTH_MODES.to_vec()
    } else {
        opts.modes.clone()
    };
    let selected: Vec<&dyn Transport> = all
        .iter()
        .map(|b| b.as_ref())
        .filter(|t| opts.transports.is_empty() || opts.transports.iter().any(|n| n == t.name()))
        .collect();

    let started = Instant::now();
    let mut rows = Vec::new();
    let mut failures = 0usize;
    for &mode in &modes {
        for &payload in &payloads {
            for t in &selected {
                if !t.modes().contains(&mode) || !t.payloads(&[payload]).contains(&payload) {
                    continue;
                }
                // A panicking transport is one failed row, not a dead run
                // (its ChildGuard kills the child while unwinding).
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_row(*t, &cfg, payload, mode)
                }))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the transport panicked")));
                match outcome {
                    Ok(row) => {
                        eprintln!(
                            "ipc-compare: {:<22} {:>7} {:<8} p50 {:>10}  p99 {:>10}  {:>12.0} msg/s",
                            row.transport,
                            format_size(payload),
                            mode,
                            report::format_ns(row.p50_ns),
                            report::format_ns(row.p99_ns),
                            row.msgs_per_s
                        );
                        rows.push(row);
                    }
                    Err(e) => {
                        failures += 1;
                        eprintln!(
                            "ipc-compare: {} {} {mode}: FAILED: {e:#}",
                            t.name(),
                            format_size(payload)
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "ipc-compare: {} rows, {failures} failed, in {:.1} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    if opts.json {
        println!("{}", report::to_json(&rows));
    } else {
        print!("{}", report::to_markdown(&rows));
    }
    Ok(if rows.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the tests of one (transport, payload, mode) and builds its row.
fn run_row(t: &dyn Transport, cfg: &RunConfig, payload: usize, mode: Mode) -> Result<Row> {
    let mut latency = None;
    let mut throughput = None;
    for &test in t.tests() {
        let case = Case {
            cfg,
            transport: t.name(),
            payload_bytes: payload,
            mode,
            test,
        };
        match t
            .run(&case)
            .with_context(|| format!("{} test", test.as_str()))?
        {
            Measurement::Latency(l) => latency = Some(l),
            Measurement::Throughput(th) => throughput = Some(th),
        }
    }
    let latency = latency.context("the transport ran no latency test")?;
    let msgs_per_s = match &throughput {
        Some(th) => th.msgs_per_s(),
        None => latency.pingpong_msgs_per_s,
    };
    // A transport without a stream test carries no payload (futex).
    let bytes_per_s = if throughput.is_some() {
        msgs_per_s * payload as f64
    } else {
        0.0
    };
    Ok(Row {
        transport: t.name().to_string(),
        payload_bytes: payload as u64,
        mode,
        p50_ns: latency.p50_ns,
        p99_ns: latency.p99_ns,
        msgs_per_s,
        bytes_per_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn options_parse_filters() {
        let o = Options::parse(&args(&[
            "--quick",
            "--json",
            "--transport",
            "pipe,socketpair",
            "--transport=capnp",
            "--payload",
            "1k",
            "--payload=64,4MiB",
            "--mode",
            "spin",
        ]))
        .unwrap();
        assert!(o.quick && o.json);
        assert_eq!(o.transports, ["pipe", "socketpair", "capnp"]);
        assert_eq!(o.payloads, [1024, 64, 4 << 20]);
        assert_eq!(o.modes, [Mode::Spin]);
        assert!(Options::parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn registry_names_are_unique() {
        let r = registry();
        let mut names: Vec<&str> = r.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
        for want in [
            "futex",
            "socketpair",
            "pipe",
            "ipc-channel",
            "iceoryx2",
            "shared_memory+raw_sync",
            "capnp",
        ] {
            assert!(names.contains(&want), "{want}");
        }
    }
}
