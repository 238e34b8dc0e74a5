//! Mempool acceptance with Core 28's policy: real signed spends (P2WPKH,
//! P2PKH, P2TR key path) against an in-test chain view, each reject reason
//! with Core's exact text, replacement, chain limits, blocks and reorgs,
//! packages, size limit, and the RPC JSON objects.

use std::collections::HashMap;

use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{All, Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, BlockHash, CompressedPublicKey, OutPoint, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Txid, Witness,
};
use btc_core::script::VerifyFlags;
use btc_node::mempool::{
    AcceptOptions, ChainView, Coin, FeeRate, Mempool, MempoolOptions, MempoolReject, RejectKind,
};

const TIP: u32 = 200;
const MTP: i64 = 1_700_000_000;
const NOW: i64 = 1_700_001_000;

/// The chain: a UTXO map, a tip height and MTP.
struct TestChain {
    coins: HashMap<OutPoint, Coin>,
    height: u32,
    mtp: i64,
    next: u32,
}

impl TestChain {
    fn new() -> TestChain {
        TestChain {
            coins: HashMap::new(),
            height: TIP,
            mtp: MTP,
            next: 0,
        }
    }

    /// A confirmed coin of a made-up transaction.
    fn add_coin(&mut self, sat: u64, spk: &ScriptBuf, coinbase: bool, height: u32) -> OutPoint {
        self.next += 1;
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&self.next.to_le_bytes());
        id[31] = 0xee;
        let op = OutPoint::new(Txid::from_byte_array(id), 0);
        self.coins.insert(
            op,
            Coin {
                height,
                coinbase,
                amount: sat,
                script: spk.to_bytes(),
            },
        );
        op
    }

    /// Applies a block's transactions to the UTXO set.
    fn connect(&mut self, txs: &[Transaction]) {
        self.height += 1;
        for tx in txs {
            for i in &tx.input {
                self.coins.remove(&i.previous_output);
            }
            let txid = tx.compute_txid();
            for (v, o) in tx.output.iter().enumerate() {
                self.coins.insert(
                    OutPoint::new(txid, v as u32),
                    Coin {
                        height: self.height,
                        coinbase: tx.is_coinbase(),
                        amount: o.value.to_sat(),
                        script: o.script_pubkey.to_bytes(),
                    },
                );
            }
        }
    }
}

impl ChainView for TestChain {
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin> {
        self.coins.get(outpoint).cloned()
    }
    fn tip_height(&self) -> u32 {
        self.height
    }
    fn tip_hash(&self) -> BlockHash {
        BlockHash::all_zeros()
    }
    fn median_time_past(&self) -> i64 {
        self.mtp
    }
    fn mtp_at_height(&self, height: u32) -> i64 {
        self.mtp - i64::from(self.height.saturating_sub(height)) * 600
    }
    fn script_flags(&self) -> VerifyFlags {
        VerifyFlags::ALL
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Wpkh,
    Pkh,
    Tr,
}

/// One key that signs every kind of spend.
struct Keys {
    secp: Secp256k1<All>,
    sk: SecretKey,
    pk: PublicKey,
    keypair: Keypair,
}

impl Keys {
    fn new(seed: u8) -> Keys {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[seed; 32]).unwrap();
        let pk = PublicKey::from_secret_key(&secp, &sk);
        let keypair = Keypair::from_secret_key(&secp, &sk);
        Keys {
            secp,
            sk,
            pk,
            keypair,
        }
    }

    fn spk(&self, kind: Kind) -> ScriptBuf {
        match kind {
            Kind::Wpkh => ScriptBuf::new_p2wpkh(&CompressedPublicKey(self.pk).wpubkey_hash()),
            Kind::Pkh => ScriptBuf::new_p2pkh(&bitcoin::PublicKey::new(self.pk).pubkey_hash()),
            Kind::Tr => {
                let (x, _) = self.keypair.x_only_public_key();
                ScriptBuf::new_p2tr(&self.secp, x, None)
            }
        }
    }

    fn out(&self, sat: u64, kind: Kind) -> TxOut {
        TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: self.spk(kind),
        }
    }

    /// Signs every input; `prevouts[i]` is what input `i` spends.
    fn sign(&self, tx: &mut Transaction, prevouts: &[TxOut], ecdsa_type: EcdsaSighashType) {
        let unsigned = tx.clone();
        let mut cache = SighashCache::new(&unsigned);
        for (i, prev) in prevouts.iter().enumerate() {
            let spk = &prev.script_pubkey;
            if spk.is_p2wpkh() {
                let h = cache
                    .p2wpkh_signature_hash(i, spk, prev.value, ecdsa_type)
                    .unwrap();
                let sig = self
                    .secp
                    .sign_ecdsa(&Message::from_digest(h.to_byte_array()), &self.sk);
                let sig = bitcoin::ecdsa::Signature {
                    signature: sig,
                    sighash_type: ecdsa_type,
                };
                tx.input[i].witness =
                    Witness::from_slice(&[sig.to_vec(), self.pk.serialize().to_vec()]);
            } else if spk.is_p2pkh() {
                let h = cache
                    .legacy_signature_hash(i, spk, ecdsa_type.to_u32())
                    .unwrap();
                let sig = self
                    .secp
                    .sign_ecdsa(&Message::from_digest(h.to_byte_array()), &self.sk);
                let sig = bitcoin::ecdsa::Signature {
                    signature: sig,
                    sighash_type: ecdsa_type,
                };
                tx.input[i].script_sig = bitcoin::script::Builder::new()
                    .push_slice(<&bitcoin::script::PushBytes>::try_from(&sig.to_vec()[..]).unwrap())
                    .push_slice(self.pk.serialize())
                    .into_script();
            } else if spk.is_p2tr() {
                let h = cache
                    .taproot_key_spend_signature_hash(
                        i,
                        &Prevouts::All(prevouts),
                        TapSighashType::Default,
                    )
                    .unwrap();
                let tweaked = self.keypair.tap_tweak(&self.secp, None);
                let sig = self.secp.sign_schnorr_no_aux_rand(
                    &Message::from_digest(h.to_byte_array()),
                    &tweaked.to_keypair(),
                );
                tx.input[i].witness = Witness::from_slice(&[sig.as_ref().to_vec()]);
            }
        }
    }
}

/// A transaction spending `inputs` (outpoint and the output it names) to
/// `outputs`, version 2, signalling RBF, signed.
fn spend(keys: &Keys, inputs: &[(OutPoint, TxOut)], outputs: Vec<TxOut>) -> Transaction {
    let mut tx = unsigned(inputs, outputs);
    let prev: Vec<TxOut> = inputs.iter().map(|(_, o)| o.clone()).collect();
    keys.sign(&mut tx, &prev, EcdsaSighashType::All);
    tx
}

