//! `listunspent`, `listtransactions`, `gettransaction`,
//! `abandontransaction`, `rescanblockchain`.

use std::collections::HashSet;

use bitcoin::hex::DisplayHex;
use bitcoin::{Amount, ScriptBuf, Txid};
use btc_core::json::{parse_amount, parse_hash_v, tx_to_json, TxJsonOptions};
use serde_json::{Map, Value};

use super::params::{get_str, Params, Spec, Ty};
use super::{amount, append_last_block, label_from_value, recipient_address, Method};
use crate::chain::Chain;
use crate::error::{codes, RpcError, WalletError};
use crate::spend::MAX_DEPTH;
use crate::tx::WalletTx;
use crate::wallet::Wallet;

pub(crate) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "listunspent",
            spec: Spec {
                args: &[
                    ("minconf", Ty::Num),
                    ("maxconf", Ty::Num),
                    ("addresses", Ty::Arr),
                    ("include_unsafe", Ty::Bool),
                    ("query_options", Ty::Obj),
                ],
                required: 0,
                usage:
                    "listunspent ( minconf maxconf [\"address\",...] include_unsafe query_options )",
            },
            run: listunspent,
        },
        Method {
            name: "listtransactions",
            spec: Spec {
                args: &[
                    ("label", Ty::Str),
                    ("count", Ty::Num),
                    ("skip", Ty::Num),
                    ("include_watchonly", Ty::Bool),
                ],
                required: 0,
                usage: "listtransactions ( \"label\" count skip include_watchonly )",
            },
            run: listtransactions,
        },
        Method {
            name: "gettransaction",
            spec: Spec {
                args: &[
                    ("txid", Ty::Str),
                    ("include_watchonly", Ty::Bool),
                    ("verbose", Ty::Bool),
                ],
                required: 1,
                usage: "gettransaction \"txid\" ( include_watchonly verbose )",
            },
            run: gettransaction,
        },
        Method {
            name: "abandontransaction",
            spec: Spec {
                args: &[("txid", Ty::Str)],
                required: 1,
                usage: "abandontransaction \"txid\"",
            },
            run: abandontransaction,
        },
        Method {
            name: "rescanblockchain",
            spec: Spec {
                args: &[("start_height", Ty::Num), ("stop_height", Ty::Num)],
                required: 0,
                usage: "rescanblockchain ( start_height stop_height )",
            },
            run: rescanblockchain,
        },
    ]
}

fn tip(w: &Wallet) -> Option<u32> {
    w.last_block().map(|b| b.0)
}

fn address_string(w: &Wallet, script: &ScriptBuf) -> Option<String> {
    w.address_of(script).ok().map(|a| a.to_string())
}

fn parent_descs(w: &Wallet, script: &ScriptBuf) -> Value {
    let list: Vec<Value> = w
        .origin(script.as_bytes())
        .and_then(|o| w.descriptors().get(&o.desc))
        .map(|d| vec![Value::from(d.public_string())])
        .unwrap_or_default();
    Value::Array(list)
}

