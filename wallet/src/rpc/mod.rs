//! The wallet's RPC methods with Bitcoin Core 28's names, parameters
//! (positional and named), errors and result shapes:
//! [`call`]`(wallet, method, params, chain)`.
//!
//! | module | methods |
//! |---|---|
//! | [`info`] | addresses, balances, `getwalletinfo`, encryption, descriptors, backup |
//! | [`txs`] | `listunspent`, `listtransactions`, `gettransaction`, `abandontransaction`, `rescanblockchain` |
//! | [`send`] | `sendtoaddress`, `send`, `fundrawtransaction`, `signrawtransactionwithwallet`, `walletcreatefundedpsbt`, `walletprocesspsbt` |

pub mod base64;
pub mod info;
pub mod params;
pub mod send;
pub mod txs;

use bitcoin::Address;
use serde_json::{Map, Value};

use crate::chain::Chain;
use crate::error::{codes, RpcError, MSG_UNLOCK_NEEDED};
use crate::wallet::Wallet;
use params::{Params, Spec};

/// One method: its name, arguments and code.
pub struct Method {
    /// Core's name.
    pub name: &'static str,
    /// Its arguments.
    pub spec: Spec,
    /// The implementation.
    pub run: fn(&mut Wallet, &Params, &dyn Chain) -> Result<Value, RpcError>,
}

/// Every wallet method (built once).
pub fn methods() -> &'static [Method] {
    static ALL: std::sync::OnceLock<Vec<Method>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = info::methods();
        all.extend(txs::methods());
        all.extend(send::methods());
        all
    })
}

/// Runs wallet method `method` with `params` (a JSON array, object or
/// null) against `wallet`. Errors are Core's `{code, message}`.
pub fn call(
    wallet: &mut Wallet,
    method: &str,
    params: &Value,
    chain: &dyn Chain,
) -> Result<Value, RpcError> {
    let Some(m) = methods().iter().find(|m| m.name == method) else {
        return Err(RpcError::new(
            codes::RPC_METHOD_NOT_FOUND,
            "Method not found",
        ));
    };
    let p = Params::new(params, &m.spec)?;
    (m.run)(wallet, &p, chain)
}

/// Core's `EnsureWalletIsUnlocked` (-13).
pub fn ensure_unlocked(w: &mut Wallet) -> Result<(), RpcError> {
    if w.is_locked() {
        return Err(RpcError::new(
            codes::RPC_WALLET_UNLOCK_NEEDED,
            MSG_UNLOCK_NEEDED,
        ));
    }
    Ok(())
}

/// Core's `AppendLastProcessedBlock`.
pub fn append_last_block(w: &Wallet, obj: &mut Map<String, Value>) {
    let mut lb = Map::new();
    match w.last_block() {
        Some((h, hash)) => {
            lb.insert("hash".into(), hash.to_string().into());
            lb.insert("height".into(), h.into());
        }
        None => {
            lb.insert(
                "hash".into(),
                bitcoin::BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros())
                    .to_string()
                    .into(),
            );
            lb.insert("height".into(), (-1).into());
        }
    }
    obj.insert("lastprocessedblock".into(), Value::Object(lb));
}

/// A destination for a payment (Core's `DecodeDestination`), or -5
/// "Invalid Bitcoin address: X".
pub fn recipient_address(w: &Wallet, text: &str) -> Result<Address, RpcError> {
    crate::addresses::parse_address(text, w.network()).ok_or_else(|| {
        RpcError::new(
            codes::RPC_INVALID_ADDRESS_OR_KEY,
            format!("Invalid Bitcoin address: {text}"),
        )
    })
}

/// Core's `LabelFromValue`: a string other than `*`.
pub fn label_from_value(v: Option<&Value>) -> Result<String, RpcError> {
    match v {
        None => Ok(String::new()),
        Some(v) => {
            let s = params::get_str(v)?;
            if s == "*" {
                return Err(RpcError::new(
                    codes::RPC_WALLET_INVALID_LABEL_NAME,
                    "Invalid label name",
                ));
            }
            Ok(s.to_owned())
        }
    }
}

/// `amount` as Core writes it.
pub fn amount(sat: i64) -> Value {
    btc_core::json::amount(sat)
}
