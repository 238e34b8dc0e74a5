//! Blockchain methods: chain info, blocks, headers, tips, stats, the UTXO
//! set.

use bitcoin::consensus::{deserialize, encode::serialize_hex};
use bitcoin::hex::DisplayHex;
use bitcoin::{Block, BlockHash};
use btc_core::json as cj;
use serde_json::{json, Value};

use super::args::{err, parse_hash, Params};
use super::Method;
use crate::blockindex::{Idx, Status};
use crate::chainstate::Chainstate;
use crate::http::{codes, RpcError};
use crate::node::Node;

pub(super) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "getblockchaininfo",
            category: "blockchain",
            params: &[],
            usage: "getblockchaininfo",
            run: getblockchaininfo,
        },
        Method {
            name: "getblockcount",
            category: "blockchain",
            params: &[],
            usage: "getblockcount",
            run: getblockcount,
        },
        Method {
            name: "getbestblockhash",
            category: "blockchain",
            params: &[],
            usage: "getbestblockhash",
            run: getbestblockhash,
        },
        Method {
            name: "getblockhash",
            category: "blockchain",
            params: &["height"],
            usage: "getblockhash height",
            run: getblockhash,
        },
        Method {
            name: "getblock",
            category: "blockchain",
            params: &["blockhash", "verbosity"],
            usage: "getblock \"blockhash\" ( verbosity )",
            run: getblock,
        },
        Method {
            name: "getblockheader",
            category: "blockchain",
            params: &["blockhash", "verbose"],
            usage: "getblockheader \"blockhash\" ( verbose )",
            run: getblockheader,
        },
        Method {
            name: "getchaintips",
            category: "blockchain",
            params: &[],
            usage: "getchaintips",
            run: getchaintips,
        },
        Method {
            name: "getblockstats",
            category: "blockchain",
            params: &["hash_or_height", "stats"],
            usage: "getblockstats hash_or_height ( stats )",
            run: getblockstats,
        },
        Method {
            name: "getdifficulty",
            category: "blockchain",
            params: &[],
            usage: "getdifficulty",
            run: getdifficulty,
        },
        Method {
            name: "gettxout",
            category: "blockchain",
            params: &["txid", "n", "include_mempool"],
            usage: "gettxout \"txid\" n ( include_mempool )",
            run: gettxout,
        },
        Method {
            name: "gettxoutsetinfo",
            category: "blockchain",
            params: &["hash_type", "hash_or_height", "use_index"],
            usage: "gettxoutsetinfo ( \"hash_type\" hash_or_height use_index )",
            run: gettxoutsetinfo,
        },
        Method {
            name: "verifychain",
            category: "blockchain",
            params: &["checklevel", "nblocks"],
            usage: "verifychain ( checklevel nblocks )",
            run: verifychain,
        },
    ]
}

fn hex32(b: [u8; 32]) -> String {
    b.to_lower_hex_string()
}

/// Core's chain names.
pub(super) fn chain_name(n: bitcoin::Network) -> &'static str {
    match n {
        bitcoin::Network::Bitcoin => "main",
        bitcoin::Network::Testnet => "test",
        bitcoin::Network::Signet => "signet",
        bitcoin::Network::Regtest => "regtest",
        _ => "testnet4",
    }
}

fn getblockchaininfo(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    let st = node.lock();
    let c = &st.chain;
    let tip = c.tree().get(c.tip());
    Ok(json!({
        "chain": chain_name(node.params.network),
        "blocks": tip.height,
        "headers": tip.height,
        "bestblockhash": tip.hash.to_string(),
        "difficulty": cj::double(cj::difficulty(tip.header.bits)),
        "time": tip.header.time,
        "mediantime": tip.mtp,
        "verificationprogress": 1.0,
        "initialblockdownload": false,
        "chainwork": hex32(tip.chainwork.to_be_bytes()),
        "size_on_disk": c.size_on_disk(),
        "pruned": false,
        "warnings": [],
    }))
}

