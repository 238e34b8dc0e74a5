//! Keeping the pool within `-maxmempool` and `-mempoolexpiry`, and Core's
//! rolling minimum fee (`GetMinFee`, `TrimToSize`, `Expire`).
//!
//! When the pool is trimmed, the minimum fee rises to the evicted
//! package's fee rate plus the incremental relay fee; after the next block
//! it decays with a half-life of 12 hours (3 h while the pool is under a
//! quarter full, 6 h under half), and drops to zero below half the
//! incremental fee, as in Core. Memory usage is this crate's estimate
//! ([`Entry::usage`](super::Entry::usage)), not Core's exact accounting.

use std::collections::HashSet;

use bitcoin::Txid;

use super::{FeeRate, Mempool, RollingFee};

/// Core's `ROLLING_FEE_HALFLIFE` (12 hours).
const ROLLING_FEE_HALFLIFE: f64 = 60.0 * 60.0 * 12.0;

/// Core's `GetMinFee` on a copy of the rolling state: the new state and the
/// minimum fee rate at `now`, for a pool using `usage` bytes of `max`.
fn decay(
    mut r: RollingFee,
    now: i64,
    usage: u64,
    max: u64,
    incremental: FeeRate,
) -> (RollingFee, FeeRate) {
    if !r.block_since_bump || r.rate == 0.0 {
        return (r, FeeRate::from_sat_per_kvb(r.rate.round() as i64));
    }
    if now > r.last_update + 10 {
        let mut halflife = ROLLING_FEE_HALFLIFE;
        if usage < max / 4 {
            halflife /= 4.0;
        } else if usage < max / 2 {
            halflife /= 2.0;
        }
        r.rate /= 2f64.powf((now - r.last_update) as f64 / halflife);
        r.last_update = now;
        if r.rate < incremental.sat_per_kvb() as f64 / 2.0 {
            r.rate = 0.0;
            return (r, FeeRate::ZERO);
        }
    }
    let rate = FeeRate::from_sat_per_kvb(r.rate.round() as i64).max(incremental);
    (r, rate)
}

impl Mempool {
    /// Core's `GetMinFee()`: the current mempool minimum fee rate, decayed
    /// to `now` (this updates the decay state, as Core's does).
    pub fn min_fee(&mut self, now: i64) -> FeeRate {
        let (state, rate) = self.decayed(now);
        self.rolling = state;
        rate
    }

    fn decayed(&self, now: i64) -> (RollingFee, FeeRate) {
        decay(
            self.rolling,
            now,
            self.pool.usage(),
            self.opts.max_size_bytes,
            self.opts.incremental_relay_fee,
        )
    }

    /// `getmempoolinfo.mempoolminfee` at `now`: the larger of the rolling
    /// minimum (decayed to `now` as [`min_fee`] would, without storing the
    /// decay) and the min relay fee.
    ///
    /// [`min_fee`]: Mempool::min_fee
    pub fn mempool_min_fee(&self, now: i64) -> FeeRate {
        self.decayed(now).1.max(self.opts.min_relay_fee)
    }

    /// Core's `trackPackageRemoved`.
    fn track_package_removed(&mut self, rate: FeeRate) {
        if rate.sat_per_kvb() as f64 > self.rolling.rate {
            self.rolling.rate = rate.sat_per_kvb() as f64;
            self.rolling.block_since_bump = false;
        }
    }

    /// Notes a connected block for the rolling minimum fee's decay.
    pub(super) fn note_block(&mut self, now: i64) {
        self.rolling.last_update = now;
        self.rolling.block_since_bump = true;
    }

    /// Core's `LimitMempoolSize`: expire old entries, then trim to size.
    /// Returns the removed txids.
    pub(super) fn limit_size(&mut self, now: i64) -> Vec<Txid> {
        let mut removed = self.expire(now - self.opts.expiry_secs);
        removed.extend(self.trim_to_size(self.opts.max_size_bytes));
        removed
    }

    /// Core's `Expire`: removes entries that entered before `cutoff`, with
    /// their descendants.
    pub fn expire(&mut self, cutoff: i64) -> Vec<Txid> {
        let old = self.pool.entered_before(cutoff);
        if old.is_empty() {
            return Vec::new();
        }
        self.remove_recursive(old)
    }

    /// Core's `TrimToSize`: while usage exceeds `limit`, evicts the entry
    /// with the lowest descendant score with its descendants, raising the
    /// rolling minimum fee.
    pub fn trim_to_size(&mut self, limit: u64) -> Vec<Txid> {
        let mut removed = Vec::new();
        while self.pool.usage() > limit {
            // Lowest of max(own rate, rate with descendants); on a tie the
            // newer entry goes first.
            let worst = self
                .pool
                .entries()
                .map(|e| {
                    let own = (e.modified_fee, e.vsize);
                    let with = (e.descendants.fees, e.descendants.vsize);
                    let score = if i128::from(with.0) * i128::from(own.1)
                        > i128::from(own.0) * i128::from(with.1)
                    {
                        with
                    } else {
                        own
                    };
                    (score, e.time, e.txid)
                })
                .min_by(|(a, ta, ia), (b, tb, ib)| {
                    let fa = i128::from(a.0) * i128::from(b.1);
                    let fb = i128::from(b.0) * i128::from(a.1);
                    fa.cmp(&fb).then(tb.cmp(ta)).then(ia.cmp(ib))
                });
            let Some((_, _, txid)) = worst else { break };
            let Some(e) = self.pool.get(&txid) else { break };
            let rate = FeeRate::from_fee_and_vsize(e.descendants.fees, e.descendants.vsize)
                .saturating_add(self.opts.incremental_relay_fee);
            self.track_package_removed(rate);
            let set: HashSet<Txid> = self.pool.with_descendants([txid]);
            removed.extend(self.remove_set(&set));
        }
        removed
    }
}
