//! Verifying inputs with Bitcoin Core's consensus library
//! (`bitcoinconsensus`, Core 26.0's `libbitcoinconsensus`).
//!
//! Every call passes the amount and scriptPubKey of **every** output the
//! transaction spends, not only the one being verified: taproot signatures
//! commit to all of them, and the library checks them only when it has
//! them. [`SpentOutputs`] builds the library's array once per transaction.

use bitcoin::Amount;
use bitcoinconsensus::Utxo;

use super::flags::VerifyFlags;

/// One spent output: its amount and scriptPubKey bytes.
pub type SpentOutput<'a> = (Amount, &'a [u8]);

/// Why an input did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The consensus library rejected the input: `ERR_SCRIPT` means the
    /// script failed (the library does not say why), any other code that
    /// the call itself was wrong (bad index, bytes that are not a
    /// transaction, spent outputs that don't match its inputs...).
    #[error("input {input}: {}", describe(.error))]
    Consensus {
        input: usize,
        error: bitcoinconsensus::Error,
    },
    #[error("input {input} out of range: the transaction has {inputs} inputs")]
    InputIndex { input: usize, inputs: usize },
    #[error("{given} spent outputs given for a transaction with {inputs} inputs")]
    SpentOutputsCount { given: usize, inputs: usize },
    #[error("flags {0}: WITNESS requires P2SH")]
    InvalidFlags(VerifyFlags),
    #[error("spent output {input}: amount {amount} is out of range")]
    AmountOutOfRange { input: usize, amount: Amount },
    #[error("{what} of {len} bytes is too large for the consensus library")]
    TooLarge { what: &'static str, len: usize },
    #[error("transaction {tx} is not in the block ({count} transactions)")]
    NoSuchTx { tx: usize, count: usize },
}

impl VerifyError {
    /// Whether the script itself failed (rather than the call being wrong).
    pub fn is_script_failure(&self) -> bool {
        matches!(
            self,
            VerifyError::Consensus {
                error: bitcoinconsensus::Error::ERR_SCRIPT,
                ..
            }
        )
    }
}

fn describe(error: &bitcoinconsensus::Error) -> String {
    match error {
        // Core leaves its error at ERR_OK (0) when the script fails; the
        // binding names that value ERR_SCRIPT.
        bitcoinconsensus::Error::ERR_SCRIPT => "script verification failed (ERR_SCRIPT)".into(),
        other => format!("consensus library error {other:?}: {other}"),
    }
}

/// The spent outputs of one transaction, in input order, prepared for the
/// consensus library (its `UTXO` array points into the borrowed scripts).
pub struct SpentOutputs<'a> {
    spent: &'a [SpentOutput<'a>],
    utxos: Vec<Utxo>,
}

impl<'a> SpentOutputs<'a> {
    /// Prepares `spent`: one entry per input of the transaction, in order.
    pub fn new(spent: &'a [SpentOutput<'a>]) -> Result<SpentOutputs<'a>, VerifyError> {
        let utxos = spent
            .iter()
            .enumerate()
            .map(|(input, &(amount, script))| {
                let value = i64::try_from(amount.to_sat())
                    .map_err(|_| VerifyError::AmountOutOfRange { input, amount })?;
                Ok(Utxo {
                    script_pubkey: script.as_ptr(),
                    script_pubkey_len: c_len("scriptPubKey", script.len())?,
                    value,
                })
            })
            .collect::<Result<Vec<_>, VerifyError>>()?;
        Ok(SpentOutputs { spent, utxos })
    }

    /// Number of spent outputs (the transaction's input count).
    pub fn len(&self) -> usize {
        self.spent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spent.is_empty()
    }

    /// Verifies input `input` of `tx` (its full serialization, witnesses
    /// included) under `flags`.
    pub fn verify(&self, tx: &[u8], input: usize, flags: VerifyFlags) -> Result<(), VerifyError> {
        if !flags.is_valid() {
            return Err(VerifyError::InvalidFlags(flags));
        }
        let &(amount, script) = self.spent.get(input).ok_or(VerifyError::InputIndex {
            input,
            inputs: self.spent.len(),
        })?;
        c_len("transaction", tx.len())?;
        bitcoinconsensus::verify_with_flags(
            script,
            amount.to_sat(),
            tx,
            Some(&self.utxos),
            input,
            flags.bits(),
        )
        .map_err(|error| VerifyError::Consensus { input, error })
    }

    /// Verifies every input of `tx` under `flags`, stopping at the first
    /// failure. The library parses `tx` once per input.
    pub fn verify_all(&self, tx: &[u8], flags: VerifyFlags) -> Result<(), VerifyError> {
        (0..self.len()).try_for_each(|input| self.verify(tx, input, flags))
    }
}

/// The library takes lengths as C `unsigned int`.
fn c_len(what: &'static str, len: usize) -> Result<u32, VerifyError> {
    u32::try_from(len).map_err(|_| VerifyError::TooLarge { what, len })
}

/// Verifies input `input` of the serialized transaction `tx` (witnesses
/// included), given the outputs spent by **all** its inputs, in order.
pub fn verify_input(
    tx: &[u8],
    input: usize,
    spent: &[SpentOutput<'_>],
    flags: VerifyFlags,
) -> Result<(), VerifyError> {
    SpentOutputs::new(spent)?.verify(tx, input, flags)
}

/// Verifies every input of the serialized transaction `tx`, given the
/// outputs spent by all its inputs, in order.
pub fn verify_tx(
    tx: &[u8],
    spent: &[SpentOutput<'_>],
    flags: VerifyFlags,
) -> Result<(), VerifyError> {
    SpentOutputs::new(spent)?.verify_all(tx, flags)
}