fn listunspent(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let minconf = p.int(0)?.unwrap_or(1);
    let maxconf = p.int(1)?.unwrap_or(MAX_DEPTH);
    let mut filter: Option<HashSet<ScriptBuf>> = None;
    if let Some(Value::Array(list)) = p.get(2) {
        let mut set = HashSet::new();
        for a in list {
            let text = get_str(a)?;
            let addr = recipient_address(w, text)?;
            if !set.insert(addr.script_pubkey()) {
                return Err(RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    format!("Invalid parameter, duplicated address: {text}"),
                ));
            }
        }
        filter = Some(set);
    }
    let include_unsafe = p.bool(3).unwrap_or(true);
    let mut min_amount = Amount::ZERO;
    let mut max_amount = Amount::MAX_MONEY;
    let mut max_count = usize::MAX;
    if let Some(Value::Object(q)) = p.get(4) {
        if let Some(v) = q.get("minimumAmount") {
            min_amount = parse_amount(v)?;
        }
        if let Some(v) = q.get("maximumAmount") {
            max_amount = parse_amount(v)?;
        }
        if let Some(v) = q.get("maximumCount") {
            let n = super::params::get_int(v)?;
            if n > 0 {
                max_count = n as usize;
            }
        }
    }
    let mut out = Vec::new();
    for c in w.available_coins(minconf, maxconf, include_unsafe) {
        if out.len() >= max_count {
            break;
        }
        if c.txout.value < min_amount || c.txout.value > max_amount {
            continue;
        }
        let script = &c.txout.script_pubkey;
        if filter.as_ref().is_some_and(|f| !f.contains(script)) {
            continue;
        }
        let mut e = Map::new();
        e.insert("txid".into(), c.outpoint.txid.to_string().into());
        e.insert("vout".into(), c.outpoint.vout.into());
        if let Some(a) = address_string(w, script) {
            e.insert("address".into(), a.into());
            if let Some(l) = w.label(script) {
                e.insert("label".into(), l.into());
            }
            if script.is_p2sh() {
                if let Some(pk) = w.pubkey_of(c.origin) {
                    let inner = ScriptBuf::new_p2wpkh(
                        &bitcoin::key::CompressedPublicKey(pk).wpubkey_hash(),
                    );
                    e.insert(
                        "redeemScript".into(),
                        inner.as_bytes().to_lower_hex_string().into(),
                    );
                }
            }
        }
        e.insert(
            "scriptPubKey".into(),
            script.as_bytes().to_lower_hex_string().into(),
        );
        e.insert("amount".into(), amount(c.txout.value.to_sat() as i64));
        e.insert("confirmations".into(), c.depth.into());
        e.insert("spendable".into(), true.into());
        e.insert("solvable".into(), true.into());
        if let Some(d) = w.descriptors().get(&c.origin.desc) {
            e.insert(
                "desc".into(),
                d.inferred_string(c.origin.index, w.network()).into(),
            );
        }
        e.insert("parent_descs".into(), parent_descs(w, script));
        if w.avoid_reuse() {
            e.insert("reused".into(), false.into());
        }
        e.insert("safe".into(), c.safe.into());
        out.push(Value::Object(e));
    }
    Ok(Value::Array(out))
}

/// Core's `bip125-replaceable` for a wallet transaction.
fn rbf_status(w: &Wallet, wtx: &WalletTx) -> &'static str {
    if wtx.depth(tip(w)) > 0 {
        return "no";
    }
    let signals = |t: &bitcoin::Transaction| t.input.iter().any(|i| i.sequence.0 < 0xffff_fffe);
    if signals(&wtx.tx) {
        return "yes";
    }
    if !wtx.in_mempool() {
        return "unknown";
    }
    // Replaceable when an unconfirmed wallet ancestor signals.
    for i in &wtx.tx.input {
        if let Some(p) = w.ledger().get(&i.previous_output.txid) {
            if p.depth(tip(w)) == 0 && signals(&p.tx) {
                return "yes";
            }
        }
    }
    "no"
}

/// Core's `WalletTxToJSON`.
fn wallet_tx_fields(w: &Wallet, wtx: &WalletTx, e: &mut Map<String, Value>) {
    let depth = wtx.depth(tip(w));
    e.insert("confirmations".into(), depth.into());
    if wtx.is_coinbase() {
        e.insert("generated".into(), true.into());
    }
    if let Some((hash, height, index, time)) = wtx.block() {
        e.insert("blockhash".into(), hash.to_string().into());
        e.insert("blockheight".into(), height.into());
        e.insert("blockindex".into(), index.into());
        e.insert("blocktime".into(), time.into());
    } else {
        e.insert(
            "trusted".into(),
            w.ledger().is_trusted(wtx, w.script_index(), tip(w)).into(),
        );
    }
    e.insert("txid".into(), wtx.txid.to_string().into());
    e.insert("wtxid".into(), wtx.tx.compute_wtxid().to_string().into());
    let conflicts: Vec<Value> = w
        .ledger()
        .conflicts(wtx)
        .into_iter()
        .map(|t| t.to_string().into())
        .collect();
    e.insert("walletconflicts".into(), Value::Array(conflicts));
    e.insert("mempoolconflicts".into(), Value::Array(vec![]));
    e.insert("time".into(), wtx.time.into());
    e.insert("timereceived".into(), wtx.time_received.into());
    e.insert("bip125-replaceable".into(), rbf_status(w, wtx).into());
    if let Some(c) = &wtx.comment {
        e.insert("comment".into(), c.clone().into());
    }
    if let Some(c) = &wtx.comment_to {
        e.insert("to".into(), c.clone().into());
    }
}

