//! Real blocks through an shm-ipc channel: the sender serializes a
//! `BlockWire` straight into a ring slot, the receiver reads the archived
//! block in place.

use bitcoin::consensus::deserialize;
use bitcoin::Block;
use btc_core::archive::{check, ArchivedBlockArchive, BlockIndex, BlockWire, WitnessStatus};
use btc_core::data;
use shm_ipc::{channel, ChannelConfig, Policy, Trust};

const RING: u64 = 8 << 20;

fn assert_same_block(a: &ArchivedBlockArchive, wire: &[u8]) {
    let block: Block = deserialize(wire).unwrap();
    assert_eq!(a.wire(), wire);
    assert_eq!(a.block_hash(), block.block_hash());
    assert!(a.txids().eq(block.txdata.iter().map(|t| t.compute_txid())));
    assert!(a
        .wtxids()
        .eq(block.txdata.iter().map(|t| t.compute_wtxid())));
    let last = block.txdata.last().unwrap();
    let m = block.txdata.len() - 1;
    let n = last.output.len() - 1;
    let out = a.output(m, n).unwrap();
    assert_eq!(out.value(), last.output[n].value);
    assert_eq!(
        out.script_pubkey(),
        last.output[n].script_pubkey.as_script()
    );
    check::check_merkle_root(a).unwrap();
}

/// Borrowed bytes: fine while the blocks outlive the sender.
#[test]
fn borrowed_block_through_a_ring() {
    let wire = data::require(data::BLOCK_702861);
    let w = BlockWire::parse(&wire[..]).unwrap();
    let (mut tx, mut rx) =
        channel::<BlockWire<&[u8]>>(ChannelConfig::new(RING, Policy::Block)).unwrap();
    let seq = tx.send(&w).unwrap();
    let rec = rx.recv().unwrap();
    assert_eq!(rec.seq(), seq);
    assert_eq!(rec.bytes(), &w.to_archive()[..]);
    assert_same_block(&rec, &wire);
    assert_eq!(
        check::check_witness_commitment(&rec),
        Ok(WitnessStatus::Verified)
    );
}

/// The node's pattern: one long-lived sender, one read buffer reused for
/// block after block. The buffer moves into the `BlockWire` and back out,
/// so the channel's type has no lifetime to pin.
#[test]
fn owned_buffer_reused_block_after_block() {
    let blocks = [
        data::require(data::BLOCK_413567),
        data::require(data::BLOCK_702861),
    ];
    let (mut tx, mut rx) =
        channel::<BlockWire<Vec<u8>>>(ChannelConfig::new(RING, Policy::Block)).unwrap();
    // An untrusted receiver too: it validates each archive (structure and
    // every range of the tables) before handing it out.
    let mut untrusted = tx.subscribe_local(Trust::UNTRUSTED).unwrap();
    let mut buf = Vec::new();
    let mut index = BlockIndex::default();
    for round in 0..4 {
        let wire = &blocks[round % 2];
        buf.clear();
        buf.extend_from_slice(wire); // stands for reading from a peer
        let w = BlockWire::parse_reusing(std::mem::take(&mut buf), index).unwrap();
        tx.send(&w).unwrap();
        (buf, index) = w.into_parts();
        {
            let rec = rx.recv().unwrap();
            assert_same_block(&rec, wire);
        }
        let rec = untrusted.recv().unwrap();
        assert_same_block(&rec, wire);
        check::check_hashes(&rec).unwrap();
    }
}

/// A record written from parts through `Loan::write_with` (the channel's
/// element type is the schema, `BlockArchive`): the exact size is known up
/// front, and the archive lands in the slot the same way.
#[test]
fn write_with_exact_length_into_a_loan() {
    let wire = data::require(data::BLOCK_413567);
    let w = BlockWire::parse(&wire[..]).unwrap();
    let (mut tx, mut rx) =
        channel::<btc_core::BlockArchive>(ChannelConfig::new(RING, Policy::Block)).unwrap();
    let loan = tx
        .loan()
        .write_with(w.archived_len(), |slot| w.archive_into(slot))
        .unwrap();
    assert_eq!(loan.bytes().len(), w.archived_len());
    assert_eq!(loan.access().unwrap().tx_count(), 1557);
    loan.commit().unwrap();
    let rec = rx.recv().unwrap();
    assert_same_block(&rec, &wire);
}
