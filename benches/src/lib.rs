//! Comparison harnesses.
//!
//! * [`ipc_compare`]: the `ipc-compare` binary's logic (IPC transports
//!   measured between two real processes).

pub mod ipc_compare;
