//! Block rules on the archive: Core's `CheckBlock` (context-free),
//! `ContextualCheckBlock` (height and median time past: finality, BIP34,
//! witness commitment, weight) and the BIP30 check of `ConnectBlock`.

use bitcoin::hashes::Hash;
use bitcoin::{Block, OutPoint, TxMerkleNode};
use btc_core::archive::check::{merkle_root_mutated, witness_root};
use btc_core::archive::TxRef;
use btc_core::ArchivedBlockArchive;

use super::error::BlockError;
use super::header::check_block_header;
use super::sigops::{legacy_sigop_count, MAX_BLOCK_SIGOPS_COST, WITNESS_SCALE_FACTOR};
use super::tx::{check_transaction, is_final_tx, MAX_BLOCK_WEIGHT};
use crate::params::ChainParams;

/// Core's `MINIMUM_WITNESS_COMMITMENT`: OP_RETURN, a 36-byte push.
const MINIMUM_WITNESS_COMMITMENT: usize = 38;
/// OP_RETURN, push 36, then BIP141's 0xaa21a9ed.
const WITNESS_COMMITMENT_HEADER: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// Length of the CompactSize encoding of `n`.
fn compact_size_len(n: usize) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Size of the block serialized without witnesses.
pub fn stripped_size(block: &ArchivedBlockArchive) -> u64 {
    let txs: u64 = block.txs().map(|t| t.base_size() as u64).sum();
    80 + compact_size_len(block.tx_count()) as u64 + txs
}

/// Core's `GetBlockWeight`: stripped size times 3 plus full size.
pub fn block_weight(block: &ArchivedBlockArchive) -> u64 {
    stripped_size(block) * (WITNESS_SCALE_FACTOR - 1) + block.wire().len() as u64
}

/// Core's `CheckBlock`, in Core's order: proof of work (if `check_pow`),
/// merkle root and mutation (if `check_merkle`), size limits, coinbase
/// placement, `CheckTransaction` on every transaction, legacy sigops.
///
/// Signet's block solution (BIP325) is not checked.
pub fn check_block(
    block: &ArchivedBlockArchive,
    params: &ChainParams,
    check_pow: bool,
    check_merkle: bool,
) -> Result<(), BlockError> {
    let header = block.header();
    if check_pow {
        check_block_header(&header, params)?;
    }
    if check_merkle {
        let txids = block.txs.iter().map(|t| t.txid).collect();
        // Core's merkle root of no transactions is all zeros.
        let (root, mutated) = merkle_root_mutated(txids).unwrap_or(([0; 32], false));
        if TxMerkleNode::from_byte_array(root) != header.merkle_root {
            return Err(BlockError::BadTxnMrklRoot);
        }
        if mutated {
            return Err(BlockError::TxnsDuplicate);
        }
    }
    let n = block.tx_count() as u64;
    if n == 0
        || n * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
        || stripped_size(block) * WITNESS_SCALE_FACTOR > MAX_BLOCK_WEIGHT
    {
        return Err(BlockError::BadBlkLength);
    }
    if !block.tx(0).is_some_and(|t| t.is_coinbase()) {
        return Err(BlockError::CbMissing);
    }
    if block.txs().skip(1).any(|t| t.is_coinbase()) {
        return Err(BlockError::CbMultiple);
    }
    for tx in block.txs() {
        check_transaction(&tx).map_err(|error| BlockError::CheckTransaction {
            txid: tx.txid(),
            error,
        })?;
    }
    let sigops: u64 = block.txs().map(|t| legacy_sigop_count(&t)).sum();
    if sigops * WITNESS_SCALE_FACTOR > MAX_BLOCK_SIGOPS_COST {
        return Err(BlockError::BlkSigopsLegacy);
    }
    Ok(())
}

/// Core's `CScript() << height`: the BIP34 prefix of a coinbase scriptSig.
pub fn bip34_height_prefix(height: u32) -> Vec<u8> {
    match height {
        0 => vec![0x00],
        1..=16 => vec![0x50 + height as u8],
        _ => {
            let mut num = Vec::with_capacity(5);
            let mut v = height;
            while v > 0 {
                num.push((v & 0xff) as u8);
                v >>= 8;
            }
            if num.last().is_some_and(|b| b & 0x80 != 0) {
                num.push(0);
            }
            let mut out = vec![num.len() as u8];
            out.extend(num);
            out
        }
    }
}

