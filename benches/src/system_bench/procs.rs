//! The processes under test: finding the binaries, temporary data
//! directories, starting a daemon and waiting for its RPC, CPU time from
//! /proc, and making sure nothing outlives the harness.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::rpc::{Rpc, RpcError};

/// The directory of the binaries under test.
#[derive(Clone, Debug)]
pub struct Bins {
    pub dir: PathBuf,
}

impl Bins {
    /// The directory of this executable (where cargo puts the node's
    /// binaries too), or `dir`.
    pub fn new(dir: Option<PathBuf>) -> Result<Bins> {
        let dir = match dir {
            Some(d) => d,
            None => std::env::current_exe()?
                .parent()
                .context("the harness's directory")?
                .to_path_buf(),
        };
        Ok(Bins { dir })
    }

    /// The path of `name`, or a clear error if it is not there.
    pub fn get(&self, name: &str) -> Result<PathBuf> {
        let p = self.dir.join(name);
        if !p.is_file() {
            bail!(
                "{} not found: build it (cargo build --release -p btc-node --bins) or pass --bin-dir",
                p.display()
            );
        }
        Ok(p)
    }

    pub fn has(&self, name: &str) -> bool {
        self.dir.join(name).is_file()
    }
}

/// A directory removed (recursively) when dropped, unless `keep`.
pub struct TempDir {
    pub path: PathBuf,
    pub keep: bool,
}

static TEMP_SEQ: AtomicU32 = AtomicU32::new(0);

/// Removes the data directories of earlier harness runs that were killed
/// before they could (`system-bench-<pid>-...` whose process is gone).
pub fn remove_stale_dirs() {
    let Ok(dir) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("system-bench-")) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

impl TempDir {
    pub fn new(label: &str, keep: bool) -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "system-bench-{}-{}-{label}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path, keep })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for a test run).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A running daemon. Dropping it stops it: SIGTERM, then SIGKILL if it has
/// not exited within 20 s; its own children (a spawned `bitcoin-wallet`)
/// get the same.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    pub pid: i32,
    pub datadir: PathBuf,
    pub rpc_port: u16,
    log: PathBuf,
}

