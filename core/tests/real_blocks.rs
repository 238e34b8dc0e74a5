//! Both real blocks archived and read back, every field checked against
//! rust-bitcoin. Needs BITCOIN_TEST_DATA (fails with instructions without it).

use bitcoin::consensus::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::Block;
use btc_core::archive::check::{self, WitnessStatus};
use btc_core::archive::{
    prevout_key, script_tail, ArchivedBlockArchive, BlockArchive, BlockIndex, BlockWire, CheckError,
};
use btc_core::data;

fn archived(bytes: &[u8]) -> rkyv::util::AlignedVec<16> {
    BlockWire::parse(bytes)
        .expect("real block parses")
        .to_archive()
}

/// Every field of the archive against rust-bitcoin's decoding.
fn compare_with_rust_bitcoin(a: &ArchivedBlockArchive, block: &Block, wire: &[u8]) {
    assert_eq!(a.wire(), wire);
    assert_eq!(a.header(), block.header);
    assert_eq!(a.block_hash(), block.block_hash());
    assert_eq!(a.tx_count(), block.txdata.len());
    let (mut n_in, mut n_out) = (0, 0);
    for (m, (t, tx)) in a.txs().zip(&block.txdata).enumerate() {
        assert_eq!(t.index(), m);
        assert_eq!(t.txid(), tx.compute_txid(), "txid of tx {m}");
        assert_eq!(t.wtxid(), tx.compute_wtxid(), "wtxid of tx {m}");
        assert_eq!(
            t.bytes(),
            bitcoin::consensus::serialize(tx),
            "bytes of tx {m}"
        );
        assert_eq!(t.version(), tx.version.0);
        assert_eq!(t.lock_time(), tx.lock_time.to_consensus_u32());
        assert_eq!(t.weight(), tx.weight());
        assert_eq!(t.base_size(), tx.base_size());
        assert_eq!(t.total_size(), tx.total_size());
        assert_eq!(t.is_coinbase(), tx.is_coinbase());
        assert_eq!(
            t.is_segwit(),
            tx.input.iter().any(|i| !i.witness.is_empty())
        );
        assert_eq!(
            t.base_bytes().concat(),
            bitcoin::consensus::serialize(&{
                let mut stripped = tx.clone();
                stripped.input.iter_mut().for_each(|i| i.witness.clear());
                stripped
            })
        );
        assert_eq!(&t.to_transaction().unwrap(), tx);
        assert_eq!(t.input_count(), tx.input.len());
        assert_eq!(t.output_count(), tx.output.len());
        for (n, out) in tx.output.iter().enumerate() {
            let o = a.output(m, n).expect("output exists");
            assert_eq!(o.value(), out.value, "value of output {n} of tx {m}");
            assert_eq!(o.script_pubkey(), out.script_pubkey.as_script());
        }
        assert!(a.output(m, tx.output.len()).is_none());
        for (n, inp) in tx.input.iter().enumerate() {
            let i = a.input(m, n).expect("input exists");
            assert_eq!(
                i.previous_output(),
                inp.previous_output,
                "prevout {n} of tx {m}"
            );
            assert_eq!(i.sequence(), inp.sequence);
            assert_eq!(i.script_sig(), inp.script_sig.as_script());
            assert_eq!(i.witness_len(), inp.witness.len());
            assert!(i.witness().eq(inp.witness.iter()));
            assert_eq!(i.to_witness(), inp.witness);
        }
        assert!(a.input(m, tx.input.len()).is_none());
        assert_eq!(t.outputs().count(), tx.output.len());
        assert_eq!(t.inputs().count(), tx.input.len());
        n_in += tx.input.len();
        n_out += tx.output.len();
    }
    assert!(a.tx(block.txdata.len()).is_none());
    assert_eq!(a.input_count(), n_in);
    assert_eq!(a.output_count(), n_out);
}

