//! `sendtoaddress`, `send`, `fundrawtransaction`,
//! `signrawtransactionwithwallet`, `walletcreatefundedpsbt`,
//! `walletprocesspsbt`.

use std::collections::HashSet;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hex::FromHex;
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxOut, Txid, Witness};
use btc_core::json::{decode_hex_tx, parse_amount, parse_fixed_point, parse_hash_v};
use serde_json::{Map, Value};

use super::base64;
use super::params::{get_bool, get_int, get_str, Params, Spec, Ty};
use super::{amount, ensure_unlocked, recipient_address, Method};
use crate::chain::Chain;
use crate::error::{codes, RpcError, WalletError};
use crate::output_type::OutputType;
use crate::spend::{CoinControl, FeeRateKvb, Recipient};
use crate::wallet::Wallet;

pub(crate) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "sendtoaddress",
            spec: Spec {
                args: &[
                    ("address", Ty::Str),
                    ("amount", Ty::Amount),
                    ("comment", Ty::Str),
                    ("comment_to", Ty::Str),
                    ("subtractfeefromamount", Ty::Bool),
                    ("replaceable", Ty::Bool),
                    ("conf_target", Ty::Num),
                    ("estimate_mode", Ty::Str),
                    ("avoid_reuse", Ty::Bool),
                    ("fee_rate", Ty::Amount),
                    ("verbose", Ty::Bool),
                ],
                required: 2,
                usage: "sendtoaddress \"address\" amount ( \"comment\" \"comment_to\" subtractfeefromamount replaceable conf_target \"estimate_mode\" avoid_reuse fee_rate verbose )",
            },
            run: sendtoaddress,
        },
        Method {
            name: "send",
            spec: Spec {
                args: &[
                    ("outputs", Ty::Any),
                    ("conf_target", Ty::Num),
                    ("estimate_mode", Ty::Str),
                    ("fee_rate", Ty::Amount),
                    ("options", Ty::Obj),
                ],
                required: 1,
                usage: "send [{\"address\":amount,...},{\"data\":\"hex\"},...] ( conf_target \"estimate_mode\" fee_rate options )",
            },
            run: send,
        },
        Method {
            name: "fundrawtransaction",
            spec: Spec {
                args: &[("hexstring", Ty::Str), ("options", Ty::Any), ("iswitness", Ty::Bool)],
                required: 1,
                usage: "fundrawtransaction \"hexstring\" ( options iswitness )",
            },
            run: fundrawtransaction,
        },
        Method {
            name: "signrawtransactionwithwallet",
            spec: Spec {
                args: &[("hexstring", Ty::Str), ("prevtxs", Ty::Arr), ("sighashtype", Ty::Str)],
                required: 1,
                usage: "signrawtransactionwithwallet \"hexstring\" ( [{\"txid\":\"hex\",\"vout\":n,\"scriptPubKey\":\"hex\",\"redeemScript\":\"hex\",\"witnessScript\":\"hex\",\"amount\":amount},...] \"sighashtype\" )",
            },
            run: signrawtransactionwithwallet,
        },
        Method {
            name: "walletcreatefundedpsbt",
            spec: Spec {
                args: &[
                    ("inputs", Ty::Arr),
                    ("outputs", Ty::Any),
                    ("locktime", Ty::Num),
                    ("options", Ty::Obj),
                    ("bip32derivs", Ty::Bool),
                ],
                required: 2,
                usage: "walletcreatefundedpsbt ( [{\"txid\":\"hex\",\"vout\":n,\"sequence\":n,\"weight\":n},...] ) [{\"address\":amount,...},{\"data\":\"hex\"},...] ( locktime options bip32derivs )",
            },
            run: walletcreatefundedpsbt,
        },
        Method {
            name: "walletprocesspsbt",
            spec: Spec {
                args: &[
                    ("psbt", Ty::Str),
                    ("sign", Ty::Bool),
                    ("sighashtype", Ty::Str),
                    ("bip32derivs", Ty::Bool),
                    ("finalize", Ty::Bool),
                ],
                required: 1,
                usage: "walletprocesspsbt \"psbt\" ( sign \"sighashtype\" bip32derivs finalize )",
            },
            run: walletprocesspsbt,
        },
    ]
}

