//! Test helpers: a regtest chain built in the test, wallets in a temporary
//! folder, and blocks mined to them.

#![allow(dead_code)]

use std::path::Path;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::Xpriv;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::script::PushBytesBuf;
use bitcoin::transaction::Version as TxVersion;
use bitcoin::{
    Amount, Block, CompactTarget, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};
use btc_wallet::{Chain, CreateOptions, MemoryChain, Wallet, WalletOptions};

/// A known master key (BIP32 test vector 1's seed on regtest).
pub fn test_master() -> Xpriv {
    let seed = bitcoin::hex::FromHex::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
    let seed: Vec<u8> = seed;
    Xpriv::new_master(Network::Regtest, &seed).unwrap()
}

/// Wallet options for tests: a small keypool and a cheap KDF.
pub fn options() -> WalletOptions {
    let mut o = WalletOptions::new(Network::Regtest);
    o.keypool_size = 20;
    o.kdf_min_rounds = 1000;
    o.kdf_calibrate = false;
    o.fallback_fee = Some(bitcoin::FeeRate::from_sat_per_vb_u32(2));
    o
}

/// A new wallet in `dir/name`.
pub fn new_wallet(dir: &Path, name: &str, master: Option<Xpriv>) -> Wallet {
    Wallet::create(
        &dir.join(name),
        name,
        options(),
        CreateOptions {
            master_key: master,
            ..CreateOptions::default()
        },
    )
    .unwrap()
}

/// A chain holding regtest's genesis block.
pub fn new_chain() -> MemoryChain {
    let mut chain = MemoryChain::new();
    let mut genesis = bitcoin::blockdata::constants::genesis_block(Network::Regtest);
    // A recent time, so the wallet's anti-fee-sniping sees a synced tip.
    genesis.header.time = (btc_wallet::wallet::now() - 20_000) as u32;
    chain.push_block(&genesis).unwrap();
    chain
}

/// A coinbase for `height` paying `value` to `script`.
pub fn coinbase(height: u32, script: ScriptBuf, value: Amount) -> Transaction {
    let mut sig = PushBytesBuf::new();
    let mut h = height.to_le_bytes().to_vec();
    while h.len() > 1 && h[h.len() - 1] == 0 {
        h.pop();
    }
    if h.last().is_some_and(|b| b & 0x80 != 0) {
        h.push(0);
    }
    sig.extend_from_slice(&h).unwrap();
    let script_sig = bitcoin::script::Builder::new()
        .push_slice(sig)
        .push_opcode(bitcoin::opcodes::OP_TRUE)
        .into_script();
    Transaction {
        version: TxVersion::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: script,
        }],
    }
}

/// Mines a block on `chain` with a coinbase to `script` and `txs`, and
/// returns its height.
pub fn mine(chain: &mut MemoryChain, script: ScriptBuf, txs: Vec<Transaction>) -> u32 {
    let (tip, tip_hash) = chain.tip().unwrap();
    let prev_time = chain.archive(tip).unwrap().header().time;
    let height = tip + 1;
    let mut txdata = vec![coinbase(height, script, Amount::from_btc(50.0).unwrap())];
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: tip_hash,
            merkle_root: TxMerkleNode::all_zeros(),
            time: prev_time + 60,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata,
    };
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    chain.push_block(&block).unwrap()
}

/// Mines a block and tells every wallet.
pub fn mine_to(
    chain: &mut MemoryChain,
    wallets: &mut [&mut Wallet],
    script: ScriptBuf,
    txs: Vec<Transaction>,
) -> u32 {
    let h = mine(chain, script, txs);
    for w in wallets.iter_mut() {
        w.block_connected(chain.archive(h).unwrap(), h).unwrap();
    }
    h
}

/// Script of a fresh receive address of `w`.
pub fn new_script(w: &mut Wallet) -> ScriptBuf {
    w.get_new_address("", None).unwrap().script_pubkey()
}
