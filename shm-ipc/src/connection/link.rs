//! The byte carrier under a connection: a unix `SOCK_SEQPACKET` socket
//! (message boundaries, descriptor passing, shared memory possible) or a TCP
//! stream (length-prefixed frames, no descriptors).

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use rkyv::util::AlignedVec;

use super::wire::{self, K_DATA};
use crate::error::{Error, Result};
use crate::platform;

/// Largest control message on a seqpacket link.
const MAX_PACKET: usize = 64 * 1024;
/// Largest frame on a stream link (a record can be large; a peer can't make
/// us allocate more than this).
pub const MAX_FRAME: usize = 256 << 20;

pub enum Link {
    Packet(OwnedFd),
    Stream {
        read: Mutex<TcpStream>,
        write: Mutex<TcpStream>,
    },
}

/// What the reader gets from the link.
pub enum Incoming {
    Control(Vec<u8>, Vec<OwnedFd>),
    Data {
        channel: u32,
        seq: u64,
        payload: AlignedVec<16>,
    },
    Closed,
}

impl Link {
    pub fn tcp(s: TcpStream) -> Result<Link> {
        s.set_nodelay(true)?;
        let r = s.try_clone()?;
        Ok(Link::Stream {
            read: Mutex::new(r),
            write: Mutex::new(s),
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Link::Packet(_) => "unix",
            Link::Stream { .. } => "tcp",
        }
    }

    pub fn shares_memory(&self) -> bool {
        matches!(self, Link::Packet(_))
    }

    pub fn send(&self, msg: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        match self {
            Link::Packet(fd) => {
                if msg.len() > MAX_PACKET {
                    return Err(Error::Config(format!(
                        "control message of {} bytes is over the {MAX_PACKET}-byte limit",
                        msg.len()
                    )));
                }
                platform::send_msg(fd.as_fd(), &[msg], fds).map_err(map_send_err)
            }
            Link::Stream { write, .. } => {
                if !fds.is_empty() {
                    return Err(Error::NotShared("tcp"));
                }
                let len = (msg.len() as u32).to_le_bytes();
                let mut w = write.lock().unwrap_or_else(|p| p.into_inner());
                write_all_vectored(&mut w, &[&len, msg]).map_err(map_send_err)
            }
        }
    }

    /// Sends a record on a stream link without first gluing header and payload.
    pub fn send_data(&self, channel: u32, seq: u64, payload: &[u8]) -> Result<()> {
        let Link::Stream { write, .. } = self else {
            return Err(Error::Protocol("data frames travel on streams only".into()));
        };
        let h = wire::data_header(channel, seq);
        let len = ((h.len() + payload.len()) as u32).to_le_bytes();
        let mut w = write.lock().unwrap_or_else(|p| p.into_inner());
        write_all_vectored(&mut w, &[&len, &h, payload]).map_err(map_send_err)
    }

    /// Blocks for the next message. Only the connection's reader calls this.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Incoming> {
        match self {
            Link::Packet(fd) => {
                let (n, fds) = platform::recv_msg(fd.as_fd(), buf).map_err(|e| {
                    if e.kind() == io::ErrorKind::InvalidData {
                        Error::Protocol("oversized control message".into())
                    } else {
                        Error::Io(e)
                    }
                })?;
                if n == 0 {
                    return Ok(Incoming::Closed);
                }
                Ok(Incoming::Control(buf[..n].to_vec(), fds))
            }
            Link::Stream { read, .. } => {
                let mut r = read.lock().unwrap_or_else(|p| p.into_inner());
                let mut len = [0u8; 4];
                match r.read_exact(&mut len) {
                    Ok(()) => {}
                    Err(e) if is_closed(&e) => return Ok(Incoming::Closed),
                    Err(e) => return Err(e.into()),
                }
                let len = u32::from_le_bytes(len) as usize;
                if len == 0 || len > MAX_FRAME {
                    return Err(Error::Protocol(format!("bad frame length {len}")));
                }
                let mut kind = [0u8; 1];
                read_or_closed(&mut r, &mut kind)?;
                if kind[0] == K_DATA && len >= 13 {
                    let mut h = [0u8; 13];
                    h[0] = K_DATA;
                    read_or_closed(&mut r, &mut h[1..])?;
                    let (channel, seq) = wire::parse_data_header(&h);
                    let mut payload = AlignedVec::<16>::with_capacity(len - 13);
                    payload.resize(len - 13, 0);
                    read_or_closed(&mut r, &mut payload)?;
                    return Ok(Incoming::Data {
                        channel,
                        seq,
                        payload,
                    });
                }
                let mut body = vec![0u8; len];
                body[0] = kind[0];
                read_or_closed(&mut r, &mut body[1..])?;
                Ok(Incoming::Control(body, Vec::new()))
            }
        }
    }

    /// Waits until a message is there, up to `timeout` (handshake only).
    pub fn wait_readable(&self, timeout: Duration) -> Result<bool> {
        match self {
            Link::Packet(fd) => Ok(platform::wait_readable(fd.as_fd(), Some(timeout))?),
            Link::Stream { read, .. } => {
                let r = read.lock().unwrap_or_else(|p| p.into_inner());
                Ok(platform::wait_readable(r.as_fd(), Some(timeout))?)
            }
        }
    }

    /// Ends both directions: the peer sees EOF, and our reader wakes up.
    pub fn shutdown(&self) {
        match self {
            Link::Packet(fd) => {
                let _ = nix::sys::socket::shutdown(
                    std::os::fd::AsRawFd::as_raw_fd(fd),
                    nix::sys::socket::Shutdown::Both,
                );
            }
            Link::Stream { write, .. } => {
                let w = write.lock().unwrap_or_else(|p| p.into_inner());
                let _ = w.shutdown(Shutdown::Both);
            }
        }
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

fn read_or_closed(r: &mut TcpStream, buf: &mut [u8]) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if is_closed(&e) {
            Error::PeerDied
        } else {
            Error::Io(e)
        }
    })
}

fn map_send_err(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::NotConnected => Error::PeerDied,
        _ => Error::Io(e),
    }
}

fn write_all_vectored(w: &mut TcpStream, parts: &[&[u8]]) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut done = 0;
    while done < total {
        // Rebuild the slices past what is already written.
        let mut skip = done;
        let mut iov = Vec::with_capacity(parts.len());
        for p in parts {
            if skip >= p.len() {
                skip -= p.len();
                continue;
            }
            iov.push(IoSlice::new(&p[skip..]));
            skip = 0;
        }
        match w.write_vectored(&iov) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
