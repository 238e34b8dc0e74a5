//! The node library behind `bitcoin-node` and `bitcoind`.
//!
//! Layers, bottom up: [`params`] (the networks), [`store`] (the UTXO set on
//! disk), [`validation`] (consensus rules as functions), [`mempool`] and
//! [`mining`], [`config`] (arguments and `bitcoin.conf`) and [`http`] (the
//! JSON-RPC transport).

pub use btc_service::{config, http, log_line, logging, signals};

pub mod app;
pub mod blockfiles;
pub mod blockindex;
pub mod chainstate;
pub mod ipc;
pub mod mempool;
pub mod mining;
pub mod node;
pub mod params;
pub mod rpc;
pub mod store;
pub mod undo;
pub mod validation;
pub mod wallets;
