//! Archives are validated on access: corrupt ones are rejected by
//! `ArchivedBlockArchive::from_bytes` (rkyv's checks plus the tables'
//! ranges), and any archive that passes can be read fully without panics.

use btc_core::archive::{check, ArchivedBlockArchive, BlockWire};
use btc_core::data;
use proptest::prelude::*;

/// Reads everything an archive offers.
fn walk(a: &ArchivedBlockArchive) -> usize {
    let mut n = a.header_bytes().len() + a.wire().len();
    let _ = a.header();
    for t in a.txs() {
        n += t.bytes().len() + t.base_bytes().iter().map(|p| p.len()).sum::<usize>();
        n += (t.version() as usize) ^ (t.lock_time() as usize) ^ t.weight().to_wu() as usize;
        n += usize::from(t.is_coinbase() || t.is_segwit());
        for o in t.outputs() {
            n += o.script_bytes().len() + o.value().to_sat() as usize % 7;
        }
        for i in t.inputs() {
            n += i.script_sig().len() + i.witness().map(|w| w.len()).sum::<usize>();
            n += i.witness_bytes().len() + i.previous_output().vout as usize % 3;
            n += i.to_witness().len();
        }
        n += t.output(0).is_some() as usize + t.input(t.input_count()).is_some() as usize;
        let _ = t.to_transaction();
    }
    let _ = check::check_commitments(a);
    let _ = check::check_hashes(a);
    n
}

fn small_archive() -> Vec<u8> {
    // The first two transactions of block 702861 make a small segwit block
    // (a coinbase with a witness, and a spend).
    let wire = data::require(data::BLOCK_702861);
    let mut block: bitcoin::Block = bitcoin::consensus::deserialize(&wire).unwrap();
    block.txdata.truncate(3);
    let w = BlockWire::parse(bitcoin::consensus::serialize(&block)).unwrap();
    w.to_archive().to_vec()
}

fn aligned(bytes: &[u8]) -> rkyv::util::AlignedVec<16> {
    let mut v = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    v.extend_from_slice(bytes);
    v
}

#[test]
fn a_good_archive_validates_and_walks() {
    let a = aligned(&small_archive());
    let a = ArchivedBlockArchive::from_bytes(&a).unwrap();
    assert!(walk(a) > 0);
}

#[test]
fn out_of_range_offsets_are_rejected_by_validation() {
    let bytes = small_archive();
    let good = aligned(&bytes);
    let a = ArchivedBlockArchive::from_bytes(&good).unwrap();
    let raw_len = a.wire().len();
    // The tx table starts at raw_len rounded up to 4; tx 0's `offset` field
    // is at +64 of its entry, `len` at +68.
    let table = raw_len.next_multiple_of(4);
    for (field, value) in [(64, u32::MAX), (68, u32::MAX), (64, 0), (76, 5)] {
        let mut bad = bytes.clone();
        bad[table + field..table + field + 4].copy_from_slice(&value.to_le_bytes());
        let bad = aligned(&bad);
        // (The reason, "inconsistent block archive: ...", is only kept by
        // rancor in debug builds.)
        assert!(
            ArchivedBlockArchive::from_bytes(&bad).is_err(),
            "{field}: {value}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Flip bytes anywhere in an archive: validation either rejects it or
    /// every accessor works without panicking.
    #[test]
    fn corrupted_archives_are_rejected_or_readable(
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        use std::sync::OnceLock;
        static ARCHIVE: OnceLock<Vec<u8>> = OnceLock::new();
        let mut bytes = ARCHIVE.get_or_init(small_archive).clone();
        // Bias half of the flips to the tables and root (after raw).
        for (i, (at, v)) in flips.iter().enumerate() {
            let pos = if i % 2 == 0 {
                at.index(bytes.len())
            } else {
                let tail = bytes.len().min(1500);
                bytes.len() - tail + at.index(tail)
            };
            bytes[pos] = *v;
        }
        let bytes = aligned(&bytes);
        if let Ok(a) = ArchivedBlockArchive::from_bytes(&bytes) {
            walk(a);
        }
    }
}
