//! Addresses, balances, wallet info, encryption, descriptors and backup.

use std::path::Path;

use serde_json::{Map, Value};

use super::params::{get_bool, get_int, get_str, Params, Spec, Ty};
use super::{amount, append_last_block, ensure_unlocked, label_from_value, Method};
use crate::balance::get_balance;
use crate::chain::Chain;
use crate::error::{codes, RpcError, WalletError};
use crate::import::Import;
use crate::output_type::OutputType;
use crate::wallet::{now, Wallet};

pub(crate) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "getnewaddress",
            spec: Spec {
                args: &[("label", Ty::Str), ("address_type", Ty::Str)],
                required: 0,
                usage: "getnewaddress ( \"label\" \"address_type\" )",
            },
            run: getnewaddress,
        },
        Method {
            name: "getrawchangeaddress",
            spec: Spec {
                args: &[("address_type", Ty::Str)],
                required: 0,
                usage: "getrawchangeaddress ( \"address_type\" )",
            },
            run: getrawchangeaddress,
        },
        Method {
            name: "getaddressinfo",
            spec: Spec {
                args: &[("address", Ty::Str)],
                required: 1,
                usage: "getaddressinfo \"address\"",
            },
            run: getaddressinfo,
        },
        Method {
            name: "setlabel",
            spec: Spec {
                args: &[("address", Ty::Str), ("label", Ty::Str)],
                required: 2,
                usage: "setlabel \"address\" \"label\"",
            },
            run: setlabel,
        },
        Method {
            name: "getbalance",
            spec: Spec {
                args: &[
                    ("dummy", Ty::Str),
                    ("minconf", Ty::Num),
                    ("include_watchonly", Ty::Bool),
                    ("avoid_reuse", Ty::Bool),
                ],
                required: 0,
                usage: "getbalance ( \"dummy\" minconf include_watchonly avoid_reuse )",
            },
            run: getbalance,
        },
        Method {
            name: "getbalances",
            spec: Spec {
                args: &[],
                required: 0,
                usage: "getbalances",
            },
            run: getbalances,
        },
        Method {
            name: "getwalletinfo",
            spec: Spec {
                args: &[],
                required: 0,
                usage: "getwalletinfo",
            },
            run: getwalletinfo,
        },
        Method {
            name: "encryptwallet",
            spec: Spec {
                args: &[("passphrase", Ty::Str)],
                required: 1,
                usage: "encryptwallet \"passphrase\"",
            },
            run: encryptwallet,
        },
        Method {
            name: "walletpassphrase",
            spec: Spec {
                args: &[("passphrase", Ty::Str), ("timeout", Ty::Num)],
                required: 2,
                usage: "walletpassphrase \"passphrase\" timeout",
            },
            run: walletpassphrase,
        },
        Method {
            name: "walletpassphrasechange",
            spec: Spec {
                args: &[("oldpassphrase", Ty::Str), ("newpassphrase", Ty::Str)],
                required: 2,
                usage: "walletpassphrasechange \"oldpassphrase\" \"newpassphrase\"",
            },
            run: walletpassphrasechange,
        },
        Method {
            name: "walletlock",
            spec: Spec {
                args: &[],
                required: 0,
                usage: "walletlock",
            },
            run: walletlock,
        },
        Method {
            name: "importdescriptors",
            spec: Spec {
                args: &[("requests", Ty::Arr)],
                required: 1,
                usage: "importdescriptors requests",
            },
            run: importdescriptors,
        },
        Method {
            name: "listdescriptors",
            spec: Spec {
                args: &[("private", Ty::Bool)],
                required: 0,
                usage: "listdescriptors ( private )",
            },
            run: listdescriptors,
        },
        Method {
            name: "backupwallet",
            spec: Spec {
                args: &[("destination", Ty::Str)],
                required: 1,
                usage: "backupwallet \"destination\"",
            },
            run: backupwallet,
        },
    ]
}

