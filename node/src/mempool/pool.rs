//! The transactions in the pool and their in-pool dependency graph:
//! [`Entry`] (one transaction with its fee, size and ancestor/descendant
//! totals) and [`Pool`] (the entries, indexes by wtxid and spent outpoint,
//! linking and unlinking, and Core's ancestor-limit walk).
//!
//! Ancestor and descendant totals are recomputed from the graph for every
//! entry whose sets change (Core updates them incrementally; with the
//! default chain limits of 25 the walk is short).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Transaction, Txid, Wtxid};

use super::locks::LockPoints;

/// Totals over a transaction and its in-pool ancestors (or descendants),
/// the transaction included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub count: u64,
    /// Sum of virtual sizes (sigop-adjusted).
    pub vsize: u64,
    /// Sum of modified fees.
    pub fees: i64,
    pub sigop_cost: i64,
}

impl Totals {
    fn add(&mut self, e: &Entry) {
        self.count += 1;
        self.vsize += e.vsize;
        self.fees += e.modified_fee;
        self.sigop_cost += e.sigop_cost;
    }
}

/// One transaction in the mempool.
#[derive(Clone, Debug)]
pub struct Entry {
    pub tx: Arc<Transaction>,
    pub txid: Txid,
    pub wtxid: Wtxid,
    /// Inputs minus outputs, in satoshis.
    pub fee: i64,
    /// The fee mining and eviction use (`prioritisetransaction` deltas
    /// are not supported: always equal to `fee`).
    pub modified_fee: i64,
    /// Sigop-adjusted virtual size (Core's `GetTxSize`).
    pub vsize: u64,
    pub weight: u64,
    pub sigop_cost: i64,
    /// Entry time (seconds since the epoch).
    pub time: i64,
    /// Tip height when it entered.
    pub height: u32,
    /// Entry order.
    pub sequence: u64,
    pub spends_coinbase: bool,
    pub lock_points: LockPoints,
    /// In-pool transactions it spends.
    pub parents: BTreeSet<Txid>,
    /// In-pool transactions spending it.
    pub children: BTreeSet<Txid>,
    /// Totals with its in-pool ancestors.
    pub ancestors: Totals,
    /// Totals with its in-pool descendants.
    pub descendants: Totals,
}

impl Entry {
    /// Memory this entry is counted for in [`Pool::usage`]: an estimate of
    /// Core's `DynamicMemoryUsage` share (transaction bytes twice for the
    /// structures holding them, per-input/output overhead, entry and index
    /// nodes).
    pub fn usage(&self) -> u64 {
        let io = (self.tx.input.len() + self.tx.output.len()) as u64;
        3 * self.tx.total_size() as u64 + 96 * io + 512
    }
}

/// Core's chain limits (`-limitancestorcount` ...), sizes in virtual bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub ancestor_count: u64,
    pub ancestor_size: u64,
    pub descendant_count: u64,
    pub descendant_size: u64,
}

/// The entries and their indexes.
#[derive(Default, Debug)]
pub struct Pool {
    entries: HashMap<Txid, Entry>,
    by_wtxid: HashMap<Wtxid, Txid>,
    spenders: HashMap<OutPoint, Txid>,
    /// Entry times, oldest first (for expiry).
    by_time: BTreeSet<(i64, Txid)>,
    total_vsize: u64,
    total_fee: i64,
    usage: u64,
    next_sequence: u64,
}

impl Pool {
    pub fn get(&self, txid: &Txid) -> Option<&Entry> {
        self.entries.get(txid)
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.entries.contains_key(txid)
    }

    pub fn by_wtxid(&self, wtxid: &Wtxid) -> Option<&Entry> {
        self.by_wtxid.get(wtxid).and_then(|t| self.entries.get(t))
    }

    pub fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.spenders.get(outpoint).copied()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn total_vsize(&self) -> u64 {
        self.total_vsize
    }

