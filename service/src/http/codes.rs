//! Core's JSON-RPC error codes, shared with the wallet: see
//! [`btc_core::rpc_codes`].

pub use btc_core::rpc_codes::*;