fn keypool_err(e: WalletError) -> RpcError {
    match e {
        WalletError::Other(m) => RpcError::new(codes::RPC_WALLET_KEYPOOL_RAN_OUT, m),
        other => other.into(),
    }
}

fn parse_type(v: Option<&str>) -> Result<Option<OutputType>, RpcError> {
    match v {
        None => Ok(None),
        Some(s) => OutputType::parse(s).map(Some).ok_or_else(|| {
            RpcError::new(
                codes::RPC_INVALID_ADDRESS_OR_KEY,
                format!("Unknown address type '{s}'"),
            )
        }),
    }
}

fn getnewaddress(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    if !w.can_get_addresses(false) {
        return Err(RpcError::new(
            codes::RPC_WALLET_ERROR,
            "Error: This wallet has no available keys",
        ));
    }
    let label = label_from_value(p.get(0))?;
    let ty = parse_type(p.str(1))?;
    let addr = w.get_new_address(&label, ty).map_err(keypool_err)?;
    Ok(addr.to_string().into())
}

fn getrawchangeaddress(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    if !w.can_get_addresses(true) {
        return Err(RpcError::new(
            codes::RPC_WALLET_ERROR,
            "Error: This wallet has no available keys",
        ));
    }
    let ty = parse_type(p.str(0))?;
    let addr = w.get_raw_change_address(ty).map_err(keypool_err)?;
    Ok(addr.to_string().into())
}

fn getaddressinfo(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let text = p.str(0).unwrap_or_default();
    let addr = crate::addresses::parse_address(text, w.network())
        .ok_or_else(|| RpcError::new(codes::RPC_INVALID_ADDRESS_OR_KEY, "Invalid address"))?;
    Ok(w.address_info(&addr))
}

