//! The transaction memory pool with Bitcoin Core 28's default policy.
//!
//! The chain is seen through [`ChainView`] (the node implements it over its
//! chainstate). [`Mempool::accept`] runs Core's `AcceptToMemoryPool` in
//! Core's order and with Core's reject reasons ([`MempoolReject`]), replaces
//! conflicting transactions under Core's RBF rules (full-RBF on by
//! default), and keeps the pool within `-maxmempool` by evicting the lowest
//! descendant-feerate packages and raising a rolling minimum fee.
//!
//! | module | job |
//! |---|---|
//! | [`feerate`] | [`FeeRate`] (Core's `CFeeRate`), [`format_money`] |
//! | [`reject`] | [`MempoolReject`], its RPC codes and messages |
//! | [`script`] | script inspection (`Solver`, sigop counts, push-only) |
//! | [`policy`] | standardness: `IsStandardTx`, dust, inputs, witnesses, sigops |
//! | [`locks`] | lock time finality and BIP68 |
//! | `script_error` | Core's script error text for a failed spend |
//! | [`pool`] | [`Entry`], the dependency graph, ancestor limits |
//! | `accept` | the acceptance pipeline (`PreChecks`, scripts, finalize) |
//! | `rbf` | replacement rules (BIP125 rules 2-6 as Core 28 has them) |
//! | `truc` | TRUC (version 3) topology rules |
//! | `limit` | size limit, expiry and the rolling minimum fee |
//! | `reorg` | blocks connected and disconnected |
//! | `package` | `testmempoolaccept` of several transactions |
//! | [`json`] | Core's RPC result objects |
//!
//! Script verification runs through the consensus library with every
//! consensus flag (`VerifyFlags::ALL`, which Core's standard flags
//! include). Core's policy-only script flags (`STRICTENC`, `LOW_S`,
//! `MINIMALDATA`, `NULLFAIL`, `CLEANSTACK`, `DISCOURAGE_*`,
//! `WITNESS_PUBKEYTYPE`, `CONST_SCRIPTCODE`, ...) cannot be evaluated by
//! the library, so a spend that only breaks one of them is accepted here
//! where Core answers `non-mandatory-script-verify-flag (...)`. The text
//! inside `mandatory-script-verify-flag-failed (...)` is reconstructed for
//! single-key spends (see `script_error`), since the library does not
//! report why a script failed.
//!
//! Not implemented: `prioritisetransaction` (modified fee = base fee),
//! `submitpackage` and package RBF (packages are only tested, as
//! `testmempoolaccept` does), package-level TRUC checks, `mempool.dat`
//! persistence, fee estimation. Memory usage is an estimate of Core's
//! `DynamicMemoryUsage` (see [`Entry::usage`]), so `-maxmempool` trims at
//! roughly, not exactly, Core's point.

mod accept;
/// The consensus input checks shared with block assembly.
pub(crate) mod accept_rules {
    pub(crate) use super::accept::check_tx_inputs;
    pub(crate) use super::script_error::describe_failure;
}
pub mod feerate;
pub mod json;
mod limit;
pub mod locks;
mod package;
pub mod policy;
pub mod pool;
mod rbf;
pub mod reject;
mod reorg;
pub mod script;
mod script_error;
mod truc;

use std::collections::HashSet;

use bitcoin::{BlockHash, OutPoint, Txid, Wtxid};

pub use feerate::{format_money, FeeRate};
pub use package::{PackageResult, PackageTxResult};
pub use pool::{Entry, Limits, Totals};
pub use reject::{MempoolReject, RejectKind};
pub use reorg::BlockRemoval;

pub use crate::store::Coin;

/// What the mempool needs from the chain; the node implements it over its
/// chainstate.
pub trait ChainView {
    /// A coin of the confirmed UTXO set (mempool spends are not applied).
    fn coin(&self, outpoint: &OutPoint) -> Option<Coin>;
    fn tip_height(&self) -> u32;
    fn tip_hash(&self) -> BlockHash;
    /// Median time past of the tip.
    fn median_time_past(&self) -> i64;
    /// Median time past of the block at `height` (at most the tip's
    /// height), for BIP68 time locks.
    fn mtp_at_height(&self, height: u32) -> i64;
    /// Consensus script flags of the next block. The mempool verifies with
    /// every consensus flag (Core's standard flags include them all), so
    /// this is informational for now.
    fn script_flags(&self) -> btc_core::script::VerifyFlags;
}

