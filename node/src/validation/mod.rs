//! The consensus rules of Bitcoin Core 28 as pure functions over archived
//! blocks ([`ArchivedBlockArchive`](btc_core::ArchivedBlockArchive)), with
//! Core's reject reasons ([`BlockError::reject_reason`]).
//!
//! The chainstate calls, per block:
//!
//! 1. [`check_block_header`] and [`contextual_check_block_header`] (with
//!    [`next_work_required`] and [`median_time_past`]) on the header;
//! 2. [`check_block`] and [`contextual_check_block`] on the block;
//! 3. after looking up the spent coins, [`check_bip30`] where
//!    [`ChainParams::bip30_check_required`](crate::params::ChainParams::bip30_check_required),
//!    then [`connect_block_checks`] (inputs, sequence locks, sigops,
//!    coinbase amount, scripts on a [`ScriptPool`]), with
//!    [`scripts_required`] deciding assumevalid.
//!
//! | module | Core |
//! |---|---|
//! | [`pow`] | `pow.cpp`, `arith_uint256`, `GetBlockProof` |
//! | `header` | `CheckBlockHeader`, `ContextualCheckBlockHeader`, `GetMedianTimePast` |
//! | `block` | `CheckBlock`, `ContextualCheckBlock`, `CheckWitnessMalleation`, BIP30 |
//! | `tx` | `CheckTransaction`, `IsFinalTx`, `Consensus::CheckTxInputs` |
//! | `locks` | `CalculateSequenceLocks`, `EvaluateSequenceLocks` |
//! | [`sigops`] | `GetLegacySigOpCount`, `GetP2SHSigOpCount`, `CountWitnessSigOps` |
//! | `connect` | `ConnectBlock`'s checks, assumevalid |
//! | `script_pool` | `CCheckQueue` (`-par`) |
//! | `script_error` | `ScriptError` strings, recovered after the library's verdict |
//! | `error` | reject reasons and debug messages |

mod block;
mod connect;
mod error;
mod header;
mod locks;
pub mod pow;
mod script_error;
mod script_pool;
pub mod sigops;
mod tx;

pub use block::{
    bip34_height_prefix, block_weight, check_bip30, check_block, check_witness_malleation,
    contextual_check_block, stripped_size,
};
pub use connect::{
    connect_block_checks, scripts_required, AssumeValid, ConnectContext, ConnectStats,
    ASSUMEVALID_MIN_DEPTH_SECONDS,
};
pub use error::{format_money, BlockError, TxError};
pub use header::{
    check_block_header, contextual_check_block_header, median_time_past, HeaderContext,
    MEDIAN_TIME_SPAN,
};
pub use locks::{
    calculate_sequence_locks, evaluate_sequence_locks, SequenceLocks,
    SEQUENCE_LOCKTIME_DISABLE_FLAG, SEQUENCE_LOCKTIME_GRANULARITY, SEQUENCE_LOCKTIME_MASK,
    SEQUENCE_LOCKTIME_TYPE_FLAG,
};
pub use pow::{
    block_proof, block_proof_equivalent_time, check_proof_of_work, next_work_required, HeaderInfo,
    MissingAncestor, U256,
};
pub use script_error::{diagnose, is_valid_der, ScriptError};
pub use script_pool::{ScriptFailure, ScriptPool, ScriptRun, MAX_SCRIPTCHECK_WORKERS};
pub use sigops::{legacy_sigop_count, transaction_sigop_cost, MAX_BLOCK_SIGOPS_COST};
pub use tx::{
    check_transaction, check_tx_inputs, is_final_tx, money_range, LOCKTIME_THRESHOLD, MAX_MONEY,
    SEQUENCE_FINAL,
};
