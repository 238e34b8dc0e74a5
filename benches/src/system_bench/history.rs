//! The synthetic regtest history: a seeded chain of blocks of realistic
//! transactions built directly with rust-bitcoin, valid for the node with
//! every check on (real signatures included), with a wallet's outputs spread
//! through it.
//!
//! Shape:
//!
//! * Blocks 1..=100 hold only their coinbase (nothing is mature yet); from
//!   block 101 on every coinbase that turned 100 blocks old joins the pool
//!   of spendable outputs.
//! * A block is filled with transactions up to `block_bytes` (and a weight
//!   of 3,990,000 and 79,000 sigop cost, under the consensus limits). A
//!   transaction spends 1–3 outputs of earlier blocks (55/25/20%) and pays
//!   2 outputs (80%; 1 or 3 otherwise), at 1–50 sat/vB. While the pool is
//!   small (the first blocks after 100) transactions fan out to 20–2,000
//!   outputs, like batched payouts.
//! * Output types: 55% P2WPKH, 25% P2TR (BIP86 key path), 20% P2PKH; inputs
//!   carry real ECDSA (RFC 6979, not low-R ground) or BIP340 signatures by a pool of 4,096 keys.
//! * The wallet's scripts (`wpkh(tprv/84h/1h/0h/0/*)`, indexes
//!   `0..wallet_scripts`) each receive one output, in increasing index order
//!   spread evenly from block 101 to the tip, as one output of an ordinary
//!   transaction. The history never spends them, so the wallet's balance is
//!   their sum.
//! * Coinbase: BIP34 height and an extra nonce in the scriptSig, subsidy
//!   (halving every 150 blocks on regtest) plus fees, witness commitment;
//!   nBits 0x207fffff, times 600 s apart from the regtest genesis.

use std::collections::VecDeque;
use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Result};
use bitcoin::absolute::LockTime;
use bitcoin::block::{Header, Version as BlockVersion};
use bitcoin::consensus::Encodable;
use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{All, Message, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::transaction::Version;
use bitcoin::{
    Amount, Block, BlockHash, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};

use super::keys::{pool_keys, wallet_keys, Kind, PoolKey, WalletKeys};
use super::rng::Rng;

/// Regtest's genesis time (Core's `CreateGenesisBlock(1296688602, ...)`).
pub const GENESIS_TIME: u32 = 1_296_688_602;
/// Regtest's proof-of-work limit in compact form.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Regtest halves the subsidy every 150 blocks.
pub const HALVING_INTERVAL: u32 = 150;
/// Blocks before a coinbase may be spent.
pub const COINBASE_MATURITY: u32 = 100;
/// Number of pool keys.
const POOL_KEYS: usize = 4096;
/// Under the consensus limit of 4,000,000, leaving room for the coinbase.
const MAX_WEIGHT: u64 = 3_990_000;
/// Under the consensus limit of 80,000.
const MAX_SIGOP_COST: u64 = 79_000;
/// No output of the history is smaller than this (well above dust).
const MIN_OUTPUT: u64 = 1_000;

/// What a history is built from (the cache key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Blocks after genesis.
    pub blocks: u32,
    /// Target serialized size of a block once the pool is large enough.
    pub block_bytes: u32,
    /// Wallet scripts that receive one output each.
    pub wallet_scripts: u32,
    pub seed: u64,
}

/// Totals of a generated history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub tip_hash: String,
    /// Sum of the blocks' serialized sizes (genesis excluded).
    pub history_bytes: u64,
    pub txs: u64,
    pub inputs: u64,
    pub outputs: u64,
    pub wallet_outputs: u64,
    /// Sum of the wallet's outputs, in satoshis.
    pub expected_balance_sat: u64,
    /// The wallet's descriptor with checksum.
    pub descriptor: String,
    /// Height of the first and last block paying the wallet.
    pub first_wallet_height: u32,
    pub last_wallet_height: u32,
}

#[derive(Clone, Copy)]
struct Utxo {
    outpoint: OutPoint,
    value: u64,
    key: u32,
    kind: Kind,
}

/// What signing an input needs.
#[derive(Clone, Copy)]
struct Spent {
    value: u64,
    key: u32,
    kind: Kind,
}

struct Unsigned {
    tx: Transaction,
    spent: Vec<Spent>,
    /// Which outputs go back to the pool (not the wallet's).
    pool_outputs: Vec<(u32, u32, Kind)>, // (vout, key, kind)
    fee: u64,
}

