//! The node library behind `bitcoin-node` and `bitcoind`.
//!
//! Status: not started. See the README's status section (issue "bitcoin-node").
