//! Building the block: the coinbase (BIP34 height, subsidy plus fees,
//! witness commitment), the header, and proof of work.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bitcoin::block::{Header, Version};
use bitcoin::blockdata::opcodes::all::OP_PUSHBYTES_0;
use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::{
    absolute, transaction, Amount, Block, OutPoint, ScriptBuf, Sequence, Transaction, TxIn,
    TxMerkleNode, TxOut, Witness,
};
use btc_core::script::{check_transaction, SpentOutputs, VerifyFlags};

use super::select::select;
use super::{MiningError, TemplateContext, MAX_BLOCK_SIGOPS_COST};
use crate::mempool::accept_rules::{check_tx_inputs, describe_failure};
use crate::mempool::locks::{self, is_final_tx};
use crate::mempool::script::sigop_count;
use crate::mempool::{ChainView, Coin, Mempool};

/// The witness commitment output's prefix: `OP_RETURN`, a 36-byte push,
/// and the commitment header `aa21a9ed`.
const WITNESS_COMMITMENT_HEADER: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
/// Core's `MAX_BLOCK_WEIGHT`.
const MAX_BLOCK_WEIGHT: u64 = 4_000_000;

/// The coinbase scriptSig Core 28 writes: `CScript() << nHeight << OP_0`
/// (the height as a minimal push, e.g. `OP_1 OP_0` at height 1).
pub fn coinbase_script_sig(height: u32) -> ScriptBuf {
    Builder::new()
        .push_int(i64::from(height))
        .push_opcode(OP_PUSHBYTES_0)
        .into_script()
}

/// The coinbase before its witness commitment: one input with the BIP34
/// height, one output of `value` to `ctx.coinbase_script`.
fn coinbase(ctx: &TemplateContext, value: Amount) -> Transaction {
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: coinbase_script_sig(ctx.height),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value,
            script_pubkey: ctx.coinbase_script.clone(),
        }],
    }
}

/// Puts the coinbase and `txs` in a block, adds the witness commitment
/// (always, as Core does with segwit active; reserved value 32 zero bytes)
/// and fills in the header with nonce 0.
fn finish(ctx: &TemplateContext, coinbase: Transaction, txs: Vec<Transaction>) -> Block {
    let mut txdata = Vec::with_capacity(txs.len() + 1);
    txdata.push(coinbase);
    txdata.extend(txs);
    let mut block = Block {
        header: Header {
            version: Version::from_consensus(ctx.version),
            prev_blockhash: ctx.prev_hash,
            merkle_root: TxMerkleNode::all_zeros(),
            time: ctx.time,
            bits: ctx.bits,
            nonce: 0,
        },
        txdata,
    };
    let reserved = [0u8; 32];
    if let Some(root) = block.witness_root() {
        let commitment = Block::compute_witness_commitment(&root, &reserved);
        let mut spk = WITNESS_COMMITMENT_HEADER.to_vec();
        spk.extend_from_slice(commitment.as_byte_array());
        let cb = &mut block.txdata[0];
        cb.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(spk),
        });
        cb.input[0].witness = Witness::from_slice(&[reserved]);
    }
    if let Some(root) = block.compute_merkle_root() {
        block.header.merkle_root = root;
    }
    block
}

/// Core's `CreateNewBlock` from the mempool: transactions chosen by
/// ancestor fee rate within the weight and sigop limits, ancestors before
/// descendants; the coinbase pays the subsidy plus their fees. The nonce
/// is 0: see [`grind`].
pub fn assemble(pool: &Mempool, ctx: &TemplateContext) -> Block {
    let selection = select(pool, ctx);
    let fees = Amount::from_sat(u64::try_from(selection.fees).unwrap_or(0));
    let value = ctx.subsidy.checked_add(fees).unwrap_or(ctx.subsidy);
    let txs = selection
        .txs
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect();
    finish(ctx, coinbase(ctx, value), txs)
}

fn block_invalid(reason: &str, debug: String) -> MiningError {
    MiningError::InvalidBlock {
        reason: reason.to_string(),
        debug,
    }
}

/// `generateblock`: a block with exactly `txs`, in this order, after the
/// coinbase. As in Core 28 the coinbase pays the subsidy only (the fees of
/// the given transactions are not claimed).
///
/// The transactions are checked as Core's `TestBlockValidity` checks them
/// against the chain's UTXO set (`chain` must show the parent of the new
/// block as its tip): `CheckTransaction`, one coinbase only, finality,
/// inputs present (in the UTXO set or earlier in the block) and unspent
/// within the block, coinbase maturity, amounts, BIP68, block weight and
/// sigops, and scripts with every consensus flag. Reasons are Core's;
/// debug texts follow Core's where this crate knows them.
pub fn assemble_with(
    txs: Vec<Transaction>,
    ctx: &TemplateContext,
    chain: &dyn ChainView,
) -> Result<Block, MiningError> {
    let block = finish(ctx, coinbase(ctx, ctx.subsidy), txs);
    check_block_txs(&block, ctx, chain)?;
    Ok(block)
}

