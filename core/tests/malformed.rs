//! Malformed wire bytes give a typed error, never a panic or a huge
//! allocation, and the parser accepts exactly what rust-bitcoin's
//! `deserialize::<Block>` accepts (differential property tests).

use bitcoin::consensus::deserialize;
use bitcoin::Block;
use btc_core::archive::{ArchivedBlockArchive, BlockWire, WireError};
use btc_core::data;
use proptest::prelude::*;

/// Parses with both; they must agree on acceptance, and on content when
/// both accept. Every accepted block is archived and read back.
fn differential(bytes: &[u8]) -> Result<(), WireError> {
    let ours = BlockWire::parse(bytes);
    let theirs = deserialize::<Block>(bytes);
    match (&ours, &theirs) {
        (Ok(w), Ok(b)) => {
            let archive = w.to_archive();
            let a = ArchivedBlockArchive::from_bytes(&archive).expect("own archive validates");
            assert_eq!(a.tx_count(), b.txdata.len());
            assert!(a.txids().eq(b.txdata.iter().map(|t| t.compute_txid())));
            assert!(a.wtxids().eq(b.txdata.iter().map(|t| t.compute_wtxid())));
            for (t, tx) in a.txs().zip(&b.txdata) {
                assert!(t.outputs().map(|o| (o.value(), o.script_bytes())).eq(tx
                    .output
                    .iter()
                    .map(|o| (o.value, o.script_pubkey.as_bytes()))));
                assert!(t
                    .inputs()
                    .map(|i| i.previous_output())
                    .eq(tx.input.iter().map(|i| i.previous_output)));
            }
        }
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!(
            "disagreement on {} bytes: ours {:?}, rust-bitcoin {:?}",
            bytes.len(),
            ours.as_ref().map(|_| ()),
            theirs.as_ref().map(|_| ())
        ),
    }
    ours.map(|_| ())
}

/// A small block built with rust-bitcoin: a coinbase, a legacy spend and a
/// segwit spend with a few witness items.
fn small_block() -> Vec<u8> {
    use bitcoin::{
        absolute::LockTime, block, transaction::Version, Amount, CompactTarget, OutPoint,
        ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Witness,
    };
    let out = |v: u64, s: &[u8]| TxOut {
        value: Amount::from_sat(v),
        script_pubkey: ScriptBuf::from_bytes(s.to_vec()),
    };
    let input = |vout: u32, sig: &[u8], wit: &[&[u8]]| TxIn {
        previous_output: OutPoint::new(
            bitcoin::hashes::Hash::from_byte_array([vout as u8; 32]),
            vout,
        ),
        script_sig: ScriptBuf::from_bytes(sig.to_vec()),
        sequence: Sequence(0xffff_fffe),
        witness: Witness::from_slice(wit),
    };
    let coinbase = Transaction {
        version: Version::ONE,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            ..input(0, &[3, 1, 2, 3], &[])
        }],
        output: vec![out(50_0000_0000, &[0x51])],
    };
    let legacy = Transaction {
        version: Version::TWO,
        lock_time: LockTime::from_consensus(7),
        input: vec![input(1, &[0x00, 0x01, 0x02], &[]), input(2, &[], &[])],
        output: vec![out(1, &[]), out(2, &[0x6a; 300])],
    };
    let segwit = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![
            input(3, &[], &[&[1; 72], &[], &[2; 33]]),
            input(4, &[], &[]),
        ],
        output: vec![out(3, &[0x00, 0x14, 9, 9])],
    };
    let block = Block {
        header: block::Header {
            version: block::Version::TWO,
            prev_blockhash: bitcoin::hashes::Hash::all_zeros(),
            merkle_root: TxMerkleNode::from_byte_array([0; 32]),
            time: 1,
            bits: CompactTarget::from_consensus(0x1d00ffff),
            nonce: 2,
        },
        txdata: vec![coinbase, legacy, segwit],
    };
    bitcoin::consensus::serialize(&block)
}

use bitcoin::hashes::Hash as _;

#[test]
fn small_block_round_trips() {
    let b = small_block();
    differential(&b).unwrap();
}

#[test]
fn every_truncation_of_a_small_block_is_an_error() {
    let b = small_block();
    for len in 0..b.len() {
        let e = differential(&b[..len]).unwrap_err();
        assert!(
            matches!(
                e,
                WireError::Truncated { .. } | WireError::CountTooLarge { .. }
            ),
            "len {len}: {e}"
        );
    }
}

#[test]
fn truncated_real_blocks_are_errors() {
    for file in [data::BLOCK_413567, data::BLOCK_702861] {
        let b = data::require(file);
        for cut in [
            0,
            1,
            79,
            80,
            81,
            82,
            1000,
            b.len() / 2,
            b.len() - 5,
            b.len() - 1,
        ] {
            assert!(BlockWire::parse(&b[..cut]).is_err(), "{file} cut at {cut}");
        }
    }
}

#[test]
fn trailing_garbage_is_an_error() {
    let mut b = small_block();
    let len = b.len();
    b.push(0);
    assert_eq!(
        differential(&b),
        Err(WireError::TrailingBytes {
            at: len,
            trailing: 1
        })
    );
}

