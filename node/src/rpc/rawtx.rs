//! Raw transaction methods: decode, look up, send, test.

use bitcoin::consensus::{deserialize, encode::serialize_hex};
use bitcoin::{ScriptBuf, Transaction, Txid};
use btc_core::json as cj;
use serde_json::{json, Value};

use super::args::{err, parse_hash, parse_hex, Params};
use super::Method;
use crate::http::{codes, RpcError};
use crate::mempool::{AcceptOptions, FeeRate};
use crate::node::{Node, View};

pub(super) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "getrawtransaction",
            category: "rawtransactions",
            params: &["txid", "verbosity", "blockhash"],
            usage: "getrawtransaction \"txid\" ( verbosity \"blockhash\" )",
            run: getrawtransaction,
        },
        Method {
            name: "decoderawtransaction",
            category: "rawtransactions",
            params: &["hexstring", "iswitness"],
            usage: "decoderawtransaction \"hexstring\" ( iswitness )",
            run: decoderawtransaction,
        },
        Method {
            name: "decodescript",
            category: "rawtransactions",
            params: &["hexstring"],
            usage: "decodescript \"hexstring\"",
            run: decodescript,
        },
        Method {
            name: "sendrawtransaction",
            category: "rawtransactions",
            params: &["hexstring", "maxfeerate", "maxburnamount"],
            usage: "sendrawtransaction \"hexstring\" ( maxfeerate maxburnamount )",
            run: sendrawtransaction,
        },
        Method {
            name: "testmempoolaccept",
            category: "rawtransactions",
            params: &["rawtxs", "maxfeerate"],
            usage: "testmempoolaccept [\"rawtx\",...] ( maxfeerate )",
            run: testmempoolaccept,
        },
    ]
}

/// Core's `DecodeHexTx`: with witness first, then without.
pub(super) fn decode_tx(hex: &str) -> Result<Transaction, RpcError> {
    parse_hex(hex)
        .and_then(|b| deserialize::<Transaction>(&b).ok())
        .ok_or_else(|| err(codes::RPC_DESERIALIZATION_ERROR, "TX decode failed"))
}

fn tx_opts(node: &Node) -> cj::TxJsonOptions<'static> {
    cj::TxJsonOptions::new(node.params.network)
}

fn json_err(e: cj::ParamError) -> RpcError {
    err(e.code, e.message)
}

fn getrawtransaction(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let txid: Txid = parse_hash(p.req_str(0, m.usage)?, "parameter 1")?;
    let verbosity = match p.get(1) {
        None => 0,
        Some(Value::Bool(b)) => i64::from(*b),
        Some(_) => p.int(1)?.unwrap_or(0),
    };
    let block_hash = match p.str(2)? {
        Some(s) => Some(parse_hash::<bitcoin::BlockHash>(s, "parameter 3")?),
        None => None,
    };
    let mut st = node.lock();
    let mut found: Option<(Transaction, Option<bitcoin::BlockHash>)> = None;
    // Verbosity 2 (Core 25+): the outputs a confirmed transaction spent,
    // from its block's undo data, for `fee` and each input's `prevout`.
    let mut spent: Option<Vec<cj::SpentOutput>> = None;
    if block_hash.is_none() {
        if let Some(e) = st.mempool.get(&txid) {
            found = Some(((*e.tx).clone(), None));
        }
    }
    if found.is_none() {
        let idx =
            match block_hash {
                Some(h) => Some(st.chain.lookup(&h).ok_or_else(|| {
                    err(codes::RPC_INVALID_ADDRESS_OR_KEY, "Block hash not found")
                })?),
                None => st.chain.txindex_lookup(&txid),
            };
        if let Some(idx) = idx {
            let block = super::blockchain::read_block(&mut st.chain, idx)?;
            if let Some(pos) = block.txdata.iter().position(|t| t.compute_txid() == txid) {
                if verbosity >= 2 && pos > 0 {
                    spent = super::blockchain::spent_outputs(&mut st.chain, idx, &block)
                        .and_then(|mut all| all.get_mut(pos).map(std::mem::take));
                }
                let tx = block.txdata[pos].clone();
                found = Some((tx, Some(st.chain.tree().get(idx).hash)));
            } else if block_hash.is_some() {
                return Err(err(
                    codes::RPC_INVALID_ADDRESS_OR_KEY,
                    "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
                ));
            }
        }
    }
    let Some((tx, in_block)) = found else {
        let msg = if st.chain.has_txindex() {
            "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
        } else {
            "No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions."
        };
        return Err(err(codes::RPC_INVALID_ADDRESS_OR_KEY, msg));
    };
    if verbosity <= 0 {
        return Ok(json!(serialize_hex(&tx)));
    }
    let mut v = cj::tx_to_json(
        &tx,
        &cj::TxJsonOptions {
            include_hex: true,
            block_hash: in_block,
            spent: spent.as_deref(),
            show_prevout: spent.is_some(),
            ..tx_opts(node)
        },
    )
    .map_err(json_err)?;
    if let Some(h) = in_block {
        if let Some(idx) = st.chain.lookup(&h) {
            let e = st.chain.tree().get(idx);
            let active = st.chain.is_active(idx);
            v["in_active_chain"] = json!(active);
            if active {
                v["confirmations"] = json!(st.chain.height() - e.height + 1);
                v["time"] = json!(e.header.time);
                v["blocktime"] = json!(e.header.time);
            } else {
                v["confirmations"] = json!(0);
            }
        }
    }
    Ok(v)
}

