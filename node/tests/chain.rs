//! The node builds and follows a regtest chain by itself: 2,000+ blocks
//! with spends of P2PKH, P2SH, P2WPKH, P2WSH and P2TR outputs signed here,
//! reorgs (deep ones too), invalid blocks rejected with Core's reasons,
//! and a reopen that finds the same UTXO set.

use std::sync::Arc;

use bitcoin::absolute::LockTime;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::key::{Keypair, TapTweak};
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{
    Amount, Block, CompressedPublicKey, OutPoint, PublicKey, ScriptBuf, Sequence, Transaction,
    TxIn, TxOut, Witness,
};
use btc_node::chainstate::{ChainstateOptions, ProcessError};
use btc_node::mempool::{AcceptOptions, MempoolOptions};
use btc_node::node::{Node, NodeOptions, View};
use btc_node::params::ChainParams;

/// The kinds of output the test pays to and spends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    P2pkh,
    P2shP2wpkh,
    P2wpkh,
    P2wsh,
    P2tr,
}

const KINDS: [Kind; 5] = [
    Kind::P2pkh,
    Kind::P2shP2wpkh,
    Kind::P2wpkh,
    Kind::P2wsh,
    Kind::P2tr,
];

struct Keys {
    secp: Secp256k1<bitcoin::secp256k1::All>,
    sk: SecretKey,
    pk: PublicKey,
    cpk: CompressedPublicKey,
    kp: Keypair,
}

impl Keys {
    fn new() -> Keys {
        let secp = Secp256k1::new();
        let sk = SecretKey::from_slice(&[0x42; 32]).unwrap();
        let pk = PublicKey::new(sk.public_key(&secp));
        let cpk = CompressedPublicKey(sk.public_key(&secp));
        let kp = Keypair::from_secret_key(&secp, &sk);
        Keys {
            secp,
            sk,
            pk,
            cpk,
            kp,
        }
    }

    fn wsh_script(&self) -> ScriptBuf {
        bitcoin::script::Builder::new()
            .push_key(&self.pk)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKSIG)
            .into_script()
    }

    fn script(&self, kind: Kind) -> ScriptBuf {
        match kind {
            Kind::P2pkh => ScriptBuf::new_p2pkh(&self.pk.pubkey_hash()),
            Kind::P2shP2wpkh => {
                ScriptBuf::new_p2sh(&ScriptBuf::new_p2wpkh(&self.cpk.wpubkey_hash()).script_hash())
            }
            Kind::P2wpkh => ScriptBuf::new_p2wpkh(&self.cpk.wpubkey_hash()),
            Kind::P2wsh => ScriptBuf::new_p2wsh(&self.wsh_script().wscript_hash()),
            Kind::P2tr => {
                let (xonly, _) = self.kp.x_only_public_key();
                ScriptBuf::new_p2tr(&self.secp, xonly, None)
            }
        }
    }

    /// Signs every input of `tx`, which spends `prevouts` of the given kinds.
    fn sign(&self, tx: &mut Transaction, prevouts: &[(TxOut, Kind)]) {
        let outs: Vec<TxOut> = prevouts.iter().map(|(o, _)| o.clone()).collect();
        for (i, (prev, kind)) in prevouts.iter().enumerate() {
            let mut cache = SighashCache::new(&*tx);
            let (script_sig, witness) = match kind {
                Kind::P2pkh => {
                    let h = cache
                        .legacy_signature_hash(
                            i,
                            &prev.script_pubkey,
                            EcdsaSighashType::All.to_u32(),
                        )
                        .unwrap();
                    let sig = self.ecdsa(h.to_byte_array());
                    let ss = bitcoin::script::Builder::new()
                        .push_slice(
                            <&bitcoin::script::PushBytes>::try_from(sig.as_slice()).unwrap(),
                        )
                        .push_key(&self.pk)
                        .into_script();
                    (ss, Witness::new())
                }
                Kind::P2shP2wpkh | Kind::P2wpkh => {
                    let code = ScriptBuf::new_p2wpkh(&self.cpk.wpubkey_hash());
                    let h = cache
                        .p2wpkh_signature_hash(i, &code, prev.value, EcdsaSighashType::All)
                        .unwrap();
                    let sig = self.ecdsa(h.to_byte_array());
                    let mut w = Witness::new();
                    w.push(sig);
                    w.push(self.cpk.to_bytes());
                    let ss = if *kind == Kind::P2shP2wpkh {
                        let redeem = ScriptBuf::new_p2wpkh(&self.cpk.wpubkey_hash());
                        bitcoin::script::Builder::new()
                            .push_slice(
                                <&bitcoin::script::PushBytes>::try_from(redeem.as_bytes()).unwrap(),
                            )
                            .into_script()
                    } else {
                        ScriptBuf::new()
                    };
                    (ss, w)
                }
                Kind::P2wsh => {
                    let ws = self.wsh_script();
                    let h = cache
                        .p2wsh_signature_hash(i, &ws, prev.value, EcdsaSighashType::All)
                        .unwrap();
                    let mut w = Witness::new();
                    w.push(self.ecdsa(h.to_byte_array()));
                    w.push(ws.as_bytes());
                    (ScriptBuf::new(), w)
                }
                Kind::P2tr => {
                    let h = cache
                        .taproot_key_spend_signature_hash(
                            i,
                            &Prevouts::All(&outs),
                            TapSighashType::Default,
                        )
                        .unwrap();
                    let tweaked = self.kp.tap_tweak(&self.secp, None);
                    let msg = Message::from_digest(h.to_byte_array());
                    let sig = self
                        .secp
                        .sign_schnorr_no_aux_rand(&msg, &tweaked.to_keypair());
                    let mut w = Witness::new();
                    w.push(sig.as_ref());
                    (ScriptBuf::new(), w)
                }
            };
            tx.input[i].script_sig = script_sig;
            tx.input[i].witness = witness;
        }
    }

    fn ecdsa(&self, digest: [u8; 32]) -> Vec<u8> {
        let sig = self
            .secp
            .sign_ecdsa(&Message::from_digest(digest), &self.sk);
        let mut v = sig.serialize_der().to_vec();
        v.push(EcdsaSighashType::All as u8);
        v
    }
}