/// Core's `ListTransactions` for one transaction: send entries, then
/// receive entries.
fn list_entries(
    w: &Wallet,
    wtx: &WalletTx,
    long: bool,
    filter_label: Option<&str>,
    out: &mut Vec<Value>,
) {
    let scripts = w.script_index();
    let debit = w.ledger().debit(wtx, scripts).to_sat() as i64;
    let value_out: i64 = wtx.tx.output.iter().map(|o| o.value.to_sat() as i64).sum();
    let fee = if debit > 0 { debit - value_out } else { 0 };
    let mut sent = Vec::new();
    let mut received = Vec::new();
    for (n, o) in wtx.tx.output.iter().enumerate() {
        let mine = scripts.contains(o.script_pubkey.as_bytes());
        if debit > 0 {
            if w.is_change(&o.script_pubkey) {
                continue;
            }
        } else if !mine {
            continue;
        }
        if debit > 0 {
            sent.push((n, o));
        }
        if mine {
            received.push((n, o));
        }
    }
    if filter_label.is_none() {
        for (n, o) in &sent {
            let mut e = Map::new();
            if let Some(a) = address_string(w, &o.script_pubkey) {
                e.insert("address".into(), a.into());
            }
            e.insert("category".into(), "send".into());
            e.insert("amount".into(), amount(-(o.value.to_sat() as i64)));
            if let Some(l) = w.label(&o.script_pubkey) {
                e.insert("label".into(), l.into());
            }
            e.insert("vout".into(), (*n).into());
            e.insert("fee".into(), amount(-fee));
            if long {
                wallet_tx_fields(w, wtx, &mut e);
            }
            e.insert("abandoned".into(), wtx.is_abandoned().into());
            out.push(Value::Object(e));
        }
    }
    let depth = wtx.depth(tip(w));
    if received.is_empty() || depth < 0 && !wtx.is_coinbase() {
        return;
    }
    for (n, o) in received {
        let label = w.label(&o.script_pubkey);
        if let Some(f) = filter_label {
            if label.unwrap_or("") != f {
                continue;
            }
        }
        let mut e = Map::new();
        if let Some(a) = address_string(w, &o.script_pubkey) {
            e.insert("address".into(), a.into());
        }
        e.insert("parent_descs".into(), parent_descs(w, &o.script_pubkey));
        let category = if wtx.is_coinbase() {
            if depth < 1 {
                "orphan"
            } else if wtx.is_immature(tip(w)) {
                "immature"
            } else {
                "generate"
            }
        } else {
            "receive"
        };
        e.insert("category".into(), category.into());
        e.insert("amount".into(), amount(o.value.to_sat() as i64));
        if let Some(l) = label {
            e.insert("label".into(), l.into());
        }
        e.insert("vout".into(), n.into());
        e.insert("abandoned".into(), wtx.is_abandoned().into());
        if long {
            wallet_tx_fields(w, wtx, &mut e);
        }
        out.push(Value::Object(e));
    }
}