fn decoderawtransaction(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let tx = decode_tx(p.req_str(0, m.usage)?)?;
    cj::tx_to_json(&tx, &tx_opts(node)).map_err(json_err)
}

fn decodescript(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let hex = p.req_str(0, m.usage)?;
    let bytes = parse_hex(hex).ok_or_else(|| {
        err(
            codes::RPC_INVALID_PARAMETER,
            format!("argument must be hexadecimal string (not '{hex}')"),
        )
    })?;
    Ok(cj::decode_script(
        &ScriptBuf::from_bytes(bytes),
        node.params.network,
    ))
}

/// Core's default `maxfeerate`: 0.10 BTC/kvB.
const DEFAULT_MAX_FEE_RATE_SAT_KVB: u64 = 10_000_000;

fn max_fee_rate(p: &Params, i: usize) -> Result<FeeRate, RpcError> {
    let sat_kvb = match p.get(i) {
        None => DEFAULT_MAX_FEE_RATE_SAT_KVB,
        Some(v) => cj::parse_amount(v).map_err(json_err)?.to_sat(),
    };
    Ok(FeeRate::from_sat_per_kvb(sat_kvb as i64))
}

fn sendrawtransaction(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let tx = decode_tx(p.req_str(0, m.usage)?)?;
    let max = max_fee_rate(p, 1)?;
    let txid = tx.compute_txid();
    let mut st = node.lock();
    let st = &mut *st;
    // Core: a transaction whose outputs are in the UTXO set is already in a block.
    for n in 0..tx.output.len() as u32 {
        if let Ok(Some(_)) = st.chain.coin(&bitcoin::OutPoint { txid, vout: n }) {
            return Err(err(
                codes::RPC_VERIFY_ALREADY_IN_CHAIN,
                "Transaction outputs already in utxo set",
            ));
        }
    }
    if st.mempool.get(&txid).is_some() {
        return Ok(json!(txid.to_string()));
    }
    let opts = AcceptOptions {
        test_only: false,
        max_fee_rate: Some(max),
        now: st.chain.now(),
    };
    match st
        .mempool
        .accept(tx.clone(), &View::new(&mut st.chain), opts)
    {
        Ok(accepted) => {
            node.publish_tx(&tx, &accepted);
            Ok(json!(txid.to_string()))
        }
        Err(r) => Err(err(r.rpc_code(), r.rpc_message())),
    }
}

fn testmempoolaccept(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let raw = match p.required(0, m.usage)? {
        Value::Array(a) => a.clone(),
        _ => {
            return Err(err(
                codes::RPC_TYPE_ERROR,
                "JSON value is not an array as expected",
            ))
        }
    };
    if raw.is_empty() || raw.len() > 25 {
        return Err(err(
            codes::RPC_INVALID_PARAMETER,
            "Array must contain between 1 and 25 transactions.",
        ));
    }
    let mut txs = Vec::new();
    for r in &raw {
        txs.push(decode_tx(r.as_str().unwrap_or(""))?);
    }
    let max = max_fee_rate(p, 1)?;
    let mut st = node.lock();
    let st = &mut *st;
    let now = st.chain.now();
    let result = st
        .mempool
        .test_accept_package(&txs, &View::new(&mut st.chain), now);
    Ok(crate::mempool::json::test_mempool_accept(&result, max))
}