fn unsigned(inputs: &[(OutPoint, TxOut)], outputs: Vec<TxOut>) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: inputs
            .iter()
            .map(|(op, _)| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: outputs,
    }
}

/// A confirmed coin of `sat` to `kind`, as an input.
fn funded(chain: &mut TestChain, keys: &Keys, sat: u64, kind: Kind) -> (OutPoint, TxOut) {
    let out = keys.out(sat, kind);
    let op = chain.add_coin(sat, &out.script_pubkey, false, 100);
    (op, out)
}

/// Output `vout` of `tx` as an input.
fn output_of(tx: &Transaction, vout: u32) -> (OutPoint, TxOut) {
    (
        OutPoint::new(tx.compute_txid(), vout),
        tx.output[vout as usize].clone(),
    )
}

fn opts() -> AcceptOptions {
    AcceptOptions {
        test_only: false,
        max_fee_rate: None,
        now: NOW,
    }
}

fn pool() -> Mempool {
    Mempool::new(MempoolOptions::default())
}

fn reject(pool: &mut Mempool, tx: Transaction, chain: &TestChain) -> MempoolReject {
    pool.accept(tx, chain, opts())
        .expect_err("should be rejected")
}

fn accept(pool: &mut Mempool, tx: Transaction, chain: &TestChain) -> Txid {
    match pool.accept(tx, chain, opts()) {
        Ok(a) => a.txid,
        Err(e) => panic!("rejected: {e}"),
    }
}

#[test]
fn accepts_signed_spends_of_each_kind() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    for kind in [Kind::Wpkh, Kind::Pkh, Kind::Tr] {
        let input = funded(&mut chain, &keys, 100_000, kind);
        let tx = spend(&keys, &[input], vec![keys.out(99_000, kind)]);
        let vsize = tx.vsize() as u64;
        let a = pool.accept(tx, &chain, opts()).unwrap();
        assert_eq!(a.fee, 1000, "{kind:?}");
        assert_eq!(a.vsize, vsize);
        assert!(a.replaced.is_empty());
        let e = pool.get(&a.txid).unwrap();
        assert_eq!(e.ancestors.count, 1);
        assert_eq!(e.height, TIP);
        assert_eq!(e.time, NOW);
    }
    assert_eq!(pool.len(), 3);
    assert_eq!(pool.total_fee(), 3000);
}

#[test]
fn test_only_leaves_the_pool_unchanged() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let tx = spend(&keys, &[input], vec![keys.out(99_000, Kind::Wpkh)]);
    let a = pool
        .accept(
            tx,
            &chain,
            AcceptOptions {
                test_only: true,
                ..opts()
            },
        )
        .unwrap();
    assert_eq!(a.fee, 1000);
    assert!(pool.is_empty());
}

#[test]
fn dust_and_min_relay_fee() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    // 293 sat to P2WPKH is dust at 3000 sat/kvB (threshold 294).
    let tx = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(90_000, Kind::Wpkh), keys.out(293, Kind::Wpkh)],
    );
    assert_eq!(reject(&mut pool, tx, &chain).reason, "dust");
    let tx = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(90_000, Kind::Wpkh), keys.out(294, Kind::Wpkh)],
    );
    accept(&mut pool, tx, &chain);

    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let tx = spend(&keys, &[input], vec![keys.out(100_000, Kind::Wpkh)]);
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.kind, RejectKind::Fee);
    assert_eq!(e.reason, "min relay fee not met");
    assert_eq!(e.debug.as_deref(), Some("0 < 110"));
    assert_eq!(e.rpc_code(), -26);
    assert_eq!(e.rpc_message(), "min relay fee not met, 0 < 110");
}

#[test]
fn missing_inputs_and_in_below_out() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let (op, out) = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let missing = OutPoint::new(op.txid, 7);
    let tx = spend(
        &keys,
        &[(missing, out.clone())],
        vec![keys.out(1000, Kind::Wpkh)],
    );
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.kind, RejectKind::MissingInputs);
    assert_eq!(e.reason, "bad-txns-inputs-missingorspent");
    assert_eq!(e.rpc_code(), -25);
    assert_eq!(e.test_accept_reason(), "missing-inputs");

    let tx = spend(&keys, &[(op, out)], vec![keys.out(100_001, Kind::Wpkh)]);
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.reason, "bad-txns-in-belowout");
    assert_eq!(
        e.debug.as_deref(),
        Some("value in (0.001) < value out (0.00100001)")
    );
}

#[test]
fn already_confirmed_is_known() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let tx = spend(&keys, &[input], vec![keys.out(99_000, Kind::Wpkh)]);
    chain.connect(std::slice::from_ref(&tx));
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.reason, "txn-already-known");
    assert_eq!(e.rpc_code(), -27);
    assert_eq!(e.rpc_message(), "Transaction already in block chain");
}

#[test]
fn premature_coinbase_spend() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let out = keys.out(5_000_000_000, Kind::Wpkh);
    // Spend height 201: a coinbase at 102 is 99 deep, at 101 mature.
    let young = chain.add_coin(5_000_000_000, &out.script_pubkey, true, 102);
    let tx = spend(
        &keys,
        &[(young, out.clone())],
        vec![keys.out(4_999_000_000, Kind::Wpkh)],
    );
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.reason, "bad-txns-premature-spend-of-coinbase");
    assert_eq!(
        e.debug.as_deref(),
        Some("tried to spend coinbase at depth 99")
    );
    let mature = chain.add_coin(5_000_000_000, &out.script_pubkey, true, 101);
    let tx = spend(
        &keys,
        &[(mature, out)],
        vec![keys.out(4_999_000_000, Kind::Wpkh)],
    );
    let id = accept(&mut pool, tx, &chain);
    assert!(pool.get(&id).unwrap().spends_coinbase);
}

#[test]
fn already_in_mempool_and_same_txid_other_witness() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let tx = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Wpkh)],
    );
    accept(&mut pool, tx.clone(), &chain);
    let e = reject(&mut pool, tx.clone(), &chain);
    assert_eq!(e.kind, RejectKind::Conflict);
    assert_eq!(e.reason, "txn-already-in-mempool");

    let mut other = unsigned(std::slice::from_ref(&input), tx.output.clone());
    keys.sign(
        &mut other,
        &[input.1],
        EcdsaSighashType::AllPlusAnyoneCanPay,
    );
    assert_eq!(other.compute_txid(), tx.compute_txid());
    assert_ne!(other.compute_wtxid(), tx.compute_wtxid());
    assert_eq!(
        reject(&mut pool, other, &chain).reason,
        "txn-same-nonwitness-data-in-mempool"
    );
}

