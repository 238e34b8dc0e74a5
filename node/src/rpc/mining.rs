//! Mining methods: generate*, submitblock, getmininginfo.

use bitcoin::consensus::{deserialize, encode::serialize_hex};
use bitcoin::{Address, Block, ScriptBuf, Transaction};
use serde_json::{json, Value};

use super::args::{err, parse_hex, Params};
use super::Method;
use crate::chainstate::ProcessError;
use crate::http::{codes, RpcError};
use crate::node::Node;

pub(super) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "generatetoaddress",
            category: "generating",
            params: &["nblocks", "address", "maxtries"],
            usage: "generatetoaddress nblocks \"address\" ( maxtries )",
            run: generatetoaddress,
        },
        Method {
            name: "generatetodescriptor",
            category: "generating",
            params: &["num_blocks", "descriptor", "maxtries"],
            usage: "generatetodescriptor num_blocks \"descriptor\" ( maxtries )",
            run: generatetodescriptor,
        },
        Method {
            name: "generateblock",
            category: "generating",
            params: &["output", "transactions", "submit"],
            usage: "generateblock \"output\" [\"rawtx/txid\",...] ( submit )",
            run: generateblock,
        },
        Method {
            name: "submitblock",
            category: "mining",
            params: &["hexdata", "dummy"],
            usage: "submitblock \"hexdata\" ( \"dummy\" )",
            run: submitblock,
        },
        Method {
            name: "getmininginfo",
            category: "mining",
            params: &[],
            usage: "getmininginfo",
            run: getmininginfo,
        },
    ]
}

fn address_script(node: &Node, s: &str) -> Result<ScriptBuf, RpcError> {
    s.parse::<Address<_>>()
        .ok()
        .and_then(|a| a.require_network(node.params.network).ok())
        .map(|a| a.script_pubkey())
        .ok_or_else(|| err(codes::RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))
}

fn generate(node: &Node, n: i64, script: &ScriptBuf, max_tries: i64) -> Result<Value, RpcError> {
    if n < 0 {
        return Err(err(codes::RPC_INVALID_PARAMETER, "Invalid nblocks"));
    }
    let hashes = node
        .generate(n as u32, script, max_tries.max(0) as u64)
        .map_err(|e| err(codes::RPC_INTERNAL_ERROR, format!("generate: {e}")))?;
    Ok(json!(hashes
        .iter()
        .map(|h| h.to_string())
        .collect::<Vec<_>>()))
}

fn generatetoaddress(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    p.required(0, m.usage)?;
    let n = p.int(0)?.unwrap_or(0);
    let script = address_script(node, p.req_str(1, m.usage)?)?;
    generate(node, n, &script, p.int(2)?.unwrap_or(1_000_000))
}

fn generatetodescriptor(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    p.required(0, m.usage)?;
    let n = p.int(0)?.unwrap_or(0);
    let script = crate::mining::script_for_descriptor(p.req_str(1, m.usage)?, node.params.network)
        .map_err(|e| err(codes::RPC_INVALID_ADDRESS_OR_KEY, e.to_string()))?;
    generate(node, n, &script, p.int(2)?.unwrap_or(1_000_000))
}

fn generateblock(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let output = p.req_str(0, m.usage)?;
    let script = match address_script(node, output) {
        Ok(s) => s,
        Err(_) => {
            crate::mining::script_for_descriptor(output, node.params.network).map_err(|_| {
                err(
                    codes::RPC_INVALID_ADDRESS_OR_KEY,
                    "Error: Invalid address or descriptor".to_string(),
                )
            })?
        }
    };
    let list = match p.required(1, m.usage)? {
        Value::Array(a) => a.clone(),
        _ => {
            return Err(err(
                codes::RPC_TYPE_ERROR,
                "JSON value is not an array as expected",
            ))
        }
    };
    let submit = p.bool(2)?.unwrap_or(true);
    let mut txs = Vec::new();
    for item in &list {
        let s = item
            .as_str()
            .ok_or_else(|| err(codes::RPC_TYPE_ERROR, "transactions must be strings"))?;
        if let Ok(txid) = s.parse::<bitcoin::Txid>() {
            let st = node.lock();
            let tx = st
                .mempool
                .get(&txid)
                .map(|e| (*e.tx).clone())
                .ok_or_else(|| {
                    err(
                        codes::RPC_INVALID_ADDRESS_OR_KEY,
                        format!("Transaction {s} not in mempool."),
                    )
                })?;
            txs.push(tx);
        } else {
            let tx: Transaction = parse_hex(s)
                .and_then(|b| deserialize(&b).ok())
                .ok_or_else(|| err(codes::RPC_DESERIALIZATION_ERROR, format!("Transaction decode failed for {s}. Make sure the tx has at least one input.")))?;
            txs.push(tx);
        }
    }
    let block = node
        .generate_block(&script, txs, submit)
        .map_err(|e| err(codes::RPC_VERIFY_ERROR, e))?;
    let mut out = json!({"hash": block.block_hash().to_string()});
    if !submit {
        out["hex"] = json!(serialize_hex(&block));
    }
    Ok(out)
}

fn submitblock(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let hex = p.req_str(0, m.usage)?;
    let bytes = parse_hex(hex)
        .ok_or_else(|| err(codes::RPC_DESERIALIZATION_ERROR, "Block decode failed"))?;
    let block: Block = deserialize(&bytes)
        .map_err(|_| err(codes::RPC_DESERIALIZATION_ERROR, "Block decode failed"))?;
    if block.txdata.first().is_none_or(|tx| !tx.is_coinbase()) {
        return Err(err(
            codes::RPC_DESERIALIZATION_ERROR,
            "Block does not start with a coinbase",
        ));
    }
    match node.submit_block_status(&bytes) {
        Ok((_, true)) => Ok(Value::Null),
        // Core: accepted but never connected (a side branch with no more
        // work than the tip), so no validation verdict to report.
        Ok((_, false)) => Ok(json!("inconclusive")),
        Err(ProcessError::Duplicate) => Ok(json!("duplicate")),
        Err(ProcessError::DuplicateInvalid) => Ok(json!("duplicate-invalid")),
        Err(ProcessError::MissingParent) => Ok(json!("prev-blk-not-found")),
        Err(ProcessError::Invalid(r)) => Ok(json!(r.reason)),
        Err(ProcessError::Chain(e)) => Err(err(codes::RPC_DATABASE_ERROR, e.to_string())),
    }
}

fn getmininginfo(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    let st = node.lock();
    let tip = st.chain.tree().get(st.chain.tip());
    Ok(json!({
        "blocks": tip.height,
        "difficulty": btc_core::json::double(btc_core::json::difficulty(tip.header.bits)),
        "networkhashps": 0,
        "pooledtx": st.mempool.len(),
        "chain": super::blockchain::chain_name(node.params.network),
        "warnings": [],
    }))
}