/// Regtest block subsidy at `height`.
pub fn subsidy(height: u32) -> u64 {
    let halvings = height / HALVING_INTERVAL;
    if halvings >= 64 {
        0
    } else {
        (50 * 100_000_000u64) >> halvings
    }
}

/// The height at which the wallet's output `i` is due.
fn wallet_due_height(p: &Params, i: u32) -> u32 {
    let first = COINBASE_MATURITY + 1;
    let span = u64::from(p.blocks.saturating_sub(first) + 1);
    first + (u64::from(i) * span / u64::from(p.wallet_scripts.max(1))) as u32
}

/// The generator's state between blocks.
struct Generator<'a> {
    p: Params,
    secp: &'a Secp256k1<All>,
    keys: &'a [PoolKey],
    wallet: &'a WalletKeys,
    rng: Rng,
    pool: Vec<Utxo>,
    /// Sum of the pool's values.
    pool_value: u64,
    /// Coinbase outputs waiting for maturity: (spendable height, output).
    immature: VecDeque<(u32, Utxo)>,
    prev: BlockHash,
    next_wallet: u32,
    summary: Summary,
    threads: usize,
}

impl Generator<'_> {
    fn random_kind(&mut self) -> Kind {
        Kind::pick(self.rng.next_u64())
    }

    fn random_key(&mut self) -> u32 {
        self.rng.below(self.keys.len() as u64) as u32
    }

    fn take_random(&mut self) -> Option<Utxo> {
        if self.pool.is_empty() {
            return None;
        }
        let i = self.rng.below(self.pool.len() as u64) as usize;
        let u = self.pool.swap_remove(i);
        self.pool_value -= u.value;
        Some(u)
    }

    fn put(&mut self, u: Utxo) {
        self.pool_value += u.value;
        self.pool.push(u);
    }

    fn put_back(&mut self, ins: Vec<Utxo>) {
        for u in ins {
            self.put(u);
        }
    }

    /// A payment: the pool's mean value times 2^x, x uniform in [-4, 1]
    /// (so values keep their spread as the pool grows, instead of
    /// shrinking with every split).
    fn payment(&mut self) -> u64 {
        let mean = self.pool_value / (self.pool.len() as u64).max(1);
        let x = self.rng.below(5_000_001) as f64 / 1e6 - 4.0;
        ((mean as f64 * x.exp2()) as u64).max(5 * MIN_OUTPUT)
    }

    /// One unsigned transaction (and upper bounds of its signed size and
    /// weight), or `None` when the pool cannot fund one. `fan_out`: that
    /// many outputs splitting one input (`first` if given, else a random
    /// one). `wallet`: (index, value) of a wallet output to include (output
    /// 0).
    ///
    /// An ordinary transaction makes its payments (drawn by
    /// [`Generator::payment`]) and a change output, adding inputs (at most
    /// 12) until they cover payments and fee, as a wallet would.
    fn make_tx(
        &mut self,
        first: Option<Utxo>,
        fan_out: usize,
        wallet: Option<(u32, u64)>,
    ) -> Option<(Unsigned, u64, u64)> {
        let mut ins: Vec<Utxo> = Vec::with_capacity(4);
        ins.extend(first);
        let n_in = if fan_out > 0 {
            1
        } else {
            match self.rng.below(100) {
                0..=54 => 1,
                55..=79 => 2,
                _ => 3,
            }
        };
        while ins.len() < n_in {
            match self.take_random() {
                Some(u) => ins.push(u),
                None => {
                    self.put_back(ins);
                    return None;
                }
            }
        }
        let mut n_out = if fan_out > 0 {
            fan_out
        } else {
            match self.rng.below(100) {
                0..=79 => 2,
                80..=89 => 1,
                _ => 3,
            }
        };
        if wallet.is_some() {
            n_out = n_out.max(2);
        }
        let rate = if self.rng.chance(85) {
            self.rng.range(1, 12)
        } else {
            self.rng.range(13, 50)
        };
        let mut kinds: Vec<Kind> = (0..n_out).map(|_| self.random_kind()).collect();
        if wallet.is_some() {
            kinds[0] = Kind::P2wpkh;
        }
        // Fixed values: the wallet's, then (ordinary transactions) the
        // payments; the last output is the change. A fan-out splits what
        // is left over all its other outputs.
        let mut fixed: Vec<u64> = Vec::with_capacity(n_out);
        if let Some((_, v)) = wallet {
            fixed.push(v);
        }
        if fan_out == 0 {
            while fixed.len() + 1 < n_out {
                let p = self.payment();
                fixed.push(p);
            }
        }
        let free = n_out - fixed.len();
        let (fee, avail) = loop {
            let vx4: u64 = 4 * 10
                + 2
                + ins.iter().map(|u| u.kind.input_vbytes_x4()).sum::<u64>()
                + kinds.iter().map(|k| k.output_vbytes_x4()).sum::<u64>();
            let fee = rate * vx4.div_ceil(4);
            let total: u64 = ins.iter().map(|u| u.value).sum();
            let need = fee + fixed.iter().sum::<u64>() + MIN_OUTPUT * free as u64;
            if total >= need {
                break (fee, total - fee - fixed.iter().sum::<u64>());
            }
            if fan_out > 0 && n_out > fixed.len() + 1 {
                // A fan-out shrinks to what its input affords.
                let afford =
                    total.saturating_sub(fee + fixed.iter().sum::<u64>()) / (MIN_OUTPUT * 4);
                let n = (afford as usize + fixed.len()).clamp(fixed.len() + 1, n_out - 1);
                n_out = n;
                kinds.truncate(n_out);
                continue;
            }
            if ins.len() >= 12 {
                // Smaller payments (never the wallet's).
                let first = usize::from(wallet.is_some());
                if fixed.len() > first && fixed[first..].iter().any(|&p| p > 10 * MIN_OUTPUT) {
                    for p in &mut fixed[first..] {
                        *p = (*p / 2).max(5 * MIN_OUTPUT);
                    }
                    continue;
                }
                self.put_back(ins);
                return None;
            }
            match self.take_random() {
                Some(u) => ins.push(u),
                None => {
                    self.put_back(ins);
                    return None;
                }
            }
        };
        let free = n_out - fixed.len();
        let mut values = fixed;
        let spare = avail - MIN_OUTPUT * free as u64;
        if free == 1 {
            values.push(MIN_OUTPUT + spare);
        } else {
            let weights: Vec<u64> = (0..free).map(|_| self.rng.range(500, 1500)).collect();
            let wsum: u64 = weights.iter().sum();
            let mut given = 0;
            for (j, w) in weights.iter().enumerate() {
                let share = if j + 1 == free {
                    spare - given
                } else {
                    (u128::from(spare) * u128::from(*w) / u128::from(wsum)) as u64
                };
                given += share;
                values.push(MIN_OUTPUT + share);
            }
        }
        let mut outs = Vec::with_capacity(n_out);
        let mut pool_outputs = Vec::with_capacity(n_out);
        for (vout, (&kind, &value)) in kinds.iter().zip(&values).enumerate() {
            let script = if let (0, Some((index, _))) = (vout, wallet) {
                self.wallet.scripts[index as usize].clone()
            } else {
                let key = self.random_key();
                pool_outputs.push((vout as u32, key, kind));
                self.keys[key as usize].script(kind).clone()
            };
            outs.push(TxOut {
                value: Amount::from_sat(value),
                script_pubkey: script,
            });
        }
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: ins
                .iter()
                .map(|u| TxIn {
                    previous_output: u.outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outs,
        };
        // Upper bounds of the signed size and weight.
        let mut base = 10u64;
        let mut wit = 0u64;
        for u in &ins {
            match u.kind {
                Kind::P2wpkh => {
                    base += 41;
                    wit += 109;
                }
                Kind::P2tr => {
                    base += 41;
                    wit += 66;
                }
                Kind::P2pkh => base += 149,
            }
        }
        base += tx
            .output
            .iter()
            .map(|o| 9 + o.script_pubkey.len() as u64)
            .sum::<u64>();
        if wit > 0 {
            wit += 2;
        }
        let size = base + wit;
        let weight = 4 * base + wit;
        let spent = ins
            .iter()
            .map(|u| Spent {
                value: u.value,
                key: u.key,
                kind: u.kind,
            })
            .collect();
        Some((
            Unsigned {
                tx,
                spent,
                pool_outputs,
                fee,
            },
            size,
            weight,
        ))
    }

    /// The block at `height`, serialized.
    fn block(&mut self, height: u32) -> Result<Vec<u8>> {
        // Coinbases that matured: each is paid out first, split in up to
        // 500 outputs (fewer in small blocks) of at least 0.01 BTC (as a
        // mining pool's payout), so the
        // pool's value does not sit in a few 50 BTC outputs.
        let mut payouts: Vec<Utxo> = Vec::new();
        while let Some(&(h, u)) = self.immature.front() {
            if h > height {
                break;
            }
            payouts.push(u);
            self.immature.pop_front();
        }
        let budget = u64::from(self.p.block_bytes).saturating_sub(400);
        let expected_txs = (budget / 250).max(1) as usize;
        let low_water = expected_txs * 3;
        let pool_at_start = self.pool.len().max(1);
        let mut txs: Vec<Unsigned> = Vec::new();
        let (mut size, mut weight, mut sigops) = (0u64, 0u64, 0u64);
        // Consecutive transactions the pool could not fund.
        let mut failures = 0;
        while size < budget && failures < 50 {
            let (first, fan_out) = if let Some(u) = payouts.pop() {
                let most = (expected_txs / 8).clamp(2, 500) as u64;
                (Some(u), (u.value / 1_000_000).clamp(2, most) as usize)
            } else if self.pool.len() < low_water {
                (None, (low_water / pool_at_start).clamp(20, 2000))
            } else {
                (None, 0)
            };
            let wallet = (self.next_wallet < self.p.wallet_scripts
                && wallet_due_height(&self.p, self.next_wallet) <= height)
                .then(|| (self.next_wallet, self.rng.range(10_000, 1_000_000)));
            let Some((tx, s, w)) = self.make_tx(first, fan_out, wallet) else {
                failures += 1;
                if self.pool.is_empty() {
                    break;
                }
                continue;
            };
            let sig = 4 * tx
                .tx
                .output
                .iter()
                .filter(|o| o.script_pubkey.is_p2pkh())
                .count() as u64
                + tx.spent.iter().filter(|s| s.kind == Kind::P2wpkh).count() as u64;
            if size + s > budget || weight + w > MAX_WEIGHT || sigops + sig > MAX_SIGOP_COST {
                // Put the inputs back and close the block.
                for (txin, sp) in tx.tx.input.iter().zip(&tx.spent) {
                    self.put(Utxo {
                        outpoint: txin.previous_output,
                        value: sp.value,
                        key: sp.key,
                        kind: sp.kind,
                    });
                }
                break;
            }
            if let Some((i, v)) = wallet {
                self.summary.wallet_outputs += 1;
                self.summary.expected_balance_sat += v;
                if self.summary.first_wallet_height == 0 {
                    self.summary.first_wallet_height = height;
                }
                self.summary.last_wallet_height = height;
                self.next_wallet = i + 1;
            }
            failures = 0;
            size += s;
            weight += w;
            sigops += sig;
            txs.push(tx);
        }
        // Payouts that did not fit wait in the pool.
        for u in payouts {
            self.put(u);
        }
        sign_all(self.secp, self.keys, &mut txs, self.threads);

        let fees: u64 = txs.iter().map(|t| t.fee).sum();
        let mut coinbase = coinbase_tx(height, &mut self.rng);
        let cb_key = self.random_key();
        let cb_kind = self.random_kind();
        coinbase.output.push(TxOut {
            value: Amount::from_sat(subsidy(height) + fees),
            script_pubkey: self.keys[cb_key as usize].script(cb_kind).clone(),
        });
        let mut txdata = Vec::with_capacity(txs.len() + 1);
        txdata.push(coinbase);
        for t in &txs {
            self.summary.inputs += t.tx.input.len() as u64;
            self.summary.outputs += t.tx.output.len() as u64;
        }
        self.summary.txs += txs.len() as u64;
        let mut new_outputs = Vec::new();
        for t in txs {
            let txid = t.tx.compute_txid();
            for &(vout, key, kind) in &t.pool_outputs {
                new_outputs.push(Utxo {
                    outpoint: OutPoint { txid, vout },
                    value: t.tx.output[vout as usize].value.to_sat(),
                    key,
                    kind,
                });
            }
            txdata.push(t.tx);
        }
        // Witness commitment (the coinbase's wtxid counts as zero, so the
        // coinbase can be completed after the witness root).
        let mut block = Block {
            header: Header {
                version: BlockVersion::from_consensus(0x2000_0000),
                prev_blockhash: self.prev,
                merkle_root: TxMerkleNode::all_zeros(),
                time: GENESIS_TIME + height * 600,
                bits: CompactTarget::from_consensus(REGTEST_BITS),
                nonce: 0,
            },
            txdata,
        };
        let witness_root = block.witness_root().expect("a coinbase");
        let reserved = [0u8; 32];
        let commitment = Block::compute_witness_commitment(&witness_root, &reserved);
        let mut script = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
        script.extend_from_slice(commitment.as_byte_array());
        let cb = &mut block.txdata[0];
        cb.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(script),
        });
        cb.input[0].witness = Witness::from_slice(&[reserved]);
        let cb_txid = cb.compute_txid();
        block.header.merkle_root = block.compute_merkle_root().expect("a coinbase");
        let target = block.header.target();
        while block.header.validate_pow(target).is_err() {
            block.header.nonce += 1;
        }
        if block.weight().to_wu() > 4_000_000 {
            bail!("block {height} weighs {} WU", block.weight().to_wu());
        }
        self.prev = block.block_hash();
        self.immature.push_back((
            height + COINBASE_MATURITY,
            Utxo {
                outpoint: OutPoint {
                    txid: cb_txid,
                    vout: 0,
                },
                value: subsidy(height) + fees,
                key: cb_key,
                kind: cb_kind,
            },
        ));
        for u in new_outputs {
            self.put(u);
        }
        let mut raw = Vec::with_capacity(size as usize + 1024);
        block.consensus_encode(&mut raw)?;
        Ok(raw)
    }
}

