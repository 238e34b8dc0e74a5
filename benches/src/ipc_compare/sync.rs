//! Bench-only plumbing shared by parent and child, outside anything timed:
//! a shared memory page ([`SharedRegion`]), raw futex calls, and the
//! [`SyncChannel`] side channel that the harness uses to line up the two
//! processes between iterations.
//!
//! # The side channel
//!
//! The parent creates a [`SyncChannel`] (one page of a memfd, mapped
//! `MAP_SHARED`) before spawning the child and passes the memfd to it by
//! inheritance (`--sync-fd N`); the child maps the same page with
//! [`SyncChannel::open_child`]. The page holds a few 32-bit counters, each on
//! its own cache line:
//!
//! * `parent_ready` / `child_ready`: "I have prepared my next message for
//!   round n" ([`SyncChannel::signal_ready`], [`SyncChannel::wait_peer_ready`]).
//!   Plain stores, no wake-up: the waiter always spins, so signalling costs the
//!   signaller nothing but a store before it goes back to its receive.
//! * `limit`: total number of rounds/messages, `u32::MAX` until the parent
//!   decides ([`SyncChannel::set_limit`]); the parent stores it *before* it
//!   sends the last message, so the child sees it by the time it has that
//!   message.
//! * `ack`: the child's progress report (warm-up done = 1, all received = 2),
//!   stored and futex-woken ([`SyncChannel::signal_ack`]) so that the parent
//!   can wait for it spinning or sleeping ([`SyncChannel::wait_ack`]).
//! * `done`: the parent is finished with the child, which may now tear down
//!   its endpoint and exit ([`SyncChannel::signal_done`],
//!   [`SyncChannel::wait_done`]).
//! * `parent_failed` / `child_failed`: set by [`SyncChannel::mark_failed`] so
//!   the other side stops waiting at once.
//! * `warmup`: number of warm-up messages of a throughput run.
//! * eight `user` words ([`SyncChannel::user_word`]) free for a transport's
//!   own bench-only handshakes (e.g. "child has opened the segment").
//!
//! Every wait checks, besides its counter, the peer's failure flag, whether
//! the peer process is still alive, and a deadline ([`SyncChannel::check`]),
//! so a dead or hung peer turns into an error instead of a hang.

use std::cell::Cell;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::Mode;

/// A `MAP_SHARED` mapping of a memfd, inheritable by a child process.
pub struct SharedRegion {
    ptr: NonNull<u8>,
    len: usize,
    fd: OwnedFd,
}

impl SharedRegion {
    /// Creates a zero-filled memfd of `len` bytes (close-on-exec; the spawn
    /// helper clears that flag in the child only) and maps it.
    pub fn create(name: &str, len: usize) -> Result<Self> {
        let cname = CString::new(name)?;
        // SAFETY: memfd_create with a valid C string and flags; the returned
        // fd (if >= 0) is ours alone.
        let raw = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("memfd_create");
        }
        // SAFETY: `raw` is a freshly created descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on a valid fd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
            return Err(std::io::Error::last_os_error()).context("ftruncate memfd");
        }
        Self::map(fd, len)
    }

    /// Maps a region whose memfd was inherited from the parent.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        // SAFETY: an all-zero `stat` is a valid value; fstat fills it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a valid fd with a valid out pointer.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(std::io::Error::last_os_error()).context("fstat shared region");
        }
        Self::map(fd, st.st_size as usize)
    }

    fn map(fd: OwnedFd, len: usize) -> Result<Self> {
        if len == 0 {
            bail!("empty shared region");
        }
        // SAFETY: a fresh shared mapping of `len` bytes of a valid fd; we
        // check for MAP_FAILED and own the mapping until Drop.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error()).context("mmap shared region");
        }
        let ptr = NonNull::new(p.cast::<u8>()).context("mmap returned null")?;
        Ok(Self { ptr, len, fd })
    }

    /// Start of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false (a region is never empty); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memfd, to pass to [`super::process::spawn_child`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The 32-bit atomic word at byte `offset` (4-aligned, in bounds).
    pub fn atomic_u32(&self, offset: usize) -> &AtomicU32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "bad offset {offset}"
        );
        // SAFETY: in bounds and 4-aligned (mmap is page-aligned); the memory
        // is mapped for as long as `self` lives and is only ever accessed
        // atomically through these references (by both processes).
        unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() }
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `map`; no
        // reference into it outlives `self` (they borrow `self`).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Shared futex wait and wake, from the engine's platform layer (the