fn getblockcount(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    Ok(json!(node.lock().chain.height()))
}

fn getbestblockhash(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    let st = node.lock();
    Ok(json!(st.chain.tree().get(st.chain.tip()).hash.to_string()))
}

fn getblockhash(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    p.required(0, m.usage)?;
    let h = p.int(0)?.unwrap_or(-1);
    let st = node.lock();
    if h < 0 || h > i64::from(st.chain.height()) {
        return Err(err(
            codes::RPC_INVALID_PARAMETER,
            "Block height out of range",
        ));
    }
    Ok(json!(st.chain.hash_at(h as u32).map(|h| h.to_string())))
}

pub(super) fn find_block(c: &Chainstate, hash: &BlockHash) -> Result<Idx, RpcError> {
    c.lookup(hash)
        .ok_or_else(|| err(codes::RPC_INVALID_ADDRESS_OR_KEY, "Block not found"))
}

/// The header facts `getblockheader` and `getblock` report.
pub(super) fn header_info(c: &Chainstate, idx: Idx) -> cj::HeaderInfo {
    let e = c.tree().get(idx);
    let confirmations = if c.is_active(idx) {
        i64::from(c.height() - e.height) + 1
    } else {
        -1
    };
    let next = if c.is_active(idx) {
        c.hash_at(e.height + 1)
    } else {
        None
    };
    cj::HeaderInfo {
        height: e.height as i32,
        confirmations,
        median_time: e.mtp,
        chainwork: e.chainwork,
        n_tx: e.n_tx,
        next,
    }
}

pub(super) fn read_block(c: &mut Chainstate, idx: Idx) -> Result<Block, RpcError> {
    let bytes = c
        .read_block(idx)
        .map_err(|e| err(codes::RPC_MISC_ERROR, format!("Block not available ({e})")))?;
    deserialize(&bytes).map_err(|_| {
        err(
            codes::RPC_MISC_ERROR,
            "Block not available (does not decode)",
        )
    })
}

fn getblock(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let hash: BlockHash = p.hash(0, "blockhash", m.usage)?;
    // Core takes a number, or a boolean for the old `verbose`.
    let verbosity = match p.get(1) {
        None => 1,
        Some(Value::Bool(b)) => i64::from(*b),
        Some(_) => p.int(1)?.unwrap_or(1),
    };
    let mut st = node.lock();
    let c = &mut st.chain;
    let idx = find_block(c, &hash)?;
    if verbosity <= 0 {
        let bytes = c
            .read_block(idx)
            .map_err(|e| err(codes::RPC_MISC_ERROR, format!("Block not available ({e})")))?;
        return Ok(json!(bytes.to_lower_hex_string()));
    }
    let block = read_block(c, idx)?;
    let info = header_info(c, idx);
    let tx_verbosity = cj::TxVerbosity::from_getblock(verbosity).unwrap_or(cj::TxVerbosity::Txid);
    // Fees (verbosity 2) and prevouts (3) come from the undo data, which
    // only connected blocks have.
    let spent = if verbosity >= 2 {
        spent_outputs(c, idx, &block)
    } else {
        None
    };
    cj::block_to_json(
        &block,
        &info,
        tx_verbosity,
        node.params.network,
        spent.as_deref(),
    )
    .map_err(|e| err(e.code, e.message))
}

fn getblockheader(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let hash: BlockHash = p.hash(0, "blockhash", m.usage)?;
    let verbose = p.bool(1)?.unwrap_or(true);
    let st = node.lock();
    let c = &st.chain;
    let idx = find_block(c, &hash)?;
    let header = c.tree().get(idx).header;
    if !verbose {
        return Ok(json!(serialize_hex(&header)));
    }
    Ok(cj::header_to_json(&header, &header_info(c, idx)))
}

