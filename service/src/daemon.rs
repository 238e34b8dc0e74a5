//! Start-up shared by every daemon program: termination signals blocked
//! before any thread starts, the configuration, the data directory lock,
//! and `debug.log` reopened on SIGHUP (as Core, for logrotate).

use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::sys::signal::{SigSet, Signal};

use crate::config::Config;
use crate::signals::Termination;

/// A started daemon: its options, its termination signals, and the lock on
/// its data directory (held while this lives).
pub struct Daemon {
    pub cfg: Config,
    pub signals: Termination,
    pub net_dir: PathBuf,
    _lock: DirLock,
}

/// A held directory lock.
pub type DirLock = nix::fcntl::Flock<std::fs::File>;

/// Options parsed, signals blocked; nothing on disk touched yet.
pub struct Parsed {
    pub cfg: Config,
    pub signals: Termination,
    hup: SigSet,
}

/// Blocks the termination signals and SIGHUP (before any thread starts)
/// and parses the options. `Ok(None)` when the program only printed its
/// help.
pub fn parse(program: &str, args: Vec<String>, known: &[&str]) -> anyhow::Result<Option<Parsed>> {
    let signals = crate::signals::block_termination()?;
    // SIGHUP reopens debug.log instead of ending the process: blocked here,
    // before any thread starts, and waited for by a thread once the log is
    // open.
    let mut hup = SigSet::empty();
    hup.add(Signal::SIGHUP);
    hup.thread_block()?;
    let cfg = Config::parse(args, known)?;
    if cfg.is_set("help") {
        println!("Usage: {program} [options]\nOptions: -{}", known.join(" -"));
        return Ok(None);
    }
    Ok(Some(Parsed { cfg, signals, hup }))
}

impl Parsed {
    /// Opens the log at `-debuglogfile` (relative to `base`), or
    /// `base/debug.log`; `-nodebuglogfile` logs to the console only. SIGHUP
    /// reopens it.
    pub fn open_log(&self, program: &str, base: &Path) -> anyhow::Result<()> {
        let cfg = &self.cfg;
        let log_path = if cfg.is_negated("debuglogfile") {
            PathBuf::from("/dev/null")
        } else {
            let rel = cfg
                .get_path("debuglogfile")
                .unwrap_or_else(|| "debug.log".into());
            if rel.is_absolute() {
                rel
            } else {
                base.join(rel)
            }
        };
        let console = cfg.get_bool("printtoconsole", false);
        crate::logging::init(&log_path, console)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let hup = self.hup;
        std::thread::spawn(move || {
            while hup.wait().is_ok() {
                // A failure leaves the old file in use.
                let _ = crate::logging::init(&log_path, console);
            }
        });
        crate::log_line!("{program} version {} starting", env!("CARGO_PKG_VERSION"));
        for w in cfg.warnings() {
            crate::log_line!("Warning: {w}");
        }
        Ok(())
    }
}

/// A node's start: [`parse`], then the lock on the chain's data directory
/// and `debug.log` in it.
pub fn start(program: &str, args: Vec<String>, known: &[&str]) -> anyhow::Result<Option<Daemon>> {
    let Some(parsed) = parse(program, args, known)? else {
        return Ok(None);
    };
    let net_dir = parsed.cfg.net_dir()?;
    // Before anything in the directory is touched: a second process on it
    // stops here.
    let lock = lock_dir(program, &net_dir)?;
    parsed.open_log(program, &net_dir)?;
    Ok(Some(Daemon {
        cfg: parsed.cfg,
        signals: parsed.signals,
        net_dir,
        _lock: lock,
    }))
}

/// Core's data directory lock: `<dir>/.lock`, held (flock) while the
/// process runs.
pub fn lock_dir(program: &str, net_dir: &Path) -> anyhow::Result<DirLock> {
    let path = net_dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        anyhow::anyhow!(
            "Cannot obtain a lock on data directory {}. {program} is probably already running. ({e})",
            net_dir.display()
        )
    })
}

/// Core's `ParseMoney` for the fee-rate options: a decimal amount of BTC
/// with at most 8 decimals, in satoshis.
pub fn parse_btc(s: &str) -> Option<i64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || frac.len() > 8 || !digits(int) || !digits(frac) {
        return None;
    }
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac: i64 = format!("{frac:0<8}").parse().ok()?;
    int.checked_mul(100_000_000)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::parse_btc;

    #[test]
    fn amounts_parse_as_core_does() {
        assert_eq!(parse_btc("0.0002"), Some(20_000));
        assert_eq!(parse_btc("1"), Some(100_000_000));
        assert_eq!(parse_btc(".5"), Some(50_000_000));
        assert_eq!(parse_btc("0.000000001"), None);
        assert_eq!(parse_btc("-1"), None);
        assert_eq!(parse_btc(""), None);
        assert_eq!(parse_btc("1e3"), None);
    }
}
