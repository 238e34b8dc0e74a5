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

#[cfg(test)]
mod tests {
    use bitcoin::hashes::Hash;
    use bitcoin::transaction::Version;
    use bitcoin::{absolute, Amount, ScriptBuf, Sequence, TxIn, TxOut, Txid, Witness};

    use super::*;

    fn input(vout: u32, script_sig: usize) -> TxIn {
        TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), vout),
            script_sig: ScriptBuf::from_bytes(vec![0x51; script_sig]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }
    }

    fn output(sat: u64) -> TxOut {
        TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: ScriptBuf::new(),
        }
    }

    fn tx(input: Vec<TxIn>, output: Vec<TxOut>) -> Transaction {
        Transaction {
            version: Version::ONE,
            lock_time: absolute::LockTime::ZERO,
            input,
            output,
        }
    }

    fn coinbase(script_sig: usize) -> Transaction {
        let mut cb = input(0, script_sig);
        cb.previous_output = OutPoint::null();
        tx(vec![cb], vec![output(1)])
    }

    #[test]
    fn each_rule() {
        assert_eq!(
            check_transaction(&tx(vec![input(0, 1)], vec![output(1)])),
            Ok(())
        );
        assert_eq!(
            check_transaction(&tx(vec![], vec![output(1)])),
            Err(TxCheckError::NoInputs)
        );
        assert_eq!(
            check_transaction(&tx(vec![input(0, 1)], vec![])),
            Err(TxCheckError::NoOutputs)
        );
        assert_eq!(
            check_transaction(&tx(vec![input(0, 1_000_000)], vec![output(1)])),
            Err(TxCheckError::Oversize {
                base_size: 1_000_064
            })
        );
        assert_eq!(
            check_transaction(&tx(vec![input(0, 1)], vec![output(1), output(u64::MAX)])),
            Err(TxCheckError::NegativeOutput { output: 1 })
        );
        assert_eq!(
            check_transaction(&tx(vec![input(0, 1)], vec![output(MAX_MONEY + 1)])),
            Err(TxCheckError::OutputTooLarge { output: 0 })
        );
        assert_eq!(
            check_transaction(&tx(
                vec![input(0, 1)],
                vec![output(MAX_MONEY), output(MAX_MONEY)]
            )),
            Err(TxCheckError::TotalTooLarge { output: 1 })
        );
        let dup = input(3, 1);
        assert_eq!(
            check_transaction(&tx(vec![dup.clone(), dup.clone()], vec![output(1)])),
            Err(TxCheckError::DuplicateInput(dup.previous_output))
        );
        assert_eq!(check_transaction(&coinbase(2)), Ok(()));
        assert_eq!(check_transaction(&coinbase(100)), Ok(()));
        assert_eq!(
            check_transaction(&coinbase(1)),
            Err(TxCheckError::CoinbaseScriptSize { len: 1 })
        );
        assert_eq!(
            check_transaction(&coinbase(101)),
            Err(TxCheckError::CoinbaseScriptSize { len: 101 })
        );
        let mut null = coinbase(2).input.remove(0);
        null.script_sig = ScriptBuf::new();
        assert_eq!(
            check_transaction(&tx(vec![input(0, 1), null], vec![output(1)])),
            Err(TxCheckError::NullPrevout { input: 1 })
        );
    }
}