fn getchaintips(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    let st = node.lock();
    let c = &st.chain;
    let t = c.tree();
    let mut tips = t.tips();
    // The active tip is always listed, even if it has invalid children.
    if !tips.contains(&c.tip()) {
        tips.push(c.tip());
    }
    let mut out: Vec<(u32, Value)> = tips
        .into_iter()
        .map(|idx| {
            let e = t.get(idx);
            let fork = t.fork_point(idx, c.tip());
            let branchlen = e.height - t.get(fork).height;
            let status = if c.is_active(idx) {
                "active"
            } else if e.status.failed() {
                "invalid"
            } else if e.status.has(Status::VALID_SCRIPTS) {
                "valid-fork"
            } else {
                "valid-headers"
            };
            (
                e.height,
                json!({"height": e.height, "hash": e.hash.to_string(), "branchlen": branchlen, "status": status}),
            )
        })
        .collect();
    out.sort_by_key(|o| std::cmp::Reverse(o.0));
    Ok(Value::Array(out.into_iter().map(|(_, v)| v).collect()))
}

fn getdifficulty(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    let st = node.lock();
    let tip = st.chain.tree().get(st.chain.tip());
    Ok(cj::double(cj::difficulty(tip.header.bits)))
}

fn getblockstats(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let target = p.required(0, m.usage)?.clone();
    let selected: Option<Vec<String>> = match p.get(1) {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err(codes::RPC_TYPE_ERROR, "stats must be strings"))?,
        ),
        Some(_) => {
            return Err(err(
                codes::RPC_TYPE_ERROR,
                "JSON value is not an array as expected",
            ))
        }
    };
    let mut st = node.lock();
    let c = &mut st.chain;
    let idx = match &target {
        Value::Number(n) => {
            let h = n.as_i64().unwrap_or(-1);
            if h < 0 {
                return Err(err(
                    codes::RPC_INVALID_PARAMETER,
                    format!("Target block height {h} is negative"),
                ));
            }
            if h > i64::from(c.height()) {
                return Err(err(
                    codes::RPC_INVALID_PARAMETER,
                    format!("Target block height {h} after current tip {}", c.height()),
                ));
            }
            c.at_height(h as u32).expect("checked")
        }
        Value::String(s) => find_block(c, &parse_hash(s, "hash_or_height")?)?,
        _ => {
            return Err(err(
                codes::RPC_TYPE_ERROR,
                "hash_or_height must be a number or a string",
            ))
        }
    };
    let block = read_block(c, idx)?;
    let spent = spent_outputs(c, idx, &block)
        .ok_or_else(|| err(codes::RPC_MISC_ERROR, "Undo data not available"))?;
    let e = c.tree().get(idx);
    let input = cj::BlockStatsInput {
        block: &block,
        spent: &spent,
        height: e.height as i32,
        median_time: e.mtp,
        subsidy: c.params().block_subsidy(e.height).to_sat() as i64,
    };
    cj::block_stats(&input, selected.as_deref()).map_err(|e| err(e.code, e.message))
}

/// The outputs each transaction of a connected block spent, from its undo
/// data (`None` if it has none).
pub(super) fn spent_outputs(
    c: &mut Chainstate,
    idx: Idx,
    block: &Block,
) -> Option<Vec<Vec<cj::SpentOutput>>> {
    let undo = c.read_undo(idx).ok()?;
    let mut coins = undo.spent.into_iter();
    let out: Vec<Vec<cj::SpentOutput>> = block
        .txdata
        .iter()
        .map(|tx| {
            if tx.is_coinbase() {
                return Vec::new();
            }
            tx.input
                .iter()
                .filter_map(|_| coins.next())
                .map(|c| cj::SpentOutput {
                    value: c.amount as i64,
                    script_pubkey: bitcoin::ScriptBuf::from_bytes(c.script),
                    height: c.height,
                    coinbase: c.coinbase,
                })
                .collect()
        })
        .collect();
    (coins.next().is_none()).then_some(out)
}

