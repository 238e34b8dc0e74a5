//! `Chainstate::connect_timings`: the counters the `connect_chain`
//! benchmark reads add up, count the blocks, scripts and flushed coins, and
//! reset.

use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version};
use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Txid, Witness,
};
use btc_node::chainstate::{Chainstate, ChainstateOptions, ConnectTimings};
use btc_node::params::ChainParams;
use btc_node::validation::bip34_height_prefix;

fn params() -> ChainParams {
    ChainParams::for_network(bitcoin::Network::Regtest)
}

/// `OP_TRUE`: spendable with an empty scriptSig, so a spend runs one script.
fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

fn block(prev: BlockHash, height: u32, time: u32, txs: Vec<Transaction>) -> Block {
    let mut script_sig = bip34_height_prefix(height);
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
            script_pubkey: op_true(),
        }],
    };
    let mut txdata = vec![coinbase];
    txdata.extend(txs);
    let mut b = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    };
    b.header.merkle_root = b.compute_merkle_root().unwrap();
    while b.header.validate_pow(b.header.target()).is_err() {
        b.header.nonce += 1;
    }
    b
}

fn spend(txid: Txid, value: Amount) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(txid, 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: value - Amount::from_sat(1000),
            script_pubkey: op_true(),
        }],
    }
}

#[test]
fn connect_timings_count_blocks_scripts_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cs = Chainstate::open(dir.path(), params(), ChainstateOptions::default()).unwrap();
    assert_eq!(cs.connect_timings().blocks, 0);

    // 101 coinbase-only blocks, then one spending the first coinbase.
    let mut prev = cs.hash_at(0).unwrap();
    let mut time = params().genesis.header.time;
    let mut first_coinbase = None;
    let start = Instant::now();
    for height in 1..=102 {
        time += 1;
        let txs = if height == 102 {
            vec![spend(first_coinbase.unwrap(), params().block_subsidy(1))]
        } else {
            vec![]
        };
        let b = block(prev, height, time, txs);
        first_coinbase.get_or_insert(b.txdata[0].compute_txid());
        cs.process_block(&serialize(&b)).unwrap();
        prev = b.block_hash();
    }
    let wall = start.elapsed();
    assert_eq!(cs.height(), 102);

    let t = cs.connect_timings();
    assert_eq!(t.blocks, 102);
    assert_eq!(t.script_checks, 1);
    assert!(t.scripts > Duration::ZERO);
    assert!(t.accept + t.connect() <= wall);
    assert!(t.connect() >= t.scripts + t.lookups);

    // The flush writes 102 coins (101 coinbase outputs and the spend's
    // output) and deletes the spent coinbase output: coinbase outputs are
    // added as possible overwrites, so spending one is a delete.
    cs.flush().unwrap();
    let after = cs.connect_timings();
    assert_eq!(after.flushes, t.flushes + 1);
    assert_eq!(after.flushed_coins - t.flushed_coins, 103);
    assert!(after.flush > t.flush);

    cs.reset_connect_timings();
    assert_eq!(cs.connect_timings(), ConnectTimings::default());
}
