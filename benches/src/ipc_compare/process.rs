//! The child process: re-executing our own binary with hidden arguments,
//! passing inherited descriptors, dying with the parent, and being killed if
//! it hangs.
//!
//! Command line of a child (built by [`spawn_child`], parsed by
//! [`ChildArgs::parse`]):
//!
//! ```text
//! ipc-compare --child <transport> --payload N --mode spin|blocking
//!             --test latency|throughput --sync-fd F --timeout-ms T
//!             [--fd X]... [--extra S] [--quick]
//! ```

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::sync::{child_exited, SyncChannel};
use super::{Case, Mode, TestKind};

/// How long [`ChildGuard::finish`] waits for a child that should be exiting.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// A running child. Dropping it kills (SIGKILL) and reaps the child; a
/// watchdog thread kills it when the case's timeout passes.
pub struct ChildGuard {
    child: Option<Child>,
    pid: i32,
    sync: SyncChannel,
    cancel: Option<mpsc::Sender<()>>,
    watchdog: Option<JoinHandle<()>>,
    label: String,
}

/// Spawns `current_exe() --child ...` for `case`.
///
/// * `sync`: the case's side channel (its memfd is inherited; the child's
///   pid is recorded in it for liveness checks).
/// * `fds`: transport descriptors for the child to inherit; it gets them,
///   same numbers, in this order, as [`ChildArgs::take_fd`]`(0..)`. They may
///   be close-on-exec here: the flag is cleared in the child only (between
///   fork and exec), so no other process inherits them. The parent should
///   drop its copies of the child's ends after this returns.
/// * `extra`: one free-form string for the transport (a server name, a
///   service name, a segment id), as [`ChildArgs::extra`].
///
/// The child gets `PR_SET_PDEATHSIG = SIGKILL` (and checks that its parent
/// has not already gone), stdin from /dev/null, stdout redirected to our
/// stderr (our stdout carries only the table or JSON), stderr inherited.
pub fn spawn_child(
    case: &Case<'_>,
    sync: &SyncChannel,
    fds: &[BorrowedFd<'_>],
    extra: Option<&str>,
) -> Result<ChildGuard> {
    let exe = std::env::current_exe().context("finding our own executable")?;
    let timeout = case.cfg.child_timeout;
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .arg(case.transport)
        .arg("--payload")
        .arg(case.payload_bytes.to_string())
        .arg("--mode")
        .arg(case.mode.as_str())
        .arg("--test")
        .arg(case.test.as_str())
        .arg("--sync-fd")
        .arg(sync.fd().as_raw_fd().to_string())
        .arg("--timeout-ms")
        .arg(timeout.as_millis().to_string());
    for fd in fds {
        cmd.arg("--fd").arg(fd.as_raw_fd().to_string());
    }
    if let Some(e) = extra {
        cmd.arg("--extra").arg(e);
    }
    if case.cfg.quick {
        cmd.arg("--quick");
    }
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stderr")?;
    cmd.stdin(Stdio::null()).stdout(Stdio::from(stdout));

    let mut inherit: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    inherit.push(sync.fd().as_raw_fd());
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec; it only
    // calls fcntl, prctl and getppid (async-signal-safe), reads the captured
    // Vec, and allocates nothing (errors are built from raw os codes).
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &inherit {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("spawning the child process")?;
    let pid = child.id() as i32;
    sync.set_peer_pid(pid);

    let label = format!(
        "{} {} {} {}",
        case.transport,
        case.payload_bytes,
        case.mode.as_str(),
        case.test.as_str()
    );
    let (cancel, rx) = mpsc::channel::<()>();
    let wlabel = label.clone();
    let watchdog = std::thread::Builder::new()
        .name("ipc-compare-watchdog".into())
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(timeout) {
                eprintln!("ipc-compare: child [{wlabel}] hung for {timeout:?}; killing it");
                // SAFETY: the child is not reaped before this thread is
                // joined (see ChildGuard), so `pid` still names it.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        })
        .context("spawning the watchdog thread")?;
    Ok(ChildGuard {
        child: Some(child),
        pid,
        sync: sync.clone(),
        cancel: Some(cancel),
        watchdog: Some(watchdog),
        label,
    })
}

impl ChildGuard {
    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Ends the case: on `Ok`, waits for the child to exit and fails if it
    /// exited unsuccessfully; on `Err`, marks the side channel failed (so
    /// the child stops waiting), gives it a moment, kills it, and returns the
    /// error. Use as `child.complete(result_of_the_parent_side)`.
    pub fn complete<T>(mut self, result: Result<T>) -> Result<T> {
        match result {
            Ok(v) => {
                self.finish()?;
                Ok(v)
            }
            Err(e) => {
                self.sync.mark_failed();
                self.wait_exit(Duration::from_millis(200));
                Err(e)
            }
        }
    }

    /// Waits (at most a grace period) for the child to exit; errors if it
    /// was killed or exited non-zero.
    pub fn finish(&mut self) -> Result<()> {
        if !self.wait_exit(EXIT_GRACE) {
            bail!("child [{}] did not exit; killed", self.label);
        }
        self.stop_watchdog();
        let status = match self.child.take() {
            Some(mut c) => c.wait().context("reaping the child")?,
            None => return Ok(()),
        };
        if !status.success() {
            bail!("child [{}] failed: {status}", self.label);
        }
        Ok(())
    }

    /// Polls (not reaping) until the child has exited or `limit` passed.
    fn wait_exit(&self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            if child_exited(self.pid) {
                return true;
            }
            if start.elapsed() >= limit {
                return false;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn stop_watchdog(&mut self) {
        self.cancel.take();
        if let Some(w) = self.watchdog.take() {
            let _ = w.join();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.stop_watchdog();
            let _ = c.wait();
        } else {
            self.stop_watchdog();
        }
    }
}

/// What a child was started with (see the module docs for the syntax).
pub struct ChildArgs {
    /// Transport name (selects [`super::Transport::child`]).
    pub transport: String,
    /// Nominal payload size.
    pub payload_bytes: usize,
    /// Spin or blocking.
    pub mode: Mode,
    /// Which test the parent runs.
    pub test: TestKind,
    /// `--quick` run.
    pub quick: bool,
    /// The case's timeout.
    pub timeout: Duration,
    /// The side channel, already mapped.
    pub sync: SyncChannel,
    extra: Option<String>,
    fds: RefCell<Vec<Option<OwnedFd>>>,
}

impl ChildArgs {
    /// Parses the hidden child command line (`args[0] == "--child"`). Takes
    /// ownership of the inherited descriptors (and sets close-on-exec on
    /// them again).
    pub fn parse(args: &[String]) -> Result<Self> {
        let mut it = args.iter();
        if it.next().map(String::as_str) != Some("--child") {
            bail!("not a child command line");
        }
        let transport = it.next().context("--child needs a transport")?.clone();
        let (mut payload, mut mode, mut test, mut sync_fd, mut timeout_ms) =
            (None, None, None, None, None);
        let mut fds = Vec::new();
        let mut extra = None;
        let mut quick = false;
        while let Some(a) = it.next() {
            let mut val = || it.next().with_context(|| format!("{a} needs a value"));
            match a.as_str() {
                "--payload" => payload = Some(val()?.parse::<usize>()?),
                "--mode" => mode = Some(Mode::parse(val()?)?),
                "--test" => test = Some(TestKind::parse(val()?)?),
                "--sync-fd" => sync_fd = Some(val()?.parse::<RawFd>()?),
                "--timeout-ms" => timeout_ms = Some(val()?.parse::<u64>()?),
                "--fd" => fds.push(val()?.parse::<RawFd>()?),
                "--extra" => extra = Some(val()?.clone()),
                "--quick" => quick = true,
                other => bail!("unknown child argument {other:?}"),
            }
        }
        let timeout = Duration::from_millis(timeout_ms.context("missing --timeout-ms")?);
        let sync_fd = take_inherited(sync_fd.context("missing --sync-fd")?)?;
        let sync = SyncChannel::open_child(sync_fd, timeout)?;
        let fds = fds
            .into_iter()
            .map(|fd| take_inherited(fd).map(Some))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            transport,
            payload_bytes: payload.context("missing --payload")?,
            mode: mode.context("missing --mode")?,
            test: test.context("missing --test")?,
            quick,
            timeout,
            sync,
            extra,
            fds: RefCell::new(fds),
        })
    }

    /// Takes inherited descriptor `i` (in the order given to
    /// [`spawn_child`]); each can be taken once.
    pub fn take_fd(&self, i: usize) -> Result<OwnedFd> {
        self.fds
            .borrow_mut()
            .get_mut(i)
            .and_then(Option::take)
            .with_context(|| format!("no inherited fd #{i} (or already taken)"))
    }

    /// The `extra` string given to [`spawn_child`].
    pub fn extra(&self) -> Result<&str> {
        self.extra.as_deref().context("missing --extra")
    }
}

/// Adopts an inherited descriptor number after checking it is open.
fn take_inherited(fd: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_GETFD only queries the descriptor table.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        bail!("inherited fd {fd} is not open");
    }
    // SAFETY: F_SETFD on an open descriptor; keeps it from leaking further.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
    }
    // SAFETY: the parent passed this descriptor to us for our exclusive use;
    // nothing else in this process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