fn setlabel(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let text = p.str(0).unwrap_or_default();
    let addr = crate::addresses::parse_address(text, w.network()).ok_or_else(|| {
        RpcError::new(codes::RPC_INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address")
    })?;
    let label = label_from_value(p.get(1))?;
    w.set_label(&addr.script_pubkey(), Some(&label))?;
    Ok(Value::Null)
}

fn tip(w: &Wallet) -> Option<u32> {
    w.last_block().map(|b| b.0)
}

fn getbalance(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    if let Some(d) = p.str(0) {
        if d != "*" {
            return Err(RpcError::new(
                -32,
                "dummy first argument must be excluded or set to \"*\".",
            ));
        }
    }
    let minconf = p.int(1)?.unwrap_or(0);
    let b = get_balance(w.ledger(), w.script_index(), tip(w), minconf);
    Ok(amount(b.trusted.to_sat() as i64))
}

fn getbalances(w: &mut Wallet, _: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let b = get_balance(w.ledger(), w.script_index(), tip(w), 0);
    let mut mine = Map::new();
    mine.insert("trusted".into(), amount(b.trusted.to_sat() as i64));
    mine.insert(
        "untrusted_pending".into(),
        amount(b.untrusted_pending.to_sat() as i64),
    );
    mine.insert("immature".into(), amount(b.immature.to_sat() as i64));
    if w.avoid_reuse() {
        mine.insert("used".into(), amount(0));
    }
    let mut out = Map::new();
    out.insert("mine".into(), Value::Object(mine));
    append_last_block(w, &mut out);
    Ok(Value::Object(out))
}

fn getwalletinfo(w: &mut Wallet, _: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let b = get_balance(w.ledger(), w.script_index(), tip(w), 0);
    let (mut external, mut internal) = (0u64, 0u64);
    for d in w.descriptors().values().filter(|d| d.active) {
        let left = u64::from(d.range_end.saturating_sub(d.next_index));
        if d.internal {
            internal += left;
        } else {
            external += left;
        }
    }
    let mut o = Map::new();
    o.insert("walletname".into(), w.name().into());
    o.insert("walletversion".into(), 169_900.into());
    o.insert("format".into(), "redb".into());
    o.insert("balance".into(), amount(b.trusted.to_sat() as i64));
    o.insert(
        "unconfirmed_balance".into(),
        amount(b.untrusted_pending.to_sat() as i64),
    );
    o.insert(
        "immature_balance".into(),
        amount(b.immature.to_sat() as i64),
    );
    o.insert("txcount".into(), w.ledger().len().into());
    o.insert("keypoolsize".into(), external.into());
    o.insert("keypoolsize_hd_internal".into(), internal.into());
    if w.is_encrypted() {
        o.insert("unlocked_until".into(), w.unlocked_until().into());
    }
    let pay = w
        .options()
        .pay_tx_fee
        .map(|r| r.to_sat_per_kwu() as i64 * 4)
        .unwrap_or(0);
    o.insert("paytxfee".into(), amount(pay));
    o.insert(
        "private_keys_enabled".into(),
        (!w.private_keys_disabled()).into(),
    );
    o.insert("avoid_reuse".into(), w.avoid_reuse().into());
    o.insert("scanning".into(), crate::progress::scanning(w.name()));
    o.insert("descriptors".into(), true.into());
    o.insert("external_signer".into(), false.into());
    o.insert("blank".into(), w.is_blank().into());
    o.insert("birthtime".into(), w.birthtime().into());
    append_last_block(w, &mut o);
    Ok(Value::Object(o))
}

fn encryptwallet(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    if w.private_keys_disabled() {
        return Err(RpcError::new(
            codes::RPC_WALLET_ENCRYPTION_FAILED,
            "Error: wallet does not contain private keys, nothing to encrypt.",
        ));
    }
    if w.is_encrypted() {
        return Err(RpcError::new(
            codes::RPC_WALLET_WRONG_ENC_STATE,
            "Error: running with an encrypted wallet, but encryptwallet was called.",
        ));
    }
    let pass = p.str(0).unwrap_or_default();
    if pass.is_empty() {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "passphrase cannot be empty",
        ));
    }
    w.encrypt(pass).map_err(|e| match e {
        WalletError::Store(_) | WalletError::Other(_) => RpcError::new(
            codes::RPC_WALLET_ENCRYPTION_FAILED,
            "Error: Failed to encrypt the wallet.",
        ),
        other => other.into(),
    })?;
    Ok("wallet encrypted; The keypool has been flushed and a new HD seed was generated (if you are using HD). You need to make a new backup.".into())
}

fn walletpassphrase(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    if !w.is_encrypted() {
        return Err(RpcError::new(
            codes::RPC_WALLET_WRONG_ENC_STATE,
            "Error: running with an unencrypted wallet, but walletpassphrase was called.",
        ));
    }
    let pass = p.str(0).unwrap_or_default();
    let timeout = p.int(1)?.unwrap_or(0);
    if timeout < 0 {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Timeout cannot be negative.",
        ));
    }
    let timeout = timeout.min(100_000_000) as u64;
    if pass.is_empty() {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "passphrase cannot be empty",
        ));
    }
    w.unlock(pass, timeout)?;
    Ok(Value::Null)
}

fn walletpassphrasechange(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    if !w.is_encrypted() {
        return Err(RpcError::new(
            codes::RPC_WALLET_WRONG_ENC_STATE,
            "Error: running with an unencrypted wallet, but walletpassphrasechange was called.",
        ));
    }
    let old = p.str(0).unwrap_or_default();
    let new = p.str(1).unwrap_or_default();
    if old.is_empty() || new.is_empty() {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "passphrase cannot be empty",
        ));
    }
    w.change_passphrase(old, new)?;
    Ok(Value::Null)
}

fn walletlock(w: &mut Wallet, _: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    w.lock()?;
    Ok(Value::Null)
}