/// benchmark's side channel lives in a `MAP_SHARED` page seen by two
/// processes, like the engine's rings).
pub use shm_ipc::platform::{futex_wait, futex_wake};

/// Which process this handle belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The measuring process (the one that ran `ipc-compare`).
    Parent,
    /// The re-executed peer (`ipc-compare --child ...`).
    Child,
}

const LINE: usize = 64;
const MAGIC: u32 = 0x5359_4e43; // "SYNC"
                                // Word offsets, one cache line each.
const W_MAGIC: usize = 0;
const W_PARENT_READY: usize = LINE;
const W_CHILD_READY: usize = 2 * LINE;
const W_LIMIT: usize = 3 * LINE;
const W_ACK: usize = 4 * LINE;
const W_DONE: usize = 5 * LINE;
const W_PARENT_FAILED: usize = 6 * LINE;
const W_CHILD_FAILED: usize = 7 * LINE;
const W_WARMUP: usize = 8 * LINE;
const W_USER: usize = 9 * LINE;
/// Number of [`SyncChannel::user_word`]s.
pub const USER_WORDS: usize = 8;
const REGION_LEN: usize = 4096;

/// How often [`SyncChannel::check`] does its full (syscall) check.
const CHECK_EVERY: u32 = 4096;
/// How often [`SyncChannel::check`] reads the clock.
const CLOCK_EVERY: u32 = 256;
/// A spin yields the CPU at most this often (see [`SyncChannel::check`]).
pub const SPIN_YIELD_EVERY: Duration = Duration::from_micros(50);
/// How long a blocking wait sleeps before re-checking liveness.
const BLOCK_SLICE: Duration = Duration::from_millis(50);

struct Inner {
    region: SharedRegion,
    side: Side,
    deadline: Instant,
    /// Parent: the child's pid (set by spawn). Child: the parent's pid.
    peer_pid: Cell<i32>,
    calls: Cell<u32>,
    last_yield: Cell<Instant>,
}

/// The bench-only side channel between parent and child (see the module
/// docs). Cheap to clone (shared handle); not `Send`: one per process.
#[derive(Clone)]
pub struct SyncChannel {
    inner: Rc<Inner>,
}

impl SyncChannel {
    /// Parent side: a fresh channel; every wait fails after `timeout`.
    pub fn create(timeout: Duration) -> Result<Self> {
        let region = SharedRegion::create("ipc-compare-sync", REGION_LEN)?;
        region
            .atomic_u32(W_LIMIT)
            .store(u32::MAX, Ordering::Relaxed);
        region.atomic_u32(W_MAGIC).store(MAGIC, Ordering::Release);
        Ok(Self {
            inner: Rc::new(Inner {
                region,
                side: Side::Parent,
                deadline: Instant::now() + timeout,
                peer_pid: Cell::new(0),
                calls: Cell::new(0),
                last_yield: Cell::new(Instant::now()),
            }),
        })
    }

    /// Child side: maps the inherited memfd; waits fail after `timeout`.
    pub fn open_child(fd: OwnedFd, timeout: Duration) -> Result<Self> {
        let region = SharedRegion::from_fd(fd)?;
        if region.len() < REGION_LEN || region.atomic_u32(W_MAGIC).load(Ordering::Acquire) != MAGIC
        {
            bail!("--sync-fd is not an ipc-compare sync channel");
        }
        // SAFETY: getppid never fails.
        let ppid = unsafe { libc::getppid() };
        Ok(Self {
            inner: Rc::new(Inner {
                region,
                side: Side::Child,
                deadline: Instant::now() + timeout,
                peer_pid: Cell::new(ppid),
                calls: Cell::new(0),
                last_yield: Cell::new(Instant::now()),
            }),
        })
    }

