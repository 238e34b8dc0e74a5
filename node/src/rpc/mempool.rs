//! Mempool methods.

use bitcoin::Txid;
use serde_json::Value;

use super::args::{err, parse_hash, Params};
use super::Method;
use crate::http::{codes, RpcError};
use crate::node::Node;

pub(super) fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "getmempoolinfo",
            category: "blockchain",
            params: &[],
            usage: "getmempoolinfo",
            run: getmempoolinfo,
        },
        Method {
            name: "getrawmempool",
            category: "blockchain",
            params: &["verbose", "mempool_sequence"],
            usage: "getrawmempool ( verbose mempool_sequence )",
            run: getrawmempool,
        },
        Method {
            name: "getmempoolentry",
            category: "blockchain",
            params: &["txid"],
            usage: "getmempoolentry \"txid\"",
            run: getmempoolentry,
        },
    ]
}

fn getmempoolinfo(node: &Node, _: &Params, _: &Method) -> Result<Value, RpcError> {
    let st = node.lock();
    let now = st.chain.now();
    Ok(crate::mempool::json::mempool_info(&st.mempool, true, now))
}

fn getrawmempool(node: &Node, p: &Params, _: &Method) -> Result<Value, RpcError> {
    let verbose = p.bool(0)?.unwrap_or(false);
    let st = node.lock();
    Ok(if verbose {
        crate::mempool::json::raw_mempool_verbose(&st.mempool)
    } else {
        crate::mempool::json::raw_mempool(&st.mempool)
    })
}

fn getmempoolentry(node: &Node, p: &Params, m: &Method) -> Result<Value, RpcError> {
    let txid: Txid = parse_hash(p.req_str(0, m.usage)?, "txid")?;
    let st = node.lock();
    st.mempool
        .get(&txid)
        .map(|e| crate::mempool::json::entry(&st.mempool, e))
        .ok_or_else(|| {
            err(
                codes::RPC_INVALID_ADDRESS_OR_KEY,
                "Transaction not in mempool",
            )
        })
}