fn open(dir: &std::path::Path, reindex: bool) -> Arc<Node> {
    Node::open(NodeOptions {
        net_dir: dir.to_path_buf(),
        params: ChainParams::for_network(bitcoin::Network::Regtest),
        chainstate: ChainstateOptions {
            reindex,
            script_threads: 2,
            txindex: true,
            ..ChainstateOptions::default()
        },
        mempool: MempoolOptions::default(),
        mining: Default::default(),
    })
    .expect("open node")
}

fn accept(node: &Node, tx: Transaction) {
    let mut st = node.lock();
    let st = &mut *st;
    let now = st.chain.now();
    let opts = AcceptOptions {
        test_only: false,
        max_fee_rate: None,
        now,
    };
    if let Err(e) = st.mempool.accept(tx, &View::new(&mut st.chain), opts) {
        panic!("mempool refused a valid spend: {}", e.rpc_message());
    }
}

fn block_at(node: &Node, height: u32) -> Block {
    let mut st = node.lock();
    let idx = st.chain.at_height(height).unwrap();
    deserialize(&st.chain.read_block(idx).unwrap()).unwrap()
}

fn stats(node: &Node) -> (u32, String, u64, u64, [u8; 32]) {
    let mut st = node.lock();
    st.chain.flush().unwrap();
    let s = st.chain.utxo_stats().unwrap();
    let tip = st.chain.tree().get(st.chain.tip());
    (
        tip.height,
        tip.hash.to_string(),
        s.txouts,
        s.total_amount,
        s.hash_serialized_3,
    )
}

/// One round: a mature coinbase pays the five kinds; the next block spends
/// all five back to P2WPKH. Returns the number of spends made.
fn spend_round(node: &Node, keys: &Keys, coinbase_height: u32) -> usize {
    let cb = block_at(node, coinbase_height).txdata[0].clone();
    let cb_out = cb.output[0].clone();
    let each = (cb_out.value - Amount::from_sat(10_000)) / 5;
    let mut fan = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(cb.compute_txid(), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: KINDS
            .iter()
            .map(|k| TxOut {
                value: each,
                script_pubkey: keys.script(*k),
            })
            .collect(),
    };
    keys.sign(&mut fan, &[(cb_out, Kind::P2wpkh)]);
    let fan_id = fan.compute_txid();
    let prevouts: Vec<(TxOut, Kind)> = fan.output.iter().cloned().zip(KINDS).collect();
    accept(node, fan);
    let miner = keys.script(Kind::P2wpkh);
    node.generate(1, &miner, 1_000_000).unwrap();
    assert!(node.lock().mempool.is_empty(), "the fan-out was mined");

    let total: Amount = prevouts.iter().map(|(o, _)| o.value).sum();
    let mut back = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: LockTime::ZERO,
        input: (0..5)
            .map(|i| TxIn {
                previous_output: OutPoint::new(fan_id, i),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: total - Amount::from_sat(20_000),
            script_pubkey: miner.clone(),
        }],
    };
    keys.sign(&mut back, &prevouts);
    accept(node, back);
    node.generate(1, &miner, 1_000_000).unwrap();
    assert!(node.lock().mempool.is_empty(), "the spend-back was mined");
    5
}

