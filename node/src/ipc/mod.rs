//! `bitcoin-node`'s side of the multiprocess split: the notification rings
//! ([`publisher`]), the wallet child ([`supervisor`]), every connected
//! process ([`peer`], [`hub`]) and the Chain calls wallets make
//! ([`chain_server`]).

pub mod chain_server;
pub mod hub;
pub mod peer;
pub mod publisher;
pub mod setup;
pub mod supervisor;

pub use hub::{Hub, Origin};
pub use publisher::Publisher;
pub use setup::start;
pub use supervisor::Supervisor;
