//! Keeping the pool consistent with the chain: blocks connected
//! ([`Mempool::remove_for_block`]) and disconnected
//! ([`Mempool::readd_after_disconnect`]).

use std::collections::HashSet;
use std::sync::Arc;

use bitcoin::{OutPoint, Transaction, Txid};

use super::accept::{Args, Overlay, COINBASE_MATURITY};
use super::locks;
use super::{AcceptOptions, ChainView, Mempool};

/// What a connected block removed from the pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockRemoval {
    /// Pool transactions the block confirmed.
    pub confirmed: Vec<Txid>,
    /// Pool transactions that conflicted with the block, and their
    /// descendants.
    pub conflicts: Vec<Txid>,
}

impl Mempool {
    /// Core's `removeForBlock`: removes the block's transactions (their
    /// in-pool descendants stay) and every pool transaction spending an
    /// outpoint the block spends, with its descendants. `now` restarts the
    /// rolling minimum fee's decay.
    pub fn remove_for_block(&mut self, block_txs: &[Transaction], now: i64) -> BlockRemoval {
        let mut out = BlockRemoval::default();
        for tx in block_txs {
            let txid = tx.compute_txid();
            if self.pool.contains(&txid) {
                self.remove_set(&HashSet::from([txid]));
                out.confirmed.push(txid);
            }
            let conflicts: Vec<Txid> = tx
                .input
                .iter()
                .filter_map(|i| self.pool.spender_of(&i.previous_output))
                .filter(|s| *s != txid)
                .collect();
            if !conflicts.is_empty() {
                out.conflicts.extend(self.remove_recursive(conflicts));
            }
        }
        self.note_block(now);
        out
    }

    /// Core's `MaybeUpdateMempoolForReorg`, after blocks were disconnected
    /// and `chain` shows the new tip: the disconnected blocks' transactions
    /// (oldest block first, in block order) go back through acceptance
    /// without fee and size limits (coinbases are dropped, and a
    /// transaction that fails takes its in-pool spenders with it); then
    /// every entry that is no longer valid for the next block is removed
    /// with its descendants: inputs gone, non-final, not BIP68-final, or
    /// spending an immature coinbase. Finally the size limit applies.
    /// Returns the txids removed in the second step and by the limit.
    pub fn readd_after_disconnect(
        &mut self,
        txs: Vec<Transaction>,
        chain: &dyn ChainView,
        now: i64,
    ) -> Vec<Txid> {
        let args = Args {
            bypass_limits: true,
            allow_replacement: true,
            single: true,
        };
        let opts = AcceptOptions {
            test_only: false,
            max_fee_rate: None,
            now,
        };
        for tx in txs {
            if tx.is_coinbase() {
                continue;
            }
            let txid = tx.compute_txid();
            let n_out = tx.output.len() as u32;
            if self.accept_single(Arc::new(tx), chain, args, opts).is_err() {
                let orphans: Vec<Txid> = (0..n_out)
                    .filter_map(|vout| self.pool.spender_of(&OutPoint::new(txid, vout)))
                    .collect();
                self.remove_recursive(orphans);
            }
        }
        let mut removed = self.remove_for_reorg(chain);
        removed.extend(self.limit_size(now));
        removed
    }

    /// Core's `removeForReorg` (plus a missing-input check).
    fn remove_for_reorg(&mut self, chain: &dyn ChainView) -> Vec<Txid> {
        let next_height = chain.tip_height().saturating_add(1);
        let empty = Overlay::new();
        let invalid: Vec<Txid> = self
            .pool
            .entries()
            .filter(|e| {
                if !locks::is_final_at_tip(&e.tx, chain) {
                    return true;
                }
                let mut heights = Vec::with_capacity(e.tx.input.len());
                for input in &e.tx.input {
                    match self.lookup_coin(&input.previous_output, chain, &empty) {
                        None => return true,
                        Some((coin, unconfirmed)) => {
                            if coin.coinbase
                                && next_height.saturating_sub(coin.height) < COINBASE_MATURITY
                            {
                                return true;
                            }
                            heights.push(if unconfirmed {
                                next_height
                            } else {
                                coin.height
                            });
                        }
                    }
                }
                let lp = locks::sequence_lock_points(&e.tx, &heights, chain);
                !locks::sequence_locks_ok(lp, chain)
            })
            .map(|e| e.txid)
            .collect();
        if invalid.is_empty() {
            return Vec::new();
        }
        self.remove_recursive(invalid)
    }
}