#[test]
fn regtest_chain_of_2000_blocks_with_every_output_kind() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let miner = keys.script(Kind::P2wpkh);
    let node = open(dir.path(), false);
    node.generate(101, &miner, 1_000_000).unwrap();
    assert_eq!(node.sync_count(), 1, "101 blocks of one call, one sync");
    let mut spends = 0;
    let mut next_coinbase = 1;
    while node.lock().chain.height() < 2000 {
        spends += spend_round(&node, &keys, next_coinbase);
        next_coinbase += 1;
        node.generate(8, &miner, 1_000_000).unwrap();
    }
    assert!(spends >= 5 * 150, "{spends} spends");
    let before = stats(&node);
    assert!(before.0 >= 2000);
    // verifychain at its highest level over the whole chain: disconnect
    // every block in memory, then reconnect each with every rule.
    node.lock().chain.verify_recent(4, 0).unwrap();
    // Subsidy halves every 150 blocks on regtest: the UTXO set holds less
    // than 50 BTC per block.
    assert!(before.3 < u64::from(before.0) * 50 * 100_000_000);
    drop(node);

    // Reopen: same UTXO set, no replay needed.
    let node = open(dir.path(), false);
    assert_eq!(stats(&node), before);
    drop(node);
    // Reindex from the block files: the same again.
    let node = open(dir.path(), true);
    assert_eq!(stats(&node), before);
    archives_in_place_match_the_blocks(&node);
}

/// Every active block's archive, used in place in the block files mapped
/// read-only (as the wallet process does), holds the block: same wire
/// bytes, and txids and wtxids that rust-bitcoin computes from them.
fn archives_in_place_match_the_blocks(node: &Node) {
    let mut st = node.lock();
    let locs = st.chain.block_locations(0, u32::MAX, usize::MAX);
    assert_eq!(locs.len() as u32, st.chain.height() + 1);
    let mut maps = std::collections::HashMap::new();
    for loc in &locs {
        let map = maps.entry(loc.file).or_insert_with(|| {
            let f = st.chain.open_block_file_readonly(loc.file).unwrap();
            // SAFETY: the node only appends to its block files while the
            // map lives; the mapped bytes don't change.
            unsafe { memmap2::Mmap::map(&f) }.unwrap()
        });
        assert_eq!(loc.offset % 16, 0);
        let bytes = &map[loc.offset as usize..(loc.offset + loc.len) as usize];
        let archived = btc_core::ArchivedBlockArchive::from_bytes(bytes).unwrap();
        let idx = st.chain.at_height(loc.height).unwrap();
        let wire = st.chain.read_block(idx).unwrap();
        assert_eq!(archived.wire(), wire.as_slice());
        let block: Block = deserialize(&wire).unwrap();
        assert_eq!(archived.block_hash(), block.block_hash());
        let txids: Vec<_> = block.txdata.iter().map(|t| t.compute_txid()).collect();
        let wtxids: Vec<_> = block.txdata.iter().map(|t| t.compute_wtxid()).collect();
        assert_eq!(archived.txids().collect::<Vec<_>>(), txids);
        assert_eq!(archived.wtxids().collect::<Vec<_>>(), wtxids);
    }
}