/// Core's mempool options, with Core 28's defaults in [`Default`].
#[derive(Clone, Debug)]
pub struct MempoolOptions {
    /// `-maxmempool` in bytes of (estimated) memory usage: 300 MB.
    pub max_size_bytes: u64,
    /// `-minrelaytxfee`: 1000 sat/kvB.
    pub min_relay_fee: FeeRate,
    /// `-incrementalrelayfee`: 1000 sat/kvB.
    pub incremental_relay_fee: FeeRate,
    /// `-dustrelayfee`: 3000 sat/kvB.
    pub dust_relay_fee: FeeRate,
    /// `-permitbaremultisig`: true.
    pub permit_bare_multisig: bool,
    /// `-datacarrier`: true.
    pub datacarrier: bool,
    /// `-datacarriersize`: 83 bytes (the whole scriptPubKey).
    pub datacarrier_size: usize,
    /// `-limitancestorcount` etc.: 25 transactions, 101 kvB each way.
    pub limits: Limits,
    /// `-mempoolexpiry` in seconds: 336 hours.
    pub expiry_secs: i64,
    /// `-mempoolfullrbf`: true.
    pub full_rbf: bool,
    /// `!-acceptnonstdtxn`: true (regtest too requires standard
    /// transactions by default).
    pub require_standard: bool,
}

impl Default for MempoolOptions {
    fn default() -> MempoolOptions {
        MempoolOptions {
            max_size_bytes: 300_000_000,
            min_relay_fee: FeeRate::from_sat_per_kvb(1000),
            incremental_relay_fee: FeeRate::from_sat_per_kvb(1000),
            dust_relay_fee: FeeRate::from_sat_per_kvb(3000),
            permit_bare_multisig: true,
            datacarrier: true,
            datacarrier_size: 83,
            limits: Limits {
                ancestor_count: 25,
                ancestor_size: 101_000,
                descendant_count: 25,
                descendant_size: 101_000,
            },
            expiry_secs: 336 * 60 * 60,
            full_rbf: true,
            require_standard: true,
        }
    }
}

/// How to accept one transaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptOptions {
    /// Run every check but leave the pool unchanged (`testmempoolaccept`).
    pub test_only: bool,
    /// Reject with [`RejectKind::MaxFee`] when the fee exceeds this rate
    /// for the transaction's virtual size without sigop adjustment
    /// (`sendrawtransaction`'s `maxfeerate`, default 0.10 BTC/kvB; `None`
    /// or zero: no limit). `testmempoolaccept` applies its limit to the
    /// sigop-adjusted size instead: see [`json::test_mempool_accept`].
    pub max_fee_rate: Option<FeeRate>,
    /// Current time in seconds since the epoch (entry time, expiry, the
    /// rolling minimum fee's decay).
    pub now: i64,
}

/// An accepted (or, with `test_only`, acceptable) transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub txid: Txid,
    pub wtxid: Wtxid,
    /// Sigop-adjusted virtual size.
    pub vsize: u64,
    /// Base fee in satoshis.
    pub fee: i64,
    /// The transactions it replaced (direct conflicts and their
    /// descendants), evicted unless `test_only`.
    pub replaced: Vec<Txid>,
    /// Entries the size limits removed after it entered: expired
    /// (`-mempoolexpiry`), then trimmed (`-maxmempool`).
    pub expired: Vec<Txid>,
    pub trimmed: Vec<Txid>,
}

impl Accepted {
    /// `testmempoolaccept`'s `effective-feerate` (the transaction's own).
    pub fn effective_fee_rate(&self) -> FeeRate {
        FeeRate::from_fee_and_vsize(self.fee, self.vsize)
    }
}

/// State of Core's rolling minimum fee (`rollingMinimumFeeRate`).
#[derive(Clone, Copy, Debug, Default)]
struct RollingFee {
    /// sat/kvB.
    rate: f64,
    last_update: i64,
    block_since_bump: bool,
}

/// The memory pool.
#[derive(Debug)]
pub struct Mempool {
    opts: MempoolOptions,
    pool: pool::Pool,
    unbroadcast: HashSet<Txid>,
    rolling: RollingFee,
}

impl Mempool {
    /// An empty pool.
    pub fn new(opts: MempoolOptions) -> Mempool {
        Mempool {
            opts,
            pool: pool::Pool::default(),
            unbroadcast: HashSet::new(),
            rolling: RollingFee::default(),
        }
    }

    pub fn options(&self) -> &MempoolOptions {
        &self.opts
    }

