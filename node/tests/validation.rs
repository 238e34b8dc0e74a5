//! The consensus rules on blocks built here with rust-bitcoin (regtest:
//! coinbase with its BIP34 height, witness commitment, nonce ground to the
//! trivial target), archived with `BlockWire::parse(..).to_archive()`.
//! A valid block passes every check; each invalid one fails with exactly
//! Bitcoin Core 28's reject reason. Spends are really signed (P2WPKH,
//! P2PKH, P2TR key path). Real mainnet blocks 413567 and 702861 pass
//! `check_block` (needs `BITCOIN_TEST_DATA`).
//!
//! The functions are pure, so a block "at height 200" needs no chain: the
//! spent coins and median times are made up to suit each case.

use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, CompressedPublicKey, Network, OutPoint, PublicKey,
    ScriptBuf, Sequence, Transaction, TxIn, TxMerkleNode, TxOut, Txid, Witness,
};
use btc_core::script::VerifyFlags;
use btc_core::{ArchivedBlockArchive, BlockWire};
use btc_node::params::ChainParams;
use btc_node::store::Coin;
use btc_node::validation::*;

/// Height of the test blocks: BIP34, BIP65/66, CSV and segwit active.
const HEIGHT: u32 = 200;
/// Median time past of the test blocks' parent.
const PREV_MTP: i64 = 1_700_000_000;
/// Timestamp of the test blocks.
const TIME: u32 = 1_700_000_600;
/// Fee of each test spend.
const FEE: u64 = 10_000;

fn regtest() -> ChainParams {
    ChainParams::for_network(Network::Regtest)
}

// ---------------------------------------------------------------- blocks

/// A minimal push of `data` (as `CScript() << data`).
fn push(out: &mut Vec<u8>, data: &[u8]) {
    match data.len() {
        n if n < 0x4c => out.push(n as u8),
        n if n <= 0xff => out.extend([0x4c, n as u8]),
        n => {
            out.push(0x4d);
            out.extend((n as u16).to_le_bytes());
        }
    }
    out.extend_from_slice(data);
}

fn coinbase_tx(height: u32, value: u64) -> Transaction {
    let mut script_sig = bip34_height_prefix(height);
    script_sig.extend([0x01, 0x2a]);
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    }
}

/// Adds the BIP141 commitment (reserved value all zeros) to the coinbase.
fn add_commitment(block: &mut Block) {
    block.txdata[0].input[0].witness = Witness::from_slice(&[[0u8; 32]]);
    let root = block.witness_root().expect("transactions");
    let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
    let mut spk = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    spk.extend(commitment.to_byte_array());
    block.txdata[0].output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(spk),
    });
}

/// Grinds the nonce until the header meets its target.
fn mine(header: &mut Header) {
    let target = header.target();
    while !target.is_met_by(header.block_hash()) {
        header.nonce += 1;
    }
}

/// Sets the merkle root and mines.
fn finish(block: &mut Block) {
    block.header.merkle_root = block.compute_merkle_root().expect("transactions");
    mine(&mut block.header);
}

/// A regtest block at `height`: a coinbase paying `coinbase_value`, then
/// `txs`, with a witness commitment when any carries a witness.
fn build_block(height: u32, coinbase_value: u64, txs: Vec<Transaction>) -> Block {
    let mut txdata = vec![coinbase_tx(height, coinbase_value)];
    txdata.extend(txs);
    let witness = txdata
        .iter()
        .any(|t| t.input.iter().any(|i| !i.witness.is_empty()));
    let mut block = Block {
        header: Header {
            version: BlockVersion::from_consensus(0x2000_0000),
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: TxMerkleNode::all_zeros(),
            time: TIME,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    };
    if witness {
        add_commitment(&mut block);
    }
    finish(&mut block);
    block
}

/// Runs `f` on the archive of `block`.
fn with_archive<R>(block: &Block, f: impl FnOnce(&ArchivedBlockArchive) -> R) -> R {
    let bytes = bitcoin::consensus::serialize(block);
    let wire = BlockWire::parse(bytes.as_slice()).expect("block parses");
    let buf = wire.to_archive();
    f(ArchivedBlockArchive::from_bytes(&buf).expect("archive validates"))
}

// ---------------------------------------------------------------- spends

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Wpkh,
    Pkh,
    Tr,
}

struct Keys {
    secp: Secp256k1<All>,
    sk: SecretKey,
    keypair: Keypair,
}

impl Keys {
    fn new() -> Keys {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[7; 32]).expect("key");
        let keypair = Keypair::from_secret_key(&secp, &sk);
        Keys { secp, sk, keypair }
    }

    fn script(&self, kind: Kind) -> ScriptBuf {
        let pk = self.sk.public_key(&self.secp);
        match kind {
            Kind::Wpkh => ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash()),
            Kind::Pkh => ScriptBuf::new_p2pkh(&PublicKey::new(pk).pubkey_hash()),
            Kind::Tr => ScriptBuf::new_p2tr(&self.secp, self.keypair.x_only_public_key().0, None),
        }
    }

    /// Signs every input of `tx`, which spends `coins`.
    fn sign(&self, tx: &mut Transaction, coins: &[Coin]) {
        let prevouts: Vec<TxOut> = coins
            .iter()
            .map(|c| TxOut {
                value: Amount::from_sat(c.amount),
                script_pubkey: ScriptBuf::from_bytes(c.script.clone()),
            })
            .collect();
        let pk = self.sk.public_key(&self.secp);
        for (i, prevout) in prevouts.iter().enumerate() {
            let spk = &prevout.script_pubkey;
            let mut cache = SighashCache::new(&*tx);
            if spk.is_p2wpkh() {
                let hash = cache
                    .p2wpkh_signature_hash(i, spk, prevout.value, EcdsaSighashType::All)
                    .expect("sighash");
                let sig = bitcoin::ecdsa::Signature::sighash_all(
                    self.secp.sign_ecdsa(&Message::from(hash), &self.sk),
                );
                tx.input[i].witness = Witness::p2wpkh(&sig, &pk);
            } else if spk.is_p2pkh() {
                let hash = cache
                    .legacy_signature_hash(i, spk, EcdsaSighashType::All.to_u32())
                    .expect("sighash");
                let sig = bitcoin::ecdsa::Signature::sighash_all(
                    self.secp.sign_ecdsa(&Message::from(hash), &self.sk),
                );
                let mut script_sig = Vec::new();
                push(&mut script_sig, &sig.to_vec());
                push(&mut script_sig, &pk.serialize());
                tx.input[i].script_sig = ScriptBuf::from_bytes(script_sig);
            } else if spk.is_p2tr() {
                let hash = cache
                    .taproot_key_spend_signature_hash(
                        i,
                        &Prevouts::All(&prevouts),
                        TapSighashType::Default,
                    )
                    .expect("sighash");
                let tweaked = self.keypair.tap_tweak(&self.secp, None).to_keypair();
                let sig = self
                    .secp
                    .sign_schnorr_no_aux_rand(&Message::from(hash), &tweaked);
                tx.input[i].witness = Witness::from_slice(&[sig.as_ref()]);
            }
        }
    }

    /// A signed transaction spending one made-up coin of each `inputs`
    /// (kind, amount; created at `coin_height`) to one output, paying
    /// [`FEE`]. `seed` makes the outpoints unique.
    fn spend(
        &self,
        inputs: &[(Kind, u64)],
        coin_height: u32,
        seed: u8,
    ) -> (Transaction, Vec<Coin>) {
        let coins: Vec<Coin> = inputs
            .iter()
            .map(|&(kind, amount)| Coin {
                height: coin_height,
                coinbase: false,
                amount,
                script: self.script(kind).into_bytes(),
            })
            .collect();
        let total: u64 = inputs.iter().map(|i| i.1).sum();
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: (0..inputs.len())
                .map(|i| TxIn {
                    previous_output: OutPoint::new(Txid::from_byte_array([seed; 32]), i as u32),
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(total - FEE),
                script_pubkey: self.script(Kind::Wpkh),
            }],
        };
        self.sign(&mut tx, &coins);
        (tx, coins)
    }
}

