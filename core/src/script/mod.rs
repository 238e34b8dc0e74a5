//! Script verification through Bitcoin Core's consensus library
//! (`bitcoinconsensus` 0.106, Core 26.0's `libbitcoinconsensus`, built from
//! C++ by the `cc` crate).
//!
//! | module | job |
//! |---|---|
//! | [`flags`] | [`VerifyFlags`], what the library evaluates; [`regtest_flags`] |
//! | [`core_flags`] | [`CoreFlags`]: Core's flag names, policy flags included, as the vectors write them |
//! | [`verify`] | verify one input or a whole transaction from its bytes, given every spent output |
//! | `archived` | [`verify_archived_tx`]: a transaction of an archived block, in place |
//! | [`asm`] | Core's script notation, as its test vectors write scripts |
//! | [`tx_checks`] | Core's context-free transaction checks (`CheckTransaction`) |
//!
//! ```no_run
//! # use btc_core::script::{verify_archived_tx, regtest_flags};
//! # fn f(block: &btc_core::ArchivedBlockArchive, height: u32,
//! #      spent: &[(bitcoin::Amount, &[u8])]) -> Result<(), btc_core::script::VerifyError> {
//! // spent: (amount, scriptPubKey) of the output each input of tx 1 spends
//! verify_archived_tx(block, 1, spent, regtest_flags(height))?;
//! # Ok(()) }
//! ```

mod archived;
pub mod asm;
pub mod core_flags;
pub mod flags;
pub mod tx_checks;
pub mod verify;

pub use archived::verify_archived_tx;
pub use core_flags::{CoreFlags, FlagsError};
pub use flags::{regtest_flags, VerifyFlags};
pub use tx_checks::{check_transaction, TxCheckError};
pub use verify::{verify_input, verify_tx, SpentOutput, SpentOutputs, VerifyError};

/// Core's `MAX_SCRIPT_SIZE`.
pub const MAX_SCRIPT_SIZE: usize = 10_000;

/// Core's `CScript::IsUnspendable`: starts with `OP_RETURN` or is longer
/// than [`MAX_SCRIPT_SIZE`]. Such outputs never enter the UTXO set.
pub fn is_unspendable(script: &[u8]) -> bool {
    script.first() == Some(&0x6a) || script.len() > MAX_SCRIPT_SIZE
}
