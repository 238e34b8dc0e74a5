//! Transactions as Core 28's `TxToUniv` writes them (`decoderawtransaction`,
//! `getrawtransaction` verbose, `getblock` verbosity 2 and 3).

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hex::DisplayHex;
use bitcoin::{BlockHash, Network, ScriptBuf, Transaction};
use serde_json::{Map, Value};

use super::amount::{amount, MAX_MONEY};
use super::params::{ParamError, RPC_INTERNAL_ERROR};
use super::script::{script_pubkey_to_json, script_to_asm};

/// An output spent by a transaction input, from the block's undo data (Core's
/// `Coin`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentOutput {
    /// The output's value in satoshis.
    pub value: i64,
    /// The output's script.
    pub script_pubkey: ScriptBuf,
    /// Height of the block that created the output.
    pub height: u32,
    /// Whether the output was created by a coinbase transaction.
    pub coinbase: bool,
}

/// What [`tx_to_json`] adds to the transaction itself.
#[derive(Debug, Clone, Copy)]
pub struct TxJsonOptions<'a> {
    /// Network for addresses.
    pub network: Network,
    /// Append `hex` (the serialized transaction): `getrawtransaction` and
    /// `getblock` do, `decoderawtransaction` does not.
    pub include_hex: bool,
    /// Append `blockhash` (Core's `TxToUniv` with a block hash; the
    /// `getrawtransaction` RPC adds its own `blockhash`, `confirmations`,
    /// `time` and `blocktime` after the object instead).
    pub block_hash: Option<BlockHash>,
    /// The outputs the inputs spend, one per input (undo data; never for a
    /// coinbase): adds `fee`.
    pub spent: Option<&'a [SpentOutput]>,
    /// With `spent`, also show each input's `prevout` (verbosity 3).
    pub show_prevout: bool,
}

impl TxJsonOptions<'_> {
    /// Options for `network` with nothing appended (`decoderawtransaction`).
    pub fn new(network: Network) -> Self {
        TxJsonOptions {
            network,
            include_hex: false,
            block_hash: None,
            spent: None,
            show_prevout: false,
        }
    }
}

/// Core 28's `TxToUniv`: txid, hash, version, size, vsize, weight, locktime,
/// vin, vout, then fee (with undo data), blockhash (when given) and hex
/// (when asked for). A coinbase input is `{coinbase, txinwitness?,
/// sequence}`, any other `{txid, vout, scriptSig {asm, hex}, txinwitness?,
/// prevout?, sequence}`.
///
/// Errors (Core would fail an internal check): `spent` whose length is not
/// the number of inputs, or a fee outside `0..=MAX_MONEY`.
pub fn tx_to_json(tx: &Transaction, opts: &TxJsonOptions<'_>) -> Result<Value, ParamError> {
    let spent = match opts.spent {
        Some(spent) if spent.len() != tx.input.len() => {
            return Err(ParamError::new(
                RPC_INTERNAL_ERROR,
                "Undo data does not match the transaction's inputs",
            ))
        }
        other => other,
    };
    let weight = tx.weight().to_wu();
    let mut entry = Map::new();
    entry.insert("txid".into(), tx.compute_txid().to_string().into());
    entry.insert("hash".into(), tx.compute_wtxid().to_string().into());
    // Core 28 stores and prints the version as unsigned.
    entry.insert("version".into(), (tx.version.0 as u32).into());
    entry.insert("size".into(), tx.total_size().into());
    entry.insert("vsize".into(), weight.div_ceil(4).into());
    entry.insert("weight".into(), weight.into());
    entry.insert("locktime".into(), tx.lock_time.to_consensus_u32().into());

    let coinbase = tx.is_coinbase();
    let mut total_in: i64 = 0;
    let mut vin = Vec::with_capacity(tx.input.len());
    for (i, txin) in tx.input.iter().enumerate() {
        let mut input = Map::new();
        if coinbase {
            input.insert(
                "coinbase".into(),
                txin.script_sig.as_bytes().to_lower_hex_string().into(),
            );
        } else {
            input.insert("txid".into(), txin.previous_output.txid.to_string().into());
            input.insert("vout".into(), txin.previous_output.vout.into());
            let mut script_sig = Map::new();
            script_sig.insert("asm".into(), script_to_asm(&txin.script_sig, true).into());
            script_sig.insert(
                "hex".into(),
                txin.script_sig.as_bytes().to_lower_hex_string().into(),
            );
            input.insert("scriptSig".into(), Value::Object(script_sig));
        }
        if !txin.witness.is_empty() {
            let items: Vec<Value> = txin
                .witness
                .iter()
                .map(|item| item.to_lower_hex_string().into())
                .collect();
            input.insert("txinwitness".into(), Value::Array(items));
        }
        if let Some(prev) = spent.and_then(|s| s.get(i)) {
            total_in = total_in.saturating_add(prev.value);
            if opts.show_prevout {
                let mut p = Map::new();
                p.insert("generated".into(), prev.coinbase.into());
                p.insert("height".into(), prev.height.into());
                p.insert("value".into(), amount(prev.value));
                p.insert(
                    "scriptPubKey".into(),
                    script_pubkey_to_json(&prev.script_pubkey, true, true, opts.network),
                );
                input.insert("prevout".into(), Value::Object(p));
            }
        }
        input.insert("sequence".into(), txin.sequence.0.into());
        vin.push(Value::Object(input));
    }
    entry.insert("vin".into(), Value::Array(vin));

    let mut total_out: i64 = 0;
    let mut vout = Vec::with_capacity(tx.output.len());
    for (n, txout) in tx.output.iter().enumerate() {
        let value = txout.value.to_sat() as i64;
        total_out = total_out.saturating_add(value);
        let mut output = Map::new();
        output.insert("value".into(), amount(value));
        output.insert("n".into(), n.into());
        output.insert(
            "scriptPubKey".into(),
            script_pubkey_to_json(&txout.script_pubkey, true, true, opts.network),
        );
        vout.push(Value::Object(output));
    }
    entry.insert("vout".into(), Value::Array(vout));

    if spent.is_some() {
        let fee = total_in.saturating_sub(total_out);
        if !(0..=MAX_MONEY).contains(&fee) {
            return Err(ParamError::new(
                RPC_INTERNAL_ERROR,
                format!(
                    "Fee {fee} of transaction {} is out of range",
                    tx.compute_txid()
                ),
            ));
        }
        entry.insert("fee".into(), amount(fee));
    }
    if let Some(hash) = opts.block_hash {
        entry.insert("blockhash".into(), hash.to_string().into());
    }
    if opts.include_hex {
        entry.insert("hex".into(), serialize_hex(tx).into());
    }
    Ok(Value::Object(entry))
}
