//! Core's `BlockAssembler::addPackageTxs`: repeatedly take the package
//! (a transaction with its not-yet-included ancestors) with the highest
//! fee rate, if it fits the weight and sigop limits and pays at least
//! `-blockmintxfee`; add it ancestors first; then the packages of its
//! descendants shrink and are re-ranked.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bitcoin::{Transaction, Txid};

use super::{TemplateContext, MAX_BLOCK_SIGOPS_COST};
use crate::mempool::locks::is_final_tx;
use crate::mempool::{Mempool, Totals};

/// Weight and sigops Core reserves for the coinbase.
pub(super) const COINBASE_RESERVED_WEIGHT: u64 = 4000;
pub(super) const COINBASE_RESERVED_SIGOPS: i64 = 400;
const MAX_CONSECUTIVE_FAILURES: u32 = 1000;
const BLOCK_FULL_ENOUGH_WEIGHT_DELTA: u64 = 4000;

/// The chosen transactions, in block order.
pub(super) struct Selection {
    pub txs: Vec<Arc<Transaction>>,
    /// Sum of base fees.
    pub fees: i64,
}

/// A package in the ranking: higher fee rate first, then lower txid.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    fees: i64,
    vsize: u64,
    txid: Txid,
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        let a = i128::from(self.fees) * i128::from(other.vsize);
        let b = i128::from(other.fees) * i128::from(self.vsize);
        b.cmp(&a).then_with(|| self.txid.cmp(&other.txid))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn key(txid: Txid, t: &Totals) -> Key {
    Key {
        fees: t.fees,
        vsize: t.vsize,
        txid,
    }
}

/// Chooses the block's transactions from `pool`.
pub(super) fn select(pool: &Mempool, ctx: &TemplateContext) -> Selection {
    let mut package: HashMap<Txid, Totals> =
        pool.entries().map(|e| (e.txid, e.ancestors)).collect();
    let mut ranked: BTreeSet<Key> = package.iter().map(|(t, p)| key(*t, p)).collect();
    let mut in_block: HashSet<Txid> = HashSet::new();
    let mut out = Selection {
        txs: Vec::new(),
        fees: 0,
    };
    let mut weight = COINBASE_RESERVED_WEIGHT;
    let mut sigops = COINBASE_RESERVED_SIGOPS;
    let mut consecutive_failed = 0u32;

    while let Some(best) = ranked.pop_first() {
        let txid = best.txid;
        let Some(p) = package.get(&txid).copied() else {
            continue;
        };
        if p.fees < ctx.min_fee_rate.fee(p.vsize) {
            // Everything else pays a lower rate.
            break;
        }
        let fits =
            weight + 4 * p.vsize < ctx.max_weight && sigops + p.sigop_cost < MAX_BLOCK_SIGOPS_COST;
        if !fits {
            consecutive_failed += 1;
            if consecutive_failed > MAX_CONSECUTIVE_FAILURES
                && weight
                    > ctx
                        .max_weight
                        .saturating_sub(BLOCK_FULL_ENOUGH_WEIGHT_DELTA)
            {
                break;
            }
            continue;
        }
        let mut members: Vec<Txid> = pool
            .ancestors_of(&txid)
            .into_iter()
            .filter(|a| !in_block.contains(a))
            .collect();
        members.push(txid);
        let all_final = members.iter().all(|m| {
            pool.get(m)
                .is_some_and(|e| is_final_tx(&e.tx, ctx.height, ctx.prev_mtp))
        });
        if !all_final {
            continue;
        }
        consecutive_failed = 0;
        // Ancestors first: sort by ancestor count, then txid (Core's
        // `SortForBlock`).
        members.sort_by_key(|m| (pool.get(m).map_or(0, |e| e.ancestors.count), *m));
        for m in members {
            let Some(e) = pool.get(&m) else { continue };
            if !in_block.insert(m) {
                continue;
            }
            weight += e.weight;
            sigops += e.sigop_cost;
            out.fees += e.fee;
            out.txs.push(Arc::clone(&e.tx));
            if let Some(old) = package.remove(&m) {
                ranked.remove(&key(m, &old));
            }
            // The packages of its descendants no longer include it.
            for d in pool.descendants_of(&m) {
                if in_block.contains(&d) {
                    continue;
                }
                if let Some(t) = package.get_mut(&d) {
                    ranked.remove(&key(d, t));
                    t.count -= 1;
                    t.vsize -= e.vsize;
                    t.fees -= e.modified_fee;
                    t.sigop_cost -= e.sigop_cost;
                    ranked.insert(key(d, t));
                }
            }
        }
    }
    out
}