/// A coinbase with the BIP34 height and an extra nonce, no outputs yet.
fn coinbase_tx(height: u32, rng: &mut Rng) -> Transaction {
    let script_sig = bitcoin::script::Builder::new()
        .push_int(i64::from(height))
        .push_slice(rng.next_u64().to_le_bytes())
        .into_script();
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig,
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: Vec::new(),
    }
}

/// Signs every input of every transaction, on `threads` threads.
fn sign_all(secp: &Secp256k1<All>, keys: &[PoolKey], txs: &mut [Unsigned], threads: usize) {
    if txs.is_empty() {
        return;
    }
    let per = txs.len().div_ceil(threads.max(1));
    std::thread::scope(|s| {
        for part in txs.chunks_mut(per) {
            s.spawn(move || {
                for t in part {
                    sign_tx(secp, keys, t);
                }
            });
        }
    });
}

fn sign_tx(secp: &Secp256k1<All>, keys: &[PoolKey], t: &mut Unsigned) {
    enum Sig {
        Witness(Witness),
        ScriptSig(ScriptBuf),
    }
    let prevouts: Vec<TxOut> = t
        .spent
        .iter()
        .map(|s| TxOut {
            value: Amount::from_sat(s.value),
            script_pubkey: keys[s.key as usize].script(s.kind).clone(),
        })
        .collect();
    let sigs: Vec<Sig> = {
        let mut cache = SighashCache::new(&t.tx);
        t.spent
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let key = &keys[s.key as usize];
                let spk = &prevouts[i].script_pubkey;
                match s.kind {
                    Kind::P2wpkh => {
                        let h = cache
                            .p2wpkh_signature_hash(
                                i,
                                spk,
                                Amount::from_sat(s.value),
                                EcdsaSighashType::All,
                            )
                            .expect("p2wpkh sighash");
                        let sig =
                            secp.sign_ecdsa(&Message::from_digest(h.to_byte_array()), &key.secret);
                        let sig = bitcoin::ecdsa::Signature {
                            signature: sig,
                            sighash_type: EcdsaSighashType::All,
                        };
                        Sig::Witness(Witness::p2wpkh(&sig, &key.public))
                    }
                    Kind::P2pkh => {
                        let h = cache
                            .legacy_signature_hash(i, spk, EcdsaSighashType::All.to_u32())
                            .expect("legacy sighash");
                        let sig =
                            secp.sign_ecdsa(&Message::from_digest(h.to_byte_array()), &key.secret);
                        let sig = bitcoin::ecdsa::Signature {
                            signature: sig,
                            sighash_type: EcdsaSighashType::All,
                        };
                        let script = bitcoin::script::Builder::new()
                            .push_slice(sig.serialize())
                            .push_key(&bitcoin::PublicKey::new(key.public))
                            .into_script();
                        Sig::ScriptSig(script)
                    }
                    Kind::P2tr => {
                        let h = cache
                            .taproot_key_spend_signature_hash(
                                i,
                                &Prevouts::All(&prevouts),
                                TapSighashType::Default,
                            )
                            .expect("taproot sighash");
                        let sig = secp.sign_schnorr_no_aux_rand(
                            &Message::from_digest(h.to_byte_array()),
                            &key.tweaked.to_keypair(),
                        );
                        Sig::Witness(Witness::p2tr_key_spend(&bitcoin::taproot::Signature {
                            signature: sig,
                            sighash_type: TapSighashType::Default,
                        }))
                    }
                }
            })
            .collect()
    };
    for (txin, sig) in t.tx.input.iter_mut().zip(sigs) {
        match sig {
            Sig::Witness(w) => txin.witness = w,
            Sig::ScriptSig(s) => txin.script_sig = s,
        }
    }
}

