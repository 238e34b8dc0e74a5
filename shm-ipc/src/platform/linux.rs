//! Linux implementation of the platform layer.

use std::ffi::CStr;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use nix::sys::socket::{
    self, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

/// Most descriptors one control message may carry.
pub const MAX_FDS_PER_MSG: usize = 8;

/// Size of a memory page; segment lengths are multiples of it.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v <= 0 {
        4096
    } else {
        v as usize
    }
}

/// Creates an anonymous, sealable memory file of `len` bytes. Nothing is
/// created in /dev/shm or anywhere else in the file system: the memory lives
/// as long as a descriptor or mapping refers to it.
pub fn memfd_create(name: &CStr, len: usize) -> io::Result<OwnedFd> {
    // SAFETY: name is a valid NUL-terminated string; the flags are constants.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by memfd_create and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate on a descriptor we own.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Seals that a segment can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seals(i32);

impl Seals {
    /// The size can never change: a peer can never make us fault (SIGBUS) by
    /// shrinking the file under our mapping.
    pub const FIXED_SIZE: Seals = Seals(libc::F_SEAL_SHRINK | libc::F_SEAL_GROW);
    /// No new writable mapping and no write(2): a receiver of the descriptor can
    /// only map it read-only, while the creator's existing mapping stays writable.
    pub const FUTURE_WRITE: Seals = Seals(libc::F_SEAL_FUTURE_WRITE);
    /// No further seals can be added or removed.
    pub const SEAL: Seals = Seals(libc::F_SEAL_SEAL);

    pub const fn union(self, other: Seals) -> Seals {
        Seals(self.0 | other.0)
    }
    pub fn contains(self, other: Seals) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Adds seals to a memfd.
pub fn add_seals(fd: BorrowedFd<'_>, seals: Seals) -> io::Result<()> {
    // SAFETY: fcntl(F_ADD_SEALS) on a valid descriptor with an int argument.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals.0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the seals of a memfd (fails for descriptors that are not memfds).
pub fn get_seals(fd: BorrowedFd<'_>) -> io::Result<Seals> {
    // SAFETY: fcntl(F_GET_SEALS) on a valid descriptor.
    let v = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if v < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Seals(v))
}

/// Size of the file behind a descriptor.
pub fn fd_len(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let f = std::fs::File::from(fd.try_clone_to_owned()?);
    Ok(f.metadata()?.len())
}

/// A region of virtual memory where one memfd of `len` bytes is mapped twice,
/// back to back, so that a record that starts near the end of the ring and
/// runs past it stays contiguous in memory: offset `len + k` aliases offset `k`.
pub struct DoubleMapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory; all access to it goes through
// atomics or through raw-pointer copies whose synchronization the ring protocol
// provides. Moving the owner between threads changes nothing.
unsafe impl Send for DoubleMapping {}
// SAFETY: as above; &DoubleMapping only hands out raw pointers.
unsafe impl Sync for DoubleMapping {}

impl DoubleMapping {
    /// Maps bytes `[offset, offset + len)` of `fd` twice back to back, writable
    /// or read-only. `offset` and `len` must be multiples of the page size.
    pub fn new(
        fd: BorrowedFd<'_>,
        offset: usize,
        len: usize,
        writable: bool,
    ) -> io::Result<DoubleMapping> {
        if !offset.is_multiple_of(page_size()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring offset must be a multiple of the page size",
            ));
        }
        if len == 0 || !len.is_multiple_of(page_size()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ring length must be a non-zero multiple of the page size",
            ));
        }
        let total = len.checked_mul(2).ok_or(io::ErrorKind::InvalidInput)?;
        // SAFETY: reserving fresh address space (PROT_NONE, anonymous): it touches
        // no existing mapping.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        for half in 0..2 {
            // SAFETY: MAP_FIXED replaces pages inside the reservation made just above,
            // which belongs to this function alone; the fd is valid and `len` long.
            let p = unsafe {
                libc::mmap(
                    (base as *mut u8).add(half * len).cast(),
                    len,
                    prot,
                    libc::MAP_SHARED | libc::MAP_FIXED | libc::MAP_POPULATE,
                    fd.as_raw_fd(),
                    offset as libc::off_t,
                )
            };
            if p == libc::MAP_FAILED {
                let err = io::Error::last_os_error();
                // SAFETY: unmapping the reservation we own.
                unsafe { libc::munmap(base, total) };
                return Err(err);
            }
        }
        Ok(DoubleMapping {
            base: NonNull::new(base.cast()).ok_or(io::ErrorKind::Other)?,
            len,
        })
    }

    /// Start of the first copy.
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Length of one copy.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for DoubleMapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the two copies created in `new`; no reference
        // into them outlives the owner (borrows are tied to it).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len * 2) };
    }
}