/// The context-free and contextual checks `TestBlockValidity` applies to
/// the transactions of a block built by [`assemble_with`].
fn check_block_txs(
    block: &Block,
    ctx: &TemplateContext,
    chain: &dyn ChainView,
) -> Result<(), MiningError> {
    // CheckBlock.
    if block.weight().to_wu() > MAX_BLOCK_WEIGHT {
        return Err(block_invalid("bad-blk-length", "size limits failed".into()));
    }
    for tx in &block.txdata[1..] {
        if tx.is_coinbase() {
            return Err(block_invalid(
                "bad-cb-multiple",
                "more than one coinbase".into(),
            ));
        }
    }
    for tx in &block.txdata {
        if let Err(e) = check_transaction(tx) {
            let text = e.to_string();
            let reason = text.split(':').next().unwrap_or(&text).to_string();
            return Err(block_invalid(
                &reason,
                format!("Transaction check failed (tx hash {}) ", tx.compute_txid()),
            ));
        }
    }
    let legacy: u64 = block
        .txdata
        .iter()
        .flat_map(|tx| {
            tx.input
                .iter()
                .map(|i| sigop_count(i.script_sig.as_bytes(), false))
                .chain(
                    tx.output
                        .iter()
                        .map(|o| sigop_count(o.script_pubkey.as_bytes(), false)),
                )
        })
        .sum();
    if legacy.saturating_mul(4) > MAX_BLOCK_SIGOPS_COST as u64 {
        return Err(block_invalid(
            "bad-blk-sigops",
            "out-of-bounds SigOpCount".into(),
        ));
    }
    // ContextualCheckBlock: finality.
    for tx in &block.txdata {
        if !is_final_tx(tx, ctx.height, ctx.prev_mtp) {
            return Err(block_invalid(
                "bad-txns-nonfinal",
                "non-final transaction".into(),
            ));
        }
    }
    // ConnectBlock: inputs, amounts, BIP68, sigops, scripts.
    let mut created: HashMap<OutPoint, Coin> = HashMap::new();
    let mut spent_in_block: HashSet<OutPoint> = HashSet::new();
    let mut sigops: i64 = 0;
    for (index, tx) in block.txdata.iter().enumerate() {
        let txid = tx.compute_txid();
        if index > 0 {
            let mut coins = Vec::with_capacity(tx.input.len());
            for input in &tx.input {
                let op = input.previous_output;
                let coin = if spent_in_block.contains(&op) {
                    None
                } else {
                    created.get(&op).cloned().or_else(|| chain.coin(&op))
                };
                match coin {
                    Some(c) => coins.push(c),
                    None => {
                        return Err(block_invalid(
                            "bad-txns-inputs-missingorspent",
                            format!("CheckTxInputs: inputs missing/spent in transaction {txid}"),
                        ))
                    }
                }
            }
            check_tx_inputs(tx, &coins, ctx.height).map_err(|r| {
                block_invalid(
                    &r.reason,
                    format!("{} in transaction {txid}", r.debug.unwrap_or_default()),
                )
            })?;
            let heights: Vec<u32> = coins.iter().map(|c| c.height).collect();
            let lp = locks::sequence_lock_points(tx, &heights, chain);
            if lp.height >= i64::from(ctx.height) || lp.time >= ctx.prev_mtp {
                return Err(block_invalid(
                    "bad-txns-nonfinal",
                    format!("contains a non-BIP68-final transaction {txid}"),
                ));
            }
            sigops += crate::mempool::policy::sigop_cost(tx, &coins);
            if sigops > MAX_BLOCK_SIGOPS_COST {
                return Err(block_invalid("bad-blk-sigops", "too many sigops".into()));
            }
            verify_scripts(tx, &coins)?;
            for input in &tx.input {
                spent_in_block.insert(input.previous_output);
            }
        } else {
            sigops += crate::mempool::policy::sigop_cost(tx, &[]);
        }
        for (vout, out) in tx.output.iter().enumerate() {
            created.insert(
                OutPoint::new(txid, vout as u32),
                Coin {
                    height: ctx.height,
                    coinbase: index == 0,
                    amount: out.value.to_sat(),
                    script: out.script_pubkey.to_bytes(),
                },
            );
        }
    }
    Ok(())
}

/// Core's `CheckInputScripts` in `ConnectBlock`: the reason carries the
/// script error, the debug text is empty.
fn verify_scripts(tx: &Transaction, coins: &[Coin]) -> Result<(), MiningError> {
    let bytes = bitcoin::consensus::serialize(tx);
    let spent: Vec<(Amount, &[u8])> = coins
        .iter()
        .map(|c| (Amount::from_sat(c.amount), c.script.as_slice()))
        .collect();
    let fail = |text: &str| {
        block_invalid(
            &format!("mandatory-script-verify-flag-failed ({text})"),
            String::new(),
        )
    };
    let outputs = SpentOutputs::new(&spent).map_err(|_| fail("unknown error"))?;
    for (i, (input, coin)) in tx.input.iter().zip(coins).enumerate() {
        if let Err(e) = outputs.verify(&bytes, i, VerifyFlags::ALL) {
            return Err(if e.is_script_failure() {
                fail(describe_failure(input, &coin.script))
            } else {
                fail("unknown error")
            });
        }
    }
    Ok(())
}

/// How [`grind`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grind {
    /// The header meets its target.
    Found,
    /// `max_tries` ran out (Core's generate RPCs then stop).
    OutOfTries,
    /// The nonce reached `u32::MAX` without a solution: build a new
    /// template (Core moves on to a fresh block).
    NonceExhausted,
}

/// Core's `GenerateBlock` loop: increments the nonce until the block hash
/// meets the header's target, spending the shared `max_tries` budget
/// (Core passes one budget through all blocks of a `generatetoaddress`
/// call). Recomputes the merkle root first.
pub fn grind(block: &mut Block, max_tries: &mut u64) -> Grind {
    if let Some(root) = block.compute_merkle_root() {
        block.header.merkle_root = root;
    }
    let target = block.header.target();
    while *max_tries > 0
        && block.header.nonce < u32::MAX
        && !target.is_met_by(block.header.block_hash())
    {
        block.header.nonce += 1;
        *max_tries -= 1;
    }
    if *max_tries == 0 {
        Grind::OutOfTries
    } else if block.header.nonce == u32::MAX {
        Grind::NonceExhausted
    } else {
        Grind::Found
    }
}