/// Core's `GetWitnessCommitmentIndex`: the last coinbase output that is a
/// witness commitment.
fn witness_commitment_output<'a>(coinbase: &TxRef<'a>) -> Option<&'a [u8]> {
    coinbase
        .outputs()
        .rev()
        .map(|o| o.script_bytes())
        .find(|s| s.len() >= MINIMUM_WITNESS_COMMITMENT && s[..6] == WITNESS_COMMITMENT_HEADER)
}

/// Core's `CheckWitnessMalleation`: with segwit active and a commitment in
/// the coinbase, the coinbase witness must be one 32-byte reserved value
/// and the commitment must match the wtxids; otherwise no transaction may
/// carry a witness.
pub fn check_witness_malleation(
    block: &ArchivedBlockArchive,
    expect_commitment: bool,
) -> Result<(), BlockError> {
    if expect_commitment {
        let coinbase = block.tx(0).ok_or(BlockError::CbMissing)?;
        if let Some(script) = witness_commitment_output(&coinbase) {
            let input = coinbase.input(0).ok_or(BlockError::CbMissing)?;
            let mut items = input.witness();
            let reserved = match (items.next(), items.next()) {
                (Some(item), None) if item.len() == 32 => item,
                _ => return Err(BlockError::WitnessNonceSize),
            };
            let root = witness_root(block).ok_or(BlockError::CbMissing)?;
            let computed = Block::compute_witness_commitment(&root, reserved);
            if computed.as_byte_array()[..] != script[6..38] {
                return Err(BlockError::WitnessMerkleMatch);
            }
            return Ok(());
        }
    }
    if block.inputs.iter().any(|i| i.witness_items.to_native() > 0) {
        return Err(BlockError::UnexpectedWitness);
    }
    Ok(())
}

/// Core's `ContextualCheckBlock` for a block at `height` whose parent has
/// median time past `prev_mtp`: every transaction final (against the
/// parent's MTP once CSV/BIP113 is active, else the block's time), the
/// BIP34 height at the start of the coinbase, the witness commitment, and
/// the weight limit.
pub fn contextual_check_block(
    block: &ArchivedBlockArchive,
    height: u32,
    prev_mtp: i64,
    params: &ChainParams,
) -> Result<(), BlockError> {
    let header = block.header();
    let cutoff = if params.csv_active(height) {
        prev_mtp
    } else {
        i64::from(header.time)
    };
    if !block.txs().all(|tx| is_final_tx(&tx, height, cutoff)) {
        return Err(BlockError::TxnsNonFinal);
    }
    if params.bip34_active(height) {
        let expect = bip34_height_prefix(height);
        let coinbase = block.tx(0).ok_or(BlockError::CbMissing)?;
        let script_sig = coinbase
            .input(0)
            .ok_or(BlockError::CbMissing)?
            .script_sig()
            .as_bytes();
        if !script_sig.starts_with(&expect) {
            return Err(BlockError::CbHeight);
        }
    }
    check_witness_malleation(block, params.segwit_active(height))?;
    if block_weight(block) > MAX_BLOCK_WEIGHT {
        return Err(BlockError::BlkWeight);
    }
    Ok(())
}

/// Core's BIP30 check in `ConnectBlock`: no output of the block may
/// already exist unspent. `have_coin` asks the UTXO set. Call it when
/// [`ChainParams::bip30_check_required`] says so.
pub fn check_bip30(
    block: &ArchivedBlockArchive,
    have_coin: impl Fn(&OutPoint) -> bool,
) -> Result<(), BlockError> {
    for tx in block.txs() {
        let txid = tx.txid();
        for vout in 0..tx.output_count() as u32 {
            if have_coin(&OutPoint::new(txid, vout)) {
                return Err(BlockError::Bip30);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn height_prefix_is_cscript_push() {
        assert_eq!(bip34_height_prefix(0), [0x00]);
        assert_eq!(bip34_height_prefix(1), [0x51]);
        assert_eq!(bip34_height_prefix(16), [0x60]);
        assert_eq!(bip34_height_prefix(17), [0x01, 17]);
        assert_eq!(bip34_height_prefix(128), [0x02, 0x80, 0x00]);
        assert_eq!(bip34_height_prefix(227_931), [0x03, 0x5b, 0x7a, 0x03]);
    }
}