/// Blocks while `*word == expected`, for at most `timeout`. Works across
/// processes on shared mappings, including read-only ones. Returns on wake,
/// on timeout, on a signal, or at once if the value differs: callers re-check.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a valid, aligned 32-bit word for the duration of the call;
    // FUTEX_WAIT (shared, not PRIVATE) only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
        )
    };
}

/// Wakes up to `n` waiters blocked in [`futex_wait`] on `word`, in any process.
pub fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a valid aligned word; FUTEX_WAKE does not touch its value.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
}

/// Creates a non-blocking eventfd, used to make a receiver pollable.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd with constant flags.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, making it readable. Never blocks.
pub fn eventfd_signal(fd: BorrowedFd<'_>) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes from a valid u64 to an eventfd.
    unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
}

/// Resets an eventfd's counter to zero. Never blocks.
pub fn eventfd_drain(fd: BorrowedFd<'_>) {
    let mut v: u64 = 0;
    // SAFETY: reading 8 bytes into a valid u64 from a non-blocking eventfd.
    unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
}

/// A connected pair of `SOCK_SEQPACKET` unix sockets: message boundaries are
/// kept and descriptors can be passed.
pub fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(io::Error::from)
}

/// Sends one message with optional descriptors. Blocks if the socket buffer is
/// full. `MSG_NOSIGNAL`: a dead peer gives `EPIPE`, never SIGPIPE.
pub fn send_msg(fd: BorrowedFd<'_>, parts: &[&[u8]], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let iov: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
    loop {
        match socket::sendmsg::<()>(fd.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one message into `buf`. Returns its length (0 means the peer
/// closed) and the descriptors it carried. A message longer than `buf` is an
/// error (`InvalidData`), never silently cut.
pub fn recv_msg(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_FDS_PER_MSG]);
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        let r = socket::recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        );
        let msg = match r {
            Ok(m) => m,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(list) = c {
                for raw in list {
                    // SAFETY: SCM_RIGHTS installed these descriptors in our table for us.
                    fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                }
            }
        }
        if msg.flags.contains(MsgFlags::MSG_TRUNC) || msg.flags.contains(MsgFlags::MSG_CTRUNC) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "control message too large",
            ));
        }
        return Ok((msg.bytes, fds));
    }
}

/// Waits until `fd` is readable or hung up, for at most `timeout`.
/// Returns true when it is.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    let ms = timeout.map_or(-1, |d| d.as_millis().min(i32::MAX as u128) as i32);
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut pfd, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(e);
    }
    Ok(r > 0)
}

/// Clears close-on-exec so that a spawned child inherits `fd`.
/// Meant for `Command::pre_exec`, so it only calls fcntl (async-signal-safe).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number; failure is reported.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the kernel to send SIGTERM to the calling process when its parent dies.
/// Meant for `Command::pre_exec` (prctl is async-signal-safe).
pub fn die_with_parent() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) with a signal number.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes ownership of an inherited descriptor number, after checking that it
/// is open. It is marked close-on-exec again so it doesn't leak further.
pub fn adopt_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD only queries the descriptor number.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if fd < 0 || flags < 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("descriptor {fd} is not open"),
        ));
    }
    // SAFETY: as above; setting close-on-exec back.
    unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    // SAFETY: the caller hands us this inherited descriptor, which nothing
    // else in the process owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// This process's epoch: a random number fixed for the life of the process,
/// announced at every handshake and written into every ring it creates, so
/// that a restarted peer is never mistaken for the old one.
pub fn process_epoch() -> u64 {
    static EPOCH: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(fresh_epoch)
}

fn fresh_epoch() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom fills at most 8 bytes of our buffer.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), 8, 0) };
    let r = if n == 8 { u64::from_le_bytes(buf) } else { 0 };
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ r.rotate_left(17) ^ (std::process::id() as u64)) | 1
}

/// Descriptors passed to [`send_msg`] are borrowed; this helper borrows a set of owned ones.
pub fn borrow_all(fds: &[OwnedFd]) -> Vec<BorrowedFd<'_>> {
    fds.iter().map(|f| f.as_fd()).collect()
}

/// Hints the CPU to move the cache line holding `p` from this core's private
/// caches to the shared last-level cache, so that the consumer on another
/// core reads it without a cross-core snoop. A no-op where unsupported (the
/// instruction is encoded as a NOP hint on x86 CPUs without CLDEMOTE).
#[inline(always)]
pub fn demote_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: CLDEMOTE is a hint: it never faults and changes no architectural
    // state (no memory contents, registers or flags), whatever `p` is.
    unsafe {
        std::arch::asm!("cldemote byte ptr [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
