//! Connecting a synthetic regtest chain through `Chainstate::process_block`,
//! with 1 and 2 script threads: blocks/s, signature checks/s, and where a
//! block's time goes (signature checks against the bookkeeping around
//! them).
//!
//! The chain (built once, signed with rust-bitcoin, cached under cargo's
//! target tmp dir):
//!
//! 1. setup: 100 + k coinbase-only blocks paying a P2WPKH key, one block
//!    whose k transactions each split a mature coinbase into 200 outputs,
//!    then blocks of fan-out transactions (each 1 input, 2,000 P2WPKH
//!    outputs, up to ~3.9 M weight per block) making one coin per spend;
//! 2. measured: `--blocks` blocks (200) of `--spends` (2,000) signed
//!    one-in-one-out P2WPKH spends. Spend `g` takes output `g / F` of
//!    fan-out transaction `g % F` (F fan-out transactions), so a block
//!    touches coins of every fan-out transaction, not one run of keys.
//!
//! Each run opens a fresh datadir (on the target dir's disk), connects the
//! setup blocks untimed and flushes, so the spent coins are in fjall and
//! the UTXO cache is empty; then connects the measured blocks, each with
//! `process_block` and `sync_blocks` as `submitblock` does, and last times
//! `Chainstate::flush` of everything they changed. Runs alternate the
//! thread counts so that load from other processes hits each alike; the
//! table gives medians over runs.
//!
//! The time split comes from `Chainstate::connect_timings` (wall time
//! around each phase inside the chainstate). As a cross-check, the same
//! blocks' scripts are also run alone on a `ScriptPool` with the same coins
//! ("scripts alone"), and one block's signature checks alone in
//! libsecp256k1 ("secp256k1 alone": parsing signature and public key, and
//! ECDSA verification, without the script interpreter, transaction
//! parsing and sighash that libbitcoinconsensus adds per input).
//!
//! "others' CPU" is what other processes used during a run, in cores (from
//! `/proc/stat` minus this process's own time): a 2-thread figure means
//! little when it is not near 0 on a 2-core machine.
//!
//! ```text
//! cargo bench -p btc-node --bench connect_chain                    # 200 x 2,000, 3 runs
//! cargo bench -p btc-node --bench connect_chain -- --quick         # 20 x 2,000, 1 run
//! cargo bench -p btc-node --bench connect_chain -- --runs 5 --json
//! ```
//!
//! Options: `--quick`, `--blocks N`, `--spends N`, `--runs N`,
//! `--threads 1,2`, `--json` (one JSON document instead of the table),
//! `--rebuild` (ignore the cached chain), `--coins-in-cache` (skip the
//! flush after the setup: the spent coins are found in the UTXO cache, as
//! coins created shortly before are in a node with a large `-dbcache`),
//! `--max-others CORES` (before each measurement wait for the machine to
//! be quiet, and repeat it when other processes used more than CORES
//! meanwhile: for a 2-thread figure on a shared 2-core machine).

mod common;
use common::{cpu_jiffies, median};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{ecdsa, Message, PublicKey, Secp256k1, SecretKey, SignOnly};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, CompressedPublicKey, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use btc_core::archive::ARCHIVE_ALIGN;
use btc_core::{ArchivedBlockArchive, BlockWire};
use btc_node::chainstate::{Chainstate, ChainstateOptions, ConnectTimings};
use btc_node::mining::{coinbase_script_sig, grind, Grind};
use btc_node::params::ChainParams;
use btc_node::store::Coin;
use btc_node::validation::ScriptPool;
use rkyv::util::AlignedVec;
use serde_json::json;

/// Outputs of a stage-1 transaction (one per fan-out transaction).
const STAGE1_OUTPUTS: usize = 200;
/// Value of each stage-1 output: 200 of them fit in a 50 BTC coinbase.
const STAGE1_VALUE: u64 = 24_000_000;
/// Outputs of a fan-out transaction, at most.
const FANOUT_OUTPUTS: usize = 2_000;
/// Value of each fan-out output (the coin a measured spend takes).
const COIN_VALUE: u64 = 10_000;
/// Fee of each measured spend.
const SPEND_FEE: u64 = 1_000;
/// Weight the setup blocks are filled to (the limit is 4,000,000).
const SETUP_BLOCK_WEIGHT: u64 = 3_900_000;
/// Bumped whenever the chain built here changes: names the cache file.
const CHAIN_VERSION: u32 = 1;

