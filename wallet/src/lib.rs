//! The wallet library behind `bitcoin-wallet`.
//!
//! Status: not started. See the README's status section (issue "wallet process").
