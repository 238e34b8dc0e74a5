//! The node library behind `bitcoin-node` and `bitcoind`.
//!
//! Status: the storage layer ([`store`]): the UTXO set in an embedded
//! database, with three engines behind one trait and a benchmark that chose
//! between them (README, "Storage engine choice"). Validation, chainstate and
//! RPC are not started. See the README's status section (issue
//! "bitcoin-node").

pub mod store;
