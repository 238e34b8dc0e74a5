//! The acceptance pipeline, in Core 28's order: `PreChecks` (context-free
//! checks, standardness, finality, duplicates and conflicts, inputs, BIP68,
//! `CheckTxInputs`, input and witness standardness, sigops, fees, chain
//! limits, TRUC, conflicts among ancestors), then the replacement rules,
//! then scripts, then the pool is changed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bitcoin::{Amount, OutPoint, Transaction, Txid, Wtxid};
use btc_core::script::{check_transaction, SpentOutputs, VerifyFlags};

use super::feerate::format_money;
use super::locks::{self, LockPoints};
use super::policy::{self, StandardOptions};
use super::pool::{Entry, Limits, Totals};
use super::reject::{invalid, policy as policy_reject, MempoolReject, RejectKind};
use super::script_error::describe_failure;
use super::truc::{self, TRUC_VERSION};
use super::{AcceptOptions, Accepted, ChainView, Coin, FeeRate, Mempool};

/// Core's `MEMPOOL_HEIGHT`: the height of a coin created by a mempool
/// transaction.
pub(super) const MEMPOOL_HEIGHT: u32 = 0x7FFF_FFFF;
pub use crate::params::COINBASE_MATURITY;
/// Core's `MAX_MONEY`.
const MAX_MONEY: i64 = 21_000_000 * 100_000_000;
/// Core's `EXTRA_DESCENDANT_TX_SIZE_LIMIT` (CPFP carve-out).
const EXTRA_DESCENDANT_TX_SIZE_LIMIT: u64 = 10_000;

/// Coins created by transactions of a package being checked.
pub(super) type Overlay = HashMap<OutPoint, Coin>;

/// Core's `ATMPArgs`, the parts that matter here.
#[derive(Clone, Copy, Debug)]
pub(super) struct Args {
    /// Skip fee checks and the size limit (transactions from a
    /// disconnected block).
    pub bypass_limits: bool,
    /// Whether conflicts may be replaced (not within a package test).
    pub allow_replacement: bool,
    /// CPFP carve-out and TRUC sibling eviction (single transactions).
    pub single: bool,
}

/// What `PreChecks` learned about a transaction (Core's `Workspace`).
pub(super) struct Workspace {
    pub tx: Arc<Transaction>,
    pub txid: Txid,
    pub wtxid: Wtxid,
    /// The coin each input spends.
    pub spent: Vec<Coin>,
    pub fee: i64,
    pub modified_fee: i64,
    pub vsize: u64,
    pub weight: u64,
    pub sigop_cost: i64,
    pub spends_coinbase: bool,
    pub lock_points: LockPoints,
    /// Mempool transactions it directly conflicts with.
    pub conflicts: BTreeSet<Txid>,
    /// Direct conflicts and their descendants (after the RBF checks).
    pub all_conflicting: HashSet<Txid>,
    pub sibling_eviction: bool,
}

impl Mempool {
    /// Accepts `tx` into the pool (or, with `opts.test_only`, checks that
    /// it would be). Replaced transactions are evicted with their
    /// descendants and listed in [`Accepted::replaced`].
    pub fn accept(
        &mut self,
        tx: Transaction,
        chain: &dyn ChainView,
        opts: AcceptOptions,
    ) -> Result<Accepted, MempoolReject> {
        let args = Args {
            bypass_limits: false,
            allow_replacement: true,
            single: true,
        };
        self.accept_single(Arc::new(tx), chain, args, opts)
    }

    pub(super) fn accept_single(
        &mut self,
        tx: Arc<Transaction>,
        chain: &dyn ChainView,
        args: Args,
        opts: AcceptOptions,
    ) -> Result<Accepted, MempoolReject> {
        let min_fee = self.min_fee(opts.now);
        let mut ws = self.pre_checks(tx, chain, &Overlay::new(), args, min_fee)?;
        if !ws.conflicts.is_empty() {
            self.replacement_checks(&mut ws)?;
        }
        script_checks(&ws)?;
        if let Some(max) = opts.max_fee_rate {
            // sendrawtransaction's limit is on the plain virtual size
            // (`GetVirtualTransactionSize(tx)`, sigops not counted).
            let max_fee = max.fee(ws.weight.div_ceil(4));
            if max_fee > 0 && ws.fee > max_fee {
                return Err(MempoolReject::new(RejectKind::MaxFee, "max-fee-exceeded"));
            }
        }
        let mut replaced: Vec<Txid> = ws.all_conflicting.iter().copied().collect();
        replaced.sort();
        let mut accepted = Accepted {
            txid: ws.txid,
            wtxid: ws.wtxid,
            vsize: ws.vsize,
            fee: ws.fee,
            replaced,
            expired: Vec::new(),
            trimmed: Vec::new(),
        };
        if opts.test_only {
            return Ok(accepted);
        }
        let txid = ws.txid;
        self.finalize(ws, chain.tip_height(), opts.now);
        if !args.bypass_limits {
            accepted.expired = self.expire(opts.now - self.opts.expiry_secs);
            accepted.trimmed = self.trim_to_size(self.opts.max_size_bytes);
            if !self.pool.contains(&txid) {
                return Err(MempoolReject::new(RejectKind::Fee, "mempool full"));
            }
        }
        Ok(accepted)
    }

