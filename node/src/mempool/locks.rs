//! Time locks for the next block: absolute lock time finality (Core's
//! `IsFinalTx`) and BIP68 relative lock times (`CalculateSequenceLocks`,
//! `EvaluateSequenceLocks`).

use bitcoin::Transaction;

use super::ChainView;

/// Core's `LOCKTIME_THRESHOLD`: lock times below it are heights.
pub const LOCKTIME_THRESHOLD: u32 = 500_000_000;
const SEQUENCE_FINAL: u32 = 0xffff_ffff;
const SEQUENCE_LOCKTIME_DISABLE_FLAG: u32 = 1 << 31;
const SEQUENCE_LOCKTIME_TYPE_FLAG: u32 = 1 << 22;
const SEQUENCE_LOCKTIME_MASK: u32 = 0x0000_ffff;
const SEQUENCE_LOCKTIME_GRANULARITY: u32 = 9;

/// Core's `IsFinalTx(tx, block_height, block_time)`.
pub fn is_final_tx(tx: &Transaction, block_height: u32, block_time: i64) -> bool {
    let lock_time = tx.lock_time.to_consensus_u32();
    if lock_time == 0 {
        return true;
    }
    let limit = if lock_time < LOCKTIME_THRESHOLD {
        i64::from(block_height)
    } else {
        block_time
    };
    if i64::from(lock_time) < limit {
        return true;
    }
    tx.input.iter().all(|i| i.sequence.0 == SEQUENCE_FINAL)
}

/// Core's `CheckFinalTxAtTip`: final in the block after the tip.
pub fn is_final_at_tip(tx: &Transaction, chain: &dyn ChainView) -> bool {
    is_final_tx(
        tx,
        chain.tip_height().saturating_add(1),
        chain.median_time_past(),
    )
}

/// The last height and time at which a transaction's BIP68 locks still
/// hold (Core's `LockPoints`; -1 when nothing is locked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockPoints {
    pub height: i64,
    pub time: i64,
}

/// Core's `CalculateSequenceLocks` for the block after the tip;
/// `coin_heights[i]` is the height of the coin input `i` spends, the tip's
/// height plus one for an output of a mempool transaction.
pub fn sequence_lock_points(
    tx: &Transaction,
    coin_heights: &[u32],
    chain: &dyn ChainView,
) -> LockPoints {
    let mut lp = LockPoints {
        height: -1,
        time: -1,
    };
    // BIP68 applies to version 2 and up (Core 28 reads the version as
    // unsigned).
    if (tx.version.0 as u32) < 2 {
        return lp;
    }
    for (input, &coin_height) in tx.input.iter().zip(coin_heights) {
        let seq = input.sequence.0;
        if seq & SEQUENCE_LOCKTIME_DISABLE_FLAG != 0 {
            continue;
        }
        let value = i64::from(seq & SEQUENCE_LOCKTIME_MASK);
        if seq & SEQUENCE_LOCKTIME_TYPE_FLAG != 0 {
            let coin_time = chain.mtp_at_height(coin_height.saturating_sub(1));
            lp.time = lp
                .time
                .max(coin_time + (value << SEQUENCE_LOCKTIME_GRANULARITY) - 1);
        } else {
            lp.height = lp.height.max(i64::from(coin_height) + value - 1);
        }
    }
    lp
}

/// Core's `CheckSequenceLocksAtTip`: whether the locks allow the block
/// after the tip.
pub fn sequence_locks_ok(lp: LockPoints, chain: &dyn ChainView) -> bool {
    let next_height = i64::from(chain.tip_height()) + 1;
    lp.height < next_height && lp.time < chain.median_time_past()
}
