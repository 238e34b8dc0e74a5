//! Transactions and blocks decoded exactly as Core's serialization code
//! reads them, which differs from rust-bitcoin's decoder at the edges: a
//! legacy (no witness) reading of a transaction whose input count is zero,
//! and Core's extended reading of a zero flag byte (an empty transaction)
//! or of a witness flag over zero inputs (rejected).

use bitcoin::block::Header;
use bitcoin::consensus::Decodable;
use bitcoin::{absolute, transaction, Block, Transaction, TxIn, TxOut, Witness};

use super::script::has_valid_ops;

use crate::script::MAX_SCRIPT_SIZE;
/// Core's `MAX_SIZE` for a serialized vector's length.
const MAX_SIZE: u64 = 0x0200_0000;

/// Core's `DecodeTx` over raw bytes (see [`super::decode_hex_tx`]).
pub(crate) fn transaction(
    bytes: &[u8],
    try_no_witness: bool,
    try_witness: bool,
) -> Option<Transaction> {
    let extended = if try_witness {
        read_whole(bytes, true)
    } else {
        None
    };
    if let Some(tx) = &extended {
        if scripts_sane(tx) {
            return extended;
        }
    }
    let legacy = if try_no_witness {
        read_whole(bytes, false)
    } else {
        None
    };
    if let Some(tx) = &legacy {
        if scripts_sane(tx) {
            return legacy;
        }
    }
    extended.or(legacy)
}

/// A transaction that uses up all of `bytes`.
fn read_whole(bytes: &[u8], allow_witness: bool) -> Option<Transaction> {
    let mut reader = bytes;
    let tx = read_tx(&mut reader, allow_witness)?;
    reader.is_empty().then_some(tx)
}

/// Core's `UnserializeTransaction`.
fn read_tx(r: &mut &[u8], allow_witness: bool) -> Option<Transaction> {
    let version = transaction::Version(i32::consensus_decode_from_finite_reader(r).ok()?);
    let mut input = Vec::<TxIn>::consensus_decode_from_finite_reader(r).ok()?;
    let mut output = Vec::new();
    let mut flags = 0u8;
    if input.is_empty() && allow_witness {
        flags = u8::consensus_decode_from_finite_reader(r).ok()?;
        if flags != 0 {
            input = Vec::<TxIn>::consensus_decode_from_finite_reader(r).ok()?;
            output = Vec::<TxOut>::consensus_decode_from_finite_reader(r).ok()?;
        }
    } else {
        output = Vec::<TxOut>::consensus_decode_from_finite_reader(r).ok()?;
    }
    if flags & 1 != 0 && allow_witness {
        flags ^= 1;
        for txin in &mut input {
            txin.witness = Witness::consensus_decode_from_finite_reader(r).ok()?;
        }
        if input.iter().all(|txin| txin.witness.is_empty()) {
            return None; // "Superfluous witness record"
        }
    }
    if flags != 0 {
        return None; // "Unknown transaction optional data"
    }
    let lock_time = absolute::LockTime::consensus_decode_from_finite_reader(r).ok()?;
    Some(Transaction {
        version,
        lock_time,
        input,
        output,
    })
}

/// Core's `CheckTxScriptsSanity`: every script (but a coinbase's scriptSig)
/// parses, uses only defined opcodes and pushes of at most 520 bytes, and
/// is at most 10,000 bytes.
fn scripts_sane(tx: &Transaction) -> bool {
    let sane = |script: &[u8]| has_valid_ops(script) && script.len() <= MAX_SCRIPT_SIZE;
    (tx.is_coinbase() || tx.input.iter().all(|i| sane(i.script_sig.as_bytes())))
        && tx.output.iter().all(|o| sane(o.script_pubkey.as_bytes()))
}

/// A block with witness serialization, as Core's `DecodeHexBlk` reads it
/// (trailing bytes ignored).
pub(crate) fn block(bytes: &[u8]) -> Option<Block> {
    let mut r = bytes;
    let header = Header::consensus_decode_from_finite_reader(&mut r).ok()?;
    let count = bitcoin::VarInt::consensus_decode_from_finite_reader(&mut r)
        .ok()?
        .0;
    if count > MAX_SIZE {
        return None;
    }
    let mut txdata = Vec::new();
    for _ in 0..count {
        txdata.push(read_tx(&mut r, true)?);
    }
    Some(Block { header, txdata })
}