struct Args {
    blocks: usize,
    spends: usize,
    runs: usize,
    threads: Vec<usize>,
    json: bool,
    rebuild: bool,
    quick: bool,
    coins_in_cache: bool,
    max_others: Option<f64>,
}

impl Args {
    fn parse() -> Args {
        let mut a = Args {
            blocks: 200,
            spends: 2_000,
            runs: 3,
            threads: vec![1, 2],
            json: false,
            rebuild: false,
            quick: false,
            coins_in_cache: false,
            max_others: None,
        };
        let mut it = std::env::args().skip(1);
        let num = |v: Option<String>, name: &str| -> usize {
            v.and_then(|v| v.replace('_', "").parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        let mut runs = None;
        let mut blocks = None;
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--quick" => a.quick = true,
                "--json" => a.json = true,
                "--rebuild" => a.rebuild = true,
                "--coins-in-cache" => a.coins_in_cache = true,
                "--max-others" => {
                    a.max_others = Some(
                        it.next()
                            .and_then(|v| v.parse().ok())
                            .expect("--max-others needs a number of cores"),
                    )
                }
                "--blocks" => blocks = Some(num(it.next(), "--blocks")),
                "--spends" => a.spends = num(it.next(), "--spends"),
                "--runs" => runs = Some(num(it.next(), "--runs")),
                "--threads" => {
                    a.threads = it
                        .next()
                        .expect("--threads needs a list")
                        .split(',')
                        .map(|t| t.trim().parse().expect("--threads: numbers"))
                        .collect()
                }
                // cargo bench passes `--bench`; criterion-style filters and
                // flags of other benches are ignored too.
                _ => {}
            }
        }
        a.blocks = blocks.unwrap_or(if a.quick { 20 } else { 200 });
        a.runs = runs.unwrap_or(if a.quick { 1 } else { 3 }).max(1);
        assert!(a.blocks > 0 && a.spends > 0, "nothing to connect");
        a
    }
}

/// The chain: setup blocks, then the measured ones.
struct Chain {
    setup: Vec<Vec<u8>>,
    measured: Vec<Vec<u8>>,
}

struct Key {
    sk: SecretKey,
    pk: PublicKey,
    spk: ScriptBuf,
}

impl Key {
    fn new(secp: &Secp256k1<SignOnly>) -> Key {
        let sk = SecretKey::from_slice(&[7; 32]).expect("key");
        let pk = sk.public_key(secp);
        let spk = ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash());
        Key { sk, pk, spk }
    }

    /// Signs every input of `tx`, each spending a P2WPKH coin of `value`.
    fn sign(&self, secp: &Secp256k1<SignOnly>, tx: &mut Transaction, value: u64) {
        let mut hashes = Vec::with_capacity(tx.input.len());
        let mut cache = SighashCache::new(&*tx);
        for i in 0..tx.input.len() {
            let hash = cache
                .p2wpkh_signature_hash(i, &self.spk, Amount::from_sat(value), EcdsaSighashType::All)
                .expect("sighash");
            hashes.push(hash);
        }
        for (input, hash) in tx.input.iter_mut().zip(hashes) {
            let sig = secp.sign_ecdsa(&Message::from(hash), &self.sk);
            input.witness = Witness::p2wpkh(&bitcoin::ecdsa::Signature::sighash_all(sig), &self.pk);
        }
    }
}

fn tx(inputs: Vec<OutPoint>, outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .into_iter()
            .map(|previous_output| TxIn {
                previous_output,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// A block at `height` on `prev`: BIP34 coinbase paying the subsidy to
/// `spk`, the witness commitment when a transaction has a witness, mined.
fn make_block(
    params: &ChainParams,
    height: u32,
    prev: BlockHash,
    spk: &ScriptBuf,
    txs: Vec<Transaction>,
) -> Block {
    let mut coinbase = tx(
        vec![OutPoint::null()],
        vec![TxOut {
            value: params.block_subsidy(height),
            script_pubkey: spk.clone(),
        }],
    );
    coinbase.input[0].script_sig = coinbase_script_sig(height);
    let mut txdata = vec![coinbase];
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::all_zeros(),
            time: params.genesis.header.time + height,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    };
    if block.txdata[1..]
        .iter()
        .any(|t| !t.input[0].witness.is_empty())
    {
        let reserved = [0u8; 32];
        let root = block.witness_root().expect("transactions");
        let commitment = Block::compute_witness_commitment(&root, &reserved);
        let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        script.extend_from_slice(commitment.as_byte_array());
        let cb = &mut block.txdata[0];
        cb.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(script),
        });
        cb.input[0].witness = Witness::from_slice(&[reserved]);
    }
    let mut tries = u64::MAX;
    assert_eq!(grind(&mut block, &mut tries), Grind::Found);
    block
}