impl Daemon {
    /// Starts `bin` with `args`; stdout and stderr go to `<datadir>/console.log`.
    /// The child gets SIGTERM if the harness dies.
    pub fn start(bin: &Path, datadir: &Path, rpc_port: u16, args: &[String]) -> Result<Daemon> {
        let name = bin
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let log = datadir.join(format!("console-{name}.log"));
        let out = fs::File::create(&log)?;
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        // SAFETY: prctl and getppid are async-signal-safe.
        unsafe {
            let parent = libc::getpid();
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id() as i32;
        Ok(Daemon {
            name,
            child: Some(child),
            pid,
            datadir: datadir.to_path_buf(),
            rpc_port,
            log,
        })
    }

    /// The last lines of the console log (for error messages).
    pub fn log_tail(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
            let _ = f.read_to_string(&mut s);
        }
        let debug = self.datadir.join("regtest/debug.log");
        if let Ok(mut f) = fs::File::open(&debug) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(2000)));
            let mut d = String::new();
            let _ = f.read_to_string(&mut d);
            s.push_str("\n--- debug.log ---\n");
            s.push_str(&d);
        }
        s
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits for the cookie and a first answer (`uptime`), up to 60 s.
    pub fn connect(&mut self) -> Result<Rpc> {
        let cookie = self.datadir.join("regtest/.cookie");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if !self.alive() {
                bail!("{} exited during start-up:\n{}", self.name, self.log_tail());
            }
            if cookie.exists() {
                if let Ok(mut rpc) = Rpc::new(self.rpc_port, &cookie) {
                    // Any JSON-RPC answer will do (a wallet process without
                    // a wallet answers -18).
                    match rpc.call("uptime", json!([])) {
                        Ok(_) => return Ok(rpc),
                        Err(e) if e.downcast_ref::<RpcError>().is_some() => return Ok(rpc),
                        Err(e) if Instant::now() > deadline => {
                            return Err(e.context(format!("{} never answered", self.name)))
                        }
                        Err(_) => {}
                    }
                }
            }
            if Instant::now() > deadline {
                bail!("{}: no RPC after 60 s:\n{}", self.name, self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it through RPC `stop` and waits (up to 60 s) for it to exit,
    /// then kills whatever is left.
    pub fn stop(mut self, rpc: &mut Rpc) -> Result<()> {
        let kids = self.children();
        let _ = rpc.call("stop", json!([]));
        let r = self.wait_exit(Duration::from_secs(60));
        self.terminate(kids);
        r
    }

    /// Its children with their start times (while it runs).
    fn children(&mut self) -> Vec<(i32, u64)> {
        if !self.alive() {
            return Vec::new();
        }
        child_pids(self.pid)
            .into_iter()
            .filter_map(|p| Some((p, start_time(p)?)))
            .collect()
    }

    /// Stops it with SIGTERM (for `bitcoin-wallet`, whose RPC has no
    /// `stop`) and waits up to 60 s for it to exit, then kills it.
    pub fn stop_signal(mut self) -> Result<()> {
        let kids = self.children();
        // SAFETY: kill(2) takes plain integers; `pid` is our own child,
        // not reaped yet (so not reused).
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let r = self.wait_exit(Duration::from_secs(60));
        self.terminate(kids);
        r
    }

    fn wait_exit(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                if !status.success() {
                    bail!("{} exited with {status}", self.name);
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {limit:?} of stop", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the daemon (if still running), then `kids` (its children,
    /// listed while it ran: once it exits they belong to init).
    fn terminate(&mut self, kids: Vec<(i32, u64)>) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: as in `stop_signal`: our own child, not reaped yet.
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        // Children it left behind (started through it, so ours to end),
        // each only while it is the same process (same start time: the pid
        // was not reused since).
        for (pid, started) in kids {
            let same = || start_time(pid) == Some(started) && process_alive(pid);
            if same() {
                // SAFETY: kill(2) takes plain integers; `same()` just
                // checked the pid still names the process we listed.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(10);
                while same() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if same() {
                    // SAFETY: as above, checked just before.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let kids = self.children();
        self.terminate(kids);
    }
}

/// Field 22 of /proc/PID/stat: when the process started (with the pid, it
/// names one process).
fn start_time(pid: i32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&s)?.get(19)?.parse().ok()
}

fn process_alive(pid: i32) -> bool {
    // A zombie (not ours to reap) counts as gone.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => stat_fields(&s).is_some_and(|f| f.first() != Some(&"Z")),
        Err(_) => false,
    }
}

/// The fields of /proc/PID/stat after the command name (field 3, the state,
/// is index 0).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let close = stat.rfind(')')?;
    Some(stat[close + 1..].split_whitespace().collect())
}

/// The command name in /proc/PID/stat.
fn stat_comm(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// The pids whose parent is `pid`.
pub fn child_pids(pid: i32) -> Vec<i32> {
    let mut v = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return v;
    };
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Ok(s) = fs::read_to_string(format!("/proc/{p}/stat")) {
            if stat_fields(&s).and_then(|f| f.get(1).and_then(|x| x.parse::<i32>().ok()))
                == Some(pid)
            {
                v.push(p);
            }
        }
    }
    v
}

/// The children of `pid` whose command name is `name` (truncated to 15
/// characters, as the kernel does).
pub fn children_named(pid: i32, name: &str) -> Vec<i32> {
    let short: String = name.chars().take(15).collect();
    child_pids(pid)
        .into_iter()
        .filter(|p| {
            fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .is_some_and(|s| stat_comm(&s) == Some(short.as_str()))
        })
        .collect()
}

/// User + system CPU seconds of process `pid` (all its threads) so far.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f = stat_fields(&s)?;
    // utime and stime are fields 14 and 15: indexes 11 and 12 here.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf(3) reads a constant; no pointers involved.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / if hz > 0 { hz as f64 } else { 100.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_is_readable() {
        let me = std::process::id() as i32;
        assert!(cpu_seconds(me).is_some());
        assert!(process_alive(me));
        let s = fs::read_to_string("/proc/self/stat").unwrap();
        assert!(stat_comm(&s).is_some());
    }
}
