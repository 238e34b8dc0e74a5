//! Core's RPC result objects for the mempool: `getmempoolentry`,
//! `getrawmempool` (plain and verbose), `getmempoolinfo` and
//! `testmempoolaccept`. Keys are inserted in Core's order (they print in
//! that order when serde_json keeps insertion order).

use serde_json::{json, Map, Value};

use super::{Entry, FeeRate, Mempool, PackageResult};

/// An amount in bitcoin as Core prints it (8 decimals).
pub use btc_core::json::amount as btc;

/// `getmempoolentry`'s object (also each value of `getrawmempool true`).
pub fn entry(pool: &Mempool, e: &Entry) -> Value {
    let mut o = Map::new();
    o.insert("vsize".into(), json!(e.vsize));
    o.insert("weight".into(), json!(e.weight));
    o.insert("time".into(), json!(e.time));
    o.insert("height".into(), json!(e.height));
    o.insert("descendantcount".into(), json!(e.descendants.count));
    o.insert("descendantsize".into(), json!(e.descendants.vsize));
    o.insert("ancestorcount".into(), json!(e.ancestors.count));
    o.insert("ancestorsize".into(), json!(e.ancestors.vsize));
    o.insert("wtxid".into(), json!(e.wtxid.to_string()));
    let mut fees = Map::new();
    fees.insert("base".into(), btc(e.fee));
    fees.insert("modified".into(), btc(e.modified_fee));
    fees.insert("ancestor".into(), btc(e.ancestors.fees));
    fees.insert("descendant".into(), btc(e.descendants.fees));
    o.insert("fees".into(), Value::Object(fees));
    let mut depends: Vec<String> = e.parents.iter().map(|t| t.to_string()).collect();
    depends.sort();
    o.insert("depends".into(), json!(depends));
    let spentby: Vec<String> = e.children.iter().map(|t| t.to_string()).collect();
    o.insert("spentby".into(), json!(spentby));
    o.insert(
        "bip125-replaceable".into(),
        json!(pool.is_bip125_replaceable(&e.txid)),
    );
    o.insert("unbroadcast".into(), json!(pool.is_unbroadcast(&e.txid)));
    Value::Object(o)
}

/// `getrawmempool` (verbose = false): txids in Core's order.
pub fn raw_mempool(pool: &Mempool) -> Value {
    json!(pool
        .txids()
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>())
}

/// `getrawmempool true`: txid to entry object.
pub fn raw_mempool_verbose(pool: &Mempool) -> Value {
    let mut o = Map::new();
    for txid in pool.txids() {
        if let Some(e) = pool.get(&txid) {
            o.insert(txid.to_string(), entry(pool, e));
        }
    }
    Value::Object(o)
}

/// `getmempoolinfo` at time `now`; `loaded` is whether the mempool file
/// was loaded.
pub fn mempool_info(pool: &Mempool, loaded: bool, now: i64) -> Value {
    let o = pool.options();
    let mut m = Map::new();
    m.insert("loaded".into(), json!(loaded));
    m.insert("size".into(), json!(pool.len()));
    m.insert("bytes".into(), json!(pool.bytes()));
    m.insert("usage".into(), json!(pool.usage()));
    m.insert("total_fee".into(), btc(pool.total_fee()));
    m.insert("maxmempool".into(), json!(o.max_size_bytes));
    m.insert(
        "mempoolminfee".into(),
        btc(pool.mempool_min_fee(now).sat_per_kvb()),
    );
    m.insert("minrelaytxfee".into(), btc(o.min_relay_fee.sat_per_kvb()));
    m.insert(
        "incrementalrelayfee".into(),
        btc(o.incremental_relay_fee.sat_per_kvb()),
    );
    m.insert("unbroadcastcount".into(), json!(pool.unbroadcast_count()));
    m.insert("fullrbf".into(), json!(o.full_rbf));
    Value::Object(m)
}

/// `testmempoolaccept`'s array, with Core's `maxfeerate` handling: the
/// first transaction over `max_fee_rate` gets `max-fee-exceeded` and the
/// ones after it only their txid and wtxid (zero: no limit).
pub fn test_mempool_accept(result: &PackageResult, max_fee_rate: FeeRate) -> Value {
    let mut out = Vec::with_capacity(result.results.len());
    let mut exit_early = false;
    for r in &result.results {
        let mut o = Map::new();
        o.insert("txid".into(), json!(r.txid.to_string()));
        o.insert("wtxid".into(), json!(r.wtxid.to_string()));
        if let Some(e) = &result.package_error {
            o.insert("package-error".into(), json!(e.state_string()));
        }
        match (&r.result, exit_early) {
            (None, _) | (_, true) => {}
            (Some(Ok(a)), false) => {
                let max_fee = max_fee_rate.fee(a.vsize);
                if max_fee != 0 && a.fee > max_fee {
                    o.insert("allowed".into(), json!(false));
                    o.insert("reject-reason".into(), json!("max-fee-exceeded"));
                    exit_early = true;
                } else {
                    o.insert("allowed".into(), json!(true));
                    o.insert("vsize".into(), json!(a.vsize));
                    let mut fees = Map::new();
                    fees.insert("base".into(), btc(a.fee));
                    fees.insert(
                        "effective-feerate".into(),
                        btc(a.effective_fee_rate().sat_per_kvb()),
                    );
                    fees.insert("effective-includes".into(), json!([a.wtxid.to_string()]));
                    o.insert("fees".into(), Value::Object(fees));
                }
            }
            (Some(Err(e)), false) => {
                o.insert("allowed".into(), json!(false));
                o.insert("reject-reason".into(), json!(e.test_accept_reason()));
            }
        }
        out.push(Value::Object(o));
    }
    Value::Array(out)
}
