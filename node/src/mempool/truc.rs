//! TRUC (topologically restricted until confirmation, version 3)
//! transactions, Core 28's `SingleTRUCChecks`: a TRUC transaction may have
//! at most one unconfirmed ancestor and one unconfirmed descendant, is at
//! most 10,000 vbytes (1,000 as a child), and TRUC and non-TRUC
//! transactions cannot spend each other's unconfirmed outputs. A second
//! child may replace the first (sibling eviction) under the RBF rules.
//!
//! Package-level TRUC checks (`PackageTRUCChecks`) are not implemented:
//! within a `testmempoolaccept` package each transaction is checked
//! against its in-mempool ancestors only.

use std::collections::{BTreeSet, HashSet};

use bitcoin::{Transaction, Txid, Wtxid};

use super::pool::Pool;

/// Core's `TRUC_VERSION`.
pub const TRUC_VERSION: i32 = 3;
/// Core's `TRUC_MAX_VSIZE`.
pub const TRUC_MAX_VSIZE: u64 = 10_000;
/// Core's `TRUC_CHILD_MAX_VSIZE`.
pub const TRUC_CHILD_MAX_VSIZE: u64 = 1_000;

/// A TRUC violation: Core's message, and the sibling whose eviction may be
/// considered instead.
pub(super) struct TrucViolation {
    pub message: String,
    pub sibling: Option<Txid>,
}

fn violation(message: String) -> Option<TrucViolation> {
    Some(TrucViolation {
        message,
        sibling: None,
    })
}

/// Core's `SingleTRUCChecks`.
pub(super) fn single_truc_checks(
    pool: &Pool,
    tx: &Transaction,
    (txid, wtxid): (Txid, Wtxid),
    ancestors: &HashSet<Txid>,
    direct_conflicts: &BTreeSet<Txid>,
    vsize: u64,
) -> Option<TrucViolation> {
    let is_truc = tx.version.0 == TRUC_VERSION;
    let mut sorted: Vec<&Txid> = ancestors.iter().collect();
    sorted.sort();
    for a in &sorted {
        let Some(entry) = pool.get(a) else { continue };
        let parent_truc = entry.tx.version.0 == TRUC_VERSION;
        if !is_truc && parent_truc {
            return violation(format!(
                "non-version=3 tx {txid} (wtxid={wtxid}) cannot spend from version=3 tx {} (wtxid={})",
                entry.txid, entry.wtxid
            ));
        } else if is_truc && !parent_truc {
            return violation(format!(
                "version=3 tx {txid} (wtxid={wtxid}) cannot spend from non-version=3 tx {} (wtxid={})",
                entry.txid, entry.wtxid
            ));
        }
    }
    if !is_truc {
        return None;
    }
    if vsize > TRUC_MAX_VSIZE {
        return violation(format!(
            "version=3 tx {txid} (wtxid={wtxid}) is too big: {vsize} > {TRUC_MAX_VSIZE} virtual bytes"
        ));
    }
    if ancestors.len() + 1 > 2 {
        return violation(format!(
            "tx {txid} (wtxid={wtxid}) would have too many ancestors"
        ));
    }
    let parent = sorted.first().and_then(|p| pool.get(p))?;
    if vsize > TRUC_CHILD_MAX_VSIZE {
        return violation(format!(
            "version=3 child tx {txid} (wtxid={wtxid}) is too big: {vsize} > {TRUC_CHILD_MAX_VSIZE} virtual bytes"
        ));
    }
    let child_will_be_replaced = parent.children.iter().any(|c| direct_conflicts.contains(c));
    if parent.descendants.count + 1 > 2 && !child_will_be_replaced {
        let sibling = parent.children.first().and_then(|c| pool.get(c));
        let consider =
            parent.descendants.count == 2 && sibling.is_some_and(|s| s.ancestors.count == 2);
        return Some(TrucViolation {
            message: format!(
                "tx {} (wtxid={}) would exceed descendant count limit",
                parent.txid, parent.wtxid
            ),
            sibling: if consider {
                sibling.map(|s| s.txid)
            } else {
                None
            },
        });
    }
    None
}