/// Core's `ParseDescriptorRange`.
fn parse_range(v: &Value) -> Result<(u32, u32), RpcError> {
    let bad = |m: &str| RpcError::new(codes::RPC_INVALID_PARAMETER, m);
    let (low, high) = match v {
        Value::Number(_) => (0, get_int(v)?),
        Value::Array(a) if a.len() == 2 => (get_int(&a[0])?, get_int(&a[1])?),
        _ => return Err(bad("Range must be specified as end or as [begin,end]")),
    };
    if low < 0 || high < 0 {
        return Err(bad("Range should be greater or equal than 0"));
    }
    if (high >> 31) != 0 {
        return Err(bad("End of range is too high"));
    }
    if high >= low + 1_000_000 {
        return Err(bad("Range is too large"));
    }
    if low > high {
        return Err(bad(
            "Range specified as [begin,end] must not have begin after end",
        ));
    }
    Ok((low as u32, high as u32))
}

/// Core's `GetImportTimestamp`.
fn import_timestamp(obj: &Map<String, Value>) -> Result<u64, RpcError> {
    match obj.get("timestamp") {
        Some(Value::Number(_)) => Ok(get_int(&obj["timestamp"])?.max(0) as u64),
        Some(Value::String(s)) if s == "now" => Ok(now()),
        Some(v) => Err(RpcError::new(
            codes::RPC_TYPE_ERROR,
            format!(
                "Expected number or \"now\" timestamp value for key. got type {}",
                super::params::type_name(v)
            ),
        )),
        None => Err(RpcError::new(
            codes::RPC_TYPE_ERROR,
            "Missing required timestamp field for key",
        )),
    }
}

/// One `importdescriptors` request (Core's `ProcessDescriptorImport`),
/// with its warnings.
fn import_one(w: &mut Wallet, v: &Value, warnings: &mut Vec<String>) -> Result<u64, RpcError> {
    let obj = v.as_object().ok_or_else(|| {
        RpcError::new(
            codes::RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type object",
                super::params::type_name(v)
            ),
        )
    })?;
    let desc_text = match obj.get("desc") {
        Some(d) => get_str(d)?,
        None => {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Descriptor not found.",
            ))
        }
    };
    let timestamp = import_timestamp(obj)?;
    let active = obj
        .get("active")
        .map(get_bool)
        .transpose()?
        .unwrap_or(false);
    let internal = obj
        .get("internal")
        .map(get_bool)
        .transpose()?
        .unwrap_or(false);
    let label = obj
        .get("label")
        .map(|l| label_from_value(Some(l)))
        .transpose()?;
    let (desc, keys, apostrophe) = crate::descriptor::parse(desc_text, true)
        .map_err(|e| RpcError::new(codes::RPC_INVALID_ADDRESS_OR_KEY, e.0))?;
    let ranged = desc.has_wildcard();
    let mut range = None;
    let mut next_index = None;
    if ranged {
        let (start, end) = match obj.get("range") {
            Some(r) => {
                let (a, b) = parse_range(r)?;
                (a, b + 1)
            }
            None => {
                warnings.push("Range not given, using default keypool range".into());
                (0, w.options().keypool_size)
            }
        };
        range = Some((start, end));
        let mut next = start;
        if let Some(n) = obj.get("next_index") {
            let n = get_int(n)?;
            if n < i64::from(start) || n >= i64::from(end) {
                return Err(RpcError::new(
                    codes::RPC_INVALID_PARAMETER,
                    "next_index is out of range",
                ));
            }
            next = n as u32;
        }
        next_index = Some(next);
    } else {
        if obj.contains_key("range") {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "Range should not be specified for an un-ranged descriptor",
            ));
        }
        if obj.contains_key("next_index") {
            return Err(RpcError::new(
                codes::RPC_INVALID_PARAMETER,
                "next_index provided for an un-ranged descriptor",
            ));
        }
    }
    if active && !ranged {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Active descriptors must be ranged",
        ));
    }
    if obj.contains_key("range") && obj.contains_key("label") {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Ranged descriptors should not have a label",
        ));
    }
    if internal && obj.contains_key("label") {
        return Err(RpcError::new(
            codes::RPC_INVALID_PARAMETER,
            "Internal addresses should not have a label",
        ));
    }
    if w.private_keys_disabled() && !keys.is_empty() {
        return Err(RpcError::new(
            codes::RPC_WALLET_ERROR,
            "Cannot import private keys to a wallet with private keys disabled",
        ));
    }
    if !w.private_keys_disabled() && keys.is_empty() {
        warnings.push(
            "Not all private keys provided. Some wallet functionality may return unexpected errors"
                .into(),
        );
    }
    if !keys.is_empty() {
        ensure_unlocked(w)?;
    }
    w.import_descriptor(Import {
        desc,
        keys,
        apostrophe,
        timestamp,
        range,
        next_index,
        active,
        internal,
        label,
    })?;
    Ok(timestamp)
}

