//! `testmempoolaccept` with several transactions (Core 28's
//! `AcceptMultipleTransactions` with `test_accept`): the package must be
//! well formed (at most 25 transactions and 404,000 weight units, no
//! duplicates, parents before children, no conflicts inside), each
//! transaction passes `PreChecks` on its own fee (a child may spend a
//! parent of the package), the package as a whole fits the chain limits,
//! and scripts verify. Nothing is replaced and the pool is unchanged.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use bitcoin::{OutPoint, Transaction, Txid, Wtxid};

use super::accept::{script_checks, Args, Overlay, Workspace, MEMPOOL_HEIGHT};
use super::reject::{MempoolReject, RejectKind};
use super::{AcceptOptions, Accepted, ChainView, Coin, Mempool};

/// Core's `MAX_PACKAGE_COUNT`.
pub const MAX_PACKAGE_COUNT: usize = 25;
/// Core's `MAX_PACKAGE_WEIGHT`.
pub const MAX_PACKAGE_WEIGHT: u64 = 404_000;

/// The result for one transaction of a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageTxResult {
    pub txid: Txid,
    pub wtxid: Wtxid,
    /// `None` when validation stopped before this transaction.
    pub result: Option<Result<Accepted, MempoolReject>>,
}

/// The result of testing a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageResult {
    /// A package-wide policy error (Core's `PCKG_POLICY`: shown as
    /// `package-error` in each result).
    pub package_error: Option<MempoolReject>,
    /// One per transaction, in the given order.
    pub results: Vec<PackageTxResult>,
}

fn package_error(reason: &str) -> MempoolReject {
    MempoolReject::new(RejectKind::Policy, reason)
}

/// Core's `IsWellFormedPackage` (sorted).
fn check_package(txs: &[Transaction]) -> Result<(), MempoolReject> {
    if txs.len() > MAX_PACKAGE_COUNT {
        return Err(package_error("package-too-many-transactions"));
    }
    let weight: u64 = txs.iter().map(|t| t.weight().to_wu()).sum();
    if txs.len() > 1 && weight > MAX_PACKAGE_WEIGHT {
        return Err(package_error("package-too-large"));
    }
    let txids: Vec<Txid> = txs.iter().map(|t| t.compute_txid()).collect();
    let mut later: HashSet<Txid> = txids.iter().copied().collect();
    if later.len() != txs.len() {
        return Err(package_error("package-contains-duplicates"));
    }
    for (tx, txid) in txs.iter().zip(&txids) {
        if tx
            .input
            .iter()
            .any(|i| later.contains(&i.previous_output.txid))
        {
            return Err(package_error("package-not-sorted"));
        }
        later.remove(txid);
    }
    let mut spent = HashSet::new();
    for tx in txs {
        for input in &tx.input {
            if !spent.insert(input.previous_output) {
                return Err(package_error("conflict-in-package"));
            }
        }
    }
    Ok(())
}

impl Mempool {
    /// `testmempoolaccept`: one transaction is tested alone (replacements
    /// allowed), several as a package. The pool is not changed.
    pub fn test_accept_package(
        &mut self,
        txs: &[Transaction],
        chain: &dyn ChainView,
        now: i64,
    ) -> PackageResult {
        let mut results: Vec<PackageTxResult> = txs
            .iter()
            .map(|t| PackageTxResult {
                txid: t.compute_txid(),
                wtxid: t.compute_wtxid(),
                result: None,
            })
            .collect();
        if let [tx] = txs {
            let opts = AcceptOptions {
                test_only: true,
                max_fee_rate: None,
                now,
            };
            results[0].result = Some(self.accept(tx.clone(), chain, opts));
            return PackageResult {
                package_error: None,
                results,
            };
        }
        if let Err(e) = check_package(txs) {
            return PackageResult {
                package_error: Some(e),
                results,
            };
        }
        let min_fee = self.min_fee(now);
        let args = Args {
            bypass_limits: false,
            allow_replacement: false,
            single: false,
        };
        let mut overlay = Overlay::new();
        let mut workspaces: Vec<Workspace> = Vec::with_capacity(txs.len());
        for (i, tx) in txs.iter().enumerate() {
            match self.pre_checks(Arc::new(tx.clone()), chain, &overlay, args, min_fee) {
                Ok(ws) => {
                    for (vout, out) in tx.output.iter().enumerate() {
                        overlay.insert(
                            OutPoint::new(ws.txid, vout as u32),
                            Coin {
                                height: MEMPOOL_HEIGHT,
                                coinbase: false,
                                amount: out.value.to_sat(),
                                script: out.script_pubkey.to_bytes(),
                            },
                        );
                    }
                    workspaces.push(ws);
                }
                Err(e) => {
                    results[i].result = Some(Err(e));
                    return PackageResult {
                        package_error: None,
                        results,
                    };
                }
            }
        }
        let total_vsize: u64 = workspaces.iter().map(|w| w.vsize).sum();
        if let Err(message) = self.check_package_limits(txs, total_vsize) {
            return PackageResult {
                package_error: Some(MempoolReject::with_debug(
                    RejectKind::Policy,
                    "package-mempool-limits",
                    message,
                )),
                results,
            };
        }
        for (i, ws) in workspaces.iter().enumerate() {
            if let Err(e) = script_checks(ws) {
                results[i].result = Some(Err(e));
                return PackageResult {
                    package_error: None,
                    results,
                };
            }
            results[i].result = Some(Ok(Accepted {
                txid: ws.txid,
                wtxid: ws.wtxid,
                vsize: ws.vsize,
                fee: ws.fee,
                replaced: Vec::new(),
                expired: Vec::new(),
                trimmed: Vec::new(),
            }));
        }
        PackageResult {
            package_error: None,
            results,
        }
    }

    /// Core's `CheckPackageLimits`.
    fn check_package_limits(&self, txs: &[Transaction], total_vsize: u64) -> Result<(), String> {
        let l = &self.opts.limits;
        let n = txs.len() as u64;
        if n > l.ancestor_count {
            return Err(format!(
                "package count {n} exceeds ancestor count limit [limit: {}]",
                l.ancestor_count
            ));
        } else if n > l.descendant_count {
            return Err(format!(
                "package count {n} exceeds descendant count limit [limit: {}]",
                l.descendant_count
            ));
        } else if total_vsize > l.ancestor_size {
            return Err(format!(
                "package size {total_vsize} exceeds ancestor size limit [limit: {}]",
                l.ancestor_size
            ));
        } else if total_vsize > l.descendant_size {
            return Err(format!(
                "package size {total_vsize} exceeds descendant size limit [limit: {}]",
                l.descendant_size
            ));
        }
        let mut staged = BTreeSet::new();
        for tx in txs {
            for input in &tx.input {
                if self.pool.contains(&input.previous_output.txid) {
                    staged.insert(input.previous_output.txid);
                    if staged.len() as u64 + n > l.ancestor_count {
                        return Err(format!(
                            "too many unconfirmed parents [limit: {}]",
                            l.ancestor_count
                        ));
                    }
                }
            }
        }
        self.pool
            .ancestors_with_limits(staged, total_vsize, n, l)
            .map(|_| ())
            .map_err(|m| format!("possibly {m}"))
    }
}
