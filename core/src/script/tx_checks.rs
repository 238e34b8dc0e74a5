//! The context-free transaction checks (Bitcoin Core's `CheckTransaction`):
//! what a transaction must satisfy before any script runs, whatever the
//! chain.

use std::collections::HashSet;

use bitcoin::{OutPoint, Transaction};

/// Core's `MAX_MONEY`: 21 million bitcoin, in satoshis.
pub const MAX_MONEY: u64 = 21_000_000 * 100_000_000;
/// Core's `MAX_BLOCK_WEIGHT`.
pub const MAX_BLOCK_WEIGHT: usize = 4_000_000;
/// `WITNESS_SCALE_FACTOR`.
const WITNESS_SCALE_FACTOR: usize = 4;

/// Why a transaction fails the context-free checks (Core's reject reason in
/// each message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxCheckError {
    #[error("bad-txns-vin-empty: no inputs")]
    NoInputs,
    #[error("bad-txns-vout-empty: no outputs")]
    NoOutputs,
    #[error("bad-txns-oversize: {base_size} bytes without witness, more than a block's weight")]
    Oversize { base_size: usize },
    #[error("bad-txns-vout-negative: output {output} has a negative value")]
    NegativeOutput { output: usize },
    #[error("bad-txns-vout-toolarge: output {output} is worth more than 21 million bitcoin")]
    OutputTooLarge { output: usize },
    #[error(
        "bad-txns-txouttotal-toolarge: outputs up to {output} total more than 21 million bitcoin"
    )]
    TotalTooLarge { output: usize },
    #[error("bad-txns-inputs-duplicate: {0} is spent twice")]
    DuplicateInput(OutPoint),
    #[error("bad-cb-length: coinbase scriptSig of {len} bytes, not 2 to 100")]
    CoinbaseScriptSize { len: usize },
    #[error("bad-txns-prevout-null: input {input} spends the null outpoint")]
    NullPrevout { input: usize },
}

/// Core's `CheckTransaction`, in Core's order.
pub fn check_transaction(tx: &Transaction) -> Result<(), TxCheckError> {
    if tx.input.is_empty() {
        return Err(TxCheckError::NoInputs);
    }
    if tx.output.is_empty() {
        return Err(TxCheckError::NoOutputs);
    }
    let base_size = tx.base_size();
    if base_size * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT {
        return Err(TxCheckError::Oversize { base_size });
    }
    let mut total: u64 = 0;
    for (output, out) in tx.output.iter().enumerate() {
        // The wire value is a signed 64-bit integer; rust-bitcoin reads it
        // as unsigned.
        let value = out.value.to_sat();
        if (value as i64) < 0 {
            return Err(TxCheckError::NegativeOutput { output });
        }
        if value > MAX_MONEY {
            return Err(TxCheckError::OutputTooLarge { output });
        }
        total += value;
        if total > MAX_MONEY {
            return Err(TxCheckError::TotalTooLarge { output });
        }
    }
    let mut seen = HashSet::with_capacity(tx.input.len());
    for input in &tx.input {
        if !seen.insert(input.previous_output) {
            return Err(TxCheckError::DuplicateInput(input.previous_output));
        }
    }
    if tx.is_coinbase() {
        let len = tx.input[0].script_sig.len();
        if !(2..=100).contains(&len) {
            return Err(TxCheckError::CoinbaseScriptSize { len });
        }
    } else if let Some(input) = tx.input.iter().position(|i| i.previous_output.is_null()) {
        return Err(TxCheckError::NullPrevout { input });
    }
    Ok(())
}