/// Core's fee rate argument: sat/vB with up to 3 decimals.
fn parse_fee_rate(v: &Value) -> Result<FeeRateKvb, RpcError> {
    let text = match v {
        Value::Number(n) => n.as_str().to_owned(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(RpcError::new(
                codes::RPC_TYPE_ERROR,
                "Amount is not a number or string",
            ))
        }
    };
    let v = parse_fixed_point(&text, 3)
        .ok_or_else(|| RpcError::new(codes::RPC_TYPE_ERROR, "Invalid amount"))?;
    if v < 0 {
        return Err(RpcError::new(codes::RPC_TYPE_ERROR, "Amount out of range"));
    }
    Ok(FeeRateKvb(v as u64))
}

/// Core's `SetFeeEstimateMode`.
fn fee_mode(
    cc: &mut CoinControl,
    conf_target: Option<&Value>,
    estimate_mode: Option<&Value>,
    fee_rate: Option<&Value>,
) -> Result<(), RpcError> {
    if let Some(mode) = estimate_mode {
        let m = get_str(mode)?.to_ascii_lowercase();
        if !matches!(m.as_str(), "unset" | "economical" | "conservative") {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
            ));
        }
        if fee_rate.is_some() && m != "unset" {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Cannot specify both estimate_mode and fee_rate",
            ));
        }
    }
    if let Some(r) = fee_rate {
        if conf_target.is_some() {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Cannot specify both conf_target and fee_rate. Please provide either a confirmation target in blocks for automatic fee estimation, or an explicit fee rate.",
            ));
        }
        cc.fee_rate = Some(parse_fee_rate(r)?);
    }
    if let Some(t) = conf_target {
        let t = get_int(t)?;
        if !(1..=1008).contains(&t) {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Invalid conf_target, must be between 1 and 1008",
            ));
        }
        cc.conf_target = Some(t as u32);
    }
    Ok(())
}

/// Core's `ParseOutputs`: `{address: amount, "data": hex}` objects, or an
/// array of them.
fn parse_outputs(w: &Wallet, v: &Value) -> Result<Vec<(ScriptBuf, Amount)>, RpcError> {
    let mut pairs: Vec<(String, Value)> = Vec::new();
    match v {
        Value::Object(o) => pairs.extend(o.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Value::Array(a) => {
            for item in a {
                let Value::Object(o) = item else {
                    return Err(RpcError::new(
                        codes::RPC_INVALID_PARAMETER,
                        "Invalid parameter, key-value pair must contain exactly one key",
                    ));
                };
                if o.len() != 1 {
                    return Err(RpcError::new(
                        codes::RPC_INVALID_PARAMETER,
                        "Invalid parameter, key-value pair must contain exactly one key",
                    ));
                }
                pairs.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        _ => {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Invalid parameter, key-value pair not an object as expected",
            ))
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut data_seen = false;
    for (k, v) in pairs {
        if k == "data" {
            if data_seen {
                return Err(RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    "Invalid parameter, duplicate key: data",
                ));
            }
            data_seen = true;
            let hex = get_str(&v)?;
            let bytes = Vec::<u8>::from_hex(hex).map_err(|_| {
                RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    format!("Data must be hexadecimal string (not '{hex}')"),
                )
            })?;
            let push = bitcoin::script::PushBytesBuf::try_from(bytes)
                .map_err(|_| RpcError::new(codes::RPC_INVALID_PARAMETER, "Data too large"))?;
            out.push((ScriptBuf::new_op_return(push), Amount::ZERO));
            continue;
        }
        let addr = recipient_address(w, &k)?;
        if !seen.insert(k.clone()) {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                format!("Invalid parameter, duplicated address: {k}"),
            ));
        }
        out.push((addr.script_pubkey(), parse_amount(&v)?));
    }
    Ok(out)
}

/// The `subtractfeefromamount`/`subtract_fee_from_outputs` indexes.
fn sffo_indexes(v: Option<&Value>, n: usize) -> Result<HashSet<usize>, RpcError> {
    let mut set = HashSet::new();
    if let Some(Value::Array(a)) = v {
        for x in a {
            let i = get_int(x)?;
            if i < 0 || i as usize >= n {
                return Err(RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    format!("Invalid parameter, value out of range: {i}"),
                ));
            }
            if !set.insert(i as usize) {
                return Err(RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    format!("Invalid parameter, duplicated position: {i}"),
                ));
            }
        }
    }
    Ok(set)
}