// ---------------------------------------------------------------- checks

fn mtp_at(height: u32) -> i64 {
    // Ten minutes a block, the parent (HEIGHT - 1) at PREV_MTP.
    PREV_MTP - (i64::from(HEIGHT) - 1 - i64::from(height)) * 600
}

fn connect_ctx<'a>(params: &'a ChainParams, block: &ArchivedBlockArchive) -> ConnectContext<'a> {
    ConnectContext {
        height: HEIGHT,
        prev_mtp: PREV_MTP,
        mtp_at: &mtp_at,
        params,
        verify_scripts: true,
        flags: params.script_flags(HEIGHT, &block.block_hash()),
    }
}

/// Every check a block at [`HEIGHT`] goes through, in Core's order; the
/// reject reason of the first failure.
fn validate_with(
    block: &Block,
    spent: &[Vec<Coin>],
    pool: &ScriptPool,
) -> Result<ConnectStats, String> {
    let params = regtest();
    with_archive(block, |a| {
        let run = || -> Result<ConnectStats, BlockError> {
            check_block(a, &params, true, true)?;
            contextual_check_block(a, HEIGHT, PREV_MTP, &params)?;
            connect_block_checks(a, spent, &connect_ctx(&params, a), pool)
        };
        run().map_err(|e| {
            assert!(!e.debug_message().is_empty(), "{e:?} has a debug message");
            e.reject_reason()
        })
    })
}

fn validate(block: &Block, spent: &[Vec<Coin>]) -> Result<ConnectStats, String> {
    validate_with(block, spent, &ScriptPool::with_threads(2))
}

fn reason(block: &Block, spent: &[Vec<Coin>]) -> String {
    validate(block, spent).expect_err("block should be invalid")
}

/// A valid block at [`HEIGHT`] with one transaction spending a P2WPKH, a
/// P2PKH and a P2TR coin, and the coins each transaction spends.
fn fixture() -> (Block, Vec<Vec<Coin>>) {
    let keys = Keys::new();
    let (tx, coins) = keys.spend(
        &[
            (Kind::Wpkh, 50_000),
            (Kind::Pkh, 60_000),
            (Kind::Tr, 70_000),
        ],
        10,
        1,
    );
    let subsidy = regtest().block_subsidy(HEIGHT).to_sat();
    (
        build_block(HEIGHT, subsidy + FEE, vec![tx]),
        vec![vec![], coins],
    )
}

/// A block with `txs` (spending `coins`) whose coinbase claims exactly
/// subsidy plus fees.
fn block_of(txs: Vec<(Transaction, Vec<Coin>)>) -> (Block, Vec<Vec<Coin>>) {
    let subsidy = regtest().block_subsidy(HEIGHT).to_sat();
    let fees = FEE * txs.len() as u64;
    let mut spent = vec![vec![]];
    let mut list = Vec::new();
    for (tx, coins) in txs {
        list.push(tx);
        spent.push(coins);
    }
    (build_block(HEIGHT, subsidy + fees, list), spent)
}

// ---------------------------------------------------------------- valid

#[test]
fn valid_block_passes_every_check() {
    let (block, spent) = fixture();
    let stats = validate(&block, &spent).expect("valid");
    assert_eq!(stats.fees, Amount::from_sat(FEE));
    assert_eq!(stats.inputs, 4);
    assert_eq!(stats.script_checks, 3);
    // No legacy sigops in any scriptSig or output; the P2WPKH input counts
    // one witness sigop, P2PKH (not P2SH) and P2TR inputs none.
    assert_eq!(stats.sigop_cost, 1);
}

#[test]
fn scripts_skipped_below_assumevalid() {
    let (mut block, spent) = fixture();
    // Break a signature: only script checks can tell.
    let w = block.txdata[1].input[0].witness.to_vec();
    let mut sig = w[0].clone();
    sig[10] ^= 1;
    block.txdata[1].input[0].witness = Witness::from_slice(&[sig, w[1].clone()]);
    add_commitment_again(&mut block);
    let params = regtest();
    with_archive(&block, |a| {
        let mut ctx = connect_ctx(&params, a);
        ctx.verify_scripts = false;
        let stats = connect_block_checks(a, &spent, &ctx, &ScriptPool::with_threads(1)).unwrap();
        assert_eq!(stats.script_checks, 0);
    });
}

/// Recomputes the commitment after a witness changed.
fn add_commitment_again(block: &mut Block) {
    block.txdata[0].output.pop();
    add_commitment(block);
    finish(block);
}

// ---------------------------------------------------------------- headers

#[test]
fn high_hash() {
    let (mut block, _) = fixture();
    let target = block.header.target();
    while target.is_met_by(block.header.block_hash()) {
        block.header.nonce += 1;
    }
    let params = regtest();
    let err = check_block_header(&block.header, &params).unwrap_err();
    assert_eq!(err.reject_reason(), "high-hash");
    assert_eq!(err.debug_message(), "proof of work failed");
    assert_eq!(reason(&block, &[]), "high-hash");
    // Bits above the proof-of-work limit fail whatever the hash.
    let mut easy = block.header;
    easy.bits = CompactTarget::from_consensus(0x2100_ffff);
    assert_eq!(
        check_block_header(&easy, &params)
            .unwrap_err()
            .reject_reason(),
        "high-hash"
    );
}

fn header_ctx() -> HeaderContext {
    HeaderContext {
        prev_height: HEIGHT - 1,
        prev_mtp: PREV_MTP,
        prev_time: TIME - 600,
        expected_bits: 0x207f_ffff,
        adjusted_time: i64::from(TIME),
    }
}

fn header_reason(header: &Header, ctx: &HeaderContext) -> Result<(), String> {
    contextual_check_block_header(header, ctx, &regtest()).map_err(|e| e.reject_reason())
}

#[test]
fn contextual_header_rules() {
    let (block, _) = fixture();
    let h = block.header;
    let ctx = header_ctx();
    assert_eq!(header_reason(&h, &ctx), Ok(()));

    let mut bad_bits = ctx;
    bad_bits.expected_bits = 0x1d00_ffff;
    assert_eq!(header_reason(&h, &bad_bits).unwrap_err(), "bad-diffbits");

    // Equal to the median time past is too old; one second later is fine.
    let mut old = h;
    old.time = PREV_MTP as u32;
    assert_eq!(header_reason(&old, &ctx).unwrap_err(), "time-too-old");
    old.time += 1;
    assert_eq!(header_reason(&old, &ctx), Ok(()));

    // Two hours ahead of the clock is the limit.
    let mut new = h;
    new.time = TIME + 7200;
    assert_eq!(header_reason(&new, &ctx), Ok(()));
    new.time += 1;
    let err = contextual_check_block_header(&new, &ctx, &regtest()).unwrap_err();
    assert_eq!(err.reject_reason(), "time-too-new");
    assert_eq!(err.debug_message(), "block timestamp too far in the future");

    // Regtest buries BIP34/66/65 at height 1: version 4 is the minimum.
    for (v, ok) in [
        (1, false),
        (2, false),
        (3, false),
        (4, true),
        (0x2000_0000, true),
    ] {
        let mut hv = h;
        hv.version = BlockVersion::from_consensus(v);
        let got = header_reason(&hv, &ctx);
        if ok {
            assert_eq!(got, Ok(()), "version {v}");
        } else {
            assert_eq!(got.unwrap_err(), format!("bad-version(0x{v:08x})"));
        }
    }
    // Negative versions print as unsigned hex, like Core's %08x.
    let mut neg = h;
    neg.version = BlockVersion::from_consensus(-1);
    assert_eq!(
        header_reason(&neg, &ctx).unwrap_err(),
        "bad-version(0xffffffff)"
    );
    // At the genesis' child on mainnet-like heights before BIP34, version 1
    // is fine: mainnet at height 1000.
    let main = ChainParams::for_network(Network::Bitcoin);
    let mut v1 = h;
    v1.version = BlockVersion::from_consensus(1);
    v1.bits = CompactTarget::from_consensus(0x1d00_ffff);
    let main_ctx = HeaderContext {
        prev_height: 999,
        expected_bits: 0x1d00_ffff,
        ..ctx
    };
    assert_eq!(contextual_check_block_header(&v1, &main_ctx, &main), Ok(()));
}