fn listtransactions(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let filter = match p.str(0) {
        None | Some("*") => None,
        Some(_) => {
            let l = label_from_value(p.get(0))?;
            if l.is_empty() {
                return Err(RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    "Label argument must be a valid label name or \"*\".",
                ));
            }
            Some(l)
        }
    };
    let count = p.int(1)?.unwrap_or(10);
    let skip = p.int(2)?.unwrap_or(0);
    if count < 0 {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Negative count",
        ));
    }
    if skip < 0 {
        return Err(RpcError::new(codes::RPC_INVALID_PARAMETER, "Negative from"));
    }
    let (count, skip) = (count as usize, skip as usize);
    let mut ret = Vec::new();
    for wtx in w.ledger().ordered().into_iter().rev() {
        list_entries(w, wtx, true, filter.as_deref(), &mut ret);
        if ret.len() >= count + skip {
            break;
        }
    }
    // `ret` holds newest transactions first; return oldest to newest.
    let skip = skip.min(ret.len());
    let count = count.min(ret.len() - skip);
    let rev: Vec<Value> = ret.into_iter().rev().collect();
    let end = rev.len() - skip;
    Ok(Value::Array(rev[end - count..end].to_vec()))
}

fn gettransaction(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let txid: Txid = parse_hash_v(p.get(0).unwrap_or(&Value::Null), "txid")?;
    let verbose = p.bool(2).unwrap_or(false);
    let Some(wtx) = w.ledger().get(&txid) else {
        return Err(RpcError::new(
            codes::RPC_INVALID_ADDRESS_OR_KEY,
            "Invalid or non-wallet transaction id",
        ));
    };
    let scripts = w.script_index();
    let credit = if wtx.is_immature(tip(w)) {
        0
    } else {
        w.ledger().credit(wtx, scripts).to_sat() as i64
    };
    let debit = w.ledger().debit(wtx, scripts).to_sat() as i64;
    let from_me = w.ledger().is_from_me(wtx, scripts);
    let value_out: i64 = wtx.tx.output.iter().map(|o| o.value.to_sat() as i64).sum();
    let fee = if from_me { value_out - debit } else { 0 };
    let mut e = Map::new();
    e.insert("amount".into(), amount(credit - debit - fee));
    if from_me {
        e.insert("fee".into(), amount(fee));
    }
    wallet_tx_fields(w, wtx, &mut e);
    let mut details = Vec::new();
    list_entries(w, wtx, false, None, &mut details);
    e.insert("details".into(), Value::Array(details));
    e.insert(
        "hex".into(),
        bitcoin::consensus::encode::serialize_hex(&wtx.tx).into(),
    );
    if verbose {
        let decoded = tx_to_json(&wtx.tx, &TxJsonOptions::new(w.network()))?;
        e.insert("decoded".into(), decoded);
    }
    append_last_block(w, &mut e);
    Ok(Value::Object(e))
}

fn abandontransaction(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let txid: Txid = parse_hash_v(p.get(0).unwrap_or(&Value::Null), "txid")?;
    w.abandon_transaction(&txid).map_err(|e| match e {
        WalletError::Other(m) => RpcError::new(codes::RPC_INVALID_ADDRESS_OR_KEY, m),
        other => other.into(),
    })?;
    Ok(Value::Null)
}

fn rescanblockchain(w: &mut Wallet, p: &Params, chain: &dyn Chain) -> Result<Value, RpcError> {
    super::ensure_unlocked(w)?;
    let tip_height = w.last_block().map(|b| i64::from(b.0)).unwrap_or(-1);
    let start = p.int(0)?.unwrap_or(0);
    if start < 0 || start > tip_height {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Invalid start_height",
        ));
    }
    let stop = p.int(1)?;
    if let Some(s) = stop {
        if s < 0 || s > tip_height {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Invalid stop_height",
            ));
        }
        if s < start {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "stop_height must be greater than start_height",
            ));
        }
    }
    let last = w
        .rescan(chain, start as u32, Some(stop.unwrap_or(tip_height) as u32))
        .map_err(|e| RpcError::new(codes::RPC_MISC_ERROR, e.to_string()))?;
    let mut o = Map::new();
    o.insert("start_height".into(), start.into());
    o.insert(
        "stop_height".into(),
        last.map(Value::from).unwrap_or(Value::Null),
    );
    Ok(Value::Object(o))
}
