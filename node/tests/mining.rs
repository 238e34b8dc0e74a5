//! Block assembly: ancestor-fee-rate selection (CPFP), weight limit,
//! ancestors first, coinbase (BIP34 height, subsidy plus fees, witness
//! commitment), merkle root, `generateblock`'s checks, proof of work, and
//! `generatetodescriptor`'s descriptors.

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use bitcoin::key::Keypair;
use bitcoin::secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, BlockHash, CompactTarget, CompressedPublicKey, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use btc_core::script::VerifyFlags;
use btc_node::mempool::{AcceptOptions, ChainView, Coin, FeeRate, Mempool, MempoolOptions};
use btc_node::mining::{
    assemble, assemble_with, coinbase_script_sig, grind, script_for_descriptor, Grind, MiningError,
    TemplateContext, DEFAULT_BLOCK_MAX_WEIGHT,
};

const TIP: u32 = 200;
const MTP: i64 = 1_700_000_000;
const SUBSIDY: u64 = 5_000_000_000;

struct TestChain {
    coins: HashMap<OutPoint, Coin>,
    next: u32,
}

impl ChainView for TestChain {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.coins.get(outpoint).cloned()
    }
    fn tip_height(&self) -> u32 {
        TIP
    }
    fn tip_hash(&self) -> BlockHash {
        BlockHash::all_zeros()
    }
    fn median_time_past(&self) -> i64 {
        MTP
    }
    fn mtp_at_height(&self, height: u32) -> i64 {
        MTP - i64::from(TIP.saturating_sub(height)) * 600
    }
    fn script_flags(&self) -> VerifyFlags {
        VerifyFlags::ALL
    }
}

/// One P2WPKH key.
struct Wallet {
    secp: Secp256k1<All>,
    sk: SecretKey,
    pk: PublicKey,
    chain: TestChain,
}

impl Wallet {
    fn new() -> Wallet {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[3; 32]).unwrap();
        let pk = PublicKey::from_secret_key(&secp, &sk);
        Wallet {
            secp,
            sk,
            pk,
            chain: TestChain {
                coins: HashMap::new(),
                next: 0,
            },
        }
    }

    fn spk(&self) -> ScriptBuf {
        ScriptBuf::new_p2wpkh(&CompressedPublicKey(self.pk).wpubkey_hash())
    }

    fn out(&self, sat: u64) -> TxOut {
        TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: self.spk(),
        }
    }

    /// A confirmed coin.
    fn fund(&mut self, sat: u64) -> (OutPoint, TxOut) {
        self.chain.next += 1;
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&self.chain.next.to_le_bytes());
        let op = OutPoint::new(Txid::from_byte_array(id), 0);
        self.chain.coins.insert(
            op,
            Coin {
                height: 100,
                coinbase: false,
                amount: sat,
                script: self.spk().to_bytes(),
            },
        );
        (op, self.out(sat))
    }

    /// A signed spend of `input` paying `fee`, one output.
    fn spend(&self, input: &(OutPoint, TxOut), fee: u64) -> Transaction {
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: input.0,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            }],
            output: vec![self.out(input.1.value.to_sat() - fee)],
        };
        let h = SighashCache::new(&tx)
            .p2wpkh_signature_hash(
                0,
                &input.1.script_pubkey,
                input.1.value,
                EcdsaSighashType::All,
            )
            .unwrap();
        let sig = bitcoin::ecdsa::Signature {
            signature: self
                .secp
                .sign_ecdsa(&Message::from_digest(h.to_byte_array()), &self.sk),
            sighash_type: EcdsaSighashType::All,
        };
        tx.input[0].witness = Witness::from_slice(&[sig.to_vec(), self.pk.serialize().to_vec()]);
        tx
    }
}

fn output_of(tx: &Transaction) -> (OutPoint, TxOut) {
    (OutPoint::new(tx.compute_txid(), 0), tx.output[0].clone())
}

fn ctx() -> TemplateContext {
    TemplateContext {
        height: TIP + 1,
        prev_hash: BlockHash::all_zeros(),
        prev_mtp: MTP,
        time: MTP as u32 + 1,
        bits: CompactTarget::from_consensus(0x207f_ffff),
        version: 0x2000_0000,
        subsidy: Amount::from_sat(SUBSIDY),
        coinbase_script: ScriptBuf::new_op_return([1u8; 4]),
        max_weight: DEFAULT_BLOCK_MAX_WEIGHT,
        min_fee_rate: FeeRate::from_sat_per_kvb(1000),
    }
}

fn add(pool: &mut Mempool, w: &Wallet, tx: &Transaction) -> Txid {
    let opts = AcceptOptions {
        test_only: false,
        max_fee_rate: None,
        now: MTP,
    };
    pool.accept(tx.clone(), &w.chain, opts).unwrap().txid
}