#[test]
fn bad_signatures() {
    let keys = Keys::new(1);
    let wrong = Keys::new(2);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let mut tx = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Wpkh)],
    );
    // A signature by another key over the right pubkey.
    let mut forged = tx.clone();
    wrong.sign(
        &mut forged,
        std::slice::from_ref(&input.1),
        EcdsaSighashType::All,
    );
    let mut w: Vec<Vec<u8>> = forged.input[0].witness.iter().map(|x| x.to_vec()).collect();
    w[1] = keys.pk.serialize().to_vec();
    tx.input[0].witness = Witness::from_slice(&w);
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.kind, RejectKind::Invalid);
    assert_eq!(
        e.reason,
        "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)"
    );
    // The wrong key altogether: the hash check fails first.
    let mut tx = unsigned(
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Wpkh)],
    );
    wrong.sign(&mut tx, &[input.1], EcdsaSighashType::All);
    assert_eq!(
        reject(&mut pool, tx, &chain).reason,
        "mandatory-script-verify-flag-failed (Script failed an OP_EQUALVERIFY operation)"
    );
    // Taproot key path: sign, then spend to a different output.
    let input = funded(&mut chain, &keys, 100_000, Kind::Tr);
    let good = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Tr)],
    );
    let mut tx = unsigned(&[input], vec![keys.out(98_000, Kind::Tr)]);
    tx.input[0].witness = good.input[0].witness.clone();
    assert_eq!(
        reject(&mut pool, tx, &chain).reason,
        "mandatory-script-verify-flag-failed (Invalid Schnorr signature)"
    );
    // P2PKH with a wrong signature.
    let input = funded(&mut chain, &keys, 100_000, Kind::Pkh);
    let good = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Pkh)],
    );
    let mut tx = unsigned(&[input], vec![keys.out(98_000, Kind::Pkh)]);
    tx.input[0].script_sig = good.input[0].script_sig.clone();
    assert_eq!(
        reject(&mut pool, tx, &chain).reason,
        "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)"
    );
}

#[test]
fn lock_times() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    // Height lock: final at TIP + 1 only if the lock time is below it.
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let mut tx = unsigned(
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Wpkh)],
    );
    tx.lock_time = absolute::LockTime::from_height(TIP + 1).unwrap();
    keys.sign(
        &mut tx,
        std::slice::from_ref(&input.1),
        EcdsaSighashType::All,
    );
    assert_eq!(reject(&mut pool, tx, &chain).reason, "non-final");
    let mut tx = unsigned(
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Wpkh)],
    );
    tx.lock_time = absolute::LockTime::from_height(TIP).unwrap();
    keys.sign(
        &mut tx,
        std::slice::from_ref(&input.1),
        EcdsaSighashType::All,
    );
    accept(&mut pool, tx, &chain);
    // Time lock against the tip's MTP.
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let mut tx = unsigned(
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Wpkh)],
    );
    tx.lock_time = absolute::LockTime::from_time(MTP as u32).unwrap();
    keys.sign(
        &mut tx,
        std::slice::from_ref(&input.1),
        EcdsaSighashType::All,
    );
    assert_eq!(reject(&mut pool, tx, &chain).reason, "non-final");
    // BIP68: a coin confirmed at 100 with a relative lock of 101 blocks
    // is spendable at 201 (TIP + 1); 102 is not.
    for (blocks, ok) in [(102u16, false), (101, true)] {
        let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
        let mut tx = unsigned(
            std::slice::from_ref(&input),
            vec![keys.out(99_000, Kind::Wpkh)],
        );
        tx.input[0].sequence = Sequence::from_height(blocks);
        keys.sign(&mut tx, &[input.1], EcdsaSighashType::All);
        match pool.accept(tx, &chain, opts()) {
            Ok(_) => assert!(ok),
            Err(e) => {
                assert!(!ok);
                assert_eq!(e.reason, "non-BIP68-final");
            }
        }
    }
}

/// A chain of `n` one-in one-out transactions from one coin.
fn chain_of(n: usize, keys: &Keys, chain: &mut TestChain) -> Vec<Transaction> {
    let mut input = funded(chain, keys, 10_000_000, Kind::Wpkh);
    let mut out = Vec::new();
    for i in 0..n {
        let value = 10_000_000 - 1000 * (i as u64 + 1);
        let tx = spend(keys, &[input], vec![keys.out(value, Kind::Wpkh)]);
        input = output_of(&tx, 0);
        out.push(tx);
    }
    out
}

#[test]
fn too_long_mempool_chain() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let txs = chain_of(26, &keys, &mut chain);
    for tx in &txs[..25] {
        accept(&mut pool, tx.clone(), &chain);
    }
    let last = pool.get(&txs[24].compute_txid()).unwrap();
    assert_eq!(last.ancestors.count, 25);
    assert_eq!(last.ancestors.fees, 25_000);
    let first = pool.get(&txs[0].compute_txid()).unwrap();
    assert_eq!(first.descendants.count, 25);
    let e = reject(&mut pool, txs[25].clone(), &chain);
    assert_eq!(e.reason, "too-long-mempool-chain");
    assert_eq!(
        e.rpc_message(),
        "too-long-mempool-chain, too many unconfirmed ancestors [limit: 25]"
    );
}

#[test]
fn descendant_limit_and_cpfp_carve_out() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 10_000_000, Kind::Wpkh);
    let outputs: Vec<TxOut> = (0..30).map(|_| keys.out(300_000, Kind::Wpkh)).collect();
    let parent = spend(&keys, &[input], outputs);
    let parent_id = accept(&mut pool, parent.clone(), &chain);
    let child = |v: u32| {
        spend(
            &keys,
            &[output_of(&parent, v)],
            vec![keys.out(299_000, Kind::Wpkh)],
        )
    };
    for v in 0..24 {
        accept(&mut pool, child(v), &chain);
    }
    // The 25th child exceeds the descendant limit but is carved out.
    accept(&mut pool, child(24), &chain);
    assert_eq!(pool.get(&parent_id).unwrap().descendants.count, 26);
    let e = reject(&mut pool, child(25), &chain);
    assert_eq!(e.reason, "too-long-mempool-chain");
    assert_eq!(
        e.debug.unwrap(),
        format!("too many descendants for tx {parent_id} [limit: 25]")
    );
}