    pub fn total_fee(&self) -> i64 {
        self.total_fee
    }

    pub fn usage(&self) -> u64 {
        self.usage
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Entries that entered before `cutoff`.
    pub fn entered_before(&self, cutoff: i64) -> Vec<Txid> {
        self.by_time
            .range(..(cutoff, Txid::all_zeros()))
            .map(|(_, t)| *t)
            .collect()
    }

    /// The next entry sequence number.
    pub fn take_sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }

    /// Adds an entry, linking it to in-pool parents and to in-pool
    /// children that already spend it (after a reorg), and updates the
    /// totals of everything whose ancestor or descendant set changed.
    pub fn insert(&mut self, mut entry: Entry) {
        let txid = entry.txid;
        entry.parents = entry
            .tx
            .input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| self.entries.contains_key(p))
            .collect();
        entry.children = (0..entry.tx.output.len() as u32)
            .filter_map(|vout| self.spenders.get(&OutPoint::new(txid, vout)).copied())
            .collect();
        for input in &entry.tx.input {
            self.spenders.insert(input.previous_output, txid);
        }
        for p in &entry.parents {
            if let Some(parent) = self.entries.get_mut(p) {
                parent.children.insert(txid);
            }
        }
        for c in &entry.children {
            if let Some(child) = self.entries.get_mut(c) {
                child.parents.insert(txid);
            }
        }
        self.by_wtxid.insert(entry.wtxid, txid);
        self.by_time.insert((entry.time, txid));
        self.total_vsize += entry.vsize;
        self.total_fee += entry.fee;
        self.usage += entry.usage();
        self.entries.insert(txid, entry);
        let mut affected = self.ancestors_of(&txid);
        affected.extend(self.descendants_of(&txid));
        affected.insert(txid);
        self.recompute(&affected);
    }

    /// Removes `set` (each entry alone: descendants outside the set stay
    /// and lose it as an ancestor) and updates the totals of the rest.
    pub fn remove_set(&mut self, set: &HashSet<Txid>) {
        let mut affected = HashSet::new();
        for txid in set {
            affected.extend(self.ancestors_of(txid));
            affected.extend(self.descendants_of(txid));
        }
        for txid in set {
            let Some(entry) = self.entries.remove(txid) else {
                continue;
            };
            for input in &entry.tx.input {
                if self.spenders.get(&input.previous_output) == Some(txid) {
                    self.spenders.remove(&input.previous_output);
                }
            }
            for p in &entry.parents {
                if let Some(parent) = self.entries.get_mut(p) {
                    parent.children.remove(txid);
                }
            }
            for c in &entry.children {
                if let Some(child) = self.entries.get_mut(c) {
                    child.parents.remove(txid);
                }
            }
            self.by_wtxid.remove(&entry.wtxid);
            self.by_time.remove(&(entry.time, *txid));
            self.total_vsize -= entry.vsize;
            self.total_fee -= entry.fee;
            self.usage -= entry.usage();
        }
        affected.retain(|t| !set.contains(t));
        self.recompute(&affected);
    }

    /// `txids` and all their in-pool descendants.
    pub fn with_descendants(&self, txids: impl IntoIterator<Item = Txid>) -> HashSet<Txid> {
        let mut out = HashSet::new();
        let mut stack: Vec<Txid> = txids
            .into_iter()
            .filter(|t| self.entries.contains_key(t))
            .collect();
        while let Some(t) = stack.pop() {
            if out.insert(t) {
                if let Some(e) = self.entries.get(&t) {
                    stack.extend(e.children.iter().copied());
                }
            }
        }
        out
    }

    /// In-pool ancestors of `txid` (itself excluded).
    pub fn ancestors_of(&self, txid: &Txid) -> HashSet<Txid> {
        self.walk(txid, |e| &e.parents)
    }

    /// In-pool descendants of `txid` (itself excluded).
    pub fn descendants_of(&self, txid: &Txid) -> HashSet<Txid> {
        self.walk(txid, |e| &e.children)
    }

    fn walk(&self, txid: &Txid, next: impl Fn(&Entry) -> &BTreeSet<Txid>) -> HashSet<Txid> {
        let mut out = HashSet::new();
        let mut stack: Vec<Txid> = self
            .entries
            .get(txid)
            .map(|e| next(e).iter().copied().collect())
            .unwrap_or_default();
        while let Some(t) = stack.pop() {
            if out.insert(t) {
                if let Some(e) = self.entries.get(&t) {
                    stack.extend(next(e).iter().copied());
                }
            }
        }
        out
    }

    fn recompute(&mut self, txids: &HashSet<Txid>) {
        for txid in txids {
            let Some(entry) = self.entries.get(txid) else {
                continue;
            };
            let mut anc = Totals::default();
            anc.add(entry);
            let mut desc = anc;
            for a in self.ancestors_of(txid) {
                if let Some(e) = self.entries.get(&a) {
                    anc.add(e);
                }
            }
            for d in self.descendants_of(txid) {
                if let Some(e) = self.entries.get(&d) {
                    desc.add(e);
                }
            }
            if let Some(entry) = self.entries.get_mut(txid) {
                entry.ancestors = anc;
                entry.descendants = desc;
            }
        }
    }

    /// The in-pool parents of a transaction not in the pool.
    pub fn parents_of_tx(&self, tx: &Transaction) -> BTreeSet<Txid> {
        tx.input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| self.entries.contains_key(p))
            .collect()
    }

    /// Core's `CalculateMemPoolAncestors` + `CalculateAncestorsAndCheckLimits`
    /// for `entry_count` new transactions of `entry_vsize` spending
    /// `parents`: the in-pool ancestors, or Core's limit message.
    pub fn calculate_ancestors(
        &self,
        parents: &BTreeSet<Txid>,
        entry_vsize: u64,
        entry_count: u64,
        limits: &Limits,
    ) -> Result<HashSet<Txid>, String> {
        if parents.len() as u64 + entry_count > limits.ancestor_count {
            return Err(format!(
                "too many unconfirmed parents [limit: {}]",
                limits.ancestor_count
            ));
        }
        self.ancestors_with_limits(parents.clone(), entry_vsize, entry_count, limits)
    }

    /// Core's `CalculateAncestorsAndCheckLimits`: walks up from `staged`,
    /// checking each ancestor's descendant limits and the ancestor limits.
    pub fn ancestors_with_limits(
        &self,
        mut staged: BTreeSet<Txid>,
        entry_vsize: u64,
        entry_count: u64,
        limits: &Limits,
    ) -> Result<HashSet<Txid>, String> {
        let mut ancestors = HashSet::new();
        let mut total_size = entry_vsize;
        while let Some(txid) = staged.pop_first() {
            let Some(stage) = self.entries.get(&txid) else {
                continue;
            };
            ancestors.insert(txid);
            total_size += stage.vsize;
            if stage.descendants.vsize + entry_vsize > limits.descendant_size {
                return Err(format!(
                    "exceeds descendant size limit for tx {} [limit: {}]",
                    txid, limits.descendant_size
                ));
            } else if stage.descendants.count + entry_count > limits.descendant_count {
                return Err(format!(
                    "too many descendants for tx {} [limit: {}]",
                    txid, limits.descendant_count
                ));
            } else if total_size > limits.ancestor_size {
                return Err(format!(
                    "exceeds ancestor size limit [limit: {}]",
                    limits.ancestor_size
                ));
            }
            for parent in &stage.parents {
                if !ancestors.contains(parent) {
                    staged.insert(*parent);
                }
                if (staged.len() + ancestors.len()) as u64 + entry_count > limits.ancestor_count {
                    return Err(format!(
                        "too many unconfirmed ancestors [limit: {}]",
                        limits.ancestor_count
                    ));
                }
            }
        }
        Ok(ancestors)
    }
}
