//! The chainstate on its own, with coinbase-only regtest blocks built
//! here: blocks survive a crash between database flushes (they are
//! replayed from the block files), reindex gives the same UTXO set, forks
//! and invalidation move the tip, damaged files are reported.

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};
use btc_node::chainstate::{Chainstate, ChainstateOptions, ProcessError};
use btc_node::params::ChainParams;
use btc_node::validation::bip34_height_prefix;

fn params() -> ChainParams {
    ChainParams::for_network(bitcoin::Network::Regtest)
}

fn open(dir: &std::path::Path, reindex: bool) -> Chainstate {
    Chainstate::open(
        dir,
        params(),
        ChainstateOptions {
            reindex,
            ..ChainstateOptions::default()
        },
    )
    .expect("open chainstate")
}

/// A coinbase-only block on `prev` at `height`, paying `tag` so that
/// sibling blocks differ.
fn block(prev: BlockHash, height: u32, time: u32, tag: u8) -> Block {
    let mut script_sig = bip34_height_prefix(height);
    script_sig.push(tag);
    script_sig.push(0);
    let coinbase = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: params().block_subsidy(height),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51, tag]),
        }],
    };
    let mut b = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: vec![coinbase],
    };
    b.header.merkle_root = b.compute_merkle_root().unwrap();
    while b.header.validate_pow(b.header.target()).is_err() {
        b.header.nonce += 1;
    }
    b
}

/// Extends the chain ending at `tip` by `n` blocks, tagged `tag`.
fn extend(cs: &mut Chainstate, tip: BlockHash, n: u32, tag: u8) -> BlockHash {
    let mut prev = tip;
    for _ in 0..n {
        let idx = cs.lookup(&prev).unwrap();
        let e = cs.tree().get(idx);
        let b = block(prev, e.height + 1, e.header.time + 1, tag);
        cs.process_block(&serialize(&b)).unwrap();
        prev = b.block_hash();
    }
    cs.sync_blocks().unwrap();
    prev
}

fn tip_hash(cs: &Chainstate) -> BlockHash {
    cs.tree().get(cs.tip()).hash
}

fn stats(cs: &mut Chainstate) -> (u32, BlockHash, u64, u64, [u8; 32]) {
    cs.flush().unwrap();
    let s = cs.utxo_stats().unwrap();
    (
        cs.height(),
        tip_hash(cs),
        s.txouts,
        s.total_amount,
        s.hash_serialized_3,
    )
}

#[test]
fn blocks_after_the_last_flush_are_replayed_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let reference;
    {
        let mut cs = open(dir.path(), false);
        let genesis = tip_hash(&cs);
        extend(&mut cs, genesis, 50, 1);
        cs.flush().unwrap();
        let t = tip_hash(&cs);
        extend(&mut cs, t, 30, 1);
        // Dropped without a flush: the database is 30 blocks behind the
        // block files, as after kill -9.
        assert_eq!(cs.height(), 80);
        reference = (cs.height(), tip_hash(&cs));
    }
    let mut cs = open(dir.path(), false);
    assert_eq!((cs.height(), tip_hash(&cs)), reference);
    let after_replay = stats(&mut cs);
    assert_eq!(
        after_replay.2, 80,
        "one coin per block (genesis' is not spendable)"
    );
    drop(cs);
    let mut cs = open(dir.path(), true);
    assert_eq!(
        stats(&mut cs),
        after_replay,
        "reindex gives the same UTXO set"
    );
}

#[test]
fn a_torn_last_record_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut cs = open(dir.path(), false);
        let g = tip_hash(&cs);
        extend(&mut cs, g, 10, 1);
    }
    // Half a record at the end of the block file.
    let blk = dir.path().join("blocks/blk00000.dat");
    let mut bytes = std::fs::read(&blk).unwrap();
    let keep = bytes.len();
    bytes.extend_from_slice(&[0xfa, 0xbf, 0xb5, 0xda, 0xff, 0x00, 0x00, 0x00, 1, 2, 3]);
    std::fs::write(&blk, &bytes).unwrap();
    let cs = open(dir.path(), false);
    assert_eq!(cs.height(), 10);
    assert_eq!(std::fs::metadata(&blk).unwrap().len() as usize, keep);
}

