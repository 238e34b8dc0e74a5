//! Control, network and chain-control methods.

use serde_json::{json, Value};

use super::args::{err, Params};
use super::Method;
use crate::http::{codes, RpcError};
use crate::node::Node;

pub(super) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "uptime",
            category: "control",
            params: &[],
            usage: "uptime",
            run: uptime,
        },
        Method {
            name: "getipcinfo",
            category: "control",
            params: &[],
            usage: "getipcinfo",
            run: getipcinfo,
        },
        Method {
            name: "stop",
            category: "control",
            params: &["wait"],
            usage: "stop",
            run: stop,
        },
        Method {
            name: "getnetworkinfo",
            category: "network",
            params: &[],
            usage: "getnetworkinfo",
            run: getnetworkinfo,
        },
        Method {
            name: "setmocktime",
            category: "hidden",
            params: &["timestamp"],
            usage: "setmocktime timestamp",
            run: setmocktime,
        },
        Method {
            name: "invalidateblock",
            category: "blockchain",
            params: &["blockhash"],
            usage: "invalidateblock \"blockhash\"",
            run: invalidateblock,
        },
        Method {
            name: "reconsiderblock",
            category: "blockchain",
            params: &["blockhash"],
            usage: "reconsiderblock \"blockhash\"",
            run: reconsiderblock,
        },
    ]
}

fn uptime(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    Ok(json!(node.started.elapsed().as_secs()))
}

/// Not in Core: the notification rings (records, bytes, occupancy,
/// subscribers), the IPC connections, and the notification latency the
/// wallets measured (publish to applied).
fn getipcinfo(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    Ok(match node.wallets() {
        Some(w) => w.ipc_info(),
        None => json!({ "rings": [], "connections": 0, "wallet_notify": null }),
    })
}

fn stop(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    node.request_stop();
    Ok(json!("Bitcoin node stopping"))
}

/// Our version in Core's numbering style (0.1.0 → 100).
const VERSION: u32 = 100;

fn getnetworkinfo(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    let st = node.lock();
    let relay = st.mempool.options().min_relay_fee.sat_per_kvb();
    let incremental = st.mempool.options().incremental_relay_fee.sat_per_kvb();
    Ok(json!({
        "version": VERSION,
        "subversion": format!("/shmbtc:{}/", env!("CARGO_PKG_VERSION")),
        "protocolversion": 70016,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": true,
        "timeoffset": 0,
        "networkactive": true,
        "connections": 0,
        "connections_in": 0,
        "connections_out": 0,
        "networks": [],
        "relayfee": btc_core::json::amount(relay),
        "incrementalfee": btc_core::json::amount(incremental),
        "localaddresses": [],
        "warnings": [],
    }))
}

fn setmocktime(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    if node.params.network != bitcoin::Network::Regtest {
        return Err(err(
            codes::RPC_METHOD_NOT_FOUND,
            "setmocktime is for regression testing (-regtest mode) only",
        ));
    }
    p.required(0, m.usage)?;
    let t = p.int(0)?.unwrap_or(0);
    if t < 0 {
        return Err(err(
            codes::RPC_INVALID_PARAMETER,
            "Mocktime cannot be negative: ".to_string() + &t.to_string() + ".",
        ));
    }
    node.lock().chain.set_mocktime(Some(t));
    Ok(Value::Null)
}

fn invalidateblock(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let hash = p.hash(0, "blockhash", m.usage)?;
    let mut st = node.lock();
    let idx = super::blockchain::find_block(&st.chain, &hash)?;
    let events = st
        .chain
        .invalidate_block(idx)
        .map_err(|e| err(codes::RPC_DATABASE_ERROR, e.to_string()))?;
    node.publish(&mut st, events);
    Ok(Value::Null)
}

fn reconsiderblock(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let hash = p.hash(0, "blockhash", m.usage)?;
    let mut st = node.lock();
    let idx = super::blockchain::find_block(&st.chain, &hash)?;
    let events = st
        .chain
        .reconsider_block(idx)
        .map_err(|e| err(codes::RPC_DATABASE_ERROR, e.to_string()))?;
    node.publish(&mut st, events);
    Ok(Value::Null)
}