/// Funding options shared by `send`, `fundrawtransaction` and
/// `walletcreatefundedpsbt` (Core's `FundTxDoc` options).
fn funding_options(
    w: &Wallet,
    cc: &mut CoinControl,
    o: &Map<String, Value>,
    rbf_key: &str,
) -> Result<(), RpcError> {
    if let Some(a) = o.get("changeAddress").or_else(|| o.get("change_address")) {
        let addr = crate::addresses::parse_address(get_str(a)?, w.network()).ok_or_else(|| {
            RpcError::new(
                codes::RPC_INVALID_ADDRESS_OR_KEY,
                "Change address must be a valid bitcoin address",
            )
        })?;
        cc.change_script = Some(addr.script_pubkey());
    }
    if let Some(p) = o.get("changePosition").or_else(|| o.get("change_position")) {
        let p = get_int(p)?;
        if p < 0 {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "changePosition out of bounds",
            ));
        }
        cc.change_position = Some(p as usize);
    }
    if let Some(t) = o.get("change_type") {
        if cc.change_script.is_some() {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Cannot specify both changeAddress and address_type options",
            ));
        }
        let s = get_str(t)?;
        cc.change_type = Some(OutputType::parse(s).ok_or_else(|| {
            RpcError::new(
                codes::RPC_INVALID_ADDRESS_OR_KEY,
                format!("Unknown change type '{s}'"),
            )
        })?);
    }
    if let Some(b) = o.get("add_inputs") {
        cc.add_inputs = get_bool(b)?;
    }
    if let Some(b) = o.get("include_unsafe") {
        cc.include_unsafe = get_bool(b)?;
    }
    if let Some(b) = o.get(rbf_key) {
        cc.replaceable = Some(get_bool(b)?);
    }
    if let Some(r) = o.get("feeRate") {
        if o.contains_key("fee_rate") {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Cannot specify both fee_rate (sat/vB) and feeRate (BTC/kvB)",
            ));
        }
        let btc_kvb = parse_amount(r)?;
        cc.fee_rate = Some(FeeRateKvb(btc_kvb.to_sat()));
    }
    fee_mode(
        cc,
        o.get("conf_target"),
        o.get("estimate_mode"),
        o.get("fee_rate"),
    )?;
    Ok(())
}

fn create_err(e: WalletError, code: i32) -> RpcError {
    match e {
        WalletError::InsufficientFunds(m) | WalletError::Other(m) => RpcError::new(code, m),
        other => other.into(),
    }
}

fn sendtoaddress(w: &mut Wallet, p: &Params, chain: &dyn Chain) -> Result<Value, RpcError> {
    ensure_unlocked(w)?;
    let addr = recipient_address(w, p.str(0).unwrap_or_default())?;
    let value = parse_amount(p.get(1).unwrap_or(&Value::Null))?;
    if value == Amount::ZERO {
        return Err(RpcError::new(
            codes::RPC_TYPE_ERROR,
            "Invalid amount for send",
        ));
    }
    let comment = p.str(2).filter(|s| !s.is_empty()).map(str::to_owned);
    let comment_to = p.str(3).filter(|s| !s.is_empty()).map(str::to_owned);
    let sffo = p.bool(4).unwrap_or(false);
    let mut cc = CoinControl {
        replaceable: p.bool(5),
        ..CoinControl::default()
    };
    fee_mode(&mut cc, p.get(6), p.get(7), p.get(9))?;
    let verbose = p.bool(10).unwrap_or(false);
    let created = w
        .create_transaction(
            &[Recipient {
                script: addr.script_pubkey(),
                amount: value,
                subtract_fee: sffo,
            }],
            &cc,
            chain,
            true,
        )
        .map_err(|e| create_err(e, codes::RPC_WALLET_INSUFFICIENT_FUNDS))?;
    if !created.complete {
        return Err(RpcError::new(
            codes::RPC_WALLET_ERROR,
            "Signing transaction failed",
        ));
    }
    let (txid, _) = w.commit_transaction(created.tx, comment, comment_to, chain)?;
    if verbose {
        let mut o = Map::new();
        o.insert("txid".into(), txid.to_string().into());
        let reason = if cc.fee_rate.is_some() {
            "Fallback fee"
        } else if chain
            .estimate_fee(cc.conf_target.unwrap_or(w.options().confirm_target))
            .is_some()
        {
            "Conservative Double Target longer horizon"
        } else {
            "Fallback fee"
        };
        o.insert("fee_reason".into(), reason.into());
        return Ok(Value::Object(o));
    }
    Ok(txid.to_string().into())
}