#[test]
fn timewarp_rule_on_testnet4_retarget_blocks() {
    let t4 = ChainParams::for_network(Network::Testnet4);
    let (block, _) = fixture();
    let mut h = block.header;
    h.bits = CompactTarget::from_consensus(0x1d00_ffff);
    let ctx = HeaderContext {
        prev_height: 2015,
        prev_mtp: PREV_MTP,
        prev_time: TIME + 601,
        expected_bits: 0x1d00_ffff,
        adjusted_time: i64::from(TIME),
    };
    let err = contextual_check_block_header(&h, &ctx, &t4).unwrap_err();
    assert_eq!(err.reject_reason(), "time-timewarp-attack");
    // 600 seconds back is allowed, and only retarget blocks are concerned.
    assert!(contextual_check_block_header(
        &h,
        &HeaderContext {
            prev_time: TIME + 600,
            ..ctx
        },
        &t4
    )
    .is_ok());
    assert!(contextual_check_block_header(
        &h,
        &HeaderContext {
            prev_height: 2016,
            ..ctx
        },
        &t4
    )
    .is_ok());
}

#[test]
fn retargeting_matches_core_vectors() {
    // Core's pow_tests.cpp.
    let main = ChainParams::for_network(Network::Bitcoin);
    let cases = [
        // (last height, last time, last bits, first time, expected)
        (32255, 1262152739, 0x1d00ffff, 1261130161, 0x1d00d86a),
        (2015, 1233061996, 0x1d00ffff, 1231006505, 0x1d00ffff),
        (68543, 1279297671, 0x1c05a3f4, 1279008237, 0x1c0168fd),
        (46367, 1269211443, 0x1c387f6f, 1263163443, 0x1d00e1fd),
    ];
    for (height, time, bits, first_time, expected) in cases {
        let last = HeaderInfo { height, time, bits };
        let first_height = height - 2015;
        let ancestor = |h: u32| {
            (h == first_height).then_some(HeaderInfo {
                height: h,
                time: first_time,
                bits,
            })
        };
        assert_eq!(
            next_work_required(&last, ancestor, time + 600, &main),
            Ok(expected),
            "height {height}"
        );
    }
    // Not a retarget height: the parent's bits.
    let last = HeaderInfo {
        height: 100,
        time: 1,
        bits: 0x1c05a3f4,
    };
    assert_eq!(
        next_work_required(&last, |_| None, 2, &main),
        Ok(0x1c05a3f4)
    );
    // A missing ancestor is an error, not a panic.
    let last = HeaderInfo {
        height: 2015,
        time: 1,
        bits: 0x1d00ffff,
    };
    assert_eq!(
        next_work_required(&last, |_| None, 2, &main),
        Err(MissingAncestor(0))
    );
}

#[test]
fn testnet_min_difficulty_and_regtest() {
    let test = ChainParams::for_network(Network::Testnet);
    let limit = 0x1d00ffff;
    let real = 0x1c0ffff0;
    // Blocks 2016 (real difficulty), 2017..=2019 min-difficulty.
    let chain = |h: u32| {
        Some(HeaderInfo {
            height: h,
            time: 1_000_000 + h * 600,
            bits: if h <= 2016 { real } else { limit },
        })
    };
    let prev = chain(2019).unwrap();
    // More than 20 minutes later: the minimum difficulty.
    assert_eq!(
        next_work_required(&prev, chain, prev.time + 1201, &test),
        Ok(limit)
    );
    // Otherwise the last block that didn't use the exception.
    assert_eq!(
        next_work_required(&prev, chain, prev.time + 1200, &test),
        Ok(real)
    );
    // Regtest never retargets, and allows min difficulty.
    let reg = regtest();
    let prev = HeaderInfo {
        height: 2015,
        time: 5,
        bits: 0x207fffff,
    };
    let any = |h: u32| {
        Some(HeaderInfo {
            height: h,
            time: 0,
            bits: 0x207fffff,
        })
    };
    assert_eq!(next_work_required(&prev, any, 6, &reg), Ok(0x207fffff));
}

#[test]
fn median_time_past_of_eleven() {
    let times = [10, 3, 7, 1, 11, 9, 2, 8, 4, 6, 5];
    assert_eq!(median_time_past(&times), 6);
    assert_eq!(median_time_past(&times[..4]), 7);
}

// ---------------------------------------------------------------- check_block

#[test]
fn bad_merkle_root() {
    let (mut block, spent) = fixture();
    block.header.merkle_root = TxMerkleNode::all_zeros();
    mine(&mut block.header);
    assert_eq!(reason(&block, &spent), "bad-txnmrklroot");
}

#[test]
fn mutated_merkle_duplicate_tx() {
    let keys = Keys::new();
    let (a, ca) = keys.spend(&[(Kind::Wpkh, 50_000)], 10, 1);
    let (b, cb) = keys.spend(&[(Kind::Wpkh, 60_000)], 10, 2);
    // [cb, a, b] and [cb, a, b, b] share a merkle root.
    let (mut block, mut spent) = block_of(vec![(a, ca), (b.clone(), cb.clone())]);
    let honest_root = block.header.merkle_root;
    block.txdata.push(b);
    spent.push(cb);
    assert_eq!(block.compute_merkle_root(), Some(honest_root));
    assert_eq!(reason(&block, &spent), "bad-txns-duplicate");
}

#[test]
fn two_coinbases() {
    let (mut block, spent) = fixture();
    block.txdata.push(coinbase_tx(HEIGHT, 1));
    block.txdata[0].output.pop();
    add_commitment(&mut block);
    finish(&mut block);
    assert_eq!(reason(&block, &spent), "bad-cb-multiple");
}

#[test]
fn no_coinbase() {
    let (mut block, spent) = fixture();
    block.txdata.remove(0);
    finish(&mut block);
    assert_eq!(reason(&block, &spent), "bad-cb-missing");
}

/// A change to a transaction.
type Mutation = Box<dyn Fn(&mut Transaction)>;

#[test]
fn check_transaction_reasons_through_check_block() {
    let keys = Keys::new();
    let (tx, coins) = keys.spend(&[(Kind::Wpkh, 50_000)], 10, 1);
    let cases: Vec<(&str, Mutation)> = vec![
        ("bad-txns-vout-empty", Box::new(|t| t.output.clear())),
        (
            "bad-txns-vout-toolarge",
            Box::new(|t| t.output[0].value = Amount::from_sat(21_000_000 * 100_000_000 + 1)),
        ),
        (
            "bad-txns-vout-negative",
            Box::new(|t| t.output[0].value = Amount::from_sat(u64::MAX)),
        ),
        (
            "bad-txns-inputs-duplicate",
            Box::new(|t| {
                let i = t.input[0].clone();
                t.input.push(i)
            }),
        ),
        (
            "bad-txns-prevout-null",
            Box::new(|t| {
                let mut i = t.input[0].clone();
                i.previous_output = OutPoint::null();
                t.input.push(i)
            }),
        ),
    ];
    for (want, mutate) in cases {
        let mut t = tx.clone();
        mutate(&mut t);
        let (block, _) = block_of(vec![(t, coins.clone())]);
        let params = regtest();
        let err = with_archive(&block, |a| check_block(a, &params, true, true).unwrap_err());
        assert_eq!(err.reject_reason(), want);
        assert!(err
            .debug_message()
            .starts_with("Transaction check failed (tx hash "));
    }
    // Coinbase scriptSig of one byte.
    let (mut block, spent) = fixture();
    block.txdata[0].input[0].script_sig = ScriptBuf::from_bytes(vec![0x51]);
    finish(&mut block);
    assert_eq!(reason(&block, &spent), "bad-cb-length");
}