    /// The memfd (parent side), for [`super::process::spawn_child`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.region.fd()
    }

    /// Which side this handle is.
    pub fn side(&self) -> Side {
        self.inner.side
    }

    /// Parent: records the child's pid for liveness checks (done by
    /// [`super::process::spawn_child`]).
    pub fn set_peer_pid(&self, pid: i32) {
        self.inner.peer_pid.set(pid);
    }

    /// The peer's pid (0 on the parent side before spawn).
    pub fn peer_pid(&self) -> i32 {
        self.inner.peer_pid.get()
    }

    /// Time left before the deadline.
    pub fn remaining(&self) -> Duration {
        self.inner
            .deadline
            .saturating_duration_since(Instant::now())
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        self.inner.region.atomic_u32(off)
    }

    fn my_ready(&self) -> &AtomicU32 {
        match self.inner.side {
            Side::Parent => self.word(W_PARENT_READY),
            Side::Child => self.word(W_CHILD_READY),
        }
    }

    fn peer_ready(&self) -> &AtomicU32 {
        match self.inner.side {
            Side::Parent => self.word(W_CHILD_READY),
            Side::Child => self.word(W_PARENT_READY),
        }
    }

    /// Free word `i` (< [`USER_WORDS`]) for a transport's own handshakes.
    pub fn user_word(&self, i: usize) -> &AtomicU32 {
        assert!(i < USER_WORDS);
        self.word(W_USER + i * LINE)
    }

    /// "My message for round `n` (1-based) is prepared": a release store, no
    /// syscall (the peer spins on it).
    pub fn signal_ready(&self, n: u32) {
        self.my_ready().store(n, Ordering::Release);
    }

    /// Spins until the peer has signalled ready for round `n` or later.
    pub fn wait_peer_ready(&self, n: u32) -> Result<()> {
        self.wait_word(self.peer_ready(), n, Mode::Spin)
            .with_context(|| format!("waiting for the peer to be ready for round {n}"))
    }

    /// Parent: the total number of rounds/messages; store it before sending
    /// the last one.
    pub fn set_limit(&self, n: u32) {
        self.word(W_LIMIT).store(n, Ordering::SeqCst);
    }

    /// The limit, `u32::MAX` while undecided.
    pub fn limit(&self) -> u32 {
        self.word(W_LIMIT).load(Ordering::SeqCst)
    }

    /// Parent: number of warm-up messages of a throughput run.
    pub fn set_warmup(&self, n: u32) {
        self.word(W_WARMUP).store(n, Ordering::SeqCst);
    }

    /// See [`Self::set_warmup`].
    pub fn warmup(&self) -> u32 {
        self.word(W_WARMUP).load(Ordering::SeqCst)
    }

    /// Child: progress report `n` (store + futex wake).
    pub fn signal_ack(&self, n: u32) {
        let w = self.word(W_ACK);
        w.store(n, Ordering::Release);
        futex_wake(w, i32::MAX);
    }

    /// Parent: waits until the child's ack reaches `n`, spinning or sleeping
    /// on a futex as `mode` says.
    pub fn wait_ack(&self, n: u32, mode: Mode) -> Result<()> {
        self.wait_word(self.word(W_ACK), n, mode)
            .with_context(|| format!("waiting for the child's ack {n}"))
    }

    /// Parent: the child may tear down and exit.
    pub fn signal_done(&self) {
        let w = self.word(W_DONE);
        w.store(1, Ordering::Release);
        futex_wake(w, i32::MAX);
    }

    /// Child: sleeps until [`Self::signal_done`].
    pub fn wait_done(&self) -> Result<()> {
        self.wait_word(self.word(W_DONE), 1, Mode::Blocking)
            .context("waiting for the parent to finish")
    }

    /// Tells the peer this side failed (it stops waiting at once).
    pub fn mark_failed(&self) {
        let w = match self.inner.side {
            Side::Parent => self.word(W_PARENT_FAILED),
            Side::Child => self.word(W_CHILD_FAILED),
        };
        w.store(1, Ordering::SeqCst);
        // Wake anything sleeping on the channel's words.
        for off in [W_ACK, W_DONE] {
            futex_wake(self.word(off), i32::MAX);
        }
    }

    /// Cheap check for spin loops: the peer's failure flag on every call, the
    /// deadline and the peer's liveness every few thousand calls.
    ///
    /// It also yields the CPU (`sched_yield`) at most every
    /// [`SPIN_YIELD_EVERY`] of continued spinning: on an idle machine that
    /// costs a fraction of a microsecond now and then (and never touches a
    /// handoff shorter than a few hundred polls), but when the two processes
    /// have to share one core (another job on the other one) it lets the peer
    /// run instead of spinning out a whole scheduler tick.
    #[inline]
    pub fn check(&self) -> Result<()> {
        let peer_failed = match self.inner.side {
            Side::Parent => self.word(W_CHILD_FAILED),
            Side::Child => self.word(W_PARENT_FAILED),
        };
        if peer_failed.load(Ordering::Relaxed) != 0 {
            bail!("the peer process reported a failure");
        }
        let c = self.inner.calls.get().wrapping_add(1);
        self.inner.calls.set(c);
        if c.is_multiple_of(CLOCK_EVERY) {
            let now = Instant::now();
            if now.duration_since(self.inner.last_yield.get()) >= SPIN_YIELD_EVERY {
                self.inner.last_yield.set(now);
                std::thread::yield_now();
            }
            if c.is_multiple_of(CHECK_EVERY) {
                self.check_now()?;
            }
        }
        Ok(())
    }

    /// Full check: peer failure flag, deadline, peer still alive.
    pub fn check_now(&self) -> Result<()> {
        let peer_failed = match self.inner.side {
            Side::Parent => self.word(W_CHILD_FAILED),
            Side::Child => self.word(W_PARENT_FAILED),
        };
        if peer_failed.load(Ordering::Relaxed) != 0 {
            bail!("the peer process reported a failure");
        }
        if Instant::now() >= self.inner.deadline {
            bail!("timed out");
        }
        let pid = self.inner.peer_pid.get();
        let peer_gone = match self.inner.side {
            Side::Parent => pid > 0 && child_exited(pid),
            // SAFETY: getppid never fails.
            Side::Child => (unsafe { libc::getppid() }) != pid,
        };
        if peer_gone {
            match self.inner.side {
                Side::Parent => bail!("the child process exited early"),
                Side::Child => bail!("the parent process died"),
            }
        }
        Ok(())
    }

    /// Waits until `word >= n`, spinning (`Mode::Spin`) or sleeping on the
    /// futex (`Mode::Blocking`), with the liveness checks above. `word` may be
    /// any word of shared memory (e.g. a [`Self::user_word`]); for a sleeping
    /// waiter the writer must [`futex_wake`] it.
    pub fn wait_word(&self, word: &AtomicU32, n: u32, mode: Mode) -> Result<()> {
        match mode {
            Mode::Spin => loop {
                if word.load(Ordering::Acquire) >= n {
                    return Ok(());
                }
                std::hint::spin_loop();
                self.check()?;
            },
            Mode::Blocking => loop {
                let v = word.load(Ordering::Acquire);
                if v >= n {
                    return Ok(());
                }
                futex_wait(word, v, Some(BLOCK_SLICE));
                self.check_now()?;
            },
        }
    }

    /// Parent: waits (at most `cap`) until the child's main thread is asleep
    /// in the kernel (state `S`/`D` in `/proc/<pid>/stat`). Used before each
    /// timed round in blocking mode, so that the round measures a real
    /// wake-up rather than a child that had not gone to sleep yet. Best
    /// effort: returns quietly after `cap`.
    pub fn wait_peer_asleep(&self, cap: Duration) {
        let pid = self.inner.peer_pid.get();
        if pid <= 0 {
            return;
        }
        let path = format!("/proc/{pid}/stat");
        let start = Instant::now();
        let mut buf = [0u8; 512];
        while start.elapsed() < cap {
            match proc_state(&path, &mut buf) {
                Some(b'S') | Some(b'D') => return,
                Some(_) => std::hint::spin_loop(),
                None => return,
            }
        }
    }
}

