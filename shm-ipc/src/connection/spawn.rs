//! Starting a child process that inherits one end of a socketpair, and
//! finding that end again in the child (`-ipcfd=N`).

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use super::link::Link;
use super::Connection;
use crate::error::{Error, Result};
use crate::platform;

/// The argument that tells a child which descriptor is its connection.
pub const IPC_FD_ARG: &str = "-ipcfd=";

#[derive(Debug, Clone, Copy)]
pub struct SpawnOptions {
    /// The child gets SIGTERM if we die (so nothing is left behind).
    pub die_with_parent: bool,
    pub handshake_timeout: Duration,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        SpawnOptions {
            die_with_parent: true,
            handshake_timeout: Duration::from_secs(30),
        }
    }
}

/// Spawns `cmd` with `-ipcfd=N` appended, N being its end of a new
/// `SOCK_SEQPACKET` socketpair, and performs the handshake with it.
pub fn spawn_child(cmd: &mut Command, opts: SpawnOptions) -> Result<(Child, Connection)> {
    let (ours, theirs) = platform::seqpacket_pair()?;
    let n = theirs.as_raw_fd();
    cmd.arg(format!("{IPC_FD_ARG}{n}"));
    let die = opts.die_with_parent;
    // SAFETY: the closure runs between fork and exec and only calls fcntl and
    // prctl, which are async-signal-safe; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            platform::clear_cloexec(n)?;
            if die {
                platform::die_with_parent()?;
            }
            Ok(())
        })
    };
    let mut child = cmd.spawn()?;
    // Our copy of the child's end must go, or we'd never see its EOF.
    drop(theirs);
    match Connection::handshake(Link::Packet(ours), opts.handshake_timeout) {
        Ok(c) => Ok((child, c)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// In a child: the connection named by `-ipcfd=N` among `args`, if any.
pub fn connection_from_args<I, S>(args: I, timeout: Duration) -> Option<Result<Connection>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let arg = args.into_iter().find_map(|a| {
        let a = a.as_ref();
        a.strip_prefix(IPC_FD_ARG)
            .or_else(|| a.strip_prefix("--ipcfd="))
            .map(str::to_owned)
    })?;
    Some((|| {
        let n: i32 = arg
            .parse()
            .map_err(|_| Error::Config(format!("bad -ipcfd value {arg:?}")))?;
        let fd = platform::adopt_fd(n)?;
        Connection::from_fd(fd, timeout)
    })())
}