#[test]
fn too_many_legacy_sigops() {
    let keys = Keys::new();
    let (mut tx, coins) = keys.spend(&[(Kind::Wpkh, 50_000)], 10, 1);
    // 20,001 OP_CHECKSIG: 80,004 > 80,000.
    tx.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(vec![0xac; 20_001]),
    });
    keys.sign(&mut tx, &coins);
    let (block, spent) = block_of(vec![(tx.clone(), coins.clone())]);
    let params = regtest();
    let err = with_archive(&block, |a| check_block(a, &params, true, true).unwrap_err());
    assert_eq!(err.reject_reason(), "bad-blk-sigops");
    assert_eq!(err.debug_message(), "out-of-bounds SigOpCount");
    assert_eq!(reason(&block, &spent), "bad-blk-sigops");
    // 20,000 pass CheckBlock.
    tx.output[1].script_pubkey = ScriptBuf::from_bytes(vec![0xac; 20_000]);
    keys.sign(&mut tx, &coins);
    let (block, _) = block_of(vec![(tx, coins)]);
    with_archive(&block, |a| check_block(a, &params, true, true)).unwrap();
}

#[test]
fn too_much_sigop_cost_with_witness_sigops() {
    // 19,999 legacy sigops (79,996) pass CheckBlock; five P2WPKH inputs add
    // a witness sigop each: 80,001 > 80,000 in ConnectBlock.
    let keys = Keys::new();
    let mut tx_in = Vec::new();
    for _ in 0..5 {
        tx_in.push((Kind::Wpkh, 10_000));
    }
    let (mut tx, coins) = keys.spend(&tx_in, 10, 1);
    tx.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(vec![0xac; 19_999]),
    });
    keys.sign(&mut tx, &coins);
    let (block, spent) = block_of(vec![(tx.clone(), coins.clone())]);
    let params = regtest();
    let err = with_archive(&block, |a| {
        check_block(a, &params, true, true).unwrap();
        connect_block_checks(
            a,
            &spent,
            &connect_ctx(&params, a),
            &ScriptPool::with_threads(1),
        )
        .unwrap_err()
    });
    assert_eq!(err.reject_reason(), "bad-blk-sigops");
    assert_eq!(err.debug_message(), "too many sigops");
    // With four inputs the cost is exactly 80,000: fine.
    let (mut tx, coins) = keys.spend(&tx_in[..4], 10, 1);
    tx.output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(vec![0xac; 19_999]),
    });
    keys.sign(&mut tx, &coins);
    let (block, spent) = block_of(vec![(tx, coins)]);
    assert_eq!(validate(&block, &spent).unwrap().sigop_cost, 80_000);
}

#[test]
fn block_too_long_without_witness() {
    let keys = Keys::new();
    let (mut tx, coins) = keys.spend(&[(Kind::Wpkh, 50_000)], 10, 1);
    for _ in 0..11 {
        tx.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(vec![0x00; 99_000]),
        });
    }
    keys.sign(&mut tx, &coins);
    let (block, spent) = block_of(vec![(tx, coins)]);
    assert_eq!(reason(&block, &spent), "bad-blk-length");
}

// ------------------------------------------------------ contextual_check_block

#[test]
fn bad_bip34_height() {
    let (mut block, spent) = fixture();
    block.txdata[0].input[0].script_sig = ScriptBuf::from_bytes({
        let mut s = bip34_height_prefix(HEIGHT + 1);
        s.push(0x00);
        s
    });
    add_commitment_again(&mut block);
    assert_eq!(reason(&block, &spent), "bad-cb-height");
    let params = regtest();
    // The same block is fine at the height it claims.
    with_archive(&block, |a| {
        contextual_check_block(a, HEIGHT + 1, PREV_MTP, &params)
    })
    .unwrap();
}

#[test]
fn bad_witness_commitment() {
    let (mut block, spent) = fixture();
    let n = block.txdata[0].output.len() - 1;
    let mut spk = block.txdata[0].output[n].script_pubkey.to_bytes();
    spk[10] ^= 1;
    block.txdata[0].output[n].script_pubkey = ScriptBuf::from_bytes(spk);
    finish(&mut block);
    assert_eq!(reason(&block, &spent), "bad-witness-merkle-match");
}

#[test]
fn bad_witness_nonce_size() {
    let (mut block, spent) = fixture();
    block.txdata[0].input[0].witness = Witness::from_slice(&[[0u8; 31]]);
    finish(&mut block);
    assert_eq!(reason(&block, &spent), "bad-witness-nonce-size");
}

#[test]
fn unexpected_witness() {
    let (mut block, spent) = fixture();
    block.txdata[0].output.pop();
    block.txdata[0].input[0].witness = Witness::new();
    finish(&mut block);
    assert_eq!(reason(&block, &spent), "unexpected-witness");
    // Without any witness, no commitment is needed.
    let (block, spent) = block_of(vec![Keys::new().spend(&[(Kind::Pkh, 50_000)], 10, 1)]);
    validate(&block, &spent).unwrap();
}

#[test]
fn too_heavy() {
    // A 950,000-byte base and a 300,000-byte witness item: weight over
    // 4,000,000 while the stripped size stays under 1,000,000. (The weight
    // is checked before any script runs, so the witness needn't verify.)
    let keys = Keys::new();
    let (mut tx, coins) = keys.spend(&[(Kind::Wpkh, 50_000)], 10, 1);
    for _ in 0..10 {
        tx.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(vec![0x00; 95_000]),
        });
    }
    keys.sign(&mut tx, &coins);
    let mut w = tx.input[0].witness.to_vec();
    w.push(vec![0; 300_000]);
    tx.input[0].witness = Witness::from_slice(&w);
    let (block, spent) = block_of(vec![(tx, coins)]);
    let (stripped, weight) = with_archive(&block, |a| (stripped_size(a), block_weight(a)));
    assert!(
        stripped * 4 <= 4_000_000 && weight > 4_000_000,
        "{stripped} {weight}"
    );
    assert_eq!(weight, block.weight().to_wu());
    assert_eq!(reason(&block, &spent), "bad-blk-weight");
}

#[test]
fn non_final_lock_time() {
    let keys = Keys::new();
    let mk = |lock: u32, seq: u32| {
        let (mut tx, coins) = keys.spend(&[(Kind::Wpkh, 50_000)], 10, 1);
        tx.lock_time = LockTime::from_consensus(lock);
        tx.input[0].sequence = Sequence(seq);
        keys.sign(&mut tx, &coins);
        block_of(vec![(tx, coins)])
    };
    // Height lock: must be below the block's height.
    let (b, s) = mk(HEIGHT, 0xffff_fffe);
    assert_eq!(reason(&b, &s), "bad-txns-nonfinal");
    let (b, s) = mk(HEIGHT - 1, 0xffff_fffe);
    validate(&b, &s).unwrap();
    // Final sequences make any lock time final.
    let (b, s) = mk(HEIGHT, 0xffff_ffff);
    validate(&b, &s).unwrap();
    // Time lock: against the parent's median time past (BIP113), not the
    // block's timestamp.
    let (b, s) = mk(PREV_MTP as u32, 0xffff_fffe);
    assert_eq!(reason(&b, &s), "bad-txns-nonfinal");
    let (b, s) = mk(PREV_MTP as u32 - 1, 0xffff_fffe);
    validate(&b, &s).unwrap();
}

// --------------------------------------------------------------- connect

