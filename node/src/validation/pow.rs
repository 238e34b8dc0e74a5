//! Proof of work with Bitcoin Core's exact arithmetic (`arith_uint256`,
//! `pow.cpp`, `chain.cpp`): compact targets with their negative and
//! overflow flags, [`check_proof_of_work`], [`next_work_required`]
//! (retargeting, the testnet minimum-difficulty rules, BIP94), block proof
//! and proof-equivalent time.
//!
//! rust-bitcoin's `Target::from_compact` maps a negative compact to zero and
//! doesn't report an overflow, and its `from_next_work_required` clamps to
//! the attainable target rather than `powLimit`: close, but not Core's
//! arithmetic bit for bit, so the few 256-bit operations Core uses are here
//! ([`U256`]). Results convert to rust-bitcoin's `Work` and `Target`.

use std::cmp::Ordering;

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;

use crate::params::ChainParams;

/// An unsigned 256-bit integer with Core's `arith_uint256` semantics
/// (wrapping arithmetic). Limbs are little-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct U256([u64; 4]);

impl U256 {
    pub const ZERO: U256 = U256([0; 4]);
    pub const ONE: U256 = U256([1, 0, 0, 0]);
    pub const MAX: U256 = U256([u64::MAX; 4]);

    pub const fn from_u64(v: u64) -> U256 {
        U256([v, 0, 0, 0])
    }

    /// From 32 big-endian bytes (how Core writes `uint256S("00000000ffff...")`).
    pub const fn from_be_bytes(b: [u8; 32]) -> U256 {
        let mut limbs = [0u64; 4];
        let mut i = 0;
        while i < 4 {
            let mut v = 0u64;
            let mut j = 0;
            while j < 8 {
                v = (v << 8) | b[(3 - i) * 8 + j] as u64;
                j += 1;
            }
            limbs[i] = v;
            i += 1;
        }
        U256(limbs)
    }

    /// From 32 little-endian bytes (a block hash in internal byte order).
    pub fn from_le_bytes(mut b: [u8; 32]) -> U256 {
        b.reverse();
        U256::from_be_bytes(b)
    }

    pub fn to_be_bytes(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for i in 0..4 {
            out[(3 - i) * 8..(4 - i) * 8].copy_from_slice(&self.0[i].to_be_bytes());
        }
        out
    }

    /// From a hex string of up to 64 digits (most significant first).
    /// `None` for anything else.
    pub fn from_hex(s: &str) -> Option<U256> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.is_empty() || s.len() > 64 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let padded = format!("{s:0>64}");
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&padded[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(U256::from_be_bytes(out))
    }

    pub fn is_zero(self) -> bool {
        self.0 == [0; 4]
    }

    pub fn low_u64(self) -> u64 {
        self.0[0]
    }

    /// Position of the highest set bit plus one (0 for zero).
    pub fn bits(self) -> u32 {
        for i in (0..4).rev() {
            if self.0[i] != 0 {
                return 64 * i as u32 + (64 - self.0[i].leading_zeros());
            }
        }
        0
    }

    /// `self << shift`; zero for shifts of 256 or more.
    pub fn shl_bits(self, shift: u32) -> U256 {
        if shift >= 256 {
            return U256::ZERO;
        }
        let (limbs, bits) = ((shift / 64) as usize, shift % 64);
        let mut out = [0u64; 4];
        for i in (limbs..4).rev() {
            let src = i - limbs;
            out[i] = self.0[src] << bits;
            if bits > 0 && src > 0 {
                out[i] |= self.0[src - 1] >> (64 - bits);
            }
        }
        U256(out)
    }

    /// `self >> shift`; zero for shifts of 256 or more.
    pub fn shr_bits(self, shift: u32) -> U256 {
        if shift >= 256 {
            return U256::ZERO;
        }
        let (limbs, bits) = ((shift / 64) as usize, shift % 64);
        let mut out = [0u64; 4];
        for (i, slot) in out.iter_mut().enumerate().take(4 - limbs) {
            let src = i + limbs;
            *slot = self.0[src] >> bits;
            if bits > 0 && src + 1 < 4 {
                *slot |= self.0[src + 1] << (64 - bits);
            }
        }
        U256(out)
    }

    pub fn wrapping_add(self, rhs: U256) -> U256 {
        let mut out = [0u64; 4];
        let mut carry = 0u64;
        for (i, slot) in out.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(rhs.0[i]);
            let (s2, c2) = s1.overflowing_add(carry);
            *slot = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
        U256(out)
    }

    pub fn wrapping_sub(self, rhs: U256) -> U256 {
        self.wrapping_add(rhs.complement().wrapping_add(U256::ONE))
    }

    /// Bitwise complement (Core's `operator~`).
    pub fn complement(self) -> U256 {
        U256(self.0.map(|l| !l))
    }

