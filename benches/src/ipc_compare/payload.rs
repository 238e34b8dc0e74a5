//! The message every transport carries: a block-shaped list of
//! transaction-like byte strings.
//!
//! The same type goes over every path: serde + postcard for the socket-style
//! transports, rkyv for the zero-copy ones (iceoryx2, and `shm-ipc` in
//! `shm_ipc.rs`), Cap'n Proto as a `List(Data)`.

use serde::{Deserialize, Serialize};

/// The standard payload sizes of a run: 64 B, 1 KiB, 64 KiB, 1 MiB, 4 MiB.
pub const PAYLOAD_SIZES: [usize; 5] = [64, 1 << 10, 64 << 10, 1 << 20, 4 << 20];

/// Smallest payload that is built block-shaped (many items); below it the
/// payload is one item (see [`make_payload`]).
pub const BLOCK_SHAPED_MIN: usize = 1024;

/// Smallest item of a block-shaped payload.
pub const TX_SIZE_MIN: usize = 150;
/// Largest item of a block-shaped payload.
pub const TX_SIZE_MAX: usize = 450;

/// Bytes of rkyv overhead of a one-item payload: the outer `Vec` header (8)
/// and the item's own `Vec` header (8). A 64-byte payload carries 48 bytes of
/// data so that its archive is 64 bytes.
pub const SMALL_OVERHEAD: usize = 16;

/// A block: a list of transactions.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct BlockPayload {
    /// The transactions, in order.
    pub txs: Vec<TxItem>,
}

/// One transaction-like item: opaque bytes.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct TxItem {
    /// The raw bytes. (`serde_bytes` so that postcard moves them as one
    /// slice instead of element by element; the wire format is the same.)
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

impl BlockPayload {
    /// Sum of the items' data lengths.
    pub fn data_len(&self) -> usize {
        self.txs.iter().map(|t| t.data.len()).sum()
    }
}

/// Deterministic splitmix64, so every process builds the same payload.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Builds the payload of nominal size `payload_bytes`, deterministically.
///
/// * From [`BLOCK_SHAPED_MIN`] (1 KiB) up: block-shaped, many items of
///   pseudo-random sizes in [`TX_SIZE_MIN`]`..=`[`TX_SIZE_MAX`] whose data
///   adds up to exactly `payload_bytes`.
/// * Below: a single item of `payload_bytes - 16` bytes (48 for 64 B), so
///   that its rkyv archive is `payload_bytes` long.
pub fn make_payload(payload_bytes: usize) -> BlockPayload {
    let mut rng = SplitMix(0x5EED_0000 ^ payload_bytes as u64);
    if payload_bytes < BLOCK_SHAPED_MIN {
        let mut data = vec![0u8; payload_bytes.saturating_sub(SMALL_OVERHEAD)];
        rng.fill(&mut data);
        return BlockPayload {
            txs: vec![TxItem { data }],
        };
    }
    let mut txs = Vec::with_capacity(payload_bytes / 300 + 1);
    let mut remaining = payload_bytes;
    while remaining > 0 {
        let size = if remaining <= TX_SIZE_MAX {
            remaining
        } else {
            let s = rng.range(TX_SIZE_MIN, TX_SIZE_MAX);
            // Never leave a tail smaller than the minimum item size.
            if remaining - s < TX_SIZE_MIN {
                remaining - TX_SIZE_MIN
            } else {
                s
            }
        };
        let mut data = vec![0u8; size];
        rng.fill(&mut data);
        txs.push(TxItem { data });
        remaining -= size;
    }
    BlockPayload { txs }
}

/// Human-readable size: `64 B`, `1 KiB`, `4 MiB`, or the byte count.
pub fn format_size(bytes: usize) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// Parses `64`, `1024`, `1k`, `1KiB`, `64K`, `4m`, `4MiB` into bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    let lower = s.trim().to_ascii_lowercase();
    let units: [(&str, usize); 7] = [
        ("kib", 1 << 10),
        ("kb", 1 << 10),
        ("k", 1 << 10),
        ("mib", 1 << 20),
        ("mb", 1 << 20),
        ("m", 1 << 20),
        ("b", 1),
    ];
    let (num, mult) = units
        .iter()
        .find_map(|&(suffix, mult)| lower.strip_suffix(suffix).map(|n| (n, mult)))
        .unwrap_or((lower.as_str(), 1));
    num.trim().parse::<usize>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_shaped_sizes_add_up() {
        for &n in &PAYLOAD_SIZES[1..] {
            let p = make_payload(n);
            assert_eq!(p.data_len(), n, "payload {n}");
            assert!(p.txs.len() > 1);
            for tx in &p.txs {
                assert!(
                    (TX_SIZE_MIN..=TX_SIZE_MAX).contains(&tx.data.len()),
                    "item of {} bytes in payload {n}",
                    tx.data.len()
                );
            }
        }
        for n in [1024, 1100, 1500, 4095, 10_001] {
            assert_eq!(make_payload(n).data_len(), n);
        }
    }

    #[test]
    fn sizes_vary_and_are_deterministic() {
        let a = make_payload(64 << 10);
        assert_eq!(a, make_payload(64 << 10));
        let distinct: std::collections::BTreeSet<usize> =
            a.txs.iter().map(|t| t.data.len()).collect();
        assert!(distinct.len() > 20);
    }

    #[test]
    fn small_payload_archive_is_64_bytes() {
        let p = make_payload(64);
        assert_eq!(p.txs.len(), 1);
        assert_eq!(p.txs[0].data.len(), 48);
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&p).unwrap();
        assert_eq!(bytes.len(), 64);
        let archived = rkyv::access::<ArchivedBlockPayload, rkyv::rancor::Error>(&bytes).unwrap();
        assert_eq!(archived.txs.len(), 1);
        assert_eq!(archived.txs[0].data.as_slice(), p.txs[0].data.as_slice());
    }

    #[test]
    fn postcard_round_trip() {
        let p = make_payload(1 << 20);
        let bytes = postcard::to_stdvec(&p).unwrap();
        assert!(bytes.len() >= 1 << 20 && bytes.len() < (1 << 20) + 20_000);
        let back: BlockPayload = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn sizes_parse_and_format() {
        assert_eq!(parse_size("64"), Some(64));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("4M"), Some(4 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(format_size(64), "64 B");
        assert_eq!(format_size(1024), "1 KiB");
        assert_eq!(format_size(4 << 20), "4 MiB");
        assert_eq!(format_size(1100), "1100 B");
    }
}