#[test]
fn cpfp_package_before_medium_and_coinbase() {
    let mut w = Wallet::new();
    let mut pool = Mempool::new(MempoolOptions::default());
    let a = w.fund(1_000_000);
    let b = w.fund(1_000_000);
    // 110 vB each: parent 1 sat/vB, child 50 sat/vB, medium 10 sat/vB.
    let parent = w.spend(&a, 110);
    let child = w.spend(&output_of(&parent), 5500);
    let medium = w.spend(&b, 1100);
    add(&mut pool, &w, &parent);
    add(&mut pool, &w, &medium);
    add(&mut pool, &w, &child);

    let block = assemble(&pool, &ctx());
    let ids: Vec<Txid> = block.txdata.iter().map(|t| t.compute_txid()).collect();
    assert_eq!(
        ids[1..],
        [
            parent.compute_txid(),
            child.compute_txid(),
            medium.compute_txid()
        ]
    );
    let cb = &block.txdata[0];
    assert!(cb.is_coinbase());
    assert_eq!(cb.output[0].value.to_sat(), SUBSIDY + 110 + 5500 + 1100);
    assert_eq!(cb.output[0].script_pubkey, ctx().coinbase_script);
    // BIP34: 201 = 0xc9 needs a sign byte; then OP_0.
    assert_eq!(cb.input[0].script_sig.as_bytes(), [0x02, 0xc9, 0x00, 0x00]);
    assert_eq!(coinbase_script_sig(1).as_bytes(), [0x51, 0x00]);
    assert_eq!(coinbase_script_sig(17).as_bytes(), [0x01, 0x11, 0x00]);
    // Witness commitment and reserved value.
    let commitment = &cb.output[1].script_pubkey;
    assert_eq!(
        commitment.as_bytes()[..6],
        [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]
    );
    assert_eq!(cb.input[0].witness.to_vec(), vec![vec![0u8; 32]]);
    assert!(block.check_witness_commitment());
    assert!(block.check_merkle_root());
    assert_eq!(block.header.time, MTP as u32 + 1);
    assert_eq!(block.header.version.to_consensus(), 0x2000_0000);
    // The template passes generateblock's checks too.
    assemble_with(block.txdata[1..].to_vec(), &ctx(), &w.chain).unwrap();
}

#[test]
fn empty_block_has_commitment() {
    let pool = Mempool::new(MempoolOptions::default());
    let block = assemble(&pool, &ctx());
    assert_eq!(block.txdata.len(), 1);
    assert_eq!(block.txdata[0].output.len(), 2);
    assert_eq!(block.txdata[0].output[0].value.to_sat(), SUBSIDY);
    assert!(block.check_merkle_root());
}

#[test]
fn weight_limit_and_min_fee() {
    let mut w = Wallet::new();
    let mut pool = Mempool::new(MempoolOptions::default());
    let mut ids = Vec::new();
    for fee in [200u64, 400, 300] {
        let input = w.fund(1_000_000);
        let tx = w.spend(&input, fee);
        ids.push(add(&mut pool, &w, &tx));
    }
    // Room for two 110 vB transactions after the 4000 reserved.
    let small = TemplateContext {
        max_weight: 5000,
        ..ctx()
    };
    let block = assemble(&pool, &small);
    let got: Vec<Txid> = block.txdata[1..].iter().map(|t| t.compute_txid()).collect();
    assert_eq!(got, vec![ids[1], ids[2]]);
    assert!(block.weight().to_wu() <= 5000);
    // A block min fee of 3 sat/vB leaves out the 200 and 300 sat ones.
    let picky = TemplateContext {
        min_fee_rate: FeeRate::from_sat_per_kvb(3000),
        ..ctx()
    };
    let block = assemble(&pool, &picky);
    assert_eq!(block.txdata.len(), 2);
    assert_eq!(block.txdata[1].compute_txid(), ids[1]);
}

#[test]
fn parents_before_children_in_long_chains() {
    let mut w = Wallet::new();
    let mut pool = Mempool::new(MempoolOptions::default());
    let mut input = w.fund(10_000_000);
    let mut ids = Vec::new();
    for i in 0..10u64 {
        // Fees rise along the chain so children rank above parents.
        let tx = w.spend(&input, 200 + 1000 * i);
        ids.push(add(&mut pool, &w, &tx));
        input = output_of(&tx);
    }
    let block = assemble(&pool, &ctx());
    let got: Vec<Txid> = block.txdata[1..].iter().map(|t| t.compute_txid()).collect();
    assert_eq!(got, ids);
}