    /// `self * rhs` modulo 2^256 (Core's `operator*=(uint32_t)` and
    /// `operator*` by a small `arith_uint256`).
    pub fn wrapping_mul_u64(self, rhs: u64) -> U256 {
        let mut out = [0u64; 4];
        let mut carry = 0u128;
        for (i, slot) in out.iter_mut().enumerate() {
            let v = u128::from(self.0[i]) * u128::from(rhs) + carry;
            *slot = v as u64;
            carry = v >> 64;
        }
        U256(out)
    }

    /// `self / rhs` (Core's `operator/`): zero divisor gives `None` where
    /// Core throws.
    pub fn checked_div(self, rhs: U256) -> Option<U256> {
        if rhs.is_zero() {
            return None;
        }
        let mut quotient = U256::ZERO;
        let mut rem = U256::ZERO;
        for bit in (0..self.bits()).rev() {
            rem = rem.shl_bits(1);
            if (self.0[(bit / 64) as usize] >> (bit % 64)) & 1 == 1 {
                rem.0[0] |= 1;
            }
            if rem >= rhs {
                rem = rem.wrapping_sub(rhs);
                quotient.0[(bit / 64) as usize] |= 1 << (bit % 64);
            }
        }
        Some(quotient)
    }

    /// Core's `SetCompact`: the value and whether the compact form is
    /// negative or overflows 256 bits.
    pub fn from_compact(compact: u32) -> Compact {
        let size = compact >> 24;
        let mut word = compact & 0x007f_ffff;
        let value = if size <= 3 {
            word >>= 8 * (3 - size);
            U256::from_u64(u64::from(word))
        } else {
            U256::from_u64(u64::from(word)).shl_bits(8 * (size - 3))
        };
        Compact {
            value,
            negative: word != 0 && compact & 0x0080_0000 != 0,
            overflow: word != 0
                && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)),
        }
    }

    /// Core's `GetCompact()` (never negative).
    pub fn to_compact(self) -> u32 {
        let mut size = self.bits().div_ceil(8);
        let mut compact = if size <= 3 {
            (self.low_u64() << (8 * (3 - size))) as u32
        } else {
            self.shr_bits(8 * (size - 3)).low_u64() as u32
        };
        if compact & 0x0080_0000 != 0 {
            compact >>= 8;
            size += 1;
        }
        compact | (size << 24)
    }

    /// As rust-bitcoin's `Work` (for chain work comparisons there).
    pub fn to_work(self) -> bitcoin::Work {
        bitcoin::Work::from_be_bytes(self.to_be_bytes())
    }

    /// From rust-bitcoin's `Work`.
    pub fn from_work(work: bitcoin::Work) -> U256 {
        U256::from_be_bytes(work.to_be_bytes())
    }
}

impl Ord for U256 {
    fn cmp(&self, other: &U256) -> Ordering {
        self.0.iter().rev().cmp(other.0.iter().rev())
    }
}

impl PartialOrd for U256 {
    fn partial_cmp(&self, other: &U256) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for U256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x")?;
        for b in self.to_be_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A decoded compact target (`nBits`), with Core's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compact {
    pub value: U256,
    pub negative: bool,
    pub overflow: bool,
}

/// Core's `CheckProofOfWork`: `bits` decodes to a positive target no
/// greater than `powLimit`, and the hash is at most that target.
pub fn check_proof_of_work(hash: BlockHash, bits: u32, params: &ChainParams) -> bool {
    let target = U256::from_compact(bits);
    if target.negative
        || target.value.is_zero()
        || target.overflow
        || target.value > params.pow_limit
    {
        return false;
    }
    U256::from_le_bytes(hash.to_byte_array()) <= target.value
}

/// Core's `GetBlockProof`: the expected number of hashes for a block with
/// this `bits`, 2^256 / (target + 1); zero for an invalid target.
pub fn block_proof(bits: u32) -> U256 {
    let target = U256::from_compact(bits);
    if target.negative || target.overflow || target.value.is_zero() {
        return U256::ZERO;
    }
    // (~target / (target + 1)) + 1 == 2^256 / (target + 1)
    match target
        .value
        .complement()
        .checked_div(target.value.wrapping_add(U256::ONE))
    {
        Some(q) => q.wrapping_add(U256::ONE),
        // target + 1 wrapped to zero: target is 2^256 - 1, proof 1.
        None => U256::ONE,
    }
}

/// Core's `GetBlockProofEquivalentTime(to, from, tip)`: how many seconds of
/// work at the tip's difficulty separate chain work `from_work` from
/// `to_work` (negative if `to_work` is smaller), saturating at `i64`.
pub fn block_proof_equivalent_time(
    to_work: U256,
    from_work: U256,
    tip_bits: u32,
    params: &ChainParams,
) -> i64 {
    let (r, sign) = if to_work > from_work {
        (to_work.wrapping_sub(from_work), 1)
    } else {
        (from_work.wrapping_sub(to_work), -1)
    };
    let spacing = params.pow_target_spacing as u64;
    let r = match r
        .wrapping_mul_u64(spacing)
        .checked_div(block_proof(tip_bits))
    {
        Some(r) => r,
        // Core divides by zero here (undefined); treat as infinitely far.
        None => return sign * i64::MAX,
    };
    if r.bits() > 63 {
        return sign * i64::MAX;
    }
    sign * r.low_u64() as i64
}