/// Where the measured spends' coins come from.
struct Layout {
    /// Fan-out transactions.
    fanouts: usize,
    /// Outputs of each.
    outputs: usize,
    /// Stage-1 transactions (and mature coinbases they spend).
    stage1: usize,
}

impl Layout {
    fn new(total: usize) -> Layout {
        let fanouts = total.div_ceil(FANOUT_OUTPUTS);
        let stage1 = fanouts.div_ceil(STAGE1_OUTPUTS);
        assert!(
            stage1 <= 49,
            "more spends than 49 coinbases of 50 BTC pay for"
        );
        Layout {
            fanouts,
            outputs: total.div_ceil(fanouts),
            stage1,
        }
    }

    /// The fan-out output spend `g` takes.
    fn source(&self, g: usize) -> (usize, u32) {
        (g % self.fanouts, (g / self.fanouts) as u32)
    }
}

fn build_chain(params: &ChainParams, blocks: usize, spends: usize) -> Chain {
    let secp = Secp256k1::signing_only();
    let key = Key::new(&secp);
    let layout = Layout::new(blocks * spends);
    let mut setup = Vec::new();
    let mut prev = params.genesis_hash;
    let mut height = 0u32;
    let push = |block: Block, out: &mut Vec<Vec<u8>>, prev: &mut BlockHash| {
        *prev = block.block_hash();
        out.push(serialize(&block));
    };

    // Coinbases, the first `stage1` of them mature after these.
    let mut coinbases = Vec::new();
    for _ in 0..100 + layout.stage1 {
        height += 1;
        let b = make_block(params, height, prev, &key.spk, vec![]);
        coinbases.push(b.txdata[0].compute_txid());
        push(b, &mut setup, &mut prev);
    }
    // Stage 1: each mature coinbase into 200 outputs.
    let stage1: Vec<Transaction> = (0..layout.stage1)
        .map(|i| {
            let mut t = tx(
                vec![OutPoint::new(coinbases[i], 0)],
                vec![
                    TxOut {
                        value: Amount::from_sat(STAGE1_VALUE),
                        script_pubkey: key.spk.clone(),
                    };
                    STAGE1_OUTPUTS
                ],
            );
            let subsidy = params.block_subsidy(i as u32 + 1).to_sat();
            key.sign(&secp, &mut t, subsidy);
            t
        })
        .collect();
    let stage1_ids: Vec<Txid> = stage1.iter().map(Transaction::compute_txid).collect();
    height += 1;
    push(
        make_block(params, height, prev, &key.spk, stage1),
        &mut setup,
        &mut prev,
    );
    // Fan-out transactions, packed into blocks.
    let mut fanout_ids = Vec::with_capacity(layout.fanouts);
    let mut pending: Vec<Transaction> = Vec::new();
    let mut weight = 0;
    for f in 0..layout.fanouts {
        let mut t = tx(
            vec![OutPoint::new(
                stage1_ids[f / STAGE1_OUTPUTS],
                (f % STAGE1_OUTPUTS) as u32,
            )],
            vec![
                TxOut {
                    value: Amount::from_sat(COIN_VALUE),
                    script_pubkey: key.spk.clone(),
                };
                layout.outputs
            ],
        );
        key.sign(&secp, &mut t, STAGE1_VALUE);
        fanout_ids.push(t.compute_txid());
        let w = t.weight().to_wu();
        if weight + w > SETUP_BLOCK_WEIGHT {
            height += 1;
            let b = make_block(params, height, prev, &key.spk, std::mem::take(&mut pending));
            push(b, &mut setup, &mut prev);
            weight = 0;
        }
        weight += w;
        pending.push(t);
    }
    height += 1;
    push(
        make_block(params, height, prev, &key.spk, pending),
        &mut setup,
        &mut prev,
    );

    // The measured blocks' spends, signed on every core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = blocks.div_ceil(cores);
    let mut spend_txs: Vec<Vec<Transaction>> = Vec::with_capacity(blocks);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..blocks)
            .step_by(per)
            .map(|first| {
                let (key, layout, fanout_ids) = (&key, &layout, &fanout_ids);
                s.spawn(move || {
                    let secp = Secp256k1::signing_only();
                    (first..(first + per).min(blocks))
                        .map(|b| {
                            (0..spends)
                                .map(|j| {
                                    let (f, vout) = layout.source(b * spends + j);
                                    let mut t = tx(
                                        vec![OutPoint::new(fanout_ids[f], vout)],
                                        vec![TxOut {
                                            value: Amount::from_sat(COIN_VALUE - SPEND_FEE),
                                            script_pubkey: key.spk.clone(),
                                        }],
                                    );
                                    key.sign(&secp, &mut t, COIN_VALUE);
                                    t
                                })
                                .collect::<Vec<_>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            spend_txs.extend(h.join().expect("signing thread"));
        }
    });
    let mut measured = Vec::with_capacity(blocks);
    for txs in spend_txs {
        height += 1;
        push(
            make_block(params, height, prev, &key.spk, txs),
            &mut measured,
            &mut prev,
        );
    }
    Chain { setup, measured }
}

fn write_blocks(w: &mut impl Write, blocks: &[Vec<u8>]) -> std::io::Result<()> {
    w.write_all(&(blocks.len() as u32).to_le_bytes())?;
    for b in blocks {
        w.write_all(&(b.len() as u32).to_le_bytes())?;
        w.write_all(b)?;
    }
    Ok(())
}

fn read_blocks(r: &mut impl Read) -> std::io::Result<Vec<Vec<u8>>> {
    let mut n = [0u8; 4];
    r.read_exact(&mut n)?;
    (0..u32::from_le_bytes(n))
        .map(|_| {
            r.read_exact(&mut n)?;
            let mut b = vec![0u8; u32::from_le_bytes(n) as usize];
            r.read_exact(&mut b)?;
            Ok(b)
        })
        .collect()
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("connect_chain")
}

/// The chain from the cache file, or built (and cached). Returns whether
/// it was built, and how long that took.
fn load_chain(
    params: &ChainParams,
    args: &Args,
    log: &dyn Fn(String),
) -> (Chain, Option<Duration>) {
    let path = bench_dir().join(format!(
        "chain-v{CHAIN_VERSION}-{}x{}.bin",
        args.blocks, args.spends
    ));
    if !args.rebuild {
        if let Ok(f) = std::fs::File::open(&path) {
            let mut r = std::io::BufReader::new(f);
            if let (Ok(setup), Ok(measured)) = (read_blocks(&mut r), read_blocks(&mut r)) {
                if measured.len() == args.blocks {
                    log(format!("chain read from {}", path.display()));
                    return (Chain { setup, measured }, None);
                }
            }
        }
    }
    log(format!(
        "building the chain: {} blocks of {} signed spends ...",
        args.blocks, args.spends
    ));
    let start = Instant::now();
    let chain = build_chain(params, args.blocks, args.spends);
    let took = start.elapsed();
    std::fs::create_dir_all(bench_dir()).expect("bench dir");
    let tmp = path.with_extension("tmp");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&tmp).expect("cache file"));
    write_blocks(&mut w, &chain.setup).expect("write cache");
    write_blocks(&mut w, &chain.measured).expect("write cache");
    w.into_inner().expect("flush cache").sync_all().ok();
    std::fs::rename(&tmp, &path).expect("rename cache");
    log(format!(
        "built in {:.1} s, cached in {}",
        took.as_secs_f64(),
        path.display()
    ));
    (chain, Some(took))
}