#[test]
fn replacement_evicts_conflicts_and_descendants() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let a = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(999_000, Kind::Wpkh)],
    );
    let a_id = accept(&mut pool, a.clone(), &chain);
    let b = spend(
        &keys,
        &[output_of(&a, 0)],
        vec![keys.out(998_000, Kind::Wpkh)],
    );
    let b_id = accept(&mut pool, b, &chain);

    // Same size, same fee: the fee rate is not higher.
    let same = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(999_000, Kind::Tr)],
    );
    let e = reject(&mut pool, same.clone(), &chain);
    assert_eq!(e.reason, "insufficient fee");
    assert_eq!(e.kind, RejectKind::Fee);
    assert!(e.debug.unwrap().starts_with(&format!(
        "rejecting replacement {}; new feerate",
        same.compute_txid()
    )));
    // Higher rate but less than the 2000 sat evicted.
    let cheap = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(998_500, Kind::Wpkh)],
    );
    let e = reject(&mut pool, cheap.clone(), &chain);
    assert_eq!(e.reason, "insufficient fee");
    assert_eq!(
        e.debug.unwrap(),
        format!(
            "rejecting replacement {}, less fees than conflicting txs; 0.000015 < 0.00002",
            cheap.compute_txid()
        )
    );
    // 2000 + 109 (its own relay at 1 sat/vB) is not enough for 110 vB.
    let short = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(997_891, Kind::Wpkh)],
    );
    let e = reject(&mut pool, short, &chain);
    assert!(e
        .debug
        .unwrap()
        .contains("not enough additional fees to relay; 0.00000109 < 0.0000011"));

    let r = spend(&keys, &[input], vec![keys.out(997_000, Kind::Wpkh)]);
    let acc = pool.accept(r, &chain, opts()).unwrap();
    let mut expected = vec![a_id, b_id];
    expected.sort();
    assert_eq!(acc.replaced, expected);
    assert!(pool.get(&a_id).is_none() && pool.get(&b_id).is_none());
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.total_fee(), 3000);
}

#[test]
fn replacement_rules_2_and_5_and_opt_in() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    // Without full-RBF a non-signalling transaction is not replaceable.
    let mut strict = Mempool::new(MempoolOptions {
        full_rbf: false,
        ..MempoolOptions::default()
    });
    let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let mut a = unsigned(
        std::slice::from_ref(&input),
        vec![keys.out(999_000, Kind::Wpkh)],
    );
    a.input[0].sequence = Sequence::MAX;
    keys.sign(
        &mut a,
        std::slice::from_ref(&input.1),
        EcdsaSighashType::All,
    );
    accept(&mut strict, a, &chain);
    let r = spend(&keys, &[input], vec![keys.out(990_000, Kind::Wpkh)]);
    assert_eq!(
        reject(&mut strict, r, &chain).reason,
        "txn-mempool-conflict"
    );

    // Rule 2: a replacement may not add an unconfirmed input.
    let mut pool = pool();
    let x = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let y = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let tx_x = spend(
        &keys,
        std::slice::from_ref(&x),
        vec![keys.out(999_000, Kind::Wpkh)],
    );
    accept(&mut pool, tx_x.clone(), &chain);
    let tx_y = spend(&keys, &[y], vec![keys.out(999_000, Kind::Wpkh)]);
    accept(&mut pool, tx_y.clone(), &chain);
    let r = spend(
        &keys,
        &[x.clone(), output_of(&tx_y, 0)],
        vec![keys.out(1_900_000, Kind::Wpkh)],
    );
    let e = reject(&mut pool, r.clone(), &chain);
    assert_eq!(e.reason, "replacement-adds-unconfirmed");
    assert_eq!(
        e.debug.unwrap(),
        format!(
            "replacement {} adds unconfirmed input, idx 1",
            r.compute_txid()
        )
    );
    // Spending its own conflict.
    let r = spend(
        &keys,
        &[x, output_of(&tx_x, 0)],
        vec![keys.out(1_900_000, Kind::Wpkh)],
    );
    let e = reject(&mut pool, r.clone(), &chain);
    assert_eq!(e.reason, "bad-txns-spends-conflicting-tx");
    assert_eq!(
        e.debug.unwrap(),
        format!(
            "{} spends conflicting transaction {}",
            r.compute_txid(),
            tx_x.compute_txid()
        )
    );
}

#[test]
fn too_many_potential_replacements() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    // Five parents with 20 descendants each... simpler: 101 confirmed
    // coins each spent by its own transaction, all replaced at once.
    let inputs: Vec<_> = (0..101)
        .map(|_| funded(&mut chain, &keys, 100_000, Kind::Tr))
        .collect();
    for i in &inputs {
        accept(
            &mut pool,
            spend(
                &keys,
                std::slice::from_ref(i),
                vec![keys.out(99_000, Kind::Tr)],
            ),
            &chain,
        );
    }
    let r = spend(&keys, &inputs, vec![keys.out(9_000_000, Kind::Tr)]);
    let e = reject(&mut pool, r.clone(), &chain);
    assert_eq!(e.reason, "too many potential replacements");
    assert_eq!(
        e.debug.unwrap(),
        format!(
            "rejecting replacement {}; too many potential replacements (101 > 100)\n",
            r.compute_txid()
        )
    );
}