fn recipients_from(outputs: Vec<(ScriptBuf, Amount)>, sffo: &HashSet<usize>) -> Vec<Recipient> {
    outputs
        .into_iter()
        .enumerate()
        .map(|(i, (script, amount))| Recipient {
            script,
            amount,
            subtract_fee: sffo.contains(&i),
        })
        .collect()
}

fn send(w: &mut Wallet, p: &Params, chain: &dyn Chain) -> Result<Value, RpcError> {
    ensure_unlocked(w)?;
    let outputs = parse_outputs(w, p.get(0).unwrap_or(&Value::Null))?;
    let empty = Map::new();
    let opts = p.get(4).and_then(Value::as_object).unwrap_or(&empty);
    let mut cc = CoinControl {
        add_inputs: true,
        ..CoinControl::default()
    };
    if p.get(1).is_some() && opts.contains_key("conf_target")
        || p.get(3).is_some() && opts.contains_key("fee_rate")
    {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Pass conf_target and fee_rate either as arguments or in the options object, not both",
        ));
    }
    funding_options(w, &mut cc, opts, "replaceable")?;
    fee_mode(&mut cc, p.get(1), p.get(2), p.get(3))?;
    if let Some(Value::Array(inputs)) = opts.get("inputs") {
        for i in inputs {
            cc.inputs.push(parse_input(i)?.0);
        }
        cc.add_inputs = opts
            .get("add_inputs")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    }
    if let Some(l) = opts.get("locktime") {
        cc.lock_time = Some(get_int(l)?.clamp(0, i64::from(u32::MAX)) as u32);
    }
    let sffo = sffo_indexes(opts.get("subtract_fee_from_outputs"), outputs.len())?;
    let add_to_wallet = opts
        .get("add_to_wallet")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let psbt_opt_in = opts.get("psbt").and_then(Value::as_bool).unwrap_or(false);
    let created = w
        .create_transaction(&recipients_from(outputs, &sffo), &cc, chain, true)
        .map_err(|e| create_err(e, codes::RPC_WALLET_ERROR))?;
    let mut o = Map::new();
    if psbt_opt_in || !created.complete || !add_to_wallet {
        let psbt = w.psbt_of(&created.tx)?;
        o.insert("psbt".into(), base64::encode(&psbt.serialize()).into());
    }
    if created.complete {
        let txid = created.tx.compute_txid();
        o.insert("txid".into(), txid.to_string().into());
        if add_to_wallet && !psbt_opt_in {
            w.commit_transaction(created.tx, None, None, chain)?;
        } else {
            o.insert("hex".into(), serialize_hex(&created.tx).into());
        }
    }
    o.insert("complete".into(), created.complete.into());
    Ok(Value::Object(o))
}

/// `{txid, vout, sequence?}` of `createrawtransaction`'s inputs.
fn parse_input(v: &Value) -> Result<(OutPoint, Option<u32>), RpcError> {
    let o = v.as_object().ok_or_else(|| {
        RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Invalid parameter, expected object",
        )
    })?;
    let txid: Txid = parse_hash_v(o.get("txid").unwrap_or(&Value::Null), "txid")?;
    let vout = match o.get("vout") {
        Some(v) => get_int(v)?,
        None => {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Invalid parameter, missing vout key",
            ))
        }
    };
    if vout < 0 || vout > i64::from(u32::MAX) {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Invalid parameter, vout cannot be negative",
        ));
    }
    let seq = o
        .get("sequence")
        .map(get_int)
        .transpose()?
        .map(|s| s.clamp(0, i64::from(u32::MAX)) as u32);
    Ok((OutPoint::new(txid, vout as u32), seq))
}

