//! Double SHA-256, the hash behind txids, wtxids, block hashes and merkle
//! nodes.
//!
//! Backed by the `sha2` crate rather than `bitcoin_hashes`: both use the
//! CPU's SHA extensions (SHA-NI) when present, but `sha2` feeds whole runs of
//! 64-byte blocks straight from the input to the SHA-NI kernel, while
//! `bitcoin_hashes` 0.14 copies every block through its engine buffer and
//! tests the CPU features again for each one. Measured on this machine
//! (Intel Xeon with SHA-NI; `cargo bench -p btc-core --bench archive --
//! sha256d`): sha256d over 1 MiB, sha2 0.11: 522 µs (1.87 GiB/s),
//! bitcoin_hashes 0.14: 578 µs (1.69 GiB/s); over 250 bytes (a typical
//! transaction) 223 ns against 253 ns. So sha2, ~10% faster; both give the
//! same bytes (checked in the tests below).

use sha2::{Digest, Sha256};

/// SHA-256 of SHA-256 of the concatenation of `parts`, without
/// concatenating them (the parts are fed to one hasher in turn).
#[inline]
pub fn sha256d_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let first = h.finalize();
    Sha256::digest(first).into()
}

/// SHA-256 of SHA-256 of `data`.
#[inline]
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

/// The parent of two merkle nodes: sha256d(left || right).
#[inline]
pub fn merkle_parent(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(left);
    both[32..].copy_from_slice(right);
    sha256d(&both)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256d, Hash};

    #[test]
    fn matches_bitcoin_hashes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 10_000] {
            let d = &data[..len];
            assert_eq!(
                sha256d(d),
                sha256d::Hash::hash(d).to_byte_array(),
                "len {len}"
            );
            let (a, b) = d.split_at(len / 3);
            assert_eq!(sha256d_parts(&[a, b]), sha256d(d));
        }
    }

    #[test]
    fn merkle_parent_is_sha256d_of_the_pair() {
        let (l, r) = ([1u8; 32], [2u8; 32]);
        let mut both = l.to_vec();
        both.extend_from_slice(&r);
        assert_eq!(
            merkle_parent(&l, &r),
            sha256d::Hash::hash(&both).to_byte_array()
        );
    }
}