/// Builds the history, handing each serialized block (heights 1..=blocks,
/// in order) to `out`. `progress` is called now and then with the height
/// and the totals so far.
pub fn generate(
    p: &Params,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u32, &Summary),
) -> Result<Summary> {
    if p.blocks <= COINBASE_MATURITY + 1 {
        bail!(
            "a history needs more than {} blocks (coinbases mature after {COINBASE_MATURITY})",
            COINBASE_MATURITY + 1
        );
    }
    let secp = Secp256k1::new();
    let keys = pool_keys(&secp, p.seed, POOL_KEYS);
    let wallet = wallet_keys(&secp, p.seed, p.wallet_scripts as usize)?;
    let genesis = bitcoin::constants::genesis_block(bitcoin::Network::Regtest);
    let mut g = Generator {
        p: *p,
        secp: &secp,
        keys: &keys,
        wallet: &wallet,
        rng: Rng::new(p.seed, 1),
        pool: Vec::new(),
        pool_value: 0,
        immature: VecDeque::new(),
        prev: genesis.block_hash(),
        next_wallet: 0,
        summary: Summary {
            descriptor: wallet.descriptor.clone(),
            ..Summary::default()
        },
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let started = Instant::now();
    let mut last_report = Instant::now();
    for height in 1..=p.blocks {
        let raw = g.block(height)?;
        out.write_all(&(raw.len() as u32).to_le_bytes())?;
        out.write_all(&raw)?;
        g.summary.history_bytes += raw.len() as u64;
        if last_report.elapsed().as_secs_f64() >= 2.0 || height == p.blocks {
            progress(height, &g.summary);
            last_report = Instant::now();
        }
    }
    let _ = started;
    if g.next_wallet < p.wallet_scripts {
        bail!(
            "only {} of {} wallet outputs fit in the history: raise the block size or count",
            g.next_wallet,
            p.wallet_scripts
        );
    }
    g.summary.tip_hash = g.prev.to_string();
    Ok(g.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::deserialize;

    fn small() -> Params {
        Params {
            blocks: 110,
            block_bytes: 20_000,
            wallet_scripts: 20,
            seed: 3,
        }
    }

    fn blocks_of(buf: &[u8]) -> Vec<Block> {
        let mut v = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            let n = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
            v.push(deserialize::<Block>(&buf[at + 4..at + 4 + n]).unwrap());
            at += 4 + n;
        }
        v
    }

    #[test]
    fn deterministic_chain_with_valid_structure() {
        let mut a = Vec::new();
        let sa = generate(&small(), &mut a, &mut |_, _| {}).unwrap();
        let mut b = Vec::new();
        let sb = generate(&small(), &mut b, &mut |_, _| {}).unwrap();
        assert_eq!(a, b);
        assert_eq!(sa, sb);
        let blocks = blocks_of(&a);
        assert_eq!(blocks.len(), 110);
        let mut prev = bitcoin::constants::genesis_block(bitcoin::Network::Regtest).block_hash();
        for (i, blk) in blocks.iter().enumerate() {
            assert_eq!(blk.header.prev_blockhash, prev, "block {}", i + 1);
            assert!(blk.check_merkle_root());
            assert!(blk.check_witness_commitment());
            if i >= 16 {
                // (Heights 1-16 are OP_1-OP_16, as Core's `CScript() <<
                // nHeight`, which rust-bitcoin does not read back.)
                assert_eq!(blk.bip34_block_height().unwrap(), i as u64 + 1);
            }
            assert!(blk.weight().to_wu() <= 4_000_000);
            prev = blk.block_hash();
        }
        assert_eq!(sa.tip_hash, prev.to_string());
        assert_eq!(sa.wallet_outputs, 20);
        assert!(sa.txs > 100, "{sa:?}");
    }

    #[test]
    fn subsidy_halves_every_150_blocks() {
        assert_eq!(subsidy(149), 5_000_000_000);
        assert_eq!(subsidy(150), 2_500_000_000);
        assert_eq!(subsidy(150 * 64), 0);
    }
}
