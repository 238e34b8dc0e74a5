//! The chainstate on its own, with coinbase-only regtest blocks built
//! here: blocks survive a crash between database flushes (they are
//! replayed from the block files), reindex gives the same UTXO set, forks
//! and invalidation move the tip, damaged files are reported, and the
//! archives of active blocks can be used in place in the mapped files.

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};
use btc_core::interfaces::BlockLocation;
use btc_core::ArchivedBlockArchive;
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
    let last_undo = {
        let cs = open(dir.path(), false);
        cs.tree().get(cs.tip()).undo.unwrap()
    };
    let rev = dir.path().join("blocks/rev00000.dat");
    let mut bytes = std::fs::read(&rev).unwrap();
    bytes[last_undo.offset as usize] ^= 0xff;
    std::fs::write(&rev, &bytes).unwrap();
    let mut cs = open(dir.path(), false);
    cs.verify_recent(1, 6).unwrap();
    let e = cs.verify_recent(2, 6).unwrap_err();
    assert!(e.contains("checksum"), "{e}");
}

/// Maps block files read-only as another process would (through
/// `open_block_file_readonly`) and checks every location: 16-byte aligned,
/// a valid archive in place, the active block's hash and wire bytes.
fn check_locations_in_place(cs: &mut Chainstate, locs: &[BlockLocation]) {
    use std::collections::HashMap;
    let mut maps: HashMap<u32, memmap2::Mmap> = HashMap::new();
    for loc in locs {
        assert_eq!(loc.offset % 16, 0, "{loc:?}");
        let map = maps.entry(loc.file).or_insert_with(|| {
            let f = cs.open_block_file_readonly(loc.file).unwrap();
            // SAFETY: the node only appends to its block files (and
            // truncates a torn tail before it serves), so the mapped bytes
            // don't change under the test.
            unsafe { memmap2::Mmap::map(&f) }.unwrap()
        });
        let start = loc.offset as usize;
        let bytes = &map[start..start + loc.len as usize];
        assert_eq!(bytes.as_ptr() as usize % 16, 0);
        let block = ArchivedBlockArchive::from_bytes(bytes).expect("a valid archive in place");
        let idx = cs.at_height(loc.height).unwrap();
        assert_eq!(block.block_hash(), cs.tree().get(idx).hash, "{loc:?}");
        assert_eq!(block.wire(), cs.read_block(idx).unwrap().as_slice());
        assert_eq!(block.tx_count() as u32, cs.tree().get(idx).n_tx);
    }
}

fn heights(locs: &[BlockLocation]) -> Vec<u32> {
    locs.iter().map(|l| l.height).collect()
}

#[test]
fn block_locations_give_archives_in_place_across_reorgs_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let mut cs = open(dir.path(), false);
    let g = tip_hash(&cs);
    let base = extend(&mut cs, g, 20, 1);
    extend(&mut cs, base, 10, 2);
    assert_eq!(cs.height(), 30);

    let all = cs.block_locations(0, 30, 1000);
    assert_eq!(heights(&all), (0..=30).collect::<Vec<_>>());
    check_locations_in_place(&mut cs, &all);
    // In file order, not overlapping.
    for w in all.windows(2) {
        assert!(w[0].offset + w[0].len <= w[1].offset, "{w:?}");
    }

    // `max`, ranges past the tip, empty ranges.
    assert_eq!(heights(&cs.block_locations(5, 30, 3)), [5, 6, 7]);
    assert_eq!(cs.block_locations(5, 30, 3)[..], all[5..8]);
    assert!(cs.block_locations(5, 30, 0).is_empty());
    assert_eq!(
        heights(&cs.block_locations(25, 100, 100)),
        [25, 26, 27, 28, 29, 30]
    );
    assert_eq!(
        heights(&cs.block_locations(28, u32::MAX, 100)),
        [28, 29, 30]
    );
    assert!(cs.block_locations(31, 40, 10).is_empty());
    assert!(cs.block_locations(10, 9, 10).is_empty());
    assert_eq!(heights(&cs.block_locations(7, 7, 10)), [7]);

    // The handle is read-only; a file that does not exist is an error.
    {
        use std::io::Write;
        let mut f = cs.open_block_file_readonly(0).unwrap();
        assert!(f.write_all(b"x").is_err(), "a read-only handle wrote");
    }
    assert!(cs.open_block_file_readonly(7).is_err());

    // A reorg from height 20: a longer branch tagged 3 wins, and the
    // locations follow the new active blocks.
    let before: Vec<_> = (21..=30).map(|h| cs.hash_at(h).unwrap()).collect();
    extend(&mut cs, base, 12, 3);
    assert_eq!(cs.height(), 32);
    let after = cs.block_locations(21, 40, 100);
    assert_eq!(heights(&after), (21..=32).collect::<Vec<_>>());
    check_locations_in_place(&mut cs, &after);
    for (loc, old) in after.iter().zip(&before) {
        assert_ne!(cs.hash_at(loc.height).unwrap(), *old);
        assert!(!all.contains(loc), "{loc:?} still points at the old branch");
    }
    assert_eq!(cs.block_locations(0, 20, 100)[..], all[..21]);

    // Back to the first branch by invalidating the new one: disconnecting
    // reads the archives back from the files.
    let b1 = cs.lookup(&cs.hash_at(21).unwrap()).unwrap();
    cs.invalidate_block(b1).unwrap();
    assert_eq!(cs.height(), 30);
    assert_eq!(cs.block_locations(0, 30, 1000), all);
    cs.reconsider_block(b1).unwrap();
    assert_eq!(cs.height(), 32);
    let reorged = cs.block_locations(0, 40, 1000);

    // After a crash (no flush since the last blocks), a replay, a clean
    // reopen and a -reindex, the same locations, still valid in place.
    let t = tip_hash(&cs);
    cs.flush().unwrap();
    extend(&mut cs, t, 3, 3);
    let with_tail = cs.block_locations(0, 40, 1000);
    assert_eq!(with_tail[..33], reorged[..]);
    drop(cs);
    for reindex in [false, false, true] {
        let mut cs = open(dir.path(), reindex);
        assert_eq!(cs.height(), 35);
        assert_eq!(cs.block_locations(0, 40, 1000), with_tail);
        check_locations_in_place(&mut cs, &with_tail);
        for level in 0..=4 {
            cs.verify_recent(level, 0).unwrap();
        }
    }
}