#[test]
fn standardness_reasons() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = Mempool::new(MempoolOptions {
        permit_bare_multisig: false,
        ..MempoolOptions::default()
    });
    let op_return = |data: &[u8]| TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::new_op_return(
            <&bitcoin::script::PushBytes>::try_from(data).unwrap(),
        ),
    };
    let mut check = |outputs: Vec<TxOut>, reason: &str| {
        let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
        let tx = spend(&keys, &[input], outputs);
        assert_eq!(reject(&mut pool, tx, &chain).reason, reason);
    };
    check(
        vec![
            keys.out(900_000, Kind::Wpkh),
            op_return(b"a"),
            op_return(b"b"),
        ],
        "multi-op-return",
    );
    check(
        vec![keys.out(900_000, Kind::Wpkh), op_return(&[7; 81])],
        "scriptpubkey",
    );
    let multisig = bitcoin::script::Builder::new()
        .push_opcode(bitcoin::opcodes::all::OP_PUSHNUM_1)
        .push_slice(keys.pk.serialize())
        .push_opcode(bitcoin::opcodes::all::OP_PUSHNUM_1)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script();
    check(
        vec![TxOut {
            value: Amount::from_sat(900_000),
            script_pubkey: multisig,
        }],
        "bare-multisig",
    );
    check(
        vec![TxOut {
            value: Amount::from_sat(900_000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51, 0x51, 0x93]),
        }],
        "scriptpubkey",
    );

    // An 80-byte OP_RETURN (83-byte script) is standard.
    let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let tx = spend(
        &keys,
        &[input],
        vec![keys.out(900_000, Kind::Wpkh), op_return(&[7; 80])],
    );
    accept(&mut pool, tx, &chain);

    // Version 4.
    let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let mut tx = unsigned(
        std::slice::from_ref(&input),
        vec![keys.out(900_000, Kind::Wpkh)],
    );
    tx.version = Version(4);
    keys.sign(&mut tx, &[input.1], EcdsaSighashType::All);
    assert_eq!(reject(&mut pool, tx, &chain).reason, "version");

    // Below 65 bytes without witness: one input, one OP_RETURN output.
    let input = funded(&mut chain, &keys, 1_000, Kind::Wpkh);
    let tx = spend(&keys, &[input], vec![op_return(&[])]);
    assert!(tx.base_size() < 65);
    assert_eq!(reject(&mut pool, tx, &chain).reason, "tx-size-small");

    // A scriptSig with a non-push opcode.
    let input = funded(&mut chain, &keys, 1_000_000, Kind::Pkh);
    let mut tx = spend(&keys, &[input], vec![keys.out(900_000, Kind::Wpkh)]);
    let mut sig = tx.input[0].script_sig.to_bytes();
    sig.push(0x75); // OP_DROP
    tx.input[0].script_sig = ScriptBuf::from_bytes(sig);
    assert_eq!(
        reject(&mut pool, tx, &chain).reason,
        "scriptsig-not-pushonly"
    );

    // Non-standard input: a coin of unknown witness version.
    let spk = ScriptBuf::from_bytes([&[0x52, 0x20][..], &[1; 32]].concat());
    let op = chain.add_coin(100_000, &spk, false, 100);
    let tx = unsigned(
        &[(
            op,
            TxOut {
                value: Amount::from_sat(100_000),
                script_pubkey: spk,
            },
        )],
        vec![keys.out(90_000, Kind::Wpkh)],
    );
    assert_eq!(
        reject(&mut pool, tx, &chain).reason,
        "bad-txns-nonstandard-inputs"
    );
}

#[test]
fn coinbase_and_context_free_checks() {
    let keys = Keys::new(1);
    let chain = TestChain::new();
    let mut pool = pool();
    let cb = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![0x51, 0x00]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![keys.out(5_000_000_000, Kind::Wpkh)],
    };
    assert_eq!(reject(&mut pool, cb, &chain).reason, "coinbase");
    let empty = unsigned(&[], vec![keys.out(1000, Kind::Wpkh)]);
    assert_eq!(
        reject(&mut pool, empty, &chain).reason,
        "bad-txns-vin-empty"
    );
}

#[test]
fn max_fee_rate() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let input = funded(&mut chain, &keys, 100_000, Kind::Wpkh);
    let tx = spend(&keys, &[input], vec![keys.out(50_000, Kind::Wpkh)]);
    let e = pool
        .accept(
            tx.clone(),
            &chain,
            AcceptOptions {
                max_fee_rate: Some(FeeRate::from_sat_per_kvb(100_000)),
                ..opts()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind, RejectKind::MaxFee);
    assert_eq!(e.rpc_code(), -25);
    assert_eq!(
        e.rpc_message(),
        "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)"
    );
    assert_eq!(e.test_accept_reason(), "max-fee-exceeded");
    assert!(pool.is_empty());
    // Zero means no limit.
    pool.accept(
        tx,
        &chain,
        AcceptOptions {
            max_fee_rate: Some(FeeRate::ZERO),
            ..opts()
        },
    )
    .unwrap();
}

#[test]
fn block_removes_confirmed_and_conflicts() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let x = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let p = spend(&keys, &[x], vec![keys.out(999_000, Kind::Wpkh)]);
    let p_id = accept(&mut pool, p.clone(), &chain);
    let c = spend(
        &keys,
        &[output_of(&p, 0)],
        vec![keys.out(998_000, Kind::Wpkh)],
    );
    let c_id = accept(&mut pool, c, &chain);
    assert_eq!(pool.get(&c_id).unwrap().ancestors.count, 2);

    let y = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let q = spend(
        &keys,
        std::slice::from_ref(&y),
        vec![keys.out(999_000, Kind::Wpkh)],
    );
    let q_id = accept(&mut pool, q.clone(), &chain);
    let qc = spend(
        &keys,
        &[output_of(&q, 0)],
        vec![keys.out(998_000, Kind::Wpkh)],
    );
    let qc_id = accept(&mut pool, qc, &chain);
    // The block confirms p and a double spend of y.
    let double = spend(&keys, &[y], vec![keys.out(990_000, Kind::Tr)]);
    let block = vec![p.clone(), double];
    chain.connect(&block);
    let removed = pool.remove_for_block(&block, NOW + 600);
    assert_eq!(removed.confirmed, vec![p_id]);
    let mut conflicts = vec![q_id, qc_id];
    conflicts.sort();
    assert_eq!(removed.conflicts, conflicts);
    assert_eq!(pool.len(), 1);
    let c = pool.get(&c_id).unwrap();
    assert_eq!(c.ancestors.count, 1);
    assert!(c.parents.is_empty());
    assert_eq!(pool.spender_of(&OutPoint::new(p_id, 0)), Some(c_id));
}

#[test]
fn reorg_readds_and_drops_invalid() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let x = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let p = spend(&keys, &[x], vec![keys.out(999_000, Kind::Wpkh)]);
    let p_id = p.compute_txid();
    // p is confirmed in block 201; its child c waits in the mempool.
    let cb = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(vec![0x02, 0xc9, 0x00]),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![keys.out(5_000_000_000, Kind::Wpkh)],
    };
    let saved = chain.coins.clone();
    chain.connect(&[cb.clone(), p.clone()]);
    pool.remove_for_block(&[cb.clone(), p.clone()], NOW);
    let c = spend(
        &keys,
        &[output_of(&p, 0)],
        vec![keys.out(998_000, Kind::Wpkh)],
    );
    let c_id = accept(&mut pool, c, &chain);
    // A spend of the new coinbase (immature anyway, only to be dropped):
    // accepted with a mature-looking coin view is not possible, so use a
    // spend of a coin the disconnect removes.
    let z = funded(&mut chain, &keys, 500_000, Kind::Wpkh);
    let z_spend = spend(
        &keys,
        std::slice::from_ref(&z),
        vec![keys.out(499_000, Kind::Wpkh)],
    );
    let z_id = accept(&mut pool, z_spend, &chain);

    // Disconnect block 201: the UTXO set goes back (z's coin is gone).
    chain.coins = saved;
    chain.height = TIP;
    let removed = pool.readd_after_disconnect(vec![cb, p], &chain, NOW + 10);
    assert_eq!(removed, vec![z_id]);
    assert!(pool.get(&p_id).is_some());
    let c = pool.get(&c_id).unwrap();
    assert_eq!(c.ancestors.count, 2);
    assert_eq!(pool.get(&p_id).unwrap().descendants.count, 2);
    assert_eq!(pool.len(), 2);
}