#[test]
fn premature_coinbase_spend() {
    let keys = Keys::new();
    let mk = |depth: u32| {
        let (tx, mut coins) = keys.spend(&[(Kind::Wpkh, 50_000)], HEIGHT - depth, 1);
        coins[0].coinbase = true;
        block_of(vec![(tx, coins)])
    };
    let (b, s) = mk(99);
    let params = regtest();
    let err = with_archive(&b, |a| {
        connect_block_checks(
            a,
            &s,
            &connect_ctx(&params, a),
            &ScriptPool::with_threads(1),
        )
        .unwrap_err()
    });
    assert_eq!(err.reject_reason(), "bad-txns-premature-spend-of-coinbase");
    assert!(err
        .debug_message()
        .starts_with("tried to spend coinbase at depth 99 in transaction "));
    let (b, s) = mk(100);
    validate(&b, &s).unwrap();
}

#[test]
fn inputs_below_outputs() {
    let keys = Keys::new();
    let (tx, mut coins) = keys.spend(&[(Kind::Pkh, 50_000)], 10, 1);
    coins[0].amount = 30_000; // P2PKH signatures don't commit to amounts
    let (b, s) = block_of(vec![(tx, coins)]);
    let params = regtest();
    let err = with_archive(&b, |a| {
        connect_block_checks(
            a,
            &s,
            &connect_ctx(&params, a),
            &ScriptPool::with_threads(1),
        )
        .unwrap_err()
    });
    assert_eq!(err.reject_reason(), "bad-txns-in-belowout");
    assert!(err
        .debug_message()
        .starts_with("value in (0.0003) < value out (0.0004) in transaction "));
}

#[test]
fn inputs_missing() {
    let (block, mut spent) = fixture();
    spent[1].pop();
    assert_eq!(reason(&block, &spent), "bad-txns-inputs-missingorspent");
    spent.pop();
    assert_eq!(reason(&block, &spent), "bad-txns-inputs-missingorspent");
}

#[test]
fn input_values_out_of_range() {
    let keys = Keys::new();
    let (tx, mut coins) = keys.spend(&[(Kind::Pkh, 50_000)], 10, 1);
    coins[0].amount = 21_000_000 * 100_000_000 + 1;
    let (b, s) = block_of(vec![(tx, coins)]);
    assert_eq!(reason(&b, &s), "bad-txns-inputvalues-outofrange");
}

#[test]
fn coinbase_pays_too_much() {
    let (mut block, spent) = fixture();
    let paid = block.txdata[0].output[0].value.to_sat();
    block.txdata[0].output[0].value = Amount::from_sat(paid + 1);
    finish(&mut block);
    let params = regtest();
    let err = with_archive(&block, |a| {
        connect_block_checks(
            a,
            &spent,
            &connect_ctx(&params, a),
            &ScriptPool::with_threads(1),
        )
        .unwrap_err()
    });
    assert_eq!(err.reject_reason(), "bad-cb-amount");
    assert_eq!(
        err.debug_message(),
        format!(
            "coinbase pays too much (actual={} vs limit={})",
            paid + 1,
            paid
        )
    );
    // Claiming less than allowed is fine.
    block.txdata[0].output[0].value = Amount::from_sat(paid - 1);
    finish(&mut block);
    validate(&block, &spent).unwrap();
}

#[test]
fn bip68_sequence_locks() {
    let keys = Keys::new();
    // Height lock of 10 blocks on a coin at `coin_height`.
    let mk = |coin_height: u32, sequence: u32, version: Version| {
        let (mut tx, coins) = keys.spend(&[(Kind::Wpkh, 50_000)], coin_height, 1);
        tx.version = version;
        tx.input[0].sequence = Sequence(sequence);
        keys.sign(&mut tx, &coins);
        block_of(vec![(tx, coins)])
    };
    // Coin 9 blocks deep: locked until height coin + 10 - 1 = HEIGHT.
    let (b, s) = mk(HEIGHT - 9, 10, Version::TWO);
    assert_eq!(reason(&b, &s), "bad-txns-nonfinal");
    let params = regtest();
    let err = with_archive(&b, |a| {
        connect_block_checks(
            a,
            &s,
            &connect_ctx(&params, a),
            &ScriptPool::with_threads(1),
        )
        .unwrap_err()
    });
    assert!(err
        .debug_message()
        .starts_with("contains a non-BIP68-final transaction "));
    // 10 blocks deep: met.
    let (b, s) = mk(HEIGHT - 10, 10, Version::TWO);
    validate(&b, &s).unwrap();
    // Disabled by the flag, or by a version-1 transaction.
    let (b, s) = mk(
        HEIGHT - 1,
        10 | SEQUENCE_LOCKTIME_DISABLE_FLAG,
        Version::TWO,
    );
    validate(&b, &s).unwrap();
    let (b, s) = mk(HEIGHT - 1, 10, Version::ONE);
    validate(&b, &s).unwrap();
    // Time lock: 2 units of 512 s from the MTP of the block before the
    // coin's. Coin at height c: locked while mtp_at(c - 1) + 1024 - 1 >=
    // PREV_MTP, i.e. mtp_at(c - 1) > PREV_MTP - 1024.
    let time_lock = SEQUENCE_LOCKTIME_TYPE_FLAG | 2;
    // mtp_at(HEIGHT - 2) = PREV_MTP - 600: locked.
    let (b, s) = mk(HEIGHT - 1, time_lock, Version::TWO);
    assert_eq!(reason(&b, &s), "bad-txns-nonfinal");
    // mtp_at(HEIGHT - 3) = PREV_MTP - 1200: unlocked.
    let (b, s) = mk(HEIGHT - 2, time_lock, Version::TWO);
    validate(&b, &s).unwrap();
}

#[test]
fn sequence_lock_functions() {
    let keys = Keys::new();
    let (mut tx, coins) = keys.spend(&[(Kind::Wpkh, 20_000), (Kind::Wpkh, 20_000)], 10, 1);
    tx.input[0].sequence = Sequence(5);
    tx.input[1].sequence = Sequence(SEQUENCE_LOCKTIME_TYPE_FLAG | 3);
    let _ = coins;
    let (block, _) = block_of(vec![(tx, vec![])]);
    with_archive(&block, |a| {
        let tx = a.tx(1).unwrap();
        let heights = [100, 150];
        let locks = calculate_sequence_locks(&tx, |i| heights[i], &|h| i64::from(h) * 1000);
        assert_eq!(locks.min_height, 100 + 5 - 1);
        assert_eq!(locks.min_time, 149 * 1000 + 3 * 512 - 1);
        assert!(!evaluate_sequence_locks(locks, 104, i64::MAX));
        assert!(evaluate_sequence_locks(locks, 105, 149 * 1000 + 3 * 512));
        assert!(!evaluate_sequence_locks(
            locks,
            105,
            149 * 1000 + 3 * 512 - 1
        ));
    });
}

// ---------------------------------------------------------------- scripts

const EVAL_FALSE: &str = "mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)";

#[test]
fn bad_p2wpkh_signature() {
    let keys = Keys::new();
    let (mut tx, coins) = keys.spend(&[(Kind::Wpkh, 50_000)], 10, 1);
    let mut w = tx.input[0].witness.to_vec();
    // Flip a bit of s: still strict DER, wrong signature.
    let n = w[0].len();
    w[0][n - 3] ^= 1;
    tx.input[0].witness = Witness::from_slice(&w);
    let (b, s) = block_of(vec![(tx, coins)]);
    assert_eq!(reason(&b, &s), EVAL_FALSE);
    let params = regtest();
    let err = with_archive(&b, |a| {
        connect_block_checks(
            a,
            &s,
            &connect_ctx(&params, a),
            &ScriptPool::with_threads(2),
        )
        .unwrap_err()
    });
    let txid = b.txdata[1].compute_txid();
    let wtxid = b.txdata[1].compute_wtxid();
    assert_eq!(
        err.debug_message(),
        format!(
            "input 0 of {txid} (wtxid {wtxid}), spending {}:0",
            Txid::from_byte_array([1; 32])
        )
    );
}