    /// Evicts the conflicts and adds the entry.
    pub(super) fn finalize(&mut self, ws: Workspace, height: u32, now: i64) {
        if !ws.all_conflicting.is_empty() {
            self.remove_set(&ws.all_conflicting);
        }
        let sequence = self.pool.take_sequence();
        let entry = Entry {
            tx: ws.tx,
            txid: ws.txid,
            wtxid: ws.wtxid,
            fee: ws.fee,
            modified_fee: ws.modified_fee,
            vsize: ws.vsize,
            weight: ws.weight,
            sigop_cost: ws.sigop_cost,
            time: now,
            height,
            sequence,
            spends_coinbase: ws.spends_coinbase,
            lock_points: ws.lock_points,
            parents: BTreeSet::new(),
            children: BTreeSet::new(),
            ancestors: Totals::default(),
            descendants: Totals::default(),
        };
        self.pool.insert(entry);
    }

    /// The coin `outpoint` names: an output of a mempool transaction, of a
    /// package transaction, or of the UTXO set; `true` when unconfirmed.
    pub(super) fn lookup_coin(
        &self,
        outpoint: &OutPoint,
        chain: &dyn ChainView,
        overlay: &Overlay,
    ) -> Option<(Coin, bool)> {
        if let Some(e) = self.pool.get(&outpoint.txid) {
            let out = e.tx.output.get(usize::try_from(outpoint.vout).ok()?)?;
            return Some((
                Coin {
                    height: MEMPOOL_HEIGHT,
                    coinbase: false,
                    amount: out.value.to_sat(),
                    script: out.script_pubkey.to_bytes(),
                },
                true,
            ));
        }
        if let Some(c) = overlay.get(outpoint) {
            return Some((c.clone(), true));
        }
        chain.coin(outpoint).map(|c| (c, false))
    }

