//! The parts of a Bitcoin daemon process that are not its job: the command
//! line and `bitcoin.conf` ([`config`]), the JSON-RPC server with Core's
//! authentication ([`http`]), `debug.log` ([`logging`]), termination
//! signals ([`signals`]) and the data directory lock ([`daemon`]).
//! `bitcoin-node`, `bitcoind` and `bitcoin-wallet` share them, so the three
//! behave alike.

pub mod config;
pub mod daemon;
pub mod http;
pub mod logging;
pub mod signals;
pub mod workers;
