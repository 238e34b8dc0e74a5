//! Helpers shared by the multi-process tests and their peer binary.

/// Deterministic record `i` of a test stream: a size in `0..max` and bytes
/// derived from `seed` and `i`, so both processes agree without talking.
pub fn record(seed: u64, i: u64, max: usize) -> Vec<u8> {
    let mut x = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    let len = (x % max as u64) as usize;
    (0..len)
        .map(|k| (x as usize).wrapping_add(k * 7) as u8)
        .collect()
}

/// Channel number the peer offers its stream on.
pub const CHANNEL: u32 = 1;
