//! The one error type of the crate. Nothing a peer sends or does makes us
//! panic: every failure ends up here.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer process exited, crashed or closed its connection.
    #[error("the peer disconnected")]
    PeerDied,
    /// The producer closed the channel and every record has been read.
    #[error("the channel was closed by its producer")]
    Closed,
    #[error("protocol version mismatch: we speak {ours}, the peer speaks {theirs}")]
    VersionMismatch { ours: u32, theirs: u32 },
    #[error("ring epoch {found} is not the peer's epoch {expected}: stale segment")]
    StaleEpoch { expected: u64, found: u64 },
    #[error("record of {size} bytes is larger than the ring's limit of {capacity} bytes")]
    RecordTooLarge { size: u64, capacity: u64 },
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// A `Lag` consumer fell behind: records `first..next` were overwritten
    /// before it read them. The next receive returns record `next`.
    #[error("missed records {first}..{next} (consumer lagged)")]
    Gap { first: u64, next: u64 },
    #[error("timed out")]
    Timeout,
    #[error("protocol violation by the peer: {0}")]
    Protocol(String),
    #[error("the peer answered with an error: {0}")]
    Remote(String),
    #[error("bad address {0:?}: expected unix:PATH or tcp:HOST:PORT")]
    BadAddress(String),
    #[error("channel {0} was not offered by the peer")]
    NoSuchChannel(u32),
    #[error("channel carries {theirs}, not {ours}")]
    TypeMismatch { ours: String, theirs: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("this needs shared memory, which a {0} connection cannot carry")]
    NotShared(&'static str),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// Whether the channel or connection can't be used any more.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Error::PeerDied | Error::Closed | Error::Io(_) | Error::Protocol(_)
        )
    }
}

impl From<nix::errno::Errno> for Error {
    fn from(e: nix::errno::Errno) -> Error {
        Error::Io(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