/// Writes `payload` over the archive at `loc` (same size).
fn overwrite_payload(dir: &std::path::Path, loc: &BlockLocation, payload: &[u8]) {
    use std::os::unix::fs::FileExt;
    assert_eq!(payload.len() as u64, loc.len);
    let path = dir.join(format!("blocks/blk{:05}.dat", loc.file));
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(payload, loc.offset).unwrap();
    // The checksum in the record header (bytes 8..12) made to match, so
    // only the archive checks can notice.
    f.write_all_at(&crc32fast::hash(payload).to_le_bytes(), loc.offset - 8)
        .unwrap();
}

#[test]
fn damaged_archives_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let locs = {
        let mut cs = open(dir.path(), false);
        let g = tip_hash(&cs);
        extend(&mut cs, g, 10, 1);
        cs.flush().unwrap();
        cs.block_locations(0, 10, 100)
    };
    let read = |loc: &BlockLocation| {
        let bytes = std::fs::read(dir.path().join("blocks/blk00000.dat")).unwrap();
        bytes[loc.offset as usize..(loc.offset + loc.len) as usize].to_vec()
    };
    // Coinbase-only blocks of one tag have archives of one size.
    let (b5, b6) = (read(&locs[5]), read(&locs[6]));
    assert_eq!(b5.len(), b6.len());

    // Block 6's archive, checksum and all, where block 5's should be.
    overwrite_payload(dir.path(), &locs[5], &b6);
    let mut cs = open(dir.path(), false);
    let idx5 = cs.at_height(5).unwrap();
    let e = cs.read_archive(idx5).unwrap_err().to_string();
    assert!(e.contains("holds block") && e.contains("-reindex"), "{e}");
    assert!(cs.read_block(idx5).is_err());
    let e = cs.verify_recent(0, 0).unwrap_err();
    assert!(e.contains("holds block"), "{e}");
    // Its neighbours are fine.
    cs.read_archive(cs.at_height(6).unwrap()).unwrap();
    drop(cs);

    // Garbage with a good checksum: the archive does not validate.
    let mut garbage = b5.clone();
    let n = garbage.len();
    for b in &mut garbage[n - 16..] {
        *b = 0xa5;
    }
    overwrite_payload(dir.path(), &locs[5], &garbage);
    let mut cs = open(dir.path(), false);
    let e = cs.read_archive(idx5).unwrap_err().to_string();
    assert!(e.contains("not a valid block archive"), "{e}");
    // A disconnect that needs it fails with the error.
    let e = cs.invalidate_block(idx5).err().unwrap().to_string();
    assert!(e.contains("not a valid block archive"), "{e}");
    drop(cs);

    // A flipped byte without a matching checksum: a checksum error.
    overwrite_payload(dir.path(), &locs[5], &b5);
    let path = dir.path().join("blocks/blk00000.dat");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[locs[5].offset as usize + 100] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let mut cs = open(dir.path(), false);
    let e = cs.read_block(idx5).unwrap_err().to_string();
    assert!(e.contains("checksum"), "{e}");
    drop(cs);

    // -reindex stops at the damaged record (in the last file it reads as
    // a torn tail) and keeps the blocks before it.
    let cs = open(dir.path(), true);
    assert_eq!(cs.height(), 4);
}

#[test]
fn block_files_of_the_old_format_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = dir.path().join("blocks");
    std::fs::create_dir_all(&blocks).unwrap();
    // The old layout: `magic | len | crc32 | wire bytes` from offset 0.
    let genesis = serialize(&params().genesis);
    let mut old = params().message_start.to_vec();
    old.extend_from_slice(&(genesis.len() as u32).to_le_bytes());
    old.extend_from_slice(&crc32fast::hash(&genesis).to_le_bytes());
    old.extend_from_slice(&genesis);
    std::fs::write(blocks.join("blk00000.dat"), &old).unwrap();
    let err = Chainstate::open(dir.path(), params(), ChainstateOptions::default())
        .err()
        .expect("old-format block files must not open");
    let msg = err.to_string();
    assert!(
        msg.contains("blk00000.dat") && msg.contains("older block-file format"),
        "{msg}"
    );
    assert!(msg.contains("Delete the blocks and chainstate"), "{msg}");
    // Nor with -reindex, and the file is left as it was.
    assert!(Chainstate::open(
        dir.path(),
        params(),
        ChainstateOptions {
            reindex: true,
            ..ChainstateOptions::default()
        }
    )
    .is_err());
    assert_eq!(std::fs::read(blocks.join("blk00000.dat")).unwrap(), old);
}