    /// Core's `PreChecks`.
    pub(super) fn pre_checks(
        &self,
        tx: Arc<Transaction>,
        chain: &dyn ChainView,
        overlay: &Overlay,
        args: Args,
        min_fee: FeeRate,
    ) -> Result<Workspace, MempoolReject> {
        if let Err(e) = check_transaction(&tx) {
            let text = e.to_string();
            let reason = text.split(':').next().unwrap_or(&text);
            return Err(invalid(reason));
        }
        if tx.is_coinbase() {
            return Err(invalid("coinbase"));
        }
        if self.opts.require_standard {
            let std_opts = StandardOptions {
                max_datacarrier_bytes: self.opts.datacarrier.then_some(self.opts.datacarrier_size),
                permit_bare_multisig: self.opts.permit_bare_multisig,
                dust_relay_fee: self.opts.dust_relay_fee,
            };
            policy::is_standard_tx(&tx, &std_opts).map_err(policy_reject)?;
        }
        if tx.base_size() < policy::MIN_STANDARD_TX_NONWITNESS_SIZE {
            return Err(policy_reject("tx-size-small"));
        }
        if !locks::is_final_at_tip(&tx, chain) {
            return Err(policy_reject("non-final"));
        }
        let txid = tx.compute_txid();
        let wtxid = tx.compute_wtxid();
        if self.pool.by_wtxid(&wtxid).is_some() {
            return Err(MempoolReject::new(
                RejectKind::Conflict,
                "txn-already-in-mempool",
            ));
        }
        if self.pool.contains(&txid) {
            return Err(MempoolReject::new(
                RejectKind::Conflict,
                "txn-same-nonwitness-data-in-mempool",
            ));
        }

        // Conflicts with mempool transactions.
        let mut conflicts = BTreeSet::new();
        for input in &tx.input {
            let Some(spender) = self.pool.spender_of(&input.previous_output) else {
                continue;
            };
            if !args.allow_replacement {
                return Err(policy_reject("bip125-replacement-disallowed"));
            }
            if conflicts.contains(&spender) {
                continue;
            }
            let Some(c) = self.pool.get(&spender) else {
                continue;
            };
            let allow =
                self.opts.full_rbf || policy::signals_rbf(&c.tx) || c.tx.version.0 == TRUC_VERSION;
            if !allow {
                return Err(policy_reject("txn-mempool-conflict"));
            }
            conflicts.insert(spender);
        }

        // Inputs.
        let mut spent = Vec::with_capacity(tx.input.len());
        let mut coin_heights = Vec::with_capacity(tx.input.len());
        let next_height = chain.tip_height().saturating_add(1);
        for input in &tx.input {
            match self.lookup_coin(&input.previous_output, chain, overlay) {
                Some((coin, unconfirmed)) => {
                    coin_heights.push(if unconfirmed {
                        next_height
                    } else {
                        coin.height
                    });
                    spent.push(coin);
                }
                None => {
                    let known = (0..tx.output.len() as u32)
                        .any(|vout| chain.coin(&OutPoint::new(txid, vout)).is_some());
                    if known {
                        return Err(MempoolReject::new(
                            RejectKind::AlreadyKnown,
                            "txn-already-known",
                        ));
                    }
                    return Err(MempoolReject::new(
                        RejectKind::MissingInputs,
                        "bad-txns-inputs-missingorspent",
                    ));
                }
            }
        }

        let lock_points = locks::sequence_lock_points(&tx, &coin_heights, chain);
        if !locks::sequence_locks_ok(lock_points, chain) {
            return Err(policy_reject("non-BIP68-final"));
        }

        let fee = check_tx_inputs(&tx, &spent, next_height)?;

        if self.opts.require_standard && !policy::are_inputs_standard(&tx, &spent) {
            return Err(policy_reject("bad-txns-nonstandard-inputs"));
        }
        let has_witness = tx.input.iter().any(|i| !i.witness.is_empty());
        if has_witness && self.opts.require_standard && !policy::is_witness_standard(&tx, &spent) {
            return Err(policy_reject("bad-witness-nonstandard"));
        }

        let sigop_cost = policy::sigop_cost(&tx, &spent);
        let spends_coinbase = spent.iter().any(|c| c.coinbase);
        let weight = tx.weight().to_wu();
        let vsize = policy::virtual_size(weight, sigop_cost);
        let modified_fee = fee;

        if sigop_cost > policy::MAX_STANDARD_TX_SIGOPS_COST {
            return Err(MempoolReject::with_debug(
                RejectKind::Policy,
                "bad-txns-too-many-sigops",
                sigop_cost.to_string(),
            ));
        }
        if !args.bypass_limits {
            let min_relay = self.opts.min_relay_fee.fee(vsize);
            if tx.version.0 != TRUC_VERSION && modified_fee < min_relay {
                return Err(MempoolReject::with_debug(
                    RejectKind::Fee,
                    "min relay fee not met",
                    format!("{modified_fee} < {min_relay}"),
                ));
            }
            let reject_fee = min_fee.fee(vsize);
            if reject_fee > 0 && modified_fee < reject_fee {
                return Err(MempoolReject::with_debug(
                    RejectKind::Fee,
                    "mempool min fee not met",
                    format!("{modified_fee} < {reject_fee}"),
                ));
            }
            if modified_fee < min_relay {
                return Err(MempoolReject::with_debug(
                    RejectKind::Fee,
                    "min relay fee not met",
                    format!("{modified_fee} < {min_relay}"),
                ));
            }
        }

        // Chain limits, relaxed for a single replaced conflict as in Core.
        let mut limits = self.opts.limits;
        if conflicts.len() == 1 && args.single {
            if let Some(c) = conflicts.first().and_then(|c| self.pool.get(c)) {
                limits.descendant_count += 1;
                limits.descendant_size += c.descendants.vsize;
            }
        }
        let parents = self.pool.parents_of_tx(&tx);
        let ancestors = match self.pool.calculate_ancestors(&parents, vsize, 1, &limits) {
            Ok(a) => a,
            Err(message) => {
                // CPFP carve-out: a small child of a parent at the
                // descendant limit, with no other unconfirmed ancestor.
                let carve_out = Limits {
                    ancestor_count: 2,
                    ancestor_size: limits.ancestor_size,
                    descendant_count: limits.descendant_count + 1,
                    descendant_size: limits.descendant_size + EXTRA_DESCENDANT_TX_SIZE_LIMIT,
                };
                let retry = (args.single
                    && vsize <= EXTRA_DESCENDANT_TX_SIZE_LIMIT
                    && tx.version.0 != TRUC_VERSION)
                    .then(|| {
                        self.pool
                            .calculate_ancestors(&parents, vsize, 1, &carve_out)
                            .ok()
                    })
                    .flatten();
                match retry {
                    Some(a) => a,
                    None => {
                        return Err(MempoolReject::with_debug(
                            RejectKind::Policy,
                            "too-long-mempool-chain",
                            message,
                        ))
                    }
                }
            }
        };

        let mut sibling_eviction = false;
        if let Some(v) = truc::single_truc_checks(
            &self.pool,
            &tx,
            (txid, wtxid),
            &ancestors,
            &conflicts,
            vsize,
        ) {
            match v.sibling {
                Some(sibling) if args.single => {
                    conflicts.insert(sibling);
                    sibling_eviction = true;
                }
                _ => {
                    return Err(MempoolReject::with_debug(
                        RejectKind::Policy,
                        "TRUC-violation",
                        v.message,
                    ))
                }
            }
        }

        let mut sorted_ancestors: Vec<&Txid> = ancestors.iter().collect();
        sorted_ancestors.sort();
        if let Some(a) = sorted_ancestors
            .into_iter()
            .find(|a| conflicts.contains(*a))
        {
            return Err(MempoolReject::with_debug(
                RejectKind::Invalid,
                "bad-txns-spends-conflicting-tx",
                format!("{txid} spends conflicting transaction {a}"),
            ));
        }

        Ok(Workspace {
            tx,
            txid,
            wtxid,
            spent,
            fee,
            modified_fee,
            vsize,
            weight,
            sigop_cost,
            spends_coinbase,
            lock_points,
            conflicts,
            all_conflicting: HashSet::new(),
            sibling_eviction,
        })
    }
}