/// CPU use over an interval, in cores: this process's (all its threads,
/// fjall's background workers included) and every other process's.
struct CpuMeter {
    start: Option<(u64, u64)>,
    at: Instant,
}

#[derive(Clone, Copy, Debug)]
struct CpuUse {
    own: f64,
    others: f64,
}

impl CpuMeter {
    fn start() -> CpuMeter {
        CpuMeter {
            start: cpu_jiffies(),
            at: Instant::now(),
        }
    }

    fn stop(self) -> CpuUse {
        let secs = self.at.elapsed().as_secs_f64();
        // SAFETY: sysconf has no preconditions.
        let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            t if t > 0 => t as f64,
            _ => 100.0,
        };
        match (self.start, cpu_jiffies()) {
            (Some((b0, m0)), Some((b1, m1))) => CpuUse {
                own: (m1 - m0) as f64 / hz / secs,
                others: (b1 - b0).saturating_sub(m1 - m0) as f64 / hz / secs,
            },
            _ => CpuUse {
                own: f64::NAN,
                others: f64::NAN,
            },
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One connection of the measured blocks.
struct Run {
    threads: usize,
    /// `process_block` + `sync_blocks` of every measured block.
    wall: Duration,
    /// Of which `sync_blocks`.
    sync: Duration,
    /// Per block (process + sync), sorted.
    per_block: Vec<Duration>,
    timings: ConnectTimings,
    /// The `Chainstate::flush` after the measured blocks.
    flush: Duration,
    flushed_coins: u64,
    /// Cores used while the blocks were connected.
    cpu: CpuUse,
    load: String,
}

/// Connects the chain into a fresh datadir; with `coins_in_cache` the
/// setup's coins stay in the UTXO cache instead of being flushed to fjall.
fn connect_run(params: &ChainParams, chain: &Chain, threads: usize, coins_in_cache: bool) -> Run {
    std::fs::create_dir_all(bench_dir()).expect("bench dir");
    let dir = tempfile::Builder::new()
        .prefix("datadir-")
        .tempdir_in(bench_dir())
        .expect("datadir");
    let mut cs = Chainstate::open(
        dir.path(),
        params.clone(),
        ChainstateOptions {
            script_threads: threads,
            ..ChainstateOptions::default()
        },
    )
    .expect("open chainstate");
    for b in &chain.setup {
        cs.process_block(b).expect("setup block");
    }
    if !coins_in_cache {
        cs.flush().expect("flush setup");
    }
    let first = cs.height() + 1;
    cs.reset_connect_timings();

    let meter = CpuMeter::start();
    let mut per_block = Vec::with_capacity(chain.measured.len());
    let mut sync = Duration::ZERO;
    let start = Instant::now();
    for b in &chain.measured {
        let t0 = Instant::now();
        cs.process_block(b).expect("measured block");
        let t1 = Instant::now();
        cs.sync_blocks().expect("sync");
        let t2 = Instant::now();
        sync += t2 - t1;
        per_block.push(t2 - t0);
    }
    let wall = start.elapsed();
    let cpu = meter.stop();
    let load = load_average();
    let timings = cs.connect_timings();
    assert_eq!(
        cs.height() as usize,
        first as usize + chain.measured.len() - 1
    );
    assert_eq!(timings.blocks as usize, chain.measured.len());

    let t = Instant::now();
    cs.flush().expect("flush");
    let flush = t.elapsed();
    let flushed_coins = cs.connect_timings().flushed_coins - timings.flushed_coins;
    per_block.sort();
    Run {
        threads,
        wall,
        sync,
        per_block,
        timings,
        flush,
        flushed_coins,
        cpu,
        load,
    }
}

/// Bytes the blocks take in the block files: each a record holding its
/// archive (header, archive, padding).
fn stored_bytes<'a>(blocks: impl Iterator<Item = &'a Vec<u8>>) -> u64 {
    blocks
        .map(|b| {
            let len = BlockWire::parse(b.as_slice())
                .expect("block")
                .archived_len();
            btc_node::blockfiles::format::record_size(len as u64)
        })
        .sum()
}

/// The measured blocks as archives, with the coins each spends.
fn archives(chain: &Chain) -> Vec<(AlignedVec<ARCHIVE_ALIGN>, Vec<Vec<Coin>>)> {
    let key = Key::new(&Secp256k1::signing_only());
    let coin = Coin {
        height: 1,
        coinbase: false,
        amount: COIN_VALUE,
        script: key.spk.to_bytes(),
    };
    chain
        .measured
        .iter()
        .map(|bytes| {
            let archive = BlockWire::parse(bytes.as_slice())
                .expect("block")
                .to_archive();
            let n = ArchivedBlockArchive::from_bytes(&archive)
                .expect("archive")
                .tx_count();
            let spent = std::iter::once(vec![])
                .chain((1..n).map(|_| vec![coin.clone()]))
                .collect();
            (archive, spent)
        })
        .collect()
}

/// The measured blocks' scripts alone on a pool of `threads`, with the
/// coins they spend: the summed time of `ScriptPool::run`, and the CPU
/// use meanwhile.
fn scripts_alone(
    params: &ChainParams,
    blocks: &[(AlignedVec<ARCHIVE_ALIGN>, Vec<Vec<Coin>>)],
    threads: usize,
) -> (Duration, CpuUse) {
    let pool = ScriptPool::with_threads(threads);
    let mut total = Duration::ZERO;
    let meter = CpuMeter::start();
    for (archive, spent) in blocks {
        let a = ArchivedBlockArchive::from_bytes(archive).expect("archive");
        // The height only decides flags; every deployment is active.
        let flags = params.script_flags(1_000, &a.block_hash());
        let start = Instant::now();
        let run = pool.run(a, spent, flags);
        total += start.elapsed();
        assert!(run.failure.is_none(), "scripts alone failed");
    }
    (total, meter.stop())
}

/// Time per signature check in libsecp256k1 (through rust-bitcoin) of the
/// first measured block's inputs, one thread, best of 5 passes: parsing
/// the DER signature and the compressed public key (its decompression is
/// a square root), then ECDSA verification. No script, transaction
/// parsing or sighash.
fn ecdsa_alone(chain: &Chain) -> Duration {
    let secp = Secp256k1::verification_only();
    let key = Key::new(&Secp256k1::signing_only());
    let block: Block = deserialize(&chain.measured[0]).expect("block");
    let checks: Vec<(Message, Vec<u8>, Vec<u8>)> = block.txdata[1..]
        .iter()
        .map(|t| {
            let hash = SighashCache::new(t)
                .p2wpkh_signature_hash(
                    0,
                    &key.spk,
                    Amount::from_sat(COIN_VALUE),
                    EcdsaSighashType::All,
                )
                .expect("sighash");
            let w = &t.input[0].witness;
            let der = w.nth(0).expect("signature");
            let der = der[..der.len() - 1].to_vec();
            let pk = w.nth(1).expect("public key").to_vec();
            (Message::from(hash), der, pk)
        })
        .collect();
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for (m, der, pk) in &checks {
                let sig = ecdsa::Signature::from_der(der).expect("der");
                let pk = PublicKey::from_slice(pk).expect("public key");
                secp.verify_ecdsa(m, &sig, &pk).expect("valid signature");
            }
            start.elapsed() / checks.len() as u32
        })
        .min()
        .expect("passes")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|c| format!("{c:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Medians over the runs of one thread count.
struct Summary {
    threads: usize,
    blocks_per_s: f64,
    sigs_per_s: f64,
    block_ms_median: f64,
    /// Per block, ms: accept, lookups, checks, scripts, commit, sync, other.
    split_ms: [f64; 7],
    /// Share of the wall time in `ScriptPool::run` (instrumented).
    script_share: f64,
    /// Scripts-alone time over the wall time.
    alone_share: f64,
    scripts_alone_ms: f64,
    flush_ms: f64,
    flush_coins_per_s: f64,
    flushed_coins: u64,
    own_cpu: Vec<f64>,
    others_cpu: Vec<f64>,
    alone_others_cpu: Vec<f64>,
    loads: Vec<String>,
    wall_s: Vec<f64>,
}

fn summarize(runs: &[&Run], alone: &[(Duration, CpuUse)], blocks: usize) -> Summary {
    let per = |f: &dyn Fn(&Run) -> f64| median(runs.iter().map(|r| f(r)).collect());
    let per_block = |d: Duration| ms(d) / blocks as f64;
    let alone_ms = median(alone.iter().map(|(d, _)| ms(*d)).collect());
    let split = |f: &dyn Fn(&Run) -> Duration| per(&|r| per_block(f(r)));
    Summary {
        threads: runs[0].threads,
        blocks_per_s: per(&|r| blocks as f64 / r.wall.as_secs_f64()),
        sigs_per_s: per(&|r| r.timings.script_checks as f64 / r.wall.as_secs_f64()),
        block_ms_median: per(&|r| ms(r.per_block[r.per_block.len() / 2])),
        split_ms: [
            split(&|r| r.timings.accept),
            split(&|r| r.timings.lookups),
            split(&|r| r.timings.checks),
            split(&|r| r.timings.scripts),
            split(&|r| r.timings.commit),
            split(&|r| r.sync),
            split(&|r| {
                r.wall
                    .saturating_sub(r.timings.accept + r.timings.connect() + r.sync)
            }),
        ],
        script_share: per(&|r| r.timings.scripts.as_secs_f64() / r.wall.as_secs_f64()),
        alone_share: alone_ms / per(&|r| ms(r.wall)),
        scripts_alone_ms: alone_ms / blocks as f64,
        flush_ms: per(&|r| ms(r.flush)),
        flush_coins_per_s: per(&|r| r.flushed_coins as f64 / r.flush.as_secs_f64()),
        flushed_coins: runs[0].flushed_coins,
        own_cpu: runs.iter().map(|r| r.cpu.own).collect(),
        others_cpu: runs.iter().map(|r| r.cpu.others).collect(),
        alone_others_cpu: alone.iter().map(|(_, c)| c.others).collect(),
        loads: runs.iter().map(|r| r.load.clone()).collect(),
        wall_s: runs.iter().map(|r| r.wall.as_secs_f64()).collect(),
    }
}

/// Waits (sleeping) until the whole machine stays under `max` busy cores
/// for 3 s, at most 30 minutes.
fn wait_quiet(max: f64, log: &dyn Fn(String)) {
    let since = Instant::now();
    let mut said = false;
    while since.elapsed() < Duration::from_secs(1800) {
        let meter = CpuMeter::start();
        std::thread::sleep(Duration::from_secs(3));
        let cpu = meter.stop();
        if cpu.others + cpu.own < max {
            return;
        }
        if !said {
            log(format!(
                "waiting for the machine to go quiet ({:.2} cores busy)",
                cpu.others + cpu.own
            ));
            said = true;
        }
    }
}

/// Runs `measure` (which returns its result and the cores other processes
/// used meanwhile). With `--max-others`, first waits for a quiet machine,
/// and measures again while other processes used more than that, at most
/// 20 attempts (then the last one counts).
fn quiet<T>(
    args: &Args,
    log: &dyn Fn(String),
    what: &str,
    mut measure: impl FnMut() -> (T, f64),
) -> T {
    let mut attempt = 1;
    loop {
        if let Some(max) = args.max_others {
            wait_quiet(max, log);
        }
        let (result, others) = measure();
        match args.max_others {
            Some(max) if others > max && attempt < 20 => {
                log(format!(
                    "{what}: other processes used {others:.2} cores (more than {max}); measuring again"
                ));
                attempt += 1;
            }
            _ => return result,
        }
    }
}

fn main() {
    let args = Args::parse();
    let json = args.json;
    let log = move |s: String| {
        if json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    };
    let params = ChainParams::for_network(Network::Regtest);
    let (chain, built) = load_chain(&params, &args, &log);
    let setup_bytes: usize = chain.setup.iter().map(Vec::len).sum();
    let measured_bytes: usize = chain.measured.iter().map(Vec::len).sum();
    log(format!(
        "{} setup blocks ({:.1} MB), {} measured blocks of {} spends ({:.1} MB); {} runs per thread count; coins {}; load {}",
        chain.setup.len(),
        setup_bytes as f64 / 1e6,
        chain.measured.len(),
        args.spends,
        measured_bytes as f64 / 1e6,
        args.runs,
        if args.coins_in_cache { "in the cache" } else { "in fjall" },
        load_average(),
    ));
    let wire = setup_bytes + measured_bytes;
    let stored = stored_bytes(chain.setup.iter().chain(&chain.measured));
    log(format!(
        "block files: {:.1} MB of records holding archives, for {:.1} MB of wire bytes (+{:.1}%)",
        stored as f64 / 1e6,
        wire as f64 / 1e6,
        (stored as f64 / wire as f64 - 1.0) * 100.0
    ));

    // Scripts alone first, before any database exists: fjall's background
    // work must not run beside them.
    let blocks = archives(&chain);
    let mut alone: Vec<Vec<(Duration, CpuUse)>> = vec![Vec::new(); args.threads.len()];
    for _ in 0..args.runs {
        for (i, &t) in args.threads.iter().enumerate() {
            let m = quiet(&args, &log, "scripts alone", || {
                let (d, cpu) = scripts_alone(&params, &blocks, t);
                ((d, cpu), cpu.others)
            });
            alone[i].push(m);
        }
    }
    drop(blocks);
    for (t, a) in args.threads.iter().zip(&alone) {
        log(format!(
            "scripts alone, {t} threads: {} ms (others' CPU {} cores)",
            list(&a.iter().map(|(d, _)| ms(*d)).collect::<Vec<_>>()),
            list(&a.iter().map(|(_, c)| c.others).collect::<Vec<_>>()),
        ));
    }

    let mut runs: Vec<Run> = Vec::new();
    for r in 0..args.runs {
        for &t in &args.threads {
            let run = quiet(&args, &log, "connect", || {
                let run = connect_run(&params, &chain, t, args.coins_in_cache);
                let others = run.cpu.others;
                (run, others)
            });
            log(format!(
                "run {}/{} threads {t}: {:.2} s, {:.1} blocks/s, scripts {:.1}% of the time, own CPU {:.2} cores, others' {:.2}, load {}",
                r + 1,
                args.runs,
                run.wall.as_secs_f64(),
                chain.measured.len() as f64 / run.wall.as_secs_f64(),
                100.0 * run.timings.scripts.as_secs_f64() / run.wall.as_secs_f64(),
                run.cpu.own,
                run.cpu.others,
                run.load,
            ));
            runs.push(run);
        }
    }
    let ecdsa = ecdsa_alone(&chain);
    let blocks = chain.measured.len();
    let summaries: Vec<Summary> = args
        .threads
        .iter()
        .zip(&alone)
        .map(|(&t, alone)| {
            let rs: Vec<&Run> = runs.iter().filter(|r| r.threads == t).collect();
            summarize(&rs, alone, blocks)
        })
        .collect();
    // Speed-up of each thread count over the first, run by run (the runs
    // alternate, so each pair saw about the same load), then the median.
    let base = args.threads[0];
    let speedup = |t: usize| {
        let a: Vec<&Run> = runs.iter().filter(|r| r.threads == base).collect();
        let b: Vec<&Run> = runs.iter().filter(|r| r.threads == t).collect();
        median(
            a.iter()
                .zip(&b)
                .map(|(a, b)| a.wall.as_secs_f64() / b.wall.as_secs_f64())
                .collect(),
        )
    };
    // The block's signature checks in libsecp256k1 alone, spread evenly
    // over the threads, against the block's time.
    let ecdsa_share =
        |s: &Summary| args.spends as f64 * ecdsa.as_secs_f64() / s.threads as f64 * s.blocks_per_s;

    if args.json {
        let doc = json!({
            "bench": "connect_chain",
            "blocks": blocks,
            "spends_per_block": args.spends,
            "setup_blocks": chain.setup.len(),
            "coins_in_cache": args.coins_in_cache,
            "runs": args.runs,
            "chain_build_s": built.map(|d| d.as_secs_f64()),
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "secp256k1_check_us": ecdsa.as_secs_f64() * 1e6,
            "results": summaries.iter().map(|s| json!({
                "threads": s.threads,
                "blocks_per_s": s.blocks_per_s,
                "sig_checks_per_s": s.sigs_per_s,
                "block_ms_median": s.block_ms_median,
                "speedup_vs_first": speedup(s.threads),
                "per_block_ms": {
                    "accept": s.split_ms[0],
                    "lookups": s.split_ms[1],
                    "checks": s.split_ms[2],
                    "scripts": s.split_ms[3],
                    "commit": s.split_ms[4],
                    "sync": s.split_ms[5],
                    "other": s.split_ms[6],
                },
                "script_share": s.script_share,
                "scripts_alone_share": s.alone_share,
                "scripts_alone_ms_per_block": s.scripts_alone_ms,
                "secp256k1_share": ecdsa_share(s),
                "final_flush_ms": s.flush_ms,
                "final_flush_coins": s.flushed_coins,
                "final_flush_coins_per_s": s.flush_coins_per_s,
                "own_cpu_cores": s.own_cpu,
                "others_cpu_cores": s.others_cpu,
                "scripts_alone_others_cpu_cores": s.alone_others_cpu,
                "load_average": s.loads,
                "wall_s": s.wall_s,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return;
    }

    println!();
    println!(
        "connect_chain: {blocks} blocks x {} P2WPKH spends, coins {}, medians of {} runs; signature check alone (libsecp256k1: parse + verify) {:.1} us",
        args.spends,
        if args.coins_in_cache { "in the cache" } else { "in fjall" },
        args.runs,
        ecdsa.as_secs_f64() * 1e6
    );
    println!();
    println!("| threads | blocks/s | sig checks/s | speed-up | ms/block (median) | in scripts | scripts alone / wall | secp256k1 alone / wall | final flush | own CPU (cores) | others' CPU (cores) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |");
    for s in &summaries {
        println!(
            "| {} | {:.2} | {:.0} | {:.2}x | {:.1} | {:.1}% | {:.1}% | {:.1}% | {} coins in {:.0} ms, {:.0} k/s | {} | {} |",
            s.threads,
            s.blocks_per_s,
            s.sigs_per_s,
            speedup(s.threads),
            s.block_ms_median,
            100.0 * s.script_share,
            100.0 * s.alone_share,
            100.0 * ecdsa_share(s),
            s.flushed_coins,
            s.flush_ms,
            s.flush_coins_per_s / 1e3,
            list(&s.own_cpu),
            list(&s.others_cpu),
        );
    }
    println!();
    println!("Per block, ms (medians): where the time goes");
    println!();
    println!(
        "| threads | accept | lookups | checks | scripts | commit | sync | other | scripts alone |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for s in &summaries {
        let m = s.split_ms;
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            s.threads, m[0], m[1], m[2], m[3], m[4], m[5], m[6], s.scripts_alone_ms
        );
    }
    println!();
    println!(
        "load average at the end of each run: {}",
        summaries
            .iter()
            .map(|s| format!("{} threads: [{}]", s.threads, s.loads.join("; ")))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