#[test]
fn generateblock_checks() {
    let mut w = Wallet::new();
    let a = w.fund(1_000_000);
    let parent = w.spend(&a, 1000);
    let child = w.spend(&output_of(&parent), 1000);
    let block = assemble_with(vec![parent.clone(), child.clone()], &ctx(), &w.chain).unwrap();
    assert_eq!(block.txdata.len(), 3);
    // Core 28's generateblock coinbase claims the subsidy only.
    assert_eq!(block.txdata[0].output[0].value.to_sat(), SUBSIDY);
    assert!(block.check_witness_commitment());
    assert!(block.check_merkle_root());

    let err = assemble_with(vec![child.clone()], &ctx(), &w.chain).unwrap_err();
    match &err {
        MiningError::InvalidBlock { reason, .. } => {
            assert_eq!(reason, "bad-txns-inputs-missingorspent")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.rpc_code(), -25);
    assert!(err
        .rpc_message()
        .starts_with("TestBlockValidity failed: bad-txns-inputs-missingorspent"));
    // Child before parent.
    assert!(assemble_with(vec![child, parent.clone()], &ctx(), &w.chain).is_err());
    // The same coin twice.
    let double = w.spend(&a, 2000);
    assert!(assemble_with(vec![parent, double], &ctx(), &w.chain).is_err());
    // A broken signature.
    let funded = w.fund(1_000_000);
    let mut bad = w.spend(&funded, 1000);
    bad.output[0].value = Amount::from_sat(990_000);
    let err = assemble_with(vec![bad], &ctx(), &w.chain).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TestBlockValidity failed: mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)"
    );
}

#[test]
fn grinding() {
    let pool = Mempool::new(MempoolOptions::default());
    let mut block = assemble(&pool, &ctx());
    let mut tries = 1_000_000;
    assert_eq!(grind(&mut block, &mut tries), Grind::Found);
    assert!(block.header.target().is_met_by(block.block_hash()));
    assert!(tries > 0);
    // Mainnet difficulty cannot be met in ten tries.
    let mut hard = assemble(
        &pool,
        &TemplateContext {
            bits: CompactTarget::from_consensus(0x1d00_ffff),
            ..ctx()
        },
    );
    let mut tries = 10;
    assert_eq!(grind(&mut hard, &mut tries), Grind::OutOfTries);
    assert_eq!(tries, 0);
    assert_eq!(hard.header.nonce, 10);
}

#[test]
fn descriptors() {
    use miniscript::descriptor::checksum::desc_checksum;
    let w = Wallet::new();
    let pk = w.pk.to_string();
    let with_sum = |d: &str| format!("{d}#{}", desc_checksum(d).unwrap());
    let net = Network::Regtest;

    let wpkh = format!("wpkh({pk})");
    assert_eq!(script_for_descriptor(&wpkh, net).unwrap(), w.spk());
    assert_eq!(
        script_for_descriptor(&with_sum(&wpkh), net).unwrap(),
        w.spk()
    );
    let cpk = CompressedPublicKey(w.pk);
    assert_eq!(
        script_for_descriptor(&format!("pkh({pk})"), net).unwrap(),
        ScriptBuf::new_p2pkh(&bitcoin::PublicKey::new(w.pk).pubkey_hash())
    );
    assert_eq!(
        script_for_descriptor(&format!("sh(wpkh({pk}))"), net).unwrap(),
        ScriptBuf::new_p2sh(&w.spk().script_hash())
    );
    assert_eq!(
        script_for_descriptor(&format!("combo({pk})"), net).unwrap(),
        w.spk()
    );
    let (xonly, _) = Keypair::from_secret_key(&w.secp, &w.sk).x_only_public_key();
    assert_eq!(
        script_for_descriptor(&format!("tr({xonly})"), net).unwrap(),
        ScriptBuf::new_p2tr(&w.secp, xonly, None)
    );
    let address = bitcoin::Address::p2wpkh(&cpk, Network::Regtest);
    assert_eq!(
        script_for_descriptor(&with_sum(&format!("addr({address})")), net).unwrap(),
        w.spk()
    );
    assert_eq!(
        script_for_descriptor("raw(51)", net).unwrap().as_bytes(),
        [0x51]
    );
    // A WIF private key works too.
    let wif = bitcoin::PrivateKey::new(w.sk, Network::Regtest).to_wif();
    assert_eq!(
        script_for_descriptor(&format!("wpkh({wif})"), net).unwrap(),
        w.spk()
    );

    let bad = |d: &str| script_for_descriptor(d, net).unwrap_err();
    let computed = desc_checksum(&wpkh).unwrap();
    assert_eq!(
        bad(&format!("{wpkh}#aaaaaaaa")).to_string(),
        format!("Provided checksum 'aaaaaaaa' does not match computed checksum '{computed}'")
    );
    assert_eq!(
        bad(&format!("{wpkh}#abc")).to_string(),
        "Expected 8 character checksum, not 3 characters"
    );
    assert_eq!(bad("wpkh(x)#a#b").to_string(), "Multiple '#' symbols");
    assert_eq!(
        bad("foo(bar)").to_string(),
        "'foo(bar)' is not a valid descriptor function"
    );
    assert_eq!(
        bad("addr(notanaddress)").to_string(),
        "Address is not valid"
    );
    let mainnet = bitcoin::Address::p2wpkh(&cpk, Network::Bitcoin);
    assert_eq!(
        bad(&format!("addr({mainnet})")).to_string(),
        "Address is not valid"
    );
    assert_eq!(bad("raw(5)").to_string(), "Raw script is not hex");
    let bad_key = bad("wpkh(02deadbeef)");
    assert!(matches!(bad_key, MiningError::Descriptor(_)));
    assert_eq!(bad_key.rpc_code(), -5);
    let xpub = "tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B";
    let ranged = bad(&format!("wpkh({xpub}/0/*)"));
    assert_eq!(ranged, MiningError::RangedDescriptor);
    assert_eq!(ranged.rpc_code(), -8);
    assert_eq!(
        ranged.to_string(),
        "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?"
    );
    assert_eq!(bad(&format!("wpkh({xpub}/0h)")), MiningError::NoPrivateKeys);
    assert!(script_for_descriptor(&format!("wpkh({xpub}/0/1)"), net).is_ok());
    // With the private key a hardened step can be derived.
    let xprv = bitcoin::bip32::Xpriv::new_master(Network::Regtest, &[7; 32]).unwrap();
    let path: bitcoin::bip32::DerivationPath = "m/0h/1".parse().unwrap();
    let child = xprv.derive_priv(&w.secp, &path).unwrap();
    let key = CompressedPublicKey(PublicKey::from_secret_key(&w.secp, &child.private_key));
    assert_eq!(
        script_for_descriptor(&format!("wpkh({xprv}/0h/1)"), net).unwrap(),
        ScriptBuf::new_p2wpkh(&key.wpubkey_hash())
    );
}

