//! Script checks of a block on 1 and 2 threads: a synthetic regtest block
//! of 1,000 transactions with 2 signed P2WPKH inputs each (2,000 ECDSA
//! verifications), checked by `ScriptPool::run` straight from the archive.
//! After criterion's groups it prints the speed-up of 2 threads over 1
//! (median of repeated runs).
//!
//! `cargo bench -p btc-node --bench connect_scripts`

use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, CompressedPublicKey, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use btc_core::{ArchivedBlockArchive, BlockWire};
use btc_node::params::ChainParams;
use btc_node::store::Coin;
use btc_node::validation::{bip34_height_prefix, ScriptPool};
use criterion::Criterion;

const TXS: usize = 1000;
const INPUTS: usize = 2;

/// The block's wire bytes and the coins each transaction spends.
fn build() -> (Vec<u8>, Vec<Vec<Coin>>) {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[3; 32]).expect("key");
    let pk = sk.public_key(&secp);
    let spk = ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash());
    let mut script_sig = bip34_height_prefix(200);
    script_sig.extend([0x01, 0x2a]);
    let mut txdata = vec![Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    }];
    let mut spent = vec![vec![]];
    for t in 0..TXS {
        let coins: Vec<Coin> = (0..INPUTS)
            .map(|_| Coin {
                height: 10,
                coinbase: false,
                amount: 100_000,
                script: spk.to_bytes(),
            })
            .collect();
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(t as u64).to_le_bytes());
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: (0..INPUTS)
                .map(|i| TxIn {
                    previous_output: OutPoint::new(Txid::from_byte_array(id), i as u32),
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(150_000),
                script_pubkey: spk.clone(),
            }],
        };
        for i in 0..INPUTS {
            let hash = SighashCache::new(&tx)
                .p2wpkh_signature_hash(i, &spk, Amount::from_sat(100_000), EcdsaSighashType::All)
                .expect("sighash");
            let sig =
                bitcoin::ecdsa::Signature::sighash_all(secp.sign_ecdsa(&Message::from(hash), &sk));
            tx.input[i].witness = Witness::p2wpkh(&sig, &pk);
        }
        txdata.push(tx);
        spent.push(coins);
    }
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: 1_700_000_000,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    };
    block.header.merkle_root = block.compute_merkle_root().expect("txs");
    (bitcoin::consensus::serialize(&block), spent)
}

/// Median wall time of `runs` checks of the block on `threads` threads.
fn median(a: &ArchivedBlockArchive, spent: &[Vec<Coin>], threads: usize, runs: usize) -> Duration {
    let pool = ScriptPool::with_threads(threads);
    let flags = ChainParams::for_network(Network::Regtest).script_flags(200, &a.block_hash());
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let run = pool.run(a, spent, flags);
            let t = start.elapsed();
            assert!(run.failure.is_none() && run.checked == TXS * INPUTS);
            t
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let (bytes, spent) = build();
    let wire = BlockWire::parse(bytes.as_slice()).expect("block");
    let buf = wire.to_archive();
    let a = ArchivedBlockArchive::from_bytes(&buf).expect("archive");
    let flags = ChainParams::for_network(Network::Regtest).script_flags(200, &a.block_hash());

    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let mut group = c.benchmark_group("connect_scripts_2000_p2wpkh");
    for threads in [1, 2] {
        let pool = ScriptPool::with_threads(threads);
        group.bench_function(format!("threads_{threads}"), |b| {
            b.iter(|| pool.run(a, &spent, flags))
        });
    }
    group.finish();
    c.final_summary();

    let one = median(a, &spent, 1, 11);
    let two = median(a, &spent, 2, 11);
    println!(
        "script checks, {} P2WPKH inputs: 1 thread {:.1} ms, 2 threads {:.1} ms, speed-up {:.2}x \
         ({:.1} us per input on one thread)",
        TXS * INPUTS,
        one.as_secs_f64() * 1e3,
        two.as_secs_f64() * 1e3,
        one.as_secs_f64() / two.as_secs_f64(),
        one.as_secs_f64() * 1e6 / (TXS * INPUTS) as f64,
    );
}
