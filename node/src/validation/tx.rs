//! Transaction rules: Core's `CheckTransaction` (context-free),
//! `IsFinalTx` (lock time) and `Consensus::CheckTxInputs` (with the spent
//! coins), on transactions read in place from the archive.
//!
//! `check_transaction` here reads the archive's tables directly instead of
//! decoding a `bitcoin::Transaction` (what `btc_core::script::
//! check_transaction` takes): decoding allocates every script and witness
//! of every transaction of the block, while all the rule needs is counts,
//! output values, base size and outpoints, which the archive has in O(1).
//! The only allocation is a sorted outpoint list for transactions with many
//! inputs (the duplicate check).

use bitcoin::Amount;
use btc_core::archive::TxRef;

use super::error::TxError;
use crate::store::Coin;

/// Core's `MAX_MONEY`, in satoshis.
pub const MAX_MONEY: u64 = 21_000_000 * 100_000_000;
/// Core's `MAX_BLOCK_WEIGHT`.
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// Core's `LOCKTIME_THRESHOLD`: lock times below are heights.
pub const LOCKTIME_THRESHOLD: u32 = 500_000_000;
/// Core's `CTxIn::SEQUENCE_FINAL`.
pub const SEQUENCE_FINAL: u32 = 0xffff_ffff;

/// Core's `MoneyRange`.
pub fn money_range(v: u64) -> bool {
    v <= MAX_MONEY
}

/// Inputs up to this count are checked for duplicates pairwise, without
/// allocating.
const PAIRWISE_DUPLICATES: usize = 16;

/// Core's `CheckTransaction`, in Core's order, on an archived transaction.
pub fn check_transaction(tx: &TxRef<'_>) -> Result<(), TxError> {
    if tx.input_count() == 0 {
        return Err(TxError::VinEmpty);
    }
    if tx.output_count() == 0 {
        return Err(TxError::VoutEmpty);
    }
    if tx.base_size() as u64 * 4 > MAX_BLOCK_WEIGHT {
        return Err(TxError::Oversize);
    }
    let mut total: u64 = 0;
    for out in tx.outputs() {
        // On the wire the value is a signed 64-bit integer.
        let value = out.value().to_sat();
        if (value as i64) < 0 {
            return Err(TxError::VoutNegative);
        }
        if value > MAX_MONEY {
            return Err(TxError::VoutTooLarge);
        }
        total += value;
        if !money_range(total) {
            return Err(TxError::TxoutTotalTooLarge);
        }
    }
    if has_duplicate_inputs(tx) {
        return Err(TxError::InputsDuplicate);
    }
    if tx.is_coinbase() {
        let len = tx.input(0).map_or(0, |i| i.script_sig().len());
        if !(2..=100).contains(&len) {
            return Err(TxError::CbLength);
        }
    } else if tx.inputs().any(|i| i.previous_output().is_null()) {
        return Err(TxError::PrevoutNull);
    }
    Ok(())
}

fn has_duplicate_inputs(tx: &TxRef<'_>) -> bool {
    let n = tx.input_count();
    if n <= PAIRWISE_DUPLICATES {
        for i in 0..n {
            let a = tx.input(i).map(|x| (x.prev_txid(), x.prev_vout()));
            for j in i + 1..n {
                if a == tx.input(j).map(|x| (x.prev_txid(), x.prev_vout())) {
                    return true;
                }
            }
        }
        return false;
    }
    let mut outpoints: Vec<_> = tx
        .inputs()
        .map(|i| (i.prev_txid(), i.prev_vout()))
        .collect();
    outpoints.sort_unstable();
    outpoints.windows(2).any(|w| w[0] == w[1])
}

/// Core's `IsFinalTx`: the lock time is zero, or below `height` (a height
/// lock) or `lock_time_cutoff` (a time lock), or every input's sequence is
/// final.
pub fn is_final_tx(tx: &TxRef<'_>, height: u32, lock_time_cutoff: i64) -> bool {
    let lock_time = tx.lock_time();
    if lock_time == 0 {
        return true;
    }
    let limit = if lock_time < LOCKTIME_THRESHOLD {
        i64::from(height)
    } else {
        lock_time_cutoff
    };
    if i64::from(lock_time) < limit {
        return true;
    }
    tx.inputs().all(|i| i.sequence().0 == SEQUENCE_FINAL)
}

/// Core's `Consensus::CheckTxInputs` for a non-coinbase transaction
/// spending `spent` (one coin per input, in order; fewer means some are
/// missing or spent) in a block at `spend_height`. Returns the fee.
///
/// Expects `tx` to have passed [`check_transaction`] (output values in
/// range), as in a block that passed `check_block`; it doesn't panic
/// otherwise.
pub fn check_tx_inputs(
    tx: &TxRef<'_>,
    spent: &[Coin],
    spend_height: u32,
) -> Result<Amount, TxError> {
    if spent.len() != tx.input_count() {
        return Err(TxError::InputsMissingOrSpent);
    }
    let mut value_in: u64 = 0;
    for coin in spent {
        let depth = i64::from(spend_height) - i64::from(coin.height);
        if coin.coinbase && depth < i64::from(crate::params::COINBASE_MATURITY) {
            return Err(TxError::PrematureSpendOfCoinbase { depth });
        }
        value_in = value_in.saturating_add(coin.amount);
        if !money_range(coin.amount) || !money_range(value_in) {
            return Err(TxError::InputValuesOutOfRange);
        }
    }
    let value_out = tx
        .outputs()
        .fold(0u64, |sum, o| sum.saturating_add(o.value().to_sat()));
    if value_in < value_out {
        return Err(TxError::InBelowOut {
            value_in,
            value_out,
        });
    }
    let fee = value_in - value_out;
    if !money_range(fee) {
        return Err(TxError::FeeOutOfRange);
    }
    Ok(Amount::from_sat(fee))
}