#[test]
fn random_descriptors_never_panic() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let w = Wallet::new();
    let pk = w.pk.to_string();
    let xpub = "tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B";
    let tokens = [
        "wpkh(",
        "pkh(",
        "sh(",
        "wsh(",
        "tr(",
        "pk(",
        "combo(",
        "multi(",
        "sortedmulti(",
        "addr(",
        "raw(",
        "rawtr(",
        ")",
        ",",
        "#",
        "/",
        "*",
        "h",
        "'",
        "0",
        "1",
        "2",
        "<0;1>",
        "{",
        "}",
        &pk,
        xpub,
        "[deadbeef/0h]",
        "51",
        "zz",
        "",
    ];
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..5000 {
        let n = rng.random_range(1..8);
        let s: String = (0..n)
            .map(|_| tokens[rng.random_range(0..tokens.len())])
            .collect();
        if let Err(e) = script_for_descriptor(&s, Network::Regtest) {
            let _ = (e.rpc_code(), e.rpc_message());
        }
    }
}

#[test]
fn random_pools_assemble_valid_blocks() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut w = Wallet::new();
    let mut pool = Mempool::new(MempoolOptions::default());
    let mut rng = StdRng::seed_from_u64(5);
    let mut spendable: Vec<(OutPoint, TxOut)> = (0..40).map(|_| w.fund(10_000_000)).collect();
    for _ in 0..300 {
        let i = rng.random_range(0..spendable.len());
        let input = spendable[i].clone();
        let fee = rng.random_range(110..5000);
        let tx = w.spend(&input, fee);
        let opts = AcceptOptions {
            test_only: false,
            max_fee_rate: None,
            now: MTP,
        };
        if pool.accept(tx.clone(), &w.chain, opts).is_ok() {
            spendable[i] = output_of(&tx);
        }
    }
    assert!(pool.len() > 100);
    for max_weight in [5_000, 20_000, 60_000, DEFAULT_BLOCK_MAX_WEIGHT] {
        let c = TemplateContext {
            max_weight,
            ..ctx()
        };
        let block = assemble(&pool, &c);
        assert!(block.weight().to_wu() <= max_weight.max(5_000));
        assert!(block.check_merkle_root());
        assert!(block.check_witness_commitment());
        let fees: i64 = block.txdata[1..]
            .iter()
            .map(|t| pool.get(&t.compute_txid()).unwrap().fee)
            .sum();
        assert_eq!(
            block.txdata[0].output[0].value.to_sat(),
            SUBSIDY + fees as u64
        );
        // Every transaction's parents come first: the block is valid.
        assemble_with(block.txdata[1..].to_vec(), &c, &w.chain).unwrap();
    }
    let full = assemble(&pool, &ctx());
    assert_eq!(full.txdata.len(), pool.len() + 1);
}