#[test]
fn package_test_accept() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let x = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let p = spend(&keys, &[x], vec![keys.out(999_000, Kind::Wpkh)]);
    let c = spend(
        &keys,
        &[output_of(&p, 0)],
        vec![keys.out(998_000, Kind::Wpkh)],
    );
    let r = pool.test_accept_package(&[p.clone(), c.clone()], &chain, NOW);
    assert!(r.package_error.is_none());
    assert!(r.results.iter().all(|t| matches!(t.result, Some(Ok(_)))));
    assert!(pool.is_empty());
    let json =
        btc_node::mempool::json::test_mempool_accept(&r, FeeRate::from_sat_per_kvb(10_000_000));
    assert_eq!(json[1]["allowed"], true);
    assert_eq!(json[1]["vsize"], 110);
    assert_eq!(json[1]["fees"]["base"], 0.00001);
    assert_eq!(json[1]["fees"]["effective-feerate"], 0.0000909);

    // Child first: not sorted.
    let r = pool.test_accept_package(&[c.clone(), p.clone()], &chain, NOW);
    assert_eq!(r.package_error.unwrap().reason, "package-not-sorted");
    // Child fee too low: its own result, the parent's result absent.
    let poor = spend(
        &keys,
        &[output_of(&p, 0)],
        vec![keys.out(999_000, Kind::Wpkh)],
    );
    let r = pool.test_accept_package(&[p.clone(), poor], &chain, NOW);
    assert!(r.package_error.is_none());
    assert!(r.results[0].result.is_none());
    let json = btc_node::mempool::json::test_mempool_accept(&r, FeeRate::ZERO);
    assert_eq!(json[1]["reject-reason"], "min relay fee not met");
    assert!(json[0].get("allowed").is_none());
    // maxfeerate: the parent is over it, the child then has no verdict.
    let r = pool.test_accept_package(&[p, c], &chain, NOW);
    let json = btc_node::mempool::json::test_mempool_accept(&r, FeeRate::from_sat_per_kvb(1000));
    assert_eq!(json[0]["reject-reason"], "max-fee-exceeded");
    assert!(json[1].get("allowed").is_none());
}

#[test]
fn size_limit_evicts_lowest_and_raises_min_fee() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut probe = pool();
    let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    accept(
        &mut probe,
        spend(&keys, &[input], vec![keys.out(999_000, Kind::Wpkh)]),
        &chain,
    );
    let one = probe.usage();
    // Room for two transactions.
    let mut pool = Mempool::new(MempoolOptions {
        max_size_bytes: 2 * one + one / 2,
        ..MempoolOptions::default()
    });
    let mut ids = Vec::new();
    for fee in [1000u64, 3000, 2000] {
        let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
        let tx = spend(&keys, &[input], vec![keys.out(1_000_000 - fee, Kind::Wpkh)]);
        ids.push(accept(&mut pool, tx, &chain));
    }
    assert_eq!(pool.len(), 2);
    assert!(pool.get(&ids[0]).is_none(), "the 1 sat/vB tx is evicted");
    // The minimum is now 1000*1000/110 + 1000 = 10090 sat/kvB.
    assert_eq!(pool.mempool_min_fee(NOW), FeeRate::from_sat_per_kvb(10_090));
    let input = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let tx = spend(&keys, &[input], vec![keys.out(999_000, Kind::Wpkh)]);
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.reason, "mempool min fee not met");
    assert_eq!(e.debug.as_deref(), Some("1000 < 1110"));
    // It decays only after a block: half-life 12 h with the pool over half
    // full, and drops to zero below half the incremental fee.
    assert_eq!(
        pool.mempool_min_fee(NOW + 86_400),
        FeeRate::from_sat_per_kvb(10_090)
    );
    pool.remove_for_block(&[], NOW);
    assert_eq!(
        pool.mempool_min_fee(NOW + 5),
        FeeRate::from_sat_per_kvb(10_090)
    );
    assert_eq!(
        pool.mempool_min_fee(NOW + 43_200),
        FeeRate::from_sat_per_kvb(5045)
    );
    assert_eq!(
        pool.mempool_min_fee(NOW + 5 * 43_200),
        FeeRate::from_sat_per_kvb(1000)
    );
    assert_eq!(pool.min_fee(NOW + 5 * 43_200), FeeRate::ZERO);
}

#[test]
fn truc_rules() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let v3 = |inputs: &[(OutPoint, TxOut)], outputs: Vec<TxOut>| {
        let mut tx = unsigned(inputs, outputs);
        tx.version = Version(3);
        let prev: Vec<TxOut> = inputs.iter().map(|(_, o)| o.clone()).collect();
        keys.sign(&mut tx, &prev, EcdsaSighashType::All);
        tx
    };
    let x = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let parent = v3(
        &[x],
        vec![keys.out(400_000, Kind::Wpkh), keys.out(599_000, Kind::Wpkh)],
    );
    accept(&mut pool, parent.clone(), &chain);
    // A non-TRUC child of a TRUC parent.
    let v2 = spend(
        &keys,
        &[output_of(&parent, 0)],
        vec![keys.out(399_000, Kind::Wpkh)],
    );
    let e = reject(&mut pool, v2.clone(), &chain);
    assert_eq!(e.reason, "TRUC-violation");
    assert!(e.debug.unwrap().starts_with(&format!(
        "non-version=3 tx {} (wtxid={}) cannot spend from version=3 tx",
        v2.compute_txid(),
        v2.compute_wtxid()
    )));
    let child = v3(
        &[output_of(&parent, 0)],
        vec![keys.out(399_000, Kind::Wpkh)],
    );
    let child_id = accept(&mut pool, child, &chain);
    // A second child evicts the first if it pays enough (sibling eviction).
    let sibling = v3(
        &[output_of(&parent, 1)],
        vec![keys.out(596_000, Kind::Wpkh)],
    );
    let a = pool.accept(sibling, &chain, opts()).unwrap();
    assert_eq!(a.replaced, vec![child_id]);
    // Too low to evict.
    let poor = v3(
        &[output_of(&parent, 0)],
        vec![keys.out(398_000, Kind::Wpkh)],
    );
    let e = reject(&mut pool, poor, &chain);
    assert_eq!(e.reason, "insufficient fee (including sibling eviction)");
}

