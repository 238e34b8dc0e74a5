//! BIP68 relative lock times: Core's `CalculateSequenceLocks` and
//! `EvaluateSequenceLocks`, enforced by `ConnectBlock` once CSV is active.

use btc_core::archive::TxRef;

/// Core's `CTxIn::SEQUENCE_LOCKTIME_DISABLE_FLAG`.
pub const SEQUENCE_LOCKTIME_DISABLE_FLAG: u32 = 1 << 31;
/// Core's `CTxIn::SEQUENCE_LOCKTIME_TYPE_FLAG`: time, not height.
pub const SEQUENCE_LOCKTIME_TYPE_FLAG: u32 = 1 << 22;
/// Core's `CTxIn::SEQUENCE_LOCKTIME_MASK`.
pub const SEQUENCE_LOCKTIME_MASK: u32 = 0x0000_ffff;
/// Core's `CTxIn::SEQUENCE_LOCKTIME_GRANULARITY`: units of 512 seconds.
pub const SEQUENCE_LOCKTIME_GRANULARITY: u32 = 9;

/// The last height and median time past at which the transaction is still
/// locked (-1: no lock), as Core's `(nMinHeight, nMinTime)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceLocks {
    pub min_height: i64,
    pub min_time: i64,
}

impl SequenceLocks {
    /// No relative lock.
    pub const NONE: SequenceLocks = SequenceLocks {
        min_height: -1,
        min_time: -1,
    };
}

/// Core's `CalculateSequenceLocks` with `LOCKTIME_VERIFY_SEQUENCE`:
/// `spent_height(i)` is the height of the coin input `i` spends, and
/// `mtp_at(h)` the median time past of the block at height `h` of this
/// chain (only asked for `h` below the block's height). Transactions of
/// version below 2 (compared unsigned) have no relative locks.
pub fn calculate_sequence_locks(
    tx: &TxRef<'_>,
    spent_height: impl Fn(usize) -> u32,
    mtp_at: &dyn Fn(u32) -> i64,
) -> SequenceLocks {
    let mut locks = SequenceLocks::NONE;
    if (tx.version() as u32) < 2 {
        return locks;
    }
    for (i, input) in tx.inputs().enumerate() {
        let sequence = input.sequence().0;
        if sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG != 0 {
            continue;
        }
        let coin_height = spent_height(i);
        let value = i64::from(sequence & SEQUENCE_LOCKTIME_MASK);
        if sequence & SEQUENCE_LOCKTIME_TYPE_FLAG != 0 {
            let coin_time = mtp_at(coin_height.saturating_sub(1));
            locks.min_time = locks
                .min_time
                .max(coin_time.saturating_add((value << SEQUENCE_LOCKTIME_GRANULARITY) - 1));
        } else {
            locks.min_height = locks.min_height.max(i64::from(coin_height) + value - 1);
        }
    }
    locks
}

/// Core's `EvaluateSequenceLocks`: whether a transaction with `locks` may
/// be in a block at `block_height` whose parent has median time past
/// `prev_mtp`.
pub fn evaluate_sequence_locks(locks: SequenceLocks, block_height: u32, prev_mtp: i64) -> bool {
    locks.min_height < i64::from(block_height) && locks.min_time < prev_mtp
}
