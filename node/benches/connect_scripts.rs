//! Script checks of a block on 1 and 2 threads: a synthetic regtest block
//! of 1,000 transactions with 2 signed P2WPKH inputs each (2,000 ECDSA
//! verifications), checked by `ScriptPool::run` straight from the archive.
//! After criterion's groups it prints the speed-up of 2 threads over 1
//! (median of repeated runs).
//!
//! A second group compares `CheckTransaction` over every transaction of
//! mainnet block 702861 (2,500 transactions) on the archive in place
//! against decoding each into a `bitcoin::Transaction` first (what
//! `btc_core::script::check_transaction` takes).
//!
//! `BITCOIN_TEST_DATA=/work/shared/data cargo bench -p btc-node --bench connect_scripts`

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
use btc_node::validation::{bip34_height_prefix, check_transaction, ScriptPool};
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

/// Wall times of `runs` checks of the block on 1 and on 2 threads,
/// alternating so that load from other processes hits both alike. Sorted.
fn timings(a: &ArchivedBlockArchive, spent: &[Vec<Coin>], runs: usize) -> [Vec<Duration>; 2] {
    let flags = ChainParams::for_network(Network::Regtest).script_flags(200, &a.block_hash());
    let pools = [ScriptPool::with_threads(1), ScriptPool::with_threads(2)];
    let mut times = [Vec::new(), Vec::new()];
    for _ in 0..runs {
        for (pool, times) in pools.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            let run = pool.run(a, spent, flags);
            times.push(start.elapsed());
            assert!(run.failure.is_none() && run.checked == TXS * INPUTS);
        }
    }
    for t in &mut times {
        t.sort();
    }
    times
}

/// CPU time (user + system) this process has used, from /proc/self/stat
/// (Linux; clock ticks taken as 1/100 s). `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time per check of the block on `threads` threads, over `runs`
/// runs: unlike wall time, other processes' load doesn't change it, so it
/// shows what the threads cost (synchronization, duplicated work).
fn cpu_per_run(
    a: &ArchivedBlockArchive,
    spent: &[Vec<Coin>],
    threads: usize,
    runs: u32,
) -> Option<Duration> {
    let flags = ChainParams::for_network(Network::Regtest).script_flags(200, &a.block_hash());
    let pool = ScriptPool::with_threads(threads);
    let start = cpu_time()?;
    for _ in 0..runs {
        assert!(pool.run(a, spent, flags).failure.is_none());
    }
    Some((cpu_time()? - start) / runs)
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

    let real = btc_core::data::require(btc_core::data::BLOCK_702861);
    let wire = BlockWire::parse(real.as_slice()).expect("block 702861");
    let buf = wire.to_archive();
    let real = ArchivedBlockArchive::from_bytes(&buf).expect("archive");
    let mut group = c.benchmark_group("check_transaction_702861");
    group.bench_function("archive_in_place", |b| {
        b.iter(|| real.txs().all(|t| check_transaction(&t).is_ok()))
    });
    group.bench_function("decode_then_check", |b| {
        b.iter(|| {
            real.txs().all(|t| {
                t.to_transaction()
                    .is_ok_and(|tx| btc_core::script::check_transaction(&tx).is_ok())
            })
        })
    });
    group.finish();
    c.final_summary();

    let [one, two] = timings(a, &spent, 21);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (min1, min2, med1, med2) = (one[0], two[0], one[one.len() / 2], two[two.len() / 2]);
    println!(
        "script checks, {} P2WPKH inputs ({} alternating runs each): \
         fastest 1 thread {:.1} ms, 2 threads {:.1} ms, speed-up {:.2}x; \
         median {:.1} ms vs {:.1} ms, {:.2}x; {:.1} us per input on one thread",
        TXS * INPUTS,
        one.len(),
        ms(min1),
        ms(min2),
        min1.as_secs_f64() / min2.as_secs_f64(),
        ms(med1),
        ms(med2),
        med1.as_secs_f64() / med2.as_secs_f64(),
        min1.as_secs_f64() * 1e6 / (TXS * INPUTS) as f64,
    );
    if let (Some(c1), Some(c2)) = (cpu_per_run(a, &spent, 1, 20), cpu_per_run(a, &spent, 2, 20)) {
        println!(
            "CPU time per block check: 1 thread {:.1} ms, 2 threads {:.1} ms ({:+.1}%)",
            ms(c1),
            ms(c2),
            (c2.as_secs_f64() / c1.as_secs_f64() - 1.0) * 100.0
        );
    }
}