#[test]
fn bad_p2pkh_signature() {
    let keys = Keys::new();
    let (mut tx, coins) = keys.spend(&[(Kind::Pkh, 50_000)], 10, 1);
    let mut ss = tx.input[0].script_sig.to_bytes();
    ss[10] ^= 1; // inside r
    tx.input[0].script_sig = ScriptBuf::from_bytes(ss);
    let (b, s) = block_of(vec![(tx, coins)]);
    assert_eq!(reason(&b, &s), EVAL_FALSE);
}

#[test]
fn script_error_diagnoses() {
    let keys = Keys::new();
    let case = |mutate: &dyn Fn(&mut Transaction), kind: Kind| {
        let (mut tx, coins) = keys.spend(&[(kind, 50_000)], 10, 1);
        mutate(&mut tx);
        let (b, s) = block_of(vec![(tx, coins)]);
        reason(&b, &s)
            .strip_prefix("mandatory-script-verify-flag-failed (")
            .and_then(|r| r.strip_suffix(')'))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    // A wrong public key: its hash doesn't match.
    let other = SecretKey::from_slice(&[9; 32])
        .unwrap()
        .public_key(&keys.secp)
        .serialize();
    assert_eq!(
        case(
            &|t| {
                let w = t.input[0].witness.to_vec();
                t.input[0].witness = Witness::from_slice(&[w[0].clone(), other.to_vec()]);
            },
            Kind::Wpkh
        ),
        "Script failed an OP_EQUALVERIFY operation"
    );
    // A P2WPKH witness of one item.
    assert_eq!(
        case(
            &|t| {
                let w = t.input[0].witness.to_vec();
                t.input[0].witness = Witness::from_slice(&[w[0].clone()]);
            },
            Kind::Wpkh
        ),
        "Witness program hash mismatch"
    );
    // A scriptSig on a native segwit spend.
    assert_eq!(
        case(
            &|t| t.input[0].script_sig = ScriptBuf::from_bytes(vec![0x01, 0x01]),
            Kind::Wpkh
        ),
        "Witness requires empty scriptSig"
    );
    // A non-DER signature (BIP66).
    assert_eq!(
        case(
            &|t| {
                let mut w = t.input[0].witness.to_vec();
                w[0][0] = 0x31;
                t.input[0].witness = Witness::from_slice(&w);
            },
            Kind::Wpkh
        ),
        "Non-canonical DER signature"
    );
    // A signature that only the lax pre-BIP66 parser accepts (r padded
    // with a zero byte): valid but for DERSIG.
    assert_eq!(
        case(
            &|t| {
                let mut w = t.input[0].witness.to_vec();
                let sig = &mut w[0];
                sig[1] += 1;
                sig[3] += 1;
                sig.insert(4, 0x00);
                t.input[0].witness = Witness::from_slice(&w);
            },
            Kind::Wpkh
        ),
        "Non-canonical DER signature"
    );
    // Taproot: bad size, bad hash type, empty witness, bad signature.
    let tr = |f: &dyn Fn(&mut Vec<Vec<u8>>)| {
        case(
            &|t| {
                let mut w = t.input[0].witness.to_vec();
                f(&mut w);
                t.input[0].witness = Witness::from_slice(&w);
            },
            Kind::Tr,
        )
    };
    assert_eq!(tr(&|w| w[0].truncate(63)), "Invalid Schnorr signature size");
    assert_eq!(
        tr(&|w| w[0].push(0x00)),
        "Invalid Schnorr signature hash type"
    );
    assert_eq!(
        tr(&|w| w[0].push(0x04)),
        "Invalid Schnorr signature hash type"
    );
    assert_eq!(tr(&|w| w[0].push(0x01)), "Invalid Schnorr signature");
    assert_eq!(tr(&|w| w[0][5] ^= 1), "Invalid Schnorr signature");
    assert_eq!(
        tr(&|w| w.clear()),
        "Witness program was passed an empty witness"
    );
    // A witness on a P2PKH spend that is otherwise valid.
    assert_eq!(
        case(
            &|t| t.input[0].witness = Witness::from_slice(&[[1u8]]),
            Kind::Pkh
        ),
        "Witness provided for non-witness script"
    );
}

#[test]
fn taproot_checks_every_spent_amount() {
    // Inputs: P2PKH (its signature doesn't commit to amounts), then P2TR
    // (its signature commits to all of them). Lying about the P2PKH
    // coin's amount breaks only the taproot input: the amounts of all spent
    // outputs reach the library.
    let keys = Keys::new();
    let (tx, mut coins) = keys.spend(&[(Kind::Pkh, 60_000), (Kind::Tr, 70_000)], 10, 1);
    let (b, s) = block_of(vec![(tx.clone(), coins.clone())]);
    validate(&b, &s).unwrap();
    coins[0].amount += 1;
    // (The extra satoshi only raises the fee.)
    let (b, spent) = block_of(vec![(tx, coins)]);
    let params = regtest();
    let err = with_archive(&b, |a| {
        connect_block_checks(
            a,
            &spent,
            &connect_ctx(&params, a),
            &ScriptPool::with_threads(1),
        )
        .unwrap_err()
    });
    assert_eq!(
        err.reject_reason(),
        "mandatory-script-verify-flag-failed (Invalid Schnorr signature)"
    );
    match err {
        BlockError::Script { tx, input, .. } => assert_eq!((tx, input), (1, 1)),
        other => panic!("{other:?}"),
    }
    // A wrong amount for the taproot coin itself fails too.
    let (tx, mut coins) = keys.spend(&[(Kind::Tr, 70_000)], 10, 2);
    coins[0].amount = 70_500;
    let (b, s) = block_of(vec![(tx, coins)]);
    assert_eq!(
        reason(&b, &s),
        "mandatory-script-verify-flag-failed (Invalid Schnorr signature)"
    );
}

// ---------------------------------------------------------------- pool

/// A block of `n` transactions with `per_tx` signed P2WPKH inputs each;
/// `bad` lists (tx, input) whose signature is broken.
fn many_spends(n: usize, per_tx: usize, bad: &[(usize, usize)]) -> (Block, Vec<Vec<Coin>>) {
    let keys = Keys::new();
    let mut txs = Vec::new();
    for t in 0..n {
        let inputs = vec![(Kind::Wpkh, 20_000); per_tx];
        let (mut tx, coins) = keys.spend(&inputs, 10, (t % 250) as u8);
        // Unique outpoints across transactions.
        for (i, input) in tx.input.iter_mut().enumerate() {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&(t as u64).to_le_bytes());
            input.previous_output = OutPoint::new(Txid::from_byte_array(id), i as u32);
        }
        keys.sign(&mut tx, &coins);
        for &(bt, bi) in bad {
            if bt == t + 1 {
                let mut w = tx.input[bi].witness.to_vec();
                let k = w[0].len();
                w[0][k - 3] ^= 1;
                tx.input[bi].witness = Witness::from_slice(&w);
            }
        }
        txs.push((tx, coins));
    }
    block_of(txs)
}

#[test]
fn pool_threads_agree() {
    let (block, spent) = many_spends(60, 3, &[]);
    let params = regtest();
    with_archive(&block, |a| {
        let flags = params.script_flags(HEIGHT, &a.block_hash());
        for threads in [1, 2, 3] {
            let run = ScriptPool::with_threads(threads).run(a, &spent, flags);
            assert_eq!(run.failure, None);
            assert_eq!(run.checked, 180, "{threads} threads");
        }
    });
    let (block, spent) = many_spends(60, 3, &[(37, 2)]);
    with_archive(&block, |a| {
        let flags = params.script_flags(HEIGHT, &a.block_hash());
        for threads in [1, 2] {
            let run = ScriptPool::with_threads(threads).run(a, &spent, flags);
            let f = run.failure.expect("fails");
            assert_eq!((f.tx, f.input), (37, 2), "{threads} threads");
            assert_eq!(f.error, ScriptError::EvalFalse);
        }
    });
    assert_eq!(
        validate_with(&block, &spent, &ScriptPool::with_threads(1)),
        validate_with(&block, &spent, &ScriptPool::with_threads(2))
    );
    // Transactions of 20 inputs span several chunks of work.
    let (block, spent) = many_spends(5, 20, &[(3, 13)]);
    with_archive(&block, |a| {
        let flags = params.script_flags(HEIGHT, &a.block_hash());
        for threads in [1, 2, 4] {
            let run = ScriptPool::with_threads(threads).run(a, &spent, flags);
            let f = run.failure.expect("fails");
            assert_eq!((f.tx, f.input), (3, 13), "{threads} threads");
        }
    });
}