fn fundrawtransaction(w: &mut Wallet, p: &Params, chain: &dyn Chain) -> Result<Value, RpcError> {
    let tx = decode_hex_tx(p.get(0).unwrap_or(&Value::Null), true, true)?;
    let mut cc = CoinControl {
        add_inputs: true,
        inputs: tx.input.iter().map(|i| i.previous_output).collect(),
        lock_time: Some(tx.lock_time.to_consensus_u32()),
        version: Some(tx.version.0),
        ..CoinControl::default()
    };
    let empty = Map::new();
    let opts = match p.get(1) {
        Some(Value::Object(o)) => o,
        Some(Value::Bool(_)) | None => &empty,
        Some(other) => {
            return Err(RpcError::new(
                codes::RPC_TYPE_ERROR,
                format!(
                    "JSON value of type {} is not of expected type object",
                    super::params::type_name(other)
                ),
            ))
        }
    };
    funding_options(w, &mut cc, opts, "replaceable")?;
    let sffo = sffo_indexes(opts.get("subtractFeeFromOutputs"), tx.output.len())?;
    let outputs: Vec<(ScriptBuf, Amount)> = tx
        .output
        .iter()
        .map(|o| (o.script_pubkey.clone(), o.value))
        .collect();
    let lock = opts
        .get("lockUnspents")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let created = w
        .create_transaction(&recipients_from(outputs, &sffo), &cc, chain, false)
        .map_err(|e| create_err(e, codes::RPC_WALLET_ERROR))?;
    // Keep the original inputs' sequences and scripts.
    let mut out = created.tx.clone();
    for i in &mut out.input {
        if let Some(orig) = tx
            .input
            .iter()
            .find(|o| o.previous_output == i.previous_output)
        {
            i.sequence = orig.sequence;
            i.script_sig = orig.script_sig.clone();
            i.witness = orig.witness.clone();
        }
    }
    if lock {
        for i in &out.input {
            w.lock_coin(i.previous_output, true);
        }
    }
    let mut o = Map::new();
    o.insert("hex".into(), serialize_hex(&out).into());
    o.insert("fee".into(), amount(created.fee.to_sat() as i64));
    o.insert(
        "changepos".into(),
        created.change_pos.map(|p| p as i64).unwrap_or(-1).into(),
    );
    Ok(Value::Object(o))
}

fn signrawtransactionwithwallet(
    w: &mut Wallet,
    p: &Params,
    _: &dyn Chain,
) -> Result<Value, RpcError> {
    let tx = decode_hex_tx(p.get(0).unwrap_or(&Value::Null), true, true).map_err(|_| {
        RpcError::new(
            codes::RPC_DESERIALIZATION_ERROR,
            "TX decode failed. Make sure the tx has at least one input.",
        )
    })?;
    ensure_unlocked(w)?;
    if let Some(h) = p.str(2) {
        if !matches!(
            h,
            "DEFAULT"
                | "ALL"
                | "NONE"
                | "SINGLE"
                | "ALL|ANYONECANPAY"
                | "NONE|ANYONECANPAY"
                | "SINGLE|ANYONECANPAY"
        ) {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                format!("'{h}' is not a valid sighash parameter."),
            ));
        }
    }
    let mut extra = Vec::new();
    if let Some(Value::Array(prev)) = p.get(1) {
        for v in prev {
            let (op, _) = parse_input(v)?;
            let o = v.as_object().ok_or_else(|| {
                RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    "Invalid parameter, expected object",
                )
            })?;
            let spk = o
                .get("scriptPubKey")
                .map(get_str)
                .transpose()?
                .ok_or_else(|| {
                    RpcError::new(codes::RPC_INVALID_PARAMETER, "Missing scriptPubKey")
                })?;
            let spk = Vec::<u8>::from_hex(spk).map_err(|_| {
                RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    format!("scriptPubKey must be hexadecimal string (not '{spk}')"),
                )
            })?;
            let value = match o.get("amount") {
                Some(a) => parse_amount(a)?,
                None => Amount::ZERO,
            };
            extra.push((
                op,
                TxOut {
                    value,
                    script_pubkey: ScriptBuf::from_bytes(spk),
                },
            ));
        }
    }
    let (signed, _) = w.sign_transaction(&tx, &extra)?;
    let mut errors = Vec::new();
    for txin in &signed.input {
        if txin.script_sig.is_empty() && txin.witness.is_empty() {
            let known = w.ledger().output(&txin.previous_output).is_some()
                || extra.iter().any(|(o, _)| *o == txin.previous_output);
            let mut e = Map::new();
            e.insert("txid".into(), txin.previous_output.txid.to_string().into());
            e.insert("vout".into(), txin.previous_output.vout.into());
            e.insert("witness".into(), Value::Array(vec![]));
            e.insert("scriptSig".into(), "".into());
            e.insert("sequence".into(), txin.sequence.0.into());
            e.insert(
                "error".into(),
                if known {
                    "Unable to sign input, invalid stack size (possibly missing key)"
                } else {
                    "Input not found or already spent"
                }
                .into(),
            );
            errors.push(Value::Object(e));
        }
    }
    let mut o = Map::new();
    o.insert("hex".into(), serialize_hex(&signed).into());
    o.insert("complete".into(), errors.is_empty().into());
    if !errors.is_empty() {
        o.insert("errors".into(), Value::Array(errors));
    }
    Ok(Value::Object(o))
}

