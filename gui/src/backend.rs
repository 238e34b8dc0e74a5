//! The GUI's view of the node and its wallets (Core's `interfaces::Node`
//! and `interfaces::Wallet`), kept to what a window needs: JSON-RPC calls,
//! a stream of notifications, and whether the node is still there.
//!
//! The UI thread never calls a [`Backend`]: the workers of
//! [`crate::worker::Session`] do, and hand results back as messages.

use std::sync::Arc;

use crossbeam_channel as cc;
use serde_json::Value;

use crate::error::BackendError;

/// What the node told the GUI (decoded from its notification ring).
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    /// The best block changed (`updatedBlockTip`).
    Tip { height: u32, hash: String },
    /// A block was connected or disconnected.
    Block { height: u32, connected: bool },
    /// A transaction entered or left the mempool.
    Mempool,
    /// A wallet's balance or transactions changed.
    WalletChanged { wallet: String },
    /// Records were missed (the GUI was slow): re-read everything.
    Lagged,
    /// The node went away; nothing follows.
    Disconnected { reason: String },
}

/// A notification with the time it spent between the node's publish and
/// the GUI's receive, when known.
#[derive(Debug, Clone, PartialEq)]
pub struct Notified {
    pub what: Notification,
    pub latency_us: Option<u64>,
}

impl From<Notification> for Notified {
    fn from(what: Notification) -> Notified {
        Notified {
            what,
            latency_us: None,
        }
    }
}

/// A connection to a node. Implementations are called from worker
/// threads, several at once.
pub trait Backend: Send + Sync {
    /// One JSON-RPC call, run by the node exactly like an HTTP one;
    /// `wallet` is the `/wallet/<name>` endpoint.
    fn rpc(&self, wallet: Option<&str>, method: &str, params: Value)
        -> Result<Value, BackendError>;

    /// The notification stream. Ends with [`Notification::Disconnected`]
    /// when the node goes away.
    fn notifications(&self) -> cc::Receiver<Notified>;

    /// Whether the node is still there.
    fn is_connected(&self) -> bool;

    /// The chain the node runs (Core's name: `main`, `test`, `regtest`...).
    fn chain(&self) -> String;

    /// Whether closing the window stops the node (the GUI started it).
    fn owns_node(&self) -> bool;

    /// The process id of the node, when the GUI started it.
    fn node_pid(&self) -> Option<u32> {
        None
    }

    /// Ends the connection: a node the GUI started is stopped and waited
    /// for (killed after a timeout); an attached node is left running.
    /// `progress` hears what is going on. Idempotent.
    fn close(&self, progress: &dyn Fn(&str));
}

/// Starts or reaches a node: called at start and again for
/// "restart"/"reconnect", always off the UI thread.
pub trait Connector: Send + Sync {
    fn connect(&self, progress: &dyn Fn(&str)) -> Result<Arc<dyn Backend>, BackendError>;

    /// Whether [`connect`](Self::connect) starts a node (so the GUI offers
    /// "restart") or attaches to one ("reconnect").
    fn spawns(&self) -> bool;

    /// Where the node is, for the window's status line.
    fn describe(&self) -> String;

    /// Gives up a [`connect`](Self::connect) under way (the window is
    /// closing): it returns an error soon, stopping a node it started.
    fn cancel(&self) {}
}