#[test]
fn pool_stops_at_first_failure() {
    // The very first input fails: one thread stops at once, two threads
    // stop long before the end.
    let (block, spent) = many_spends(200, 2, &[(1, 0)]);
    let params = regtest();
    with_archive(&block, |a| {
        let flags = params.script_flags(HEIGHT, &a.block_hash());
        let run = ScriptPool::with_threads(1).run(a, &spent, flags);
        assert_eq!(run.checked, 0);
        assert_eq!(run.failure.map(|f| (f.tx, f.input)), Some((1, 0)));
        let run = ScriptPool::with_threads(2).run(a, &spent, flags);
        assert_eq!(run.failure.map(|f| (f.tx, f.input)), Some((1, 0)));
        assert!(run.checked < 100, "checked {} of 400", run.checked);
    });
}

#[test]
fn par_semantics() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(ScriptPool::new(1).threads(), 1);
    assert_eq!(ScriptPool::new(2).threads(), 2);
    assert_eq!(ScriptPool::new(0).threads(), cores.max(1));
    assert_eq!(ScriptPool::new(-1).threads(), (cores - 1).max(1));
    assert_eq!(ScriptPool::new(100).threads(), 16);
    assert_eq!(ScriptPool::new(-100).threads(), 1);
}

// ---------------------------------------------------------------- params

#[test]
fn script_flags_per_height_and_exceptions() {
    let main = ChainParams::for_network(Network::Bitcoin);
    let any = BlockHash::all_zeros();
    let base = VerifyFlags::P2SH | VerifyFlags::WITNESS | VerifyFlags::TAPROOT;
    assert_eq!(main.script_flags(1, &any), base);
    assert_eq!(main.script_flags(363_725, &any), base | VerifyFlags::DERSIG);
    assert_eq!(
        main.script_flags(419_328, &any),
        base | VerifyFlags::DERSIG
            | VerifyFlags::CHECKLOCKTIMEVERIFY
            | VerifyFlags::CHECKSEQUENCEVERIFY
    );
    assert_eq!(main.script_flags(481_824, &any), VerifyFlags::ALL);
    let bip16: BlockHash = "00000000000002dc756eebf4f49723ed8d30cc28a5f108eb94b1ba88ac4f9c22"
        .parse()
        .unwrap();
    assert_eq!(main.script_flags(170_060, &bip16), VerifyFlags::NONE);
    let taproot: BlockHash = "0000000000000000000f14c35b2d841e986ab5441de8c585d5ffe55ea1e395ad"
        .parse()
        .unwrap();
    assert_eq!(
        main.script_flags(692_261, &taproot),
        VerifyFlags::ALL - VerifyFlags::TAPROOT
    );
    assert_eq!(
        regtest().script_flags(0, &any),
        base | VerifyFlags::NULLDUMMY
    );
    assert_eq!(regtest().script_flags(1, &any), VerifyFlags::ALL);
    for n in [Network::Testnet, Network::Testnet4, Network::Signet] {
        let p = ChainParams::for_network(n);
        assert_eq!(p.genesis_hash, p.genesis.block_hash());
        assert_eq!(p.coinbase_maturity, 100);
    }
}

#[test]
fn bip30_rule() {
    let main = ChainParams::for_network(Network::Bitcoin);
    let e1: BlockHash = "00000000000a4d0a398161ffc163c503763b1f4360639393e0e4c8e300e0caec"
        .parse()
        .unwrap();
    let other = BlockHash::all_zeros();
    assert!(!main.bip30_check_required(91_842, &e1, None));
    assert!(main.bip30_check_required(91_843, &other, None));
    let bip34 = main.bip34_hash.unwrap();
    assert!(!main.bip30_check_required(800_000, &other, Some(&bip34)));
    assert!(main.bip30_check_required(800_000, &other, Some(&other)));
    assert!(main.bip30_check_required(1_983_702, &other, Some(&bip34)));
    // Regtest's BIP34 hash is unset: always checked.
    assert!(regtest().bip30_check_required(500, &other, Some(&other)));
    let (block, _) = fixture();
    with_archive(&block, |a| {
        assert_eq!(check_bip30(a, |_| false), Ok(()));
        let first = a.tx(1).unwrap().txid();
        let err = check_bip30(a, |o| o.txid == first).unwrap_err();
        assert_eq!(err.reject_reason(), "bad-txns-BIP30");
    });
}

#[test]
fn assumevalid_two_weeks_rule() {
    let main = ChainParams::for_network(Network::Bitcoin);
    // At difficulty 1, a block's proof is 0x100010001 hashes = 600 s.
    let proof = block_proof(0x1d00ffff);
    let work_at = |blocks: u64| {
        let mut w = U256::ZERO;
        for _ in 0..blocks {
            w = w.wrapping_add(proof);
        }
        w
    };
    let best = work_at(5000);
    let mut av = AssumeValid {
        assumevalid_known: true,
        is_ancestor_of_assumevalid: true,
        is_ancestor_of_best_header: true,
        block_chain_work: work_at(5000 - 2017),
        best_header_chain_work: best,
        best_header_bits: 0x1d00ffff,
        minimum_chain_work: U256::ZERO,
    };
    // 2017 blocks * 600 s > two weeks: skip scripts.
    assert!(!scripts_required(&av, &main));
    // 2016 blocks = exactly two weeks: check.
    av.block_chain_work = work_at(5000 - 2016);
    assert!(scripts_required(&av, &main));
    av.block_chain_work = work_at(100);
    let breakers: [fn(&mut AssumeValid); 4] = [
        |a: &mut AssumeValid| a.assumevalid_known = false,
        |a: &mut AssumeValid| a.is_ancestor_of_assumevalid = false,
        |a: &mut AssumeValid| a.is_ancestor_of_best_header = false,
        |a: &mut AssumeValid| a.minimum_chain_work = U256::MAX,
    ];
    for f in breakers {
        let mut x = av;
        assert!(!scripts_required(&x, &main));
        f(&mut x);
        assert!(scripts_required(&x, &main));
    }
}

// ---------------------------------------------------------------- real blocks

#[test]
fn real_mainnet_blocks_pass_check_block() {
    let main = ChainParams::for_network(Network::Bitcoin);
    for (file, height, segwit) in [
        (btc_core::data::BLOCK_413567, 413_567, false),
        (btc_core::data::BLOCK_702861, 702_861, true),
    ] {
        let bytes = btc_core::data::require(file);
        let wire = BlockWire::parse(bytes.as_slice()).expect("parses");
        let buf = wire.to_archive();
        let a = ArchivedBlockArchive::from_bytes(&buf).expect("archive");
        check_block(a, &main, true, true).unwrap_or_else(|e| panic!("{file}: {e}"));
        // BIP34 height, witness commitment and weight (the parent's median
        // time isn't known here: the block's own time stands in).
        let time = i64::from(a.header().time);
        contextual_check_block(a, height, time - 1, &main)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            segwit,
            a.inputs.iter().any(|i| i.witness_items.to_native() > 0)
        );
        // At the wrong height the coinbase no longer matches.
        let err = contextual_check_block(a, height + 1, time - 1, &main).unwrap_err();
        assert_eq!(err.reject_reason(), "bad-cb-height");
        // A flipped header bit breaks the proof of work.
        let mut raw = bytes.clone();
        raw[40] ^= 1; // inside the merkle root
        let wire = BlockWire::parse(raw.as_slice()).expect("parses");
        let buf = wire.to_archive();
        let a = ArchivedBlockArchive::from_bytes(&buf).expect("archive");
        assert_eq!(
            check_block(a, &main, true, true)
                .unwrap_err()
                .reject_reason(),
            "high-hash"
        );
        assert_eq!(
            check_block(a, &main, false, true)
                .unwrap_err()
                .reject_reason(),
            "bad-txnmrklroot"
        );
    }
}

