//! Replacement rules (Core 28's `policy/rbf.cpp` and `ReplacementChecks`):
//! a transaction that conflicts with mempool transactions replaces them if
//! it pays a higher fee rate than each direct conflict (rule 6), would evict
//! at most 100 transactions (rule 5), adds no new unconfirmed input (rule
//! 2), pays at least their total fees (rule 3) plus its own relay at the
//! incremental fee (rule 4).

use std::collections::HashSet;

use super::accept::Workspace;
use super::feerate::{format_money, FeeRate};
use super::reject::{MempoolReject, RejectKind};
use super::Mempool;

/// Core's `MAX_REPLACEMENT_CANDIDATES`.
pub const MAX_REPLACEMENT_CANDIDATES: u64 = 100;

impl Mempool {
    /// Core's `ReplacementChecks`: fills `ws.all_conflicting`.
    pub(super) fn replacement_checks(&self, ws: &mut Workspace) -> Result<(), MempoolReject> {
        let suffix = if ws.sibling_eviction {
            " (including sibling eviction)"
        } else {
            ""
        };
        let txid = ws.txid;
        // Rule 6: a higher fee rate than every direct conflict.
        let new_rate = FeeRate::from_fee_and_vsize(ws.modified_fee, ws.vsize);
        for c in &ws.conflicts {
            let Some(e) = self.pool.get(c) else { continue };
            let old_rate = FeeRate::from_fee_and_vsize(e.modified_fee, e.vsize);
            if new_rate <= old_rate {
                return Err(MempoolReject::with_debug(
                    RejectKind::Fee,
                    format!("insufficient fee{suffix}"),
                    format!(
                        "rejecting replacement {txid}; new feerate {new_rate} <= old feerate {old_rate}"
                    ),
                ));
            }
        }
        // Rule 5: at most 100 potential evictions (descendants of several
        // conflicts counted once per conflict, as in Core).
        let mut count = 0u64;
        for c in &ws.conflicts {
            count += self.pool.get(c).map_or(0, |e| e.descendants.count);
            if count > MAX_REPLACEMENT_CANDIDATES {
                return Err(MempoolReject::with_debug(
                    RejectKind::Policy,
                    format!("too many potential replacements{suffix}"),
                    format!(
                        "rejecting replacement {txid}; too many potential replacements ({count} > {MAX_REPLACEMENT_CANDIDATES})\n"
                    ),
                ));
            }
        }
        ws.all_conflicting = self.pool.with_descendants(ws.conflicts.iter().copied());
        // Rule 2: no new unconfirmed inputs.
        let parents_of_conflicts: HashSet<_> = ws
            .conflicts
            .iter()
            .filter_map(|c| self.pool.get(c))
            .flat_map(|e| e.tx.input.iter().map(|i| i.previous_output.txid))
            .collect();
        for (j, input) in ws.tx.input.iter().enumerate() {
            let parent = input.previous_output.txid;
            if !parents_of_conflicts.contains(&parent) && self.pool.contains(&parent) {
                return Err(MempoolReject::with_debug(
                    RejectKind::Policy,
                    format!("replacement-adds-unconfirmed{suffix}"),
                    format!("replacement {txid} adds unconfirmed input, idx {j}"),
                ));
            }
        }
        // Rules 3 and 4: pay for what is evicted and for its own relay.
        let conflicting_fees: i64 = ws
            .all_conflicting
            .iter()
            .filter_map(|c| self.pool.get(c))
            .map(|e| e.modified_fee)
            .sum();
        if ws.modified_fee < conflicting_fees {
            return Err(MempoolReject::with_debug(
                RejectKind::Fee,
                format!("insufficient fee{suffix}"),
                format!(
                    "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                    format_money(ws.modified_fee),
                    format_money(conflicting_fees)
                ),
            ));
        }
        let additional = ws.modified_fee - conflicting_fees;
        let relay = self.opts.incremental_relay_fee.fee(ws.vsize);
        if additional < relay {
            return Err(MempoolReject::with_debug(
                RejectKind::Fee,
                format!("insufficient fee{suffix}"),
                format!(
                    "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                    format_money(additional),
                    format_money(relay)
                ),
            ));
        }
        Ok(())
    }
}