fn check_block(file: &str, txs: usize, witness: WitnessStatus) {
    let wire = data::require(file);
    let block: Block = deserialize(&wire).expect("rust-bitcoin decodes it");
    assert_eq!(block.txdata.len(), txs);
    let bytes = archived(&wire);
    let a = ArchivedBlockArchive::from_bytes(&bytes).expect("archive validates");
    compare_with_rust_bitcoin(a, &block, &wire);

    let root = check::check_merkle_root(a).expect("merkle root matches");
    assert_eq!(root, block.header.merkle_root);
    assert_eq!(Some(root), block.compute_merkle_root());
    assert!(block.check_merkle_root());
    assert_eq!(check::check_witness_commitment(a), Ok(witness));
    assert!(block.check_witness_commitment());
    assert_eq!(check::witness_root(a), block.witness_root());
    assert_eq!(check::check_hashes(a), Ok(()));
    assert_eq!(check::check_commitments(a), Ok(witness));

    // The key columns agree with the scripts and prevouts, and a tampered
    // key is caught by `check_hashes` (validation only counts them).
    for (tx_in, tx_out) in block.txdata.iter().zip(a.txs()) {
        for (o, r) in tx_in.output.iter().zip(tx_out.outputs()) {
            assert_eq!(r.script_pubkey(), o.script_pubkey.as_script());
        }
    }
    let tails: Vec<u64> = a.script_tails.iter().map(|t| t.to_native()).collect();
    let want: Vec<u64> = block
        .txdata
        .iter()
        .flat_map(|t| {
            t.output
                .iter()
                .map(|o| script_tail(o.script_pubkey.as_bytes()))
        })
        .collect();
    assert_eq!(tails, want);
    let keys: Vec<u64> = a.prevout_keys.iter().map(|k| k.to_native()).collect();
    let want: Vec<u64> = block
        .txdata
        .iter()
        .flat_map(|t| {
            t.input.iter().map(|i| {
                prevout_key(
                    i.previous_output.txid.as_byte_array(),
                    i.previous_output.vout,
                )
            })
        })
        .collect();
    assert_eq!(keys, want);
    for column in ["tails", "keys"] {
        let mut owned: BlockArchive = rkyv::deserialize::<_, rkyv::rancor::Error>(a).unwrap();
        match column {
            "tails" => owned.script_tails[7] ^= 1,
            _ => owned.prevout_keys[3] ^= 1 << 40,
        }
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&owned).unwrap();
        let t = ArchivedBlockArchive::from_bytes(&bytes).expect("still well formed");
        assert!(
            matches!(check::check_hashes(t), Err(CheckError::KeyMismatch { .. })),
            "{column}"
        );
    }
}

#[test]
fn block_413567_pre_segwit() {
    check_block(data::BLOCK_413567, 1557, WitnessStatus::NoWitnessData);
}

#[test]
fn block_702861_segwit() {
    check_block(data::BLOCK_702861, 2500, WitnessStatus::Verified);
}

#[test]
fn bitcoin_test_data_crate_ships_the_same_block_702861() {
    assert_eq!(
        bitcoin_test_data::blocks::mainnet_702861(),
        &data::require(data::BLOCK_702861)[..]
    );
}

#[test]
fn archived_len_is_exact_and_archive_into_a_callers_buffer() {
    for file in [data::BLOCK_413567, data::BLOCK_702861] {
        let wire = data::require(file);
        let w = BlockWire::parse(&wire[..]).unwrap();
        let reference = w.to_archive();
        assert_eq!(w.archived_len(), reference.len());

        // A caller's 16-byte-aligned buffer, larger than needed, reused.
        let mut buf = rkyv::util::AlignedVec::<16>::with_capacity(w.archived_len() + 100);
        buf.resize(w.archived_len() + 100, 0xee);
        for _ in 0..2 {
            let n = w.archive_into(&mut buf).unwrap();
            assert_eq!(&buf[..n], &reference[..]);
            let a = ArchivedBlockArchive::from_bytes(&buf[..n]).unwrap();
            assert_eq!(a.block_hash(), w.block_hash());
        }
        assert!(matches!(
            w.archive_into(&mut buf[..w.archived_len() - 1]),
            Err(btc_core::ArchiveError::BufferTooSmall { .. })
        ));
        assert!(matches!(
            w.archive_into(&mut buf[1..]),
            Err(btc_core::ArchiveError::Misaligned { .. })
        ));

        // rkyv's own entry points take it too.
        let via_rkyv = rkyv::to_bytes::<rkyv::rancor::Error>(&w).unwrap();
        assert_eq!(&via_rkyv[..], &reference[..]);
    }
}

#[test]
fn archive_deserializes_to_the_index_and_the_wire_bytes() {
    let wire = data::require(data::BLOCK_702861);
    let w = BlockWire::parse(wire.clone()).unwrap();
    let bytes = w.to_archive();
    let a = ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    let owned: BlockArchive = rkyv::deserialize::<_, rkyv::rancor::Error>(a).unwrap();
    assert_eq!(owned.hash, w.index().hash);
    assert_eq!(owned.txs, w.index().txs);
    assert_eq!(owned.inputs, w.index().inputs);
    assert_eq!(owned.outputs, w.index().outputs);
    assert_eq!(owned.raw, wire);
    // The owned schema type archives to the same bytes.
    let again = rkyv::to_bytes::<rkyv::rancor::Error>(&owned).unwrap();
    let b = ArchivedBlockArchive::from_bytes(&again).unwrap();
    assert_eq!(b.wire(), a.wire());
    assert_eq!(b.txids().collect::<Vec<_>>(), a.txids().collect::<Vec<_>>());
}

