//! Byte streams over file descriptors (sockets, pipes) in spin or blocking
//! mode, and the length-prefixed postcard framing of the socket-style
//! transports.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use anyhow::{bail, Context, Result};

use super::payload::BlockPayload;
use super::sync::SyncChannel;
use super::Mode;

/// One end of a stream. `Spin`: the fd is `O_NONBLOCK` and reads/writes
/// retry on `EAGAIN` in a busy loop. `Blocking`: plain blocking calls.
/// Either way a dead peer becomes an error (EOF, `EPIPE`, or the side
/// channel's checks while spinning).
pub struct FdStream {
    fd: OwnedFd,
    mode: Mode,
    sync: SyncChannel,
}

impl FdStream {
    /// Wraps `fd`, setting or clearing `O_NONBLOCK` for `mode`.
    pub fn new(fd: OwnedFd, mode: Mode, sync: SyncChannel) -> Result<Self> {
        let raw = fd.as_raw_fd();
        // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
        unsafe {
            let fl = libc::fcntl(raw, libc::F_GETFL);
            if fl < 0 {
                return Err(io::Error::last_os_error()).context("F_GETFL");
            }
            let fl = match mode {
                Mode::Spin => fl | libc::O_NONBLOCK,
                Mode::Blocking => fl & !libc::O_NONBLOCK,
            };
            if libc::fcntl(raw, libc::F_SETFL, fl) < 0 {
                return Err(io::Error::last_os_error()).context("F_SETFL");
            }
        }
        Ok(Self { fd, mode, sync })
    }

    /// A second handle on the same open file (for a separate reader and
    /// writer on one socket).
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Self {
            fd: self.fd.try_clone().context("dup")?,
            mode: self.mode,
            sync: self.sync.clone(),
        })
    }

    /// Reads at least one byte into `buf` (waiting as the mode says);
    /// errors on EOF.
    pub fn recv_some(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            // SAFETY: read into a valid, writable buffer of buf.len() bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                return Ok(n as usize);
            }
            if n == 0 {
                bail!("peer closed the stream");
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {
                    std::hint::spin_loop();
                    self.sync.check()?;
                }
                Some(libc::EINTR) => {}
                _ => return Err(e).context("read"),
            }
        }
    }

    /// Writes all of `buf` (waiting as the mode says).
    pub fn send_all(&self, mut buf: &[u8]) -> Result<()> {
        while !buf.is_empty() {
            // SAFETY: write from a valid buffer of buf.len() bytes.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
            if n >= 0 {
                buf = &buf[n as usize..];
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => {
                    std::hint::spin_loop();
                    self.sync.check()?;
                }
                Some(libc::EINTR) => {}
                _ => return Err(e).context("write"),
            }
        }
        Ok(())
    }
}

impl io::Read for FdStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.recv_some(buf).map_err(io::Error::other)
    }
}

impl io::Write for FdStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send_all(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Encodes `value` as one frame into `out` (cleared first): a 4-byte
/// little-endian length, then the postcard bytes.
pub fn encode_frame(value: &BlockPayload, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.extend_from_slice(&[0; 4]);
    let v = postcard::to_extend(value, std::mem::take(out)).context("postcard encode")?;
    *out = v;
    let len = u32::try_from(out.len() - 4).context("frame too large")?;
    out[..4].copy_from_slice(&len.to_le_bytes());
    Ok(())
}

/// Reads length-prefixed frames from a stream, reading as much as is
/// available per call (so a stream of small frames costs few syscalls).
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// An empty reader with a 64 KiB buffer (grown as frames need).
    pub fn new() -> Self {
        Self {
            buf: vec![0; 64 << 10],
            start: 0,
            end: 0,
        }
    }

    fn fill(&mut self, stream: &FdStream, need: usize) -> Result<()> {
        if self.end - self.start >= need {
            return Ok(());
        }
        if self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if need > self.buf.len() {
                self.buf.resize(need.max(self.buf.len() * 2), 0);
            }
        }
        while self.end - self.start < need {
            let n = stream.recv_some(&mut self.buf[self.end..])?;
            self.end += n;
        }
        Ok(())
    }

    /// The next frame's body (valid until the next call).
    pub fn read_frame(&mut self, stream: &FdStream) -> Result<&[u8]> {
        self.fill(stream, 4)?;
        let mut len = [0u8; 4];
        len.copy_from_slice(&self.buf[self.start..self.start + 4]);
        let len = u32::from_le_bytes(len) as usize;
        self.fill(stream, 4 + len)?;
        let body = self.start + 4..self.start + 4 + len;
        self.start += 4 + len;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(&self.buf[body])
    }
}

/// `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`.
pub fn socketpair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: socketpair writes two descriptors into a valid array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error()).context("socketpair");
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into a valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error()).context("pipe2");
    }
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc_compare::payload::make_payload;
    use std::time::Duration;

    #[test]
    fn frames_round_trip_over_a_socketpair() {
        let sync = SyncChannel::create(Duration::from_secs(10)).unwrap();
        let (a, b) = socketpair().unwrap();
        let w = FdStream::new(a, Mode::Spin, sync.clone()).unwrap();
        let r = FdStream::new(b, Mode::Blocking, sync.clone()).unwrap();
        let p = make_payload(1024);
        let mut out = Vec::new();
        encode_frame(&p, &mut out).unwrap();
        let small = make_payload(64);
        let mut out2 = Vec::new();
        encode_frame(&small, &mut out2).unwrap();
        w.send_all(&out).unwrap();
        w.send_all(&out2).unwrap();
        let mut fr = FrameReader::new();
        let got: BlockPayload = postcard::from_bytes(fr.read_frame(&r).unwrap()).unwrap();
        assert_eq!(got, p);
        let got: BlockPayload = postcard::from_bytes(fr.read_frame(&r).unwrap()).unwrap();
        assert_eq!(got, small);
    }
}