#[test]
fn rpc_json_objects() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let x = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let p = spend(&keys, &[x], vec![keys.out(999_000, Kind::Wpkh)]);
    let p_id = accept(&mut pool, p.clone(), &chain);
    let c = spend(
        &keys,
        &[output_of(&p, 0)],
        vec![keys.out(997_000, Kind::Wpkh)],
    );
    let c_id = accept(&mut pool, c, &chain);
    let e = btc_node::mempool::json::entry(&pool, pool.get(&c_id).unwrap());
    assert_eq!(e["vsize"], 110);
    assert_eq!(e["weight"], 437);
    assert_eq!(e["ancestorcount"], 2);
    assert_eq!(e["ancestorsize"], 220);
    assert_eq!(e["fees"]["base"], 0.00002);
    assert_eq!(e["fees"]["ancestor"], 0.00003);
    assert_eq!(e["depends"][0], p_id.to_string());
    assert_eq!(e["bip125-replaceable"], true);
    let pe = btc_node::mempool::json::entry(&pool, pool.get(&p_id).unwrap());
    assert_eq!(pe["spentby"][0], c_id.to_string());
    assert_eq!(pe["descendantcount"], 2);
    assert_eq!(pe["fees"]["descendant"], 0.00003);
    let raw = btc_node::mempool::json::raw_mempool(&pool);
    assert_eq!(raw[0], p_id.to_string());
    let verbose = btc_node::mempool::json::raw_mempool_verbose(&pool);
    assert_eq!(verbose[c_id.to_string()]["height"], TIP);
    let info = btc_node::mempool::json::mempool_info(&pool, true, NOW);
    assert_eq!(info["size"], 2);
    assert_eq!(info["bytes"], 220);
    assert_eq!(info["total_fee"], 0.00003);
    assert_eq!(info["mempoolminfee"], 0.00001);
    assert_eq!(info["fullrbf"], true);
    assert_eq!(info["maxmempool"], 300_000_000);
}

/// Checks the pool's totals and every entry's ancestor/descendant totals
/// against a walk of the graph.
fn check_invariants(pool: &Mempool) {
    let mut fee = 0;
    let mut bytes = 0;
    for e in pool.entries() {
        fee += e.fee;
        bytes += e.vsize;
        let anc = pool.ancestors_of(&e.txid);
        let desc = pool.descendants_of(&e.txid);
        assert_eq!(e.ancestors.count, anc.len() as u64 + 1);
        assert_eq!(e.descendants.count, desc.len() as u64 + 1);
        let anc_fee: i64 = anc.iter().map(|t| pool.get(t).unwrap().fee).sum();
        assert_eq!(e.ancestors.fees, e.fee + anc_fee);
        let desc_size: u64 = desc.iter().map(|t| pool.get(t).unwrap().vsize).sum();
        assert_eq!(e.descendants.vsize, e.vsize + desc_size);
        for i in &e.tx.input {
            assert_eq!(pool.spender_of(&i.previous_output), Some(e.txid));
        }
    }
    assert_eq!(pool.total_fee(), fee);
    assert_eq!(pool.bytes(), bytes);
}

#[test]
fn random_transactions_never_panic() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let mut rng = StdRng::seed_from_u64(7);
    let kinds = [Kind::Wpkh, Kind::Pkh, Kind::Tr];
    // Spendable outputs, confirmed or in the pool.
    let mut spendable: Vec<(OutPoint, TxOut)> = (0..60)
        .map(|i| funded(&mut chain, &keys, 1_000_000 + i, kinds[i as usize % 3]))
        .collect();
    let random_bytes = |rng: &mut StdRng, max: usize| -> Vec<u8> {
        let n = rng.random_range(0..=max);
        (0..n).map(|_| rng.random::<u8>()).collect()
    };
    let mut accepted = Vec::new();
    for round in 0..1500 {
        let n_in = rng.random_range(1..=3usize);
        let inputs: Vec<(OutPoint, TxOut)> = (0..n_in)
            .map(|_| {
                if rng.random_bool(0.8) && !spendable.is_empty() {
                    spendable[rng.random_range(0..spendable.len())].clone()
                } else {
                    let mut id = [0u8; 32];
                    rng.fill(&mut id);
                    (
                        OutPoint::new(Txid::from_byte_array(id), rng.random_range(0..3)),
                        keys.out(1000, Kind::Wpkh),
                    )
                }
            })
            .collect();
        let total: u64 = inputs.iter().map(|(_, o)| o.value.to_sat()).sum();
        let n_out = rng.random_range(1..=3u64);
        let fee = rng.random_range(0..20_000u64);
        let outputs: Vec<TxOut> = (0..n_out)
            .map(|_| {
                if rng.random_bool(0.9) {
                    keys.out(
                        total.saturating_sub(fee) / n_out,
                        kinds[rng.random_range(0..3)],
                    )
                } else {
                    TxOut {
                        value: Amount::from_sat(rng.random::<u64>() >> rng.random_range(0..64)),
                        script_pubkey: ScriptBuf::from_bytes(random_bytes(&mut rng, 90)),
                    }
                }
            })
            .collect();
        let mut tx = spend(&keys, &inputs, outputs);
        if rng.random_bool(0.2) {
            // Garble something.
            match rng.random_range(0..6) {
                0 => tx.version = Version(rng.random_range(-2..6)),
                1 => tx.lock_time = absolute::LockTime::from_consensus(rng.random()),
                2 => tx.input[0].sequence = Sequence(rng.random()),
                3 => tx.input[0].script_sig = ScriptBuf::from_bytes(random_bytes(&mut rng, 120)),
                4 => {
                    let items: Vec<Vec<u8>> = (0..rng.random_range(0..4))
                        .map(|_| random_bytes(&mut rng, 100))
                        .collect();
                    tx.input[0].witness = Witness::from_slice(&items);
                }
                _ => tx.input.push(tx.input[0].clone()),
            }
        }
        let test_only = rng.random_bool(0.2);
        let res = pool.accept(
            tx.clone(),
            &chain,
            AcceptOptions {
                test_only,
                max_fee_rate: Some(FeeRate::from_sat_per_kvb(rng.random_range(0..200_000))),
                now: NOW + round,
            },
        );
        if let Ok(a) = &res {
            let _ = (a.effective_fee_rate(), &a.replaced);
            if !test_only {
                accepted.push(tx.clone());
                for v in 0..tx.output.len() as u32 {
                    if tx.output[v as usize].script_pubkey.is_p2wpkh()
                        || tx.output[v as usize].script_pubkey.is_p2pkh()
                        || tx.output[v as usize].script_pubkey.is_p2tr()
                    {
                        spendable.push(output_of(&tx, v));
                    }
                }
            }
        }
        if let Err(e) = &res {
            let _ = (e.rpc_code(), e.rpc_message(), e.test_accept_reason());
        }
        if round % 50 == 0 && accepted.len() >= 2 {
            let pkg = [
                accepted[accepted.len() - 2].clone(),
                accepted[accepted.len() - 1].clone(),
            ];
            let r = pool.test_accept_package(&pkg, &chain, NOW + round);
            let _ = btc_node::mempool::json::test_mempool_accept(&r, FeeRate::ZERO);
        }
        if round % 100 == 99 {
            // Confirm a few pool transactions, then sometimes undo it.
            let txids = pool.txids();
            let block: Vec<Transaction> = txids
                .iter()
                .take(rng.random_range(0..5))
                .filter_map(|t| pool.get(t).map(|e| (*e.tx).clone()))
                .collect();
            let saved = (chain.coins.clone(), chain.height);
            chain.connect(&block);
            pool.remove_for_block(&block, NOW + round);
            check_invariants(&pool);
            if rng.random_bool(0.5) {
                chain.coins = saved.0;
                chain.height = saved.1;
                pool.readd_after_disconnect(block, &chain, NOW + round);
            }
            let _ = btc_node::mempool::json::raw_mempool_verbose(&pool);
            let _ = btc_node::mempool::json::mempool_info(&pool, true, NOW);
        }
        if round % 10 == 0 {
            check_invariants(&pool);
        }
    }
    check_invariants(&pool);
    assert!(pool.len() > 20, "the run should keep a non-trivial pool");
    // A tiny size limit evicts nearly everything, keeping the invariants.
    pool.trim_to_size(pool.usage() / 3);
    check_invariants(&pool);
}