#[test]
fn a_truncated_block_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut cs = open(dir.path(), false);
        let g = tip_hash(&cs);
        extend(&mut cs, g, 10, 1);
        cs.flush().unwrap();
    }
    let blk = dir.path().join("blocks/blk00000.dat");
    let len = std::fs::metadata(&blk).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&blk)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = Chainstate::open(dir.path(), params(), ChainstateOptions::default())
        .err()
        .expect("a truncated file must not open silently");
    let msg = err.to_string();
    assert!(
        msg.contains("truncated") && msg.contains("-reindex"),
        "{msg}"
    );
    // -reindex recovers what remains.
    let cs = open(dir.path(), true);
    assert!(cs.height() < 10);
}

#[test]
fn most_work_wins_and_invalidate_reconsider_move_the_tip() {
    let dir = tempfile::tempdir().unwrap();
    let mut cs = open(dir.path(), false);
    let g = tip_hash(&cs);
    let base = extend(&mut cs, g, 20, 1);
    let a = extend(&mut cs, base, 5, 2);
    assert_eq!(tip_hash(&cs), a);
    // A competing branch: equal work keeps the first seen, more work wins.
    let b4 = extend(&mut cs, base, 5, 3);
    assert_eq!(tip_hash(&cs), a);
    let b = extend(&mut cs, b4, 1, 3);
    assert_eq!(tip_hash(&cs), b);
    assert_eq!(cs.height(), 26);
    let on_b = stats(&mut cs);

    // Invalidate the branch's first block: back to `a`.
    let b1 = cs.hash_at(21).unwrap();
    let b1_idx = cs.lookup(&b1).unwrap();
    cs.invalidate_block(b1_idx).unwrap();
    assert_eq!(tip_hash(&cs), a);
    // A block on the invalid branch is refused.
    let e = cs.tree().get(cs.lookup(&b).unwrap());
    let child = block(b, e.height + 1, e.header.time + 1, 3);
    assert!(matches!(
        cs.process_block(&serialize(&child)),
        Err(ProcessError::Invalid(r)) if r.reason == "bad-prevblk"
    ));
    cs.reconsider_block(b1_idx).unwrap();
    assert_eq!(tip_hash(&cs), b);
    assert_eq!(stats(&mut cs), on_b);

    // Bad blocks: wrong subsidy, unknown parent, duplicate, garbage.
    let e = cs.tree().get(cs.tip());
    let mut rich = block(b, e.height + 1, e.header.time + 1, 9);
    rich.txdata[0].output[0].value = Amount::from_sat(51 * 100_000_000);
    rich.header.merkle_root = rich.compute_merkle_root().unwrap();
    while rich.header.validate_pow(rich.header.target()).is_err() {
        rich.header.nonce += 1;
    }
    match cs.process_block(&serialize(&rich)) {
        Err(ProcessError::Invalid(r)) => assert_eq!(r.reason, "bad-cb-amount"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    assert_eq!(tip_hash(&cs), b);
    let orphan = block(BlockHash::all_zeros(), 5, 1_700_000_000, 1);
    assert!(matches!(
        cs.process_block(&serialize(&orphan)),
        Err(ProcessError::MissingParent)
    ));
    let e = cs.tree().get(cs.lookup(&a).unwrap());
    let known = block(a, e.height + 1, e.header.time + 1, 2);
    cs.process_block(&serialize(&known)).unwrap();
    assert!(matches!(
        cs.process_block(&serialize(&known)),
        Err(ProcessError::Duplicate)
    ));
    assert!(matches!(
        cs.process_block(b"not a block"),
        Err(ProcessError::Invalid(_))
    ));
    // The failed block is remembered.
    assert!(matches!(
        cs.process_block(&serialize(&rich)),
        Err(ProcessError::DuplicateInvalid)
    ));
}

#[test]
fn verifychain_levels_and_damaged_undo_data() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut cs = open(dir.path(), false);
        let g = tip_hash(&cs);
        extend(&mut cs, g, 30, 1);
        for level in 0..=4 {
            cs.verify_recent(level, 6).unwrap();
        }
        cs.verify_recent(4, 0).unwrap();
        cs.flush().unwrap();
    }
    // Damage the last undo record: level 1 still passes, level 2 fails.
    let rev = dir.path().join("blocks/rev00000.dat");
    let mut bytes = std::fs::read(&rev).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0xff;
    std::fs::write(&rev, &bytes).unwrap();
    let mut cs = open(dir.path(), false);
    cs.verify_recent(1, 6).unwrap();
    let e = cs.verify_recent(2, 6).unwrap_err();
    assert!(e.contains("checksum"), "{e}");
}
