//! Addresses written `unix:PATH` or `tcp:HOST:PORT` (the `-ipcbind` and
//! `-ipcconnect` syntax), listening on them and connecting to them.

use std::fmt;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};

use super::link::Link;
use super::Connection;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(String),
}

impl Address {
    pub fn parse(s: &str) -> Result<Address> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(Error::BadAddress(s.into()));
            }
            return Ok(Address::Unix(PathBuf::from(p)));
        }
        if let Some(hp) = s.strip_prefix("tcp:") {
            let ok = hp
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if ok {
                return Ok(Address::Tcp(hp.to_string()));
            }
        }
        Err(Error::BadAddress(s.into()))
    }

    /// Whether a TCP address is on the loopback interface only.
    pub fn is_loopback(&self) -> bool {
        match self {
            Address::Unix(_) => true,
            Address::Tcp(hp) => hp
                .to_socket_addrs()
                .map(|mut a| a.all(|a| a.ip().is_loopback()))
                .unwrap_or(false),
        }
    }

    /// Connects and performs the handshake.
    pub fn connect(&self, timeout: Duration) -> Result<Connection> {
        match self {
            Address::Unix(path) => {
                let fd = socket::socket(
                    AddressFamily::Unix,
                    SockType::SeqPacket,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )?;
                let addr = UnixAddr::new(path.as_path())?;
                socket::connect(fd.as_raw_fd(), &addr)?;
                Connection::handshake(Link::Packet(fd), timeout)
            }
            Address::Tcp(hp) => {
                let mut last = None;
                for a in hp.to_socket_addrs()? {
                    match TcpStream::connect_timeout(&a, timeout) {
                        Ok(s) => return Connection::handshake(Link::tcp(s)?, timeout),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.map_or_else(|| Error::BadAddress(hp.clone()), Error::Io))
            }
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Tcp(hp) => write!(f, "tcp:{hp}"),
        }
    }
}

impl std::str::FromStr for Address {
    type Err = Error;
    fn from_str(s: &str) -> Result<Address> {
        Address::parse(s)
    }
}

enum Inner {
    Unix { fd: OwnedFd, path: PathBuf },
    Tcp(TcpListener),
}

/// An accepted peer before its handshake.
pub struct Pending(Link);

impl Pending {
    /// Performs the handshake (waiting up to `timeout` for the peer's).
    pub fn handshake(self, timeout: Duration) -> Result<Connection> {
        Connection::handshake(self.0, timeout)
    }
}

/// A listening socket; each accepted peer becomes a [`Connection`].
pub struct Listener {
    inner: Inner,
    addr: Address,
}

impl Listener {
    /// Listens on `addr`. A unix socket file is created with mode 0600 and
    /// never exists with wider permissions, not even for an instant: it is
    /// bound inside a private directory, then renamed into place. A stale
    /// socket file at the path is replaced.
    pub fn bind(addr: &Address) -> Result<Listener> {
        match addr {
            Address::Unix(path) => {
                let fd = bind_unix_private(path)?;
                Ok(Listener {
                    inner: Inner::Unix {
                        fd,
                        path: path.clone(),
                    },
                    addr: addr.clone(),
                })
            }
            Address::Tcp(hp) => {
                let l = TcpListener::bind(hp.as_str())?;
                let local = l.local_addr()?;
                Ok(Listener {
                    inner: Inner::Tcp(l),
                    addr: Address::Tcp(local.to_string()),
                })
            }
        }
    }

    /// The bound address (for `tcp:HOST:0`, with the port the OS chose).
    pub fn address(&self) -> &Address {
        &self.addr
    }

    /// Waits for the next peer and performs the handshake with it.
    pub fn accept(&self, handshake_timeout: Duration) -> Result<Connection> {
        self.accept_pending()?.handshake(handshake_timeout)
    }

    /// Waits for the next peer, without the handshake: a server that takes
    /// many peers hands the [`Pending`] to another thread, so a peer that
    /// never completes its handshake does not keep the next one waiting.
    pub fn accept_pending(&self) -> Result<Pending> {
        match &self.inner {
            Inner::Unix { fd, .. } => {
                let c = socket::accept4(fd.as_raw_fd(), SockFlag::SOCK_CLOEXEC)?;
                // SAFETY: accept4 returned a fresh descriptor that we now own.
                let c = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(c) };
                Ok(Pending(Link::Packet(c)))
            }
            Inner::Tcp(l) => {
                let (s, _) = l.accept()?;
                Ok(Pending(Link::tcp(s)?))
            }
        }
    }

    pub fn set_nonblocking(&self, nb: bool) -> Result<()> {
        match &self.inner {
            Inner::Unix { fd, .. } => {
                let flags = nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
                let mut flags = nix::fcntl::OFlag::from_bits_truncate(flags);
                flags.set(nix::fcntl::OFlag::O_NONBLOCK, nb);
                nix::fcntl::fcntl(fd.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
            }
            Inner::Tcp(l) => l.set_nonblocking(nb)?,
        }
        Ok(())
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        match &self.inner {
            Inner::Unix { fd, .. } => fd.as_raw_fd(),
            Inner::Tcp(l) => l.as_raw_fd(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Inner::Unix { path, .. } = &self.inner {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn bind_unix_private(path: &Path) -> Result<OwnedFd> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::BadAddress(path.display().to_string()))?;
    // A private directory next to the target: nobody else can reach a socket in it.
    let private = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::create_dir(&private)?;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))?;
    let result = (|| {
        let tmp = private.join("s");
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        socket::bind(fd.as_raw_fd(), &UnixAddr::new(tmp.as_path())?)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        socket::listen(&fd, Backlog::new(64).unwrap_or(Backlog::MAXCONN))?;
        std::fs::rename(&tmp, path)?;
        Ok::<_, Error>(fd)
    })();
    let _ = std::fs::remove_dir_all(&private);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_address_forms_and_rejects_the_rest() {
        assert_eq!(
            Address::parse("unix:/tmp/x.sock").unwrap(),
            Address::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Address::parse("tcp:127.0.0.1:8332").unwrap(),
            Address::Tcp("127.0.0.1:8332".into())
        );
        assert_eq!(
            Address::parse("tcp:[::1]:1").unwrap(),
            Address::Tcp("[::1]:1".into())
        );
        for bad in [
            "",
            "unix:",
            "tcp:host",
            "tcp::1",
            "tcp:h:99999",
            "udp:1:2",
            "/tmp/x",
        ] {
            assert!(
                matches!(Address::parse(bad), Err(Error::BadAddress(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn loopback_detection() {
        assert!(Address::parse("tcp:127.0.0.1:1").unwrap().is_loopback());
        assert!(!Address::parse("tcp:0.0.0.0:1").unwrap().is_loopback());
    }
}