#[test]
fn sigops_limit_and_sigop_adjusted_vsize() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    // A bare 1-of-1 multisig output counts 20 legacy sigops (80 cost).
    let multisig = bitcoin::script::Builder::new()
        .push_opcode(bitcoin::opcodes::all::OP_PUSHNUM_1)
        .push_slice(keys.pk.serialize())
        .push_opcode(bitcoin::opcodes::all::OP_PUSHNUM_1)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script();
    let outs = |n: usize| -> Vec<TxOut> {
        (0..n)
            .map(|_| TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: multisig.clone(),
            })
            .collect()
    };
    let input = funded(&mut chain, &keys, 10_000_000, Kind::Wpkh);
    let tx = spend(&keys, std::slice::from_ref(&input), outs(201));
    let e = reject(&mut pool, tx, &chain);
    assert_eq!(e.reason, "bad-txns-too-many-sigops");
    assert_eq!(e.debug.as_deref(), Some("16081"));
    // 199 outputs: 15921 cost (one for the P2WPKH input), so the virtual
    // size is 15921 * 20 / 4, far above the weight's.
    let paying = |fee: u64| {
        let mut o = outs(199);
        o[0].value = Amount::from_sat(10_000_000 - 198_000 - fee);
        spend(&keys, std::slice::from_ref(&input), o)
    };
    let e = reject(&mut pool, paying(79_604), &chain);
    assert_eq!(e.reason, "min relay fee not met");
    assert_eq!(e.debug.as_deref(), Some("79604 < 79605"));
    let a = pool.accept(paying(79_605), &chain, opts()).unwrap();
    assert_eq!(a.vsize, 79_605);
    assert_eq!(pool.get(&a.txid).unwrap().sigop_cost, 15_921);
}

#[test]
fn witness_standardness() {
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    // A taproot key spend with an annex.
    let input = funded(&mut chain, &keys, 100_000, Kind::Tr);
    let mut tx = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Tr)],
    );
    let mut items: Vec<Vec<u8>> = tx.input[0].witness.iter().map(|x| x.to_vec()).collect();
    items.push(vec![0x50, 1, 2]);
    tx.input[0].witness = Witness::from_slice(&items);
    assert_eq!(
        reject(&mut pool, tx, &chain).reason,
        "bad-witness-nonstandard"
    );
    // A witness on a P2PKH input.
    let input = funded(&mut chain, &keys, 100_000, Kind::Pkh);
    let mut tx = spend(
        &keys,
        std::slice::from_ref(&input),
        vec![keys.out(99_000, Kind::Tr)],
    );
    tx.input[0].witness = Witness::from_slice(&[vec![1u8]]);
    assert_eq!(
        reject(&mut pool, tx, &chain).reason,
        "bad-witness-nonstandard"
    );
}

#[test]
fn expiry_and_sharing() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Mempool>();
    let keys = Keys::new(1);
    let mut chain = TestChain::new();
    let mut pool = pool();
    let x = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let p = spend(&keys, &[x], vec![keys.out(999_000, Kind::Wpkh)]);
    let p_id = accept(&mut pool, p.clone(), &chain);
    // Two weeks (336 h) later p has expired: its child no longer finds
    // its input.
    let c = spend(
        &keys,
        &[output_of(&p, 0)],
        vec![keys.out(998_000, Kind::Wpkh)],
    );
    let later = AcceptOptions {
        now: NOW + 336 * 3600 + 1,
        ..opts()
    };
    let y = funded(&mut chain, &keys, 1_000_000, Kind::Wpkh);
    let q = spend(&keys, &[y], vec![keys.out(999_000, Kind::Wpkh)]);
    // Expiry runs when the next transaction is accepted.
    let q_id = pool.accept(q, &chain, later).unwrap().txid;
    assert!(pool.get(&p_id).is_none());
    assert_eq!(
        reject(&mut pool, c, &chain).reason,
        "bad-txns-inputs-missingorspent"
    );
    assert!(pool.get(&q_id).is_some());
    pool.set_unbroadcast(q_id, true);
    assert!(pool.is_unbroadcast(&q_id));
    assert_eq!(pool.unbroadcast_count(), 1);
    assert_eq!(pool.remove_recursive([q_id]), vec![q_id]);
    assert_eq!(pool.unbroadcast_count(), 0);
}
