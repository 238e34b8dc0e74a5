//! Header rules: Core's `CheckBlockHeader` (proof of work) and
//! `ContextualCheckBlockHeader` (difficulty, timestamps, version), and
//! `GetMedianTimePast`.
//!
//! Not here: the checkpoint rule ("bad-fork-prior-to-checkpoint"), which
//! needs the header tree; the chainstate applies it.

use bitcoin::block::Header;

use super::error::BlockError;
use super::pow::check_proof_of_work;
use crate::params::{ChainParams, MAX_TIMEWARP};

/// Core's `nMedianTimeSpan`: the median of this many blocks.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// Core's `CheckBlockHeader`: the hash meets the target that `bits`
/// encodes, and that target is valid and within the proof-of-work limit.
pub fn check_block_header(header: &Header, params: &ChainParams) -> Result<(), BlockError> {
    if !check_proof_of_work(header.block_hash(), header.bits.to_consensus(), params) {
        return Err(BlockError::HighHash);
    }
    Ok(())
}

/// Core's `CBlockIndex::GetMedianTimePast` from the timestamps of the last
/// (up to) 11 blocks, in any order: the median (the upper one of an even
/// count, as Core). Zero for no blocks.
pub fn median_time_past(last_times: &[u32]) -> i64 {
    let start = last_times.len().saturating_sub(MEDIAN_TIME_SPAN);
    let mut times = [0u32; MEDIAN_TIME_SPAN];
    let n = last_times.len() - start;
    times[..n].copy_from_slice(&last_times[start..]);
    let times = &mut times[..n];
    times.sort_unstable();
    times.get(n / 2).map_or(0, |&t| i64::from(t))
}

/// What [`contextual_check_block_header`] needs to know about the chain the
/// header extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderContext {
    /// Height of the parent (the new block is at `prev_height + 1`).
    pub prev_height: u32,
    /// Median time past of the parent.
    pub prev_mtp: i64,
    /// The parent's timestamp (BIP94's timewarp rule on testnet4).
    pub prev_time: u32,
    /// [`next_work_required`](super::pow::next_work_required) for the
    /// parent and this header's time.
    pub expected_bits: u32,
    /// The node's current time, as Core's `NodeClock::now()` (mock time
    /// included).
    pub adjusted_time: i64,
}

/// Core's `ContextualCheckBlockHeader`, in Core's order: difficulty
/// ("bad-diffbits"), timestamp after the median time past
/// ("time-too-old"), BIP94's timewarp limit on retarget blocks
/// ("time-timewarp-attack"), at most two hours in the future
/// ("time-too-new"), and the minimum version once BIP34 (2), BIP66 (3) and
/// BIP65 (4) are active ("bad-version(0x...)").
pub fn contextual_check_block_header(
    header: &Header,
    ctx: &HeaderContext,
    params: &ChainParams,
) -> Result<(), BlockError> {
    let height = u64::from(ctx.prev_height) + 1;
    if header.bits.to_consensus() != ctx.expected_bits {
        return Err(BlockError::BadDiffBits);
    }
    let time = i64::from(header.time);
    if time <= ctx.prev_mtp {
        return Err(BlockError::TimeTooOld);
    }
    if params.enforce_bip94
        && height % params.difficulty_adjustment_interval() == 0
        && time < i64::from(ctx.prev_time) - MAX_TIMEWARP
    {
        return Err(BlockError::TimeTimewarpAttack);
    }
    if time
        > ctx
            .adjusted_time
            .saturating_add(params.max_future_block_time)
    {
        return Err(BlockError::TimeTooNew);
    }
    let version = header.version.to_consensus();
    let active = |h: u32| height >= u64::from(h);
    if (version < 2 && active(params.bip34_height))
        || (version < 3 && active(params.bip66_height))
        || (version < 4 && active(params.bip65_height))
    {
        return Err(BlockError::BadVersion(version));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median() {
        assert_eq!(median_time_past(&[]), 0);
        assert_eq!(median_time_past(&[5]), 5);
        assert_eq!(median_time_past(&[1, 9]), 9);
        assert_eq!(median_time_past(&[3, 1, 2]), 2);
        // Only the last 11 count.
        let times: Vec<u32> = (0..20).collect();
        assert_eq!(median_time_past(&times), 14);
    }
}