#[test]
fn reorgs_invalidate_and_reconsider() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Keys::new();
    let miner = keys.script(Kind::P2wpkh);
    let other = keys.script(Kind::P2tr);
    let node = open(dir.path(), false);
    node.generate(120, &miner, 1_000_000).unwrap();
    spend_round(&node, &keys, 1);
    // Disconnecting the block with the spend-back puts it back in the pool;
    // reconnecting takes it out again.
    {
        let mut st = node.lock();
        let tip = st.chain.tip();
        let events = st.chain.invalidate_block(tip).unwrap();
        st.apply_events(&events);
        assert_eq!(
            st.mempool.len(),
            1,
            "the disconnected spend is back in the mempool"
        );
        let events = st.chain.reconsider_block(tip).unwrap();
        st.apply_events(&events);
        assert_eq!(st.chain.tip(), tip);
        assert!(
            st.mempool.is_empty(),
            "and leaves it when its block is back"
        );
    }
    let tip_before = stats(&node);

    // A deep reorg: invalidate 60 blocks back, mine 61 elsewhere.
    let fork_height = tip_before.0 - 60;
    let forked = node.lock().chain.hash_at(fork_height + 1).unwrap();
    {
        let mut st = node.lock();
        let idx = st.chain.lookup(&forked).unwrap();
        let events = st.chain.invalidate_block(idx).unwrap();
        st.apply_events(&events);
        assert_eq!(st.chain.height(), fork_height);
    }
    node.generate(61, &other, 1_000_000).unwrap();
    assert_eq!(node.lock().chain.height(), fork_height + 61);
    {
        // Reconsider: the old chain is shorter, the tip stays.
        let mut st = node.lock();
        let idx = st.chain.lookup(&forked).unwrap();
        let events = st.chain.reconsider_block(idx).unwrap();
        st.apply_events(&events);
        assert_eq!(st.chain.height(), fork_height + 61);
        assert!(!st.chain.is_active(idx));
    }
    // Extend the old branch past the new one via submitblock-style blocks.
    let old_tip = node
        .lock()
        .chain
        .lookup(&tip_before.1.parse().unwrap())
        .unwrap();
    let mut prev = old_tip;
    for _ in 0..3 {
        let block = {
            let st = node.lock();
            let e = st.chain.tree().get(prev);
            let mut ctx = node.template_context(&st.chain, miner.clone());
            ctx.height = e.height + 1;
            ctx.prev_hash = e.hash;
            ctx.prev_mtp = e.mtp;
            ctx.time = (e.mtp + 1).max(i64::from(e.header.time) + 1) as u32;
            ctx.subsidy = st.chain.params().block_subsidy(ctx.height);
            drop(st);
            let mut st = node.lock();
            let mut b = btc_node::mining::assemble_with(vec![], &ctx, &View::new(&mut st.chain))
                .unwrap_or_else(|e| panic!("{e}"));
            let mut tries = 1 << 20;
            assert_eq!(
                btc_node::mining::grind(&mut b, &mut tries),
                btc_node::mining::Grind::Found
            );
            b
        };
        node.submit_block(&serialize(&block)).unwrap();
        prev = node.lock().chain.lookup(&block.block_hash()).unwrap();
    }
    assert_eq!(
        node.lock().chain.tip(),
        prev,
        "the old branch, now longest, is active again"
    );

    // Invalid blocks are refused with Core's reasons.
    let height = node.lock().chain.height();
    let mut bad = block_at(&node, height);
    bad.header.prev_blockhash = node.lock().chain.hash_at(height).unwrap();
    bad.txdata[0].output[0].value = Amount::from_sat(100 * 100_000_000);
    bad.header.merkle_root = bad.compute_merkle_root().unwrap();
    bad.header.time += 1;
    while bad.header.validate_pow(bad.header.target()).is_err() {
        bad.header.nonce += 1;
    }
    match node.submit_block(&serialize(&bad)) {
        Err(ProcessError::Invalid(r)) => assert!(
            ["bad-cb-amount", "bad-cb-height", "bad-txns-BIP30"].contains(&r.reason.as_str()),
            "{r}"
        ),
        other => panic!("overpaying coinbase accepted: {:?}", other.map(|_| ())),
    }
    let mut bad_merkle = block_at(&node, 5);
    bad_merkle.header.merkle_root = bitcoin::TxMerkleNode::all_zeros();
    assert!(node.submit_block(&serialize(&bad_merkle)).is_err());
    assert!(matches!(
        node.submit_block(&serialize(&block_at(&node, 5))),
        Err(ProcessError::Duplicate)
    ));
    assert!(node.submit_block(b"garbage").is_err());
}