#[test]
fn non_minimal_compact_size_is_an_error() {
    let b = small_block();
    // Tx count 3 written as 0xfd 0x03 0x00.
    let mut bad = b[..80].to_vec();
    bad.extend_from_slice(&[0xfd, 0x03, 0x00]);
    bad.extend_from_slice(&b[81..]);
    assert_eq!(
        differential(&bad),
        Err(WireError::NonMinimalCompactSize { at: 80 })
    );
}

#[test]
fn absurd_counts_are_errors() {
    let b = small_block();
    for count in [
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
        &[0xfe, 0xff, 0xff, 0xff, 0x7f],
        &[0xfd, 0xff, 0xff],
    ] {
        let mut bad = b[..80].to_vec();
        bad.extend_from_slice(count);
        bad.extend_from_slice(&b[81..]);
        assert!(matches!(
            differential(&bad),
            Err(WireError::CountTooLarge {
                what: "transaction",
                ..
            })
        ));
    }
    // A script length of 2^64 - 1.
    let mut bad = b.clone();
    let at = 80 + 1 + 4 + 1 + 36; // coinbase scriptSig length
    assert_eq!(bad[at], 4);
    bad.splice(at..at + 1, [0xff; 9]);
    assert!(matches!(
        differential(&bad),
        Err(WireError::Truncated { .. })
    ));
}

#[test]
fn segwit_flag_rules() {
    let b = small_block();
    let block: Block = deserialize(&b).unwrap();
    let segwit = bitcoin::consensus::serialize(&block.txdata[2]);
    let start = b.len() - segwit.len();
    assert_eq!(&b[start + 4..start + 6], &[0, 1]);
    let mut bad = b.clone();
    bad[start + 5] = 2;
    assert_eq!(
        differential(&bad),
        Err(WireError::UnsupportedSegwitFlag { tx: 2, flag: 2 })
    );

    // Flag set, every witness empty.
    let mut tx = block.txdata[2].clone();
    for i in &mut tx.input {
        i.witness.clear();
    }
    let mut raw = bitcoin::consensus::serialize(&tx);
    raw.splice(4..4, [0, 1]);
    let at = raw.len() - 4;
    raw.splice(at..at, [0, 0]); // two empty witnesses
    let mut bad = b[..start].to_vec();
    bad.extend_from_slice(&raw);
    assert_eq!(
        differential(&bad),
        Err(WireError::SegwitFlagWithoutWitness { tx: 2 })
    );
}

#[test]
fn oversized_witness_item_count_is_an_error() {
    let b = small_block();
    let block: Block = deserialize(&b).unwrap();
    let tx = &block.txdata[2];
    let segwit = bitcoin::consensus::serialize(tx);
    let start = b.len() - segwit.len();
    // First witness: its item count (3) sits after version, marker, flag,
    // inputs and outputs.
    let io_len = bitcoin::consensus::serialize(&tx.input).len()
        + bitcoin::consensus::serialize(&tx.output).len();
    let at = start + 6 + io_len;
    assert_eq!(b[at], 3);
    let mut bad = b.clone();
    bad.splice(at..at + 1, [0xfe, 0x01, 0x09, 0x3d, 0x00]); // 4,000,001
    assert_eq!(
        differential(&bad),
        Err(WireError::OversizedWitness { tx: 2, input: 0 })
    );
}

fn real_block(which: usize) -> &'static [u8] {
    use std::sync::OnceLock;
    static BLOCKS: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    &BLOCKS.get_or_init(|| {
        [
            data::require(data::BLOCK_413567),
            data::require(data::BLOCK_702861),
        ]
    })[which]
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = b.len().max(1);
        match m {
            Mutation::Set(at, v) => {
                if !b.is_empty() {
                    b[at % len] = *v;
                }
            }
            Mutation::Insert(at, bytes) => {
                let at = at % (b.len() + 1);
                b.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(b.len());
                b.drain(at.min(end)..end);
            }
            Mutation::Truncate(at) => b.truncate(at % len),
        }
    }
    b
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(a, v)| Mutation::Set(a, v)),
        // Varint-looking bytes are the interesting ones.
        2 => (any::<usize>(), prop::sample::select(vec![0u8, 1, 0xfc, 0xfd, 0xfe, 0xff]))
            .prop_map(|(a, v)| Mutation::Set(a, v)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(a, v)| Mutation::Insert(a, v)),
        1 => (any::<usize>(), 1usize..64).prop_map(|(a, n)| Mutation::Delete(a, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = differential(&bytes);
    }

    #[test]
    fn arbitrary_bytes_after_a_header_never_panic(
        header in prop::array::uniform32(any::<u8>()),
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = header.repeat(3)[..80].to_vec();
        bytes.extend(body);
        let _ = differential(&bytes);
    }

    #[test]
    fn mutated_small_blocks_agree_with_rust_bitcoin(
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let _ = differential(&apply(small_block(), &muts));
    }
}

proptest! {
    // Each case parses a real block twice (ours and rust-bitcoin's).
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mutated_real_blocks_agree_with_rust_bitcoin(
        which in 0usize..2,
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let _ = differential(&apply(real_block(which).to_vec(), &muts));
    }
}
