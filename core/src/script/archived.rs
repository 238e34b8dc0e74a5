//! Verifying the transactions of an archived block in place: the consensus
//! library reads each transaction's bytes straight from the archive
//! ([`TxRef::bytes`](crate::archive::TxRef::bytes)), nothing is decoded.

use super::flags::VerifyFlags;
use super::verify::{SpentOutput, SpentOutputs, VerifyError};
use crate::archive::ArchivedBlockArchive;

/// Verifies every input of transaction `tx` of `block` under `flags`.
///
/// `spent` holds the output spent by each input, in input order: its amount
/// and scriptPubKey (from the UTXO set, or from an earlier transaction of
/// the same block through [`OutputRef`](crate::archive::OutputRef)). A
/// coinbase spends nothing and runs no script: it takes an empty `spent`
/// and passes.
pub fn verify_archived_tx(
    block: &ArchivedBlockArchive,
    tx: usize,
    spent: &[SpentOutput<'_>],
    flags: VerifyFlags,
) -> Result<(), VerifyError> {
    let t = block.tx(tx).ok_or(VerifyError::NoSuchTx {
        tx,
        count: block.tx_count(),
    })?;
    let inputs = if t.is_coinbase() { 0 } else { t.input_count() };
    if spent.len() != inputs {
        return Err(VerifyError::SpentOutputsCount {
            given: spent.len(),
            inputs,
        });
    }
    if inputs == 0 {
        return Ok(());
    }
    SpentOutputs::new(spent)?.verify_all(t.bytes(), flags)
}
