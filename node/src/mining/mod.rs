//! Block assembly for mining (`generatetoaddress`, `generatetodescriptor`,
//! `generateblock`).
//!
//! | module | job |
//! |---|---|
//! | `select` | Core's `addPackageTxs`: mempool transactions by ancestor fee rate |
//! | `block` | coinbase, witness commitment, header; [`assemble`], [`assemble_with`], [`grind`] |
//! | `descriptor` | [`script_for_descriptor`] (`generatetodescriptor`) |

mod block;
mod descriptor;
mod select;

use bitcoin::{Amount, BlockHash, CompactTarget, ScriptBuf};

pub use block::{assemble, assemble_with, coinbase_script_sig, grind, Grind};
pub use descriptor::script_for_descriptor;

use crate::mempool::FeeRate;

/// Core's `MAX_BLOCK_SIGOPS_COST`.
pub const MAX_BLOCK_SIGOPS_COST: i64 = crate::validation::MAX_BLOCK_SIGOPS_COST as i64;
/// Core's `DEFAULT_BLOCK_MAX_WEIGHT` (`-blockmaxweight`).
pub const DEFAULT_BLOCK_MAX_WEIGHT: u64 = 3_996_000;
/// Core's `DEFAULT_BLOCK_MIN_TX_FEE` (`-blockmintxfee`), sat/kvB.
pub const DEFAULT_BLOCK_MIN_TX_FEE: i64 = 1000;
/// Core's default `maxtries` of `generatetoaddress`.
pub const DEFAULT_MAX_TRIES: u64 = 1_000_000;

/// What the block being built needs from the chain and the caller.
#[derive(Clone, Debug)]
pub struct TemplateContext {
    /// Height of the new block.
    pub height: u32,
    pub prev_hash: BlockHash,
    /// Median time past of the previous block (lock time cutoff).
    pub prev_mtp: i64,
    /// Header time: `max(now, prev_mtp + 1)`.
    pub time: u32,
    pub bits: CompactTarget,
    /// Header version (`0x20000000` with no deployment signalling).
    pub version: i32,
    pub subsidy: Amount,
    /// Where the coinbase pays.
    pub coinbase_script: ScriptBuf,
    /// `-blockmaxweight` ([`DEFAULT_BLOCK_MAX_WEIGHT`]); 4000 more are
    /// reserved for the coinbase, as in Core.
    pub max_weight: u64,
    /// `-blockmintxfee`: packages below it are left out.
    pub min_fee_rate: FeeRate,
}

/// Why a block could not be built, with Core's RPC code and message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MiningError {
    /// A transaction given to [`assemble_with`] makes the block invalid
    /// (Core's `TestBlockValidity failed: reason, debug`).
    #[error("TestBlockValidity failed: {}", state_string(.reason, .debug))]
    InvalidBlock { reason: String, debug: String },
    /// The descriptor does not parse (Core's parser message where this
    /// crate reproduces it, else the parser's own).
    #[error("{0}")]
    Descriptor(String),
    #[error("Ranged descriptor not accepted. Maybe pass through deriveaddresses first?")]
    RangedDescriptor,
    #[error("Multipath descriptor not accepted")]
    MultipathDescriptor,
    #[error("Cannot derive script without private keys")]
    NoPrivateKeys,
}

fn state_string(reason: &str, debug: &str) -> String {
    if debug.is_empty() {
        reason.to_string()
    } else {
        format!("{reason}, {debug}")
    }
}

impl MiningError {
    /// Core's JSON-RPC error code.
    pub fn rpc_code(&self) -> i32 {
        match self {
            // RPC_VERIFY_ERROR
            MiningError::InvalidBlock { .. } => -25,
            // RPC_INVALID_PARAMETER
            MiningError::RangedDescriptor => -8,
            // RPC_INVALID_ADDRESS_OR_KEY
            MiningError::Descriptor(_)
            | MiningError::MultipathDescriptor
            | MiningError::NoPrivateKeys => -5,
        }
    }

    /// Core's JSON-RPC error message.
    pub fn rpc_message(&self) -> String {
        self.to_string()
    }
}