#[test]
fn parse_reusing_gives_back_allocations_and_the_same_index() {
    let first = data::require(data::BLOCK_702861);
    let second = data::require(data::BLOCK_413567);
    let w = BlockWire::parse(first).unwrap();
    let (buf, index) = w.into_parts();
    let cap = index.txs.capacity();
    let w2 = BlockWire::parse_reusing(second.clone(), index).unwrap();
    assert!(w2.index().txs.capacity() >= cap);
    assert_eq!(w2.index(), BlockWire::parse(&second[..]).unwrap().index());
    drop(buf);
    // A failed parse leaves a cleared index behind.
    let mut index = BlockIndex::default();
    assert!(index.parse(&second[..second.len() - 1]).is_err());
    assert!(index.txs.is_empty() && index.inputs.is_empty() && index.outputs.is_empty());
}

/// CVE-2012-2459: a block whose last transactions are duplicated so the
/// txid list has a repeated pair. rust-bitcoin's merkle root can't tell it
/// from the honest block; the archive check must.
#[test]
fn duplicated_transactions_are_detected_as_a_mutated_merkle_tree() {
    let wire = data::require(data::BLOCK_413567);
    let block: Block = deserialize(&wire).unwrap();
    // 1,557 transactions: odd, so duplicating the last one keeps the root.
    assert_eq!(block.txdata.len() % 2, 1);
    let mut forged = block.clone();
    forged.txdata.push(block.txdata.last().unwrap().clone());
    assert_eq!(forged.compute_merkle_root(), Some(block.header.merkle_root));
    assert!(forged.check_merkle_root(), "rust-bitcoin alone accepts it");

    let forged_wire = bitcoin::consensus::serialize(&forged);
    let bytes = archived(&forged_wire);
    let a = ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    assert_eq!(check::check_merkle_root(a), Err(CheckError::MerkleMutated));
    // Same hash, same header: only the mutation tells them apart.
    assert_eq!(a.block_hash(), block.block_hash());
}

#[test]
fn tampered_commitments_are_reported() {
    let wire = data::require(data::BLOCK_702861);
    let block: Block = deserialize(&wire).unwrap();

    // A transaction's witness changed: the wtxid root no longer matches.
    let mut forged = block.clone();
    let tx = forged
        .txdata
        .iter_mut()
        .skip(1)
        .find(|t| t.input.iter().any(|i| !i.witness.is_empty()))
        .unwrap();
    let input = tx.input.iter_mut().find(|i| !i.witness.is_empty()).unwrap();
    let mut items: Vec<Vec<u8>> = input.witness.iter().map(|w| w.to_vec()).collect();
    items[0].push(0);
    input.witness = bitcoin::Witness::from_slice(&items);
    let bytes = archived(&bitcoin::consensus::serialize(&forged));
    let a = ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    assert_eq!(
        check::check_merkle_root(a).map(|_| ()),
        Ok(()),
        "txids unchanged"
    );
    assert!(matches!(
        check::check_witness_commitment(a),
        Err(CheckError::WitnessCommitmentMismatch { .. })
    ));
    assert!(!forged.check_witness_commitment());

    // The coinbase's reserved value removed.
    let mut forged = block.clone();
    forged.txdata[0].input[0].witness.clear();
    let bytes = archived(&bitcoin::consensus::serialize(&forged));
    let a = ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    assert_eq!(
        check::check_witness_commitment(a),
        Err(CheckError::BadWitnessReservedValue)
    );
    // The header no longer matches either (the coinbase txid is unchanged,
    // so the merkle root still holds).
    assert!(check::check_merkle_root(a).is_ok());

    // The commitment output removed.
    let mut forged = block.clone();
    forged.txdata[0].output.retain(|o| {
        !o.script_pubkey
            .as_bytes()
            .starts_with(&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed])
    });
    let bytes = archived(&bitcoin::consensus::serialize(&forged));
    let a = ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    assert_eq!(
        check::check_witness_commitment(a),
        Err(CheckError::WitnessCommitmentMissing)
    );
    assert!(matches!(
        check::check_merkle_root(a),
        Err(CheckError::MerkleRootMismatch { .. })
    ));
}

#[test]
fn hashing_on_several_threads_gives_the_same_index() {
    for file in [data::BLOCK_413567, data::BLOCK_702861] {
        let wire = data::require(file);
        let one = BlockWire::parse(&wire[..]).unwrap();
        for threads in [0, 2, 3, 7] {
            let many = BlockWire::parse_threads(&wire[..], BlockIndex::default(), threads).unwrap();
            assert_eq!(many.index(), one.index(), "{threads} threads");
        }
    }
}