    /// The entry of `txid`.
    pub fn get(&self, txid: &Txid) -> Option<&Entry> {
        self.pool.get(txid)
    }

    /// The entry with witness hash `wtxid`.
    pub fn get_by_wtxid(&self, wtxid: &Wtxid) -> Option<&Entry> {
        self.pool.by_wtxid(wtxid)
    }

    pub fn contains(&self, txid: &Txid) -> bool {
        self.pool.contains(txid)
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.pool.entries()
    }

    /// The txids in `getrawmempool`'s order (Core's `DepthAndScore`: fewer
    /// ancestors first, then higher fee rate, then higher txid).
    pub fn txids(&self) -> Vec<Txid> {
        let mut v: Vec<&Entry> = self.pool.entries().collect();
        v.sort_by(|a, b| {
            a.ancestors.count.cmp(&b.ancestors.count).then_with(|| {
                let fa = i128::from(a.modified_fee) * i128::from(b.vsize);
                let fb = i128::from(b.modified_fee) * i128::from(a.vsize);
                fb.cmp(&fa).then_with(|| b.txid.cmp(&a.txid))
            })
        });
        v.into_iter().map(|e| e.txid).collect()
    }

    /// Entries by ancestor fee rate, best first (Core's `ancestor_score`
    /// index; ties by lower txid).
    pub fn by_ancestor_score(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.pool.entries().collect();
        v.sort_by(|a, b| {
            let fa = i128::from(a.ancestors.fees) * i128::from(b.ancestors.vsize);
            let fb = i128::from(b.ancestors.fees) * i128::from(a.ancestors.vsize);
            fb.cmp(&fa).then_with(|| a.txid.cmp(&b.txid))
        });
        v
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.pool.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pool.is_empty()
    }

    /// Sum of virtual sizes (`getmempoolinfo.bytes`).
    pub fn bytes(&self) -> u64 {
        self.pool.total_vsize()
    }

    /// Estimated memory usage (`getmempoolinfo.usage`), what
    /// `max_size_bytes` limits.
    pub fn usage(&self) -> u64 {
        self.pool.usage()
    }

    /// Sum of base fees in satoshis.
    pub fn total_fee(&self) -> i64 {
        self.pool.total_fee()
    }

    /// The mempool transaction spending `outpoint`.
    pub fn spender_of(&self, outpoint: &OutPoint) -> Option<Txid> {
        self.pool.spender_of(outpoint)
    }

    /// In-pool ancestors of `txid` (itself excluded).
    pub fn ancestors_of(&self, txid: &Txid) -> HashSet<Txid> {
        self.pool.ancestors_of(txid)
    }

    /// In-pool descendants of `txid` (itself excluded).
    pub fn descendants_of(&self, txid: &Txid) -> HashSet<Txid> {
        self.pool.descendants_of(txid)
    }

    /// Core's `IsRBFOptIn`: the transaction or an in-pool ancestor signals
    /// BIP125 (`bip125-replaceable`).
    pub fn is_bip125_replaceable(&self, txid: &Txid) -> bool {
        let Some(e) = self.pool.get(txid) else {
            return false;
        };
        policy::signals_rbf(&e.tx)
            || self
                .pool
                .ancestors_of(txid)
                .iter()
                .filter_map(|a| self.pool.get(a))
                .any(|a| policy::signals_rbf(&a.tx))
    }

    /// Marks a transaction submitted locally and not yet announced
    /// (`unbroadcast`), or clears the mark.
    pub fn set_unbroadcast(&mut self, txid: Txid, unbroadcast: bool) {
        if unbroadcast && self.pool.contains(&txid) {
            self.unbroadcast.insert(txid);
        } else {
            self.unbroadcast.remove(&txid);
        }
    }

    pub fn is_unbroadcast(&self, txid: &Txid) -> bool {
        self.unbroadcast.contains(txid)
    }

    pub fn unbroadcast_count(&self) -> usize {
        self.unbroadcast.len()
    }

    /// Removes `txids` with all their descendants (Core's
    /// `removeRecursive`); returns what was removed.
    pub fn remove_recursive(&mut self, txids: impl IntoIterator<Item = Txid>) -> Vec<Txid> {
        let set = self.pool.with_descendants(txids);
        self.remove_set(&set)
    }

    fn remove_set(&mut self, set: &HashSet<Txid>) -> Vec<Txid> {
        self.pool.remove_set(set);
        for t in set {
            self.unbroadcast.remove(t);
        }
        let mut v: Vec<Txid> = set.iter().copied().collect();
        v.sort();
        v
    }
}