fn importdescriptors(w: &mut Wallet, p: &Params, chain: &dyn Chain) -> Result<Value, RpcError> {
    let requests = p
        .get(0)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut results = Vec::new();
    let mut lowest: Option<u64> = None;
    for req in &requests {
        let mut warnings = Vec::new();
        let mut r = Map::new();
        match import_one(w, req, &mut warnings) {
            Ok(ts) => {
                lowest = Some(lowest.map_or(ts, |l| l.min(ts)));
                r.insert("success".into(), true.into());
            }
            Err(e) => {
                r.insert("success".into(), false.into());
                r.insert("error".into(), e.to_json());
            }
        }
        if !warnings.is_empty() {
            r.insert(
                "warnings".into(),
                Value::Array(warnings.into_iter().map(Value::from).collect()),
            );
        }
        results.push(Value::Object(r));
    }
    // Rescan from the earliest timestamp (less Core's 2-hour window).
    if let Some(ts) = lowest {
        if let Some(height) = chain.find_first_block_with_time(ts.saturating_sub(7200)) {
            let to = w.last_block().map(|b| b.0);
            if to.is_some_and(|t| height <= t) {
                w.rescan(chain, height, to)?;
            }
        }
    }
    Ok(Value::Array(results))
}

fn listdescriptors(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let private = p.bool(0).unwrap_or(false);
    if private && w.private_keys_disabled() {
        return Err(RpcError::new(
            codes::RPC_WALLET_ERROR,
            "Can't get descriptor string.",
        ));
    }
    if private {
        ensure_unlocked(w)?;
    }
    let keys = if private {
        Some(w.keymaps()?.clone())
    } else {
        None
    };
    let mut list: Vec<(String, Value)> = Vec::new();
    for d in w.descriptors().values() {
        let text = match &keys {
            Some(k) => match k.get(&d.id) {
                Some(km) => d.private_string(km),
                None => {
                    return Err(RpcError::new(
                        codes::RPC_WALLET_ERROR,
                        "Can't get descriptor string.",
                    ))
                }
            },
            None => d.public_string(),
        };
        let mut o = Map::new();
        o.insert("desc".into(), text.clone().into());
        o.insert("timestamp".into(), d.timestamp.into());
        o.insert("active".into(), d.active.into());
        if d.active {
            o.insert("internal".into(), d.internal.into());
        }
        if d.is_range() {
            o.insert(
                "range".into(),
                Value::Array(vec![
                    d.range_start.into(),
                    d.range_end.saturating_sub(1).into(),
                ]),
            );
            o.insert("next".into(), d.next_index.into());
            o.insert("next_index".into(), d.next_index.into());
        }
        list.push((text, Value::Object(o)));
    }
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Map::new();
    out.insert("wallet_name".into(), w.name().into());
    out.insert(
        "descriptors".into(),
        Value::Array(list.into_iter().map(|x| x.1).collect()),
    );
    Ok(Value::Object(out))
}

fn backupwallet(w: &mut Wallet, p: &Params, _: &dyn Chain) -> Result<Value, RpcError> {
    let dest = p.str(0).unwrap_or_default();
    w.backup(Path::new(dest))
        .map_err(|_| RpcError::new(codes::RPC_WALLET_ERROR, "Error: Wallet backup failed!"))?;
    Ok(Value::Null)
}
