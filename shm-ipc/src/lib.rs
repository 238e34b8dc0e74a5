//! # shm-ipc
//!
//! Typed, zero-copy channels between processes. A producer serializes an rkyv
//! archive straight into a ring slot in shared memory; every consumer reads it
//! where it lies. A small `SOCK_SEQPACKET` control connection carries the
//! handshake, the segments' descriptors, request/response calls and shutdown.
//! Over TCP, where memory can't be shared, the same API carries
//! length-prefixed archives instead.
//!
//! Layers, bottom up: [`platform`] (the only OS-specific code) → [`ring`]
//! (segments, the lock-free ring, producer and consumer) → [`channel`] (typed
//! senders, loans and receivers) → [`connection`] (handshake, calls, channel
//! offers, the stream fallback, addresses and child processes).

pub mod channel;
pub mod connection;
pub mod error;
pub mod platform;
pub mod ring;

pub use channel::{ChannelConfig, Loan, Message, Receiver, Record, Sender, Trust};
pub use connection::{
    connection_from_args, spawn_child, Address, Connection, Listener, Request, SpawnOptions,
};
pub use error::{Error, Result};
pub use ring::Policy;

/// Version of the wire protocol (control messages and ring layout).
pub const PROTOCOL_VERSION: u32 = 1;

/// Creates a channel and one in-process receiver: the same ring and protocol
/// as between processes, without a socket. (More receivers:
/// [`Sender::subscribe_local`].)
pub fn channel<T: Message>(cfg: ChannelConfig) -> Result<(Sender<T>, Receiver<T>)> {
    let tx = Sender::new(cfg)?;
    // SAFETY: the producer is this very process, writing through `Sender`,
    // which only writes valid archives of T.
    let rx = tx.subscribe_local(unsafe { Trust::trusted() })?;
    Ok((tx, rx))
}
