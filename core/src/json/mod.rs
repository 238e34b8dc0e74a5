//! The JSON shapes of Bitcoin Core 28's RPC answers for amounts,
//! transactions, scripts, blocks, headers and block statistics, so that the
//! node's (and later the wallet's) answers are byte for byte Core's.
//!
//! Two serde_json features, set once for the whole workspace, make that
//! possible:
//! - `arbitrary_precision`: a [`serde_json::Number`] keeps its literal text.
//!   Amounts are written `50.00000000` (Core's `ValueFromAmount`), doubles
//!   with Core's 16 significant digits, and an amount received in a request
//!   is parsed from the exact text the client sent (Core's `AmountFromValue`
//!   also works on the literal).
//! - `preserve_order`: objects keep the order in which keys were inserted,
//!   which is the order Core's `pushKV` calls give.
//!
//! Modules:
//! - [`amount`]: amounts out ([`amount`]) and in ([`parse_amount`]).
//! - [`params`]: Core's parameter helpers and error codes ([`ParamError`],
//!   [`parse_hash_v`], [`parse_hex_v`], [`decode_hex_tx`], [`decode_hex_block`]).
//! - [`script`]: `asm`, output types, addresses, inferred descriptors
//!   ([`script_to_asm`], [`script_type`], [`script_pubkey_to_json`],
//!   [`decode_script`], [`decode_script_hex`]).
//! - [`tx`]: Core's `TxToUniv` ([`tx_to_json`]).
//! - [`block`]: difficulty, `getblockheader` and `getblock` objects.
//! - [`stats`]: `getblockstats` ([`block_stats`]).

pub mod amount;
pub mod block;
mod decode;
pub mod descriptor;
mod number;
pub mod params;
pub mod script;
pub mod stats;
pub mod tx;

pub use amount::{amount, parse_amount, parse_fixed_point, MAX_MONEY};
pub use block::{
    block_to_json, difficulty, header_to_json, BlockJsonError, HeaderInfo, TxVerbosity,
};
pub use number::double;
pub use params::{
    decode_hex_block, decode_hex_block_header, decode_hex_tx, parse_hash_v, parse_hex_v,
    ParamError, RPC_DESERIALIZATION_ERROR, RPC_INTERNAL_ERROR, RPC_INVALID_PARAMETER,
    RPC_TYPE_ERROR,
};
pub use script::{
    decode_script, decode_script_hex, script_pubkey_to_json, script_to_asm, script_type, solve,
    Solution, TxoutType,
};
pub use stats::{block_stats, percentiles_by_weight, truncated_median, BlockStatsInput};
pub use tx::{tx_to_json, SpentOutput, TxJsonOptions};