/// Core's `Consensus::CheckTxInputs` for a spend at `spend_height`: the
/// fee, or Core's reason.
pub(crate) fn check_tx_inputs(
    tx: &Transaction,
    spent: &[Coin],
    spend_height: u32,
) -> Result<i64, MempoolReject> {
    let mut value_in: i64 = 0;
    for coin in spent {
        if coin.coinbase && spend_height.saturating_sub(coin.height) < COINBASE_MATURITY {
            return Err(MempoolReject::with_debug(
                RejectKind::Policy,
                "bad-txns-premature-spend-of-coinbase",
                format!(
                    "tried to spend coinbase at depth {}",
                    i64::from(spend_height) - i64::from(coin.height)
                ),
            ));
        }
        let amount = i64::try_from(coin.amount).unwrap_or(i64::MAX);
        value_in = value_in.saturating_add(amount);
        if !(0..=MAX_MONEY).contains(&amount) || !(0..=MAX_MONEY).contains(&value_in) {
            return Err(invalid("bad-txns-inputvalues-outofrange"));
        }
    }
    // check_transaction bounded each output and their sum by MAX_MONEY.
    let value_out: i64 = tx
        .output
        .iter()
        .map(|o| o.value.to_sat() as i64)
        .fold(0, i64::saturating_add);
    if value_in < value_out {
        return Err(MempoolReject::with_debug(
            RejectKind::Invalid,
            "bad-txns-in-belowout",
            format!(
                "value in ({}) < value out ({})",
                format_money(value_in),
                format_money(value_out)
            ),
        ));
    }
    Ok(value_in - value_out)
}

/// Verifies every input with every consensus flag.
pub(super) fn script_checks(ws: &Workspace) -> Result<(), MempoolReject> {
    let failed = |text: &str| invalid(&format!("mandatory-script-verify-flag-failed ({text})"));
    let bytes = bitcoin::consensus::serialize(&*ws.tx);
    let spent: Vec<(Amount, &[u8])> = ws
        .spent
        .iter()
        .map(|c| (Amount::from_sat(c.amount), c.script.as_slice()))
        .collect();
    let outputs = SpentOutputs::new(&spent).map_err(|_| failed("unknown error"))?;
    for (i, input) in ws.tx.input.iter().enumerate() {
        if let Err(e) = outputs.verify(&bytes, i, VerifyFlags::ALL) {
            if e.is_script_failure() {
                return Err(failed(describe_failure(input, &ws.spent[i].script)));
            }
            return Err(failed("unknown error"));
        }
    }
    Ok(())
}
