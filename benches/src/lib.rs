//! Comparison harnesses.
//!
//! * [`ipc_compare`]: the `ipc-compare` binary's logic (IPC transports
//!   measured between two real processes).
//! * [`system_bench`]: the `system-bench` binary (the node and its wallet
//!   on a synthetic regtest history).

pub mod ipc_compare;
pub mod system_bench;