/// What retargeting needs to know about a block of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderInfo {
    pub height: u32,
    /// The header's `nTime`.
    pub time: u32,
    /// The header's `nBits`.
    pub bits: u32,
}

/// Retargeting needed an ancestor that the lookup didn't have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ancestor at height {0} not found")]
pub struct MissingAncestor(pub u32);

/// Core's `GetNextWorkRequired(pindexLast, pblock)`: the `nBits` the block
/// after `prev` must have. `ancestor(h)` returns the header at height `h`
/// of `prev`'s chain (for `h <= prev.height`); `new_block_time` is the new
/// block's `nTime` (used by the testnet minimum-difficulty rule).
pub fn next_work_required(
    prev: &HeaderInfo,
    ancestor: impl Fn(u32) -> Option<HeaderInfo>,
    new_block_time: u32,
    params: &ChainParams,
) -> Result<u32, MissingAncestor> {
    let pow_limit_compact = params.pow_limit.to_compact();
    let interval = params.difficulty_adjustment_interval();
    if (u64::from(prev.height) + 1) % interval != 0 {
        if params.pow_allow_min_difficulty_blocks {
            // Testnet: a block more than twice the spacing after the
            // previous one may have the minimum difficulty.
            if i64::from(new_block_time) > i64::from(prev.time) + params.pow_target_spacing * 2 {
                return Ok(pow_limit_compact);
            }
            // Otherwise the last block that didn't use that rule.
            let mut block = *prev;
            while block.height > 0
                && u64::from(block.height) % interval != 0
                && block.bits == pow_limit_compact
            {
                block = ancestor(block.height - 1).ok_or(MissingAncestor(block.height - 1))?;
            }
            return Ok(block.bits);
        }
        return Ok(prev.bits);
    }
    // Go back by what we want to be 14 days worth of blocks.
    let first_height = u64::from(prev.height) + 1 - interval;
    let first_height = u32::try_from(first_height).map_err(|_| MissingAncestor(u32::MAX))?;
    let first = ancestor(first_height).ok_or(MissingAncestor(first_height))?;
    Ok(calculate_next_work_required(prev, &first, params))
}

/// Core's `CalculateNextWorkRequired`: retarget from the period's first
/// block `first` to its last `prev`.
pub fn calculate_next_work_required(
    prev: &HeaderInfo,
    first: &HeaderInfo,
    params: &ChainParams,
) -> u32 {
    if params.pow_no_retargeting {
        return prev.bits;
    }
    let timespan = params.pow_target_timespan;
    let actual = (i64::from(prev.time) - i64::from(first.time)).clamp(timespan / 4, timespan * 4);
    // BIP94 (testnet4): start from the period's first block, whose
    // difficulty can't come from the minimum-difficulty exception.
    let base = if params.enforce_bip94 {
        first.bits
    } else {
        prev.bits
    };
    let new = U256::from_compact(base)
        .value
        .wrapping_mul_u64(actual as u64)
        .checked_div(U256::from_u64(timespan as u64))
        .unwrap_or(U256::ZERO);
    new.min(params.pow_limit).to_compact()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_round_trips_like_core() {
        // Vectors from Core's arith_uint256_tests (SetCompact/GetCompact).
        let c = U256::from_compact(0x01003456);
        assert_eq!(
            (c.value, c.negative, c.overflow),
            (U256::ZERO, false, false)
        );
        assert_eq!(U256::from_compact(0x01123456).value, U256::from_u64(0x12));
        assert_eq!(U256::from_u64(0x12).to_compact(), 0x01120000);
        assert_eq!(U256::from_u64(0x80).to_compact(), 0x02008000);
        let c = U256::from_compact(0x04923456);
        assert!(c.negative);
        assert_eq!(c.value, U256::from_u64(0x12345600));
        assert_eq!(
            U256::from_compact(0x05009234).value,
            U256::from_u64(0x92340000)
        );
        assert_eq!(U256::from_u64(0x92340000).to_compact(), 0x05009234);
        assert!(U256::from_compact(0xff123456).overflow);
        let c = U256::from_compact(0x20123456);
        assert_eq!(c.value, U256::from_u64(0x123456).shl_bits(8 * 29));
        assert_eq!(c.value.to_compact(), 0x20123456);
    }

    #[test]
    fn division_and_proof() {
        let a = U256::from_hex("1000000000000000000000000").unwrap();
        assert_eq!(
            a.checked_div(U256::from_u64(16)),
            U256::from_hex("100000000000000000000000")
        );
        // Difficulty 1 on mainnet: 2^256 / (0xffff * 2^208 + 1) = 0x100010001.
        assert_eq!(block_proof(0x1d00ffff), U256::from_u64(0x1_0001_0001));
        assert_eq!(block_proof(0x207fffff), U256::from_u64(2));
    }
}