/// Reads the state letter from a `/proc/<pid>/stat` file.
fn proc_state(path: &str, buf: &mut [u8]) -> Option<u8> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let n = f.read(buf).ok()?;
    let s = &buf[..n];
    let close = s.iter().rposition(|&b| b == b')')?;
    s.get(close + 2).copied()
}

/// True if the child `pid` has exited (without reaping it).
pub fn child_exited(pid: i32) -> bool {
    // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child with WNOWAIT leaves it unreaped.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if r != 0 {
        // ECHILD: already reaped or not ours; treat as gone.
        return true;
    }
    // SAFETY: si_pid is valid to read after a successful waitid.
    unsafe { info.si_pid() != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_words_are_shared_between_mappings() {
        let a = SharedRegion::create("t", 4096).unwrap();
        let dup = a.fd().try_clone_to_owned().unwrap();
        let b = SharedRegion::from_fd(dup).unwrap();
        a.atomic_u32(64).store(7, Ordering::SeqCst);
        assert_eq!(b.atomic_u32(64).load(Ordering::SeqCst), 7);
    }

    #[test]
    fn sync_channel_counters() {
        let s = SyncChannel::create(Duration::from_secs(5)).unwrap();
        assert_eq!(s.limit(), u32::MAX);
        s.set_limit(10);
        assert_eq!(s.limit(), 10);
        s.signal_ack(2);
        s.wait_ack(2, Mode::Blocking).unwrap();
        s.wait_ack(1, Mode::Spin).unwrap();
    }
}
