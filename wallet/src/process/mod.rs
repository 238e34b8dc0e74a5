//! `bitcoin-wallet`: the wallets in their own process, fed by a node over
//! shm-ipc. [`run`] is the program; [`RemoteChain`] is the node as the
//! wallets see it; [`WalletService`] applies the node's notifications and
//! answers RPC calls.

mod remote_chain;
mod run;
mod service;

pub use remote_chain::RemoteChain;
pub use run::{run, KNOWN_OPTIONS};
pub use service::WalletService;
