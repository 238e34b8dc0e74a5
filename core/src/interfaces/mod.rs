//! The interfaces between the node, wallet and GUI processes, modelled on
//! Bitcoin Core's `interfaces::Chain`, `interfaces::Wallet` and
//! `interfaces::Node`, and kept small.
//!
//! Two kinds of traffic cross a process boundary:
//!
//! - **Notifications** ([`event`]): records in an shm-ipc ring, written once
//!   by the node and read in place by every subscriber. A block
//!   notification carries the archived block itself.
//! - **Calls** ([`calls`]): rare request/reply pairs on the control
//!   channel (`shm_ipc::Connection::call`), with JSON payloads. Nothing on
//!   a hot path is a call: blocks never are, and a rescan maps the node's
//!   block files instead of asking for blocks one by one.
//!
//! Every payload one process gets from another is checked before use; the
//! node in particular treats everything a wallet or GUI sends as hostile.

pub mod calls;
pub mod event;
pub mod latency;

pub use calls::{
    method, BlockLocation, BlockLocations, BlockRange, BroadcastRequest, Hello, HelloReply,
    Locator, RemoteError, Role, RpcReply, RpcRequest,
};
pub use event::{ArchivedEventSchema, Event, EventKind, EventRecord, EventSchema};

/// Version of this protocol. A peer with another one is refused at
/// [`method::HELLO`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Channel number of the node's notification ring (policy `Block`: no
/// notification is ever lost; a subscriber that stops reading holds the
/// node's publisher back until it is dropped).
pub const EVENTS_CHANNEL: u32 = 1;

/// Channel number of the GUI's notification ring (policy `Lag`: a slow
/// GUI misses records, never slows the node; it re-reads state on the
/// next one).
pub const UI_CHANNEL: u32 = 2;

/// Capacity of the notification ring: room for several of the largest
/// blocks (a 4 MB block archives to under 8 MB).
pub const EVENTS_RING_BYTES: u64 = 64 << 20;

/// Capacity of the GUI's ring (its records are small).
pub const UI_RING_BYTES: u64 = 1 << 20;