// ---------------------------------------------------- cross-checks

/// Core's transaction vectors: the archive-native `check_transaction`
/// agrees with `btc_core::script::check_transaction` (on the decoded
/// transaction) and with the vectors: `BADTX` cases fail, every other case
/// passes.
#[test]
fn check_transaction_agrees_with_core_vectors() {
    let (mut run, mut bad, mut unparsed) = (0, 0, 0);
    for file in ["core/tx_valid.json", "core/tx_invalid.json"] {
        let json: serde_json::Value =
            serde_json::from_slice(&btc_core::data::require(file)).expect("json");
        for case in json.as_array().expect("array") {
            let case = case.as_array().expect("case");
            if case.len() == 1 {
                continue; // comment
            }
            let hex = case[1].as_str().expect("tx hex");
            let badtx = case[2].as_str() == Some("BADTX");
            let tx_bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            // A block whose only transaction is the vector's.
            let mut block = vec![0u8; 80];
            block.push(1);
            block.extend(&tx_bytes);
            let Ok(wire) = BlockWire::parse(block.as_slice()) else {
                unparsed += 1;
                continue;
            };
            let buf = wire.to_archive();
            let a = ArchivedBlockArchive::from_bytes(&buf).expect("archive");
            let tx = a.tx(0).expect("tx");
            let ours = check_transaction(&tx).map_err(|e| e.reject_reason());
            let decoded = tx.to_transaction().expect("decodes");
            let theirs = btc_core::script::check_transaction(&decoded).map_err(|e| {
                let s = e.to_string();
                s.split(':').next().unwrap_or_default().to_owned()
            });
            assert_eq!(ours, theirs, "{file}: {hex}");
            assert_eq!(ours.is_err(), badtx, "{file}: {hex}: {ours:?}");
            run += 1;
            bad += usize::from(badtx);
        }
    }
    println!("{run} vectors checked ({bad} BADTX), {unparsed} not representable in a block");
    assert!(run >= 200 && bad >= 8, "{run} {bad}");
}

/// Legacy sigop counts of real blocks equal rust-bitcoin's (which matches
/// Core for the inaccurate count).
#[test]
fn legacy_sigops_of_real_blocks() {
    for file in [btc_core::data::BLOCK_413567, btc_core::data::BLOCK_702861] {
        let bytes = btc_core::data::require(file);
        let wire = BlockWire::parse(bytes.as_slice()).expect("parses");
        let buf = wire.to_archive();
        let a = ArchivedBlockArchive::from_bytes(&buf).expect("archive");
        let block: Block = bitcoin::consensus::deserialize(&bytes).expect("block");
        let ours: u64 = a.txs().map(|t| legacy_sigop_count(&t)).sum();
        let theirs: usize = block
            .txdata
            .iter()
            .map(|t| {
                t.input
                    .iter()
                    .map(|i| i.script_sig.count_sigops_legacy())
                    .sum::<usize>()
                    + t.output
                        .iter()
                        .map(|o| o.script_pubkey.count_sigops_legacy())
                        .sum::<usize>()
            })
            .sum();
        assert_eq!(ours, theirs as u64, "{file}");
        assert!(ours > 1000, "{file}: {ours}");
    }
}

/// Sigop cost of P2SH and witness spends: P2SH counts the redeem script
/// accurately (times 4), P2WSH the witness script accurately (times 1),
/// P2SH-P2WSH both rules, and nothing without the flags.
#[test]
fn sigop_cost_of_wrapped_spends() {
    use bitcoin::hashes::{hash160, sha256};
    // 2-of-3 multisig: OP_2 <3 keys> OP_3 CHECKMULTISIG.
    let mut multisig = vec![0x52];
    for k in 1..=3u8 {
        push(&mut multisig, &[k + 1; 33]);
    }
    multisig.extend([0x53, 0xae]);
    let p2sh = |script: &[u8]| {
        let mut s = vec![0xa9, 0x14];
        s.extend(hash160::Hash::hash(script).to_byte_array());
        s.push(0x87);
        s
    };
    let mut p2wsh = vec![0x00, 0x20];
    p2wsh.extend(sha256::Hash::hash(&multisig).to_byte_array());
    let coin = |script: Vec<u8>| Coin {
        height: 1,
        coinbase: false,
        amount: 1000,
        script,
    };
    let input = |n: u8, script_sig: Vec<u8>, witness: Witness| TxIn {
        previous_output: OutPoint::new(Txid::from_byte_array([n; 32]), 0),
        script_sig: ScriptBuf::from_bytes(script_sig),
        sequence: Sequence::MAX,
        witness,
    };
    let mut sig_p2sh = vec![0x00]; // CHECKMULTISIG dummy
    push(&mut sig_p2sh, &multisig);
    let mut sig_p2sh_p2wsh = Vec::new();
    push(&mut sig_p2sh_p2wsh, &p2wsh);
    let w = Witness::from_slice(&[vec![], multisig.clone()]);
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![
            input(1, sig_p2sh, Witness::new()),
            input(2, vec![], w.clone()),
            input(3, sig_p2sh_p2wsh, w),
        ],
        output: vec![TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    };
    let coins = vec![
        coin(p2sh(&multisig)),
        coin(p2wsh.clone()),
        coin(p2sh(&p2wsh)),
    ];
    let (block, _) = block_of(vec![(tx, vec![])]);
    with_archive(&block, |a| {
        let tx = a.tx(1).unwrap();
        // Legacy: the P2SH scriptSig holds a CHECKMULTISIG byte inside a
        // push, which doesn't count; no legacy sigops at all.
        assert_eq!(legacy_sigop_count(&tx), 0);
        // P2SH redeem 3 * 4 = 12, P2WSH 3, P2SH-P2WSH 0 * 4 + 3.
        assert_eq!(transaction_sigop_cost(&tx, &coins, VerifyFlags::ALL), 18);
        assert_eq!(transaction_sigop_cost(&tx, &coins, VerifyFlags::P2SH), 12);
        assert_eq!(transaction_sigop_cost(&tx, &coins, VerifyFlags::NONE), 0);
    });
}

/// Random byte flips of a valid block: whatever still parses goes through
/// every check without panicking (blocks come from peers).
#[test]
fn mutated_blocks_never_panic() {
    let (block, spent) = fixture();
    let bytes = bitcoin::consensus::serialize(&block);
    let params = regtest();
    let pool = ScriptPool::with_threads(2);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut parsed, mut rejected) = (0, 0);
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 3 {
            let i = (next() as usize) % b.len();
            b[i] ^= 1 << (next() % 8);
        }
        let Ok(wire) = BlockWire::parse(b.as_slice()) else {
            continue;
        };
        parsed += 1;
        let buf = wire.to_archive();
        let a = ArchivedBlockArchive::from_bytes(&buf).expect("archive");
        let result = check_block(a, &params, false, false)
            .and_then(|()| contextual_check_block(a, HEIGHT, PREV_MTP, &params))
            .and_then(|()| connect_block_checks(a, &spent, &connect_ctx(&params, a), &pool));
        if let Err(e) = result {
            rejected += 1;
            assert!(!e.reject_reason().is_empty());
        }
        let _ = check_block(a, &params, true, true);
    }
    println!("{parsed} mutants parsed, {rejected} rejected");
    assert!(
        parsed > 1000 && rejected > parsed / 2,
        "{parsed} {rejected}"
    );
}