fn gettxout(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let txid: bitcoin::Txid = parse_hash(p.req_str(0, m.usage)?, "txid")?;
    p.required(1, m.usage)?;
    let n = p.int(1)?.unwrap_or(0);
    let include_mempool = p.bool(2)?.unwrap_or(true);
    let Ok(vout) = u32::try_from(n) else {
        return Ok(Value::Null);
    };
    let outpoint = bitcoin::OutPoint { txid, vout };
    let mut st = node.lock();
    let best = st.chain.tree().get(st.chain.tip()).hash;
    let height = st.chain.height();
    if include_mempool {
        if st.mempool.spender_of(&outpoint).is_some() {
            return Ok(Value::Null);
        }
        if let Some(e) = st.mempool.get(&txid) {
            let Some(out) = e.tx.output.get(vout as usize) else {
                return Ok(Value::Null);
            };
            return Ok(json!({
                "bestblock": best.to_string(),
                "confirmations": 0,
                "value": cj::amount(out.value.to_sat() as i64),
                "scriptPubKey": cj::script_pubkey_to_json(&out.script_pubkey, true, true, node.params.network),
                "coinbase": false,
            }));
        }
    }
    let coin = st
        .chain
        .coin(&outpoint)
        .map_err(|e| err(codes::RPC_DATABASE_ERROR, e.to_string()))?;
    let Some(coin) = coin else {
        return Ok(Value::Null);
    };
    let script = bitcoin::ScriptBuf::from_bytes(coin.script);
    Ok(json!({
        "bestblock": best.to_string(),
        "confirmations": height - coin.height + 1,
        "value": cj::amount(coin.amount as i64),
        "scriptPubKey": cj::script_pubkey_to_json(&script, true, true, node.params.network),
        "coinbase": coin.coinbase,
    }))
}

fn gettxoutsetinfo(node: &Node, p: &Params, _: &Method) -> Result<Value, RpcError> {
    let hash_type = p.str(0)?.unwrap_or("hash_serialized_3");
    if hash_type != "hash_serialized_3" && hash_type != "none" {
        return Err(err(
            codes::RPC_INVALID_PARAMETER,
            format!("{hash_type} is not a valid hash_type"),
        ));
    }
    if p.get(1).is_some() {
        return Err(err(
            codes::RPC_INVALID_PARAMETER,
            "Querying specific block heights requires coinstatsindex",
        ));
    }
    let mut st = node.lock();
    let c = &mut st.chain;
    c.flush()
        .map_err(|e| err(codes::RPC_DATABASE_ERROR, e.to_string()))?;
    let stats = c
        .utxo_stats()
        .map_err(|e| err(codes::RPC_DATABASE_ERROR, e.to_string()))?;
    let tip = c.tree().get(c.tip());
    let mut out = serde_json::Map::new();
    out.insert("height".into(), json!(tip.height));
    out.insert("bestblock".into(), json!(tip.hash.to_string()));
    out.insert("txouts".into(), json!(stats.txouts));
    out.insert("bogosize".into(), json!(stats.bogosize));
    if hash_type == "hash_serialized_3" {
        let mut h = stats.hash_serialized_3;
        h.reverse();
        out.insert("hash_serialized_3".into(), json!(hex32(h)));
    }
    out.insert("total_amount".into(), cj::amount(stats.total_amount as i64));
    out.insert("transactions".into(), json!(stats.transactions));
    out.insert("disk_size".into(), json!(dir_size(c.store_dir())));
    Ok(Value::Object(out))
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                match e.metadata() {
                    Ok(m) if m.is_dir() => stack.push(e.path()),
                    Ok(m) => total += m.len(),
                    Err(_) => {}
                }
            }
        }
    }
    total
}

fn verifychain(node: &Node, p: &Params, _: &Method) -> Result<Value, RpcError> {
    let level = p.int(0)?.unwrap_or(3);
    let nblocks = p.int(1)?.unwrap_or(6);
    if !(0..=4).contains(&level) {
        return Err(err(
            codes::RPC_INVALID_PARAMETER,
            "checklevel must be between 0 and 4",
        ));
    }
    let mut st = node.lock();
    Ok(json!(st
        .chain
        .verify_recent(level as u8, nblocks.max(0) as u32)
        .is_ok()))
}