impl Wallet {
    /// A PSBT of `tx` with the wallet's knowledge filled in (no
    /// signatures).
    pub fn psbt_of(&self, tx: &Transaction) -> Result<Psbt, WalletError> {
        let mut unsigned = tx.clone();
        for i in &mut unsigned.input {
            i.script_sig = ScriptBuf::new();
            i.witness = Witness::new();
        }
        let mut psbt =
            Psbt::from_unsigned_tx(unsigned).map_err(|e| WalletError::Other(e.to_string()))?;
        self.fill_psbt(&mut psbt, &[]);
        Ok(psbt)
    }
}

fn walletcreatefundedpsbt(
    w: &mut Wallet,
    p: &Params,
    chain: &dyn Chain,
) -> Result<Value, RpcError> {
    let outputs = parse_outputs(w, p.get(1).unwrap_or(&Value::Null))?;
    let empty = Map::new();
    let opts = p.get(3).and_then(Value::as_object).unwrap_or(&empty);
    let mut cc = CoinControl::default();
    let mut sequences = Vec::new();
    if let Some(Value::Array(inputs)) = p.get(0) {
        for i in inputs {
            let (op, seq) = parse_input(i)?;
            cc.inputs.push(op);
            sequences.push((op, seq));
        }
    }
    cc.add_inputs = cc.inputs.is_empty();
    if let Some(l) = p.int(2)? {
        if !(0..=i64::from(u32::MAX)).contains(&l) {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Invalid parameter, locktime out of range",
            ));
        }
        cc.lock_time = Some(l as u32);
    }
    funding_options(w, &mut cc, opts, "replaceable")?;
    let sffo = sffo_indexes(opts.get("subtractFeeFromOutputs"), outputs.len())?;
    let created = w
        .create_transaction(&recipients_from(outputs, &sffo), &cc, chain, false)
        .map_err(|e| create_err(e, codes::RPC_WALLET_ERROR))?;
    let mut tx = created.tx.clone();
    for i in &mut tx.input {
        if let Some((_, Some(s))) = sequences.iter().find(|(o, _)| *o == i.previous_output) {
            i.sequence = Sequence(*s);
        }
    }
    if p.get(2).is_none() && cc.lock_time.is_none() {
        tx.lock_time = created.tx.lock_time;
    }
    let psbt = w.psbt_of(&tx)?;
    let mut o = Map::new();
    o.insert("psbt".into(), base64::encode(&psbt.serialize()).into());
    o.insert("fee".into(), amount(created.fee.to_sat() as i64));
    o.insert(
        "changepos".into(),
        created.change_pos.map(|p| p as i64).unwrap_or(-1).into(),
    );
    Ok(Value::Object(o))
}

fn walletprocesspsbt(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let text = p.str(0).unwrap_or_default();
    let bytes = base64::decode(text).ok_or_else(|| {
        RpcError::new(
            codes::RPC_DESERIALIZATION_ERROR,
            "TX decode failed invalid base64",
        )
    })?;
    let mut psbt = Psbt::deserialize(&bytes).map_err(|e| {
        RpcError::new(
            codes::RPC_DESERIALIZATION_ERROR,
            format!("TX decode failed {e}"),
        )
    })?;
    let sign = p.bool(1).unwrap_or(true);
    let finalize = p.bool(4).unwrap_or(true);
    if sign {
        ensure_unlocked(w)?;
    }
    w.fill_psbt(&mut psbt, &[]);
    if sign {
        w.sign_psbt(&mut psbt)?;
    }
    let complete = if finalize {
        Wallet::finalize_psbt(&mut psbt)
    } else {
        false
    };
    let mut o = Map::new();
    o.insert("psbt".into(), base64::encode(&psbt.serialize()).into());
    o.insert("complete".into(), complete.into());
    if complete {
        let tx = Wallet::psbt_transaction(&psbt);
        o.insert("hex".into(), serialize_hex(&tx).into());
    }
    Ok(Value::Object(o))
}
