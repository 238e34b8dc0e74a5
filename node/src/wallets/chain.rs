//! The node as a wallet sees it, in process: Core's `interfaces::Chain`
//! answered from the chainstate and mempool. `bitcoind`'s wallets call it
//! directly; the multiprocess node answers a wallet process's calls with
//! it after checking them.

use bitcoin::{Amount, BlockHash, FeeRate, Transaction, Txid};
use btc_core::ArchivedBlockArchive;
use btc_wallet::chain::{BatchBlock, BlockBatch};
use btc_wallet::Chain;

use crate::mempool::AcceptOptions;
use crate::node::{Node, View};

/// The node as a wallet sees it, in process.
pub struct NodeChain<'a>(pub &'a Node);

impl Chain for NodeChain<'_> {
    fn tip(&self) -> Option<(u32, BlockHash)> {
        let st = self.0.lock();
        let tip = st.chain.tree().get(st.chain.tip());
        Some((tip.height, tip.hash))
    }

    fn block_hash(&self, height: u32) -> Option<BlockHash> {
        self.0.lock().chain.hash_at(height)
    }

    fn find_locator_fork(&self, locator: &[BlockHash]) -> Option<(u32, BlockHash)> {
        let st = self.0.lock();
        for h in locator {
            if let Some(idx) = st.chain.lookup(h) {
                if st.chain.is_active(idx) {
                    return Some((st.chain.tree().get(idx).height, *h));
                }
            }
        }
        None
    }

    fn with_block(&self, height: u32, f: &mut dyn FnMut(&ArchivedBlockArchive)) -> bool {
        let mut found = false;
        self.with_blocks(height, height, &mut |blocks| {
            if let Some(b) = blocks.first().and_then(|(_, b)| b.archive()) {
                found = true;
                f(b);
            }
        });
        found
    }

    fn with_blocks(&self, from: u32, to: u32, f: &mut dyn FnMut(&BlockBatch<'_>)) -> usize {
        // Read one at a time (the chainstate lock is not held across the
        // batch), up to a memory budget.
        const BUDGET: usize = 64 << 20;
        let mut archives: Vec<(u32, rkyv::util::AlignedVec<16>)> = Vec::new();
        let mut bytes = 0;
        for h in from..=to {
            let read = {
                let mut st = self.0.lock();
                st.chain.at_height(h).map(|idx| st.chain.read_archive(idx))
            };
            match read {
                Some(Ok(a)) => {
                    bytes += a.len();
                    archives.push((h, a));
                }
                _ => break,
            }
            if bytes >= BUDGET {
                break;
            }
        }
        // Validated by the rescan's matching threads.
        let blocks: Vec<_> = archives
            .iter()
            .map(|(h, a)| (*h, BatchBlock::Unchecked(a)))
            .collect();
        if !blocks.is_empty() {
            f(&blocks);
        }
        blocks.len()
    }

    fn find_first_block_with_time(&self, time: u64) -> Option<u32> {
        let st = self.0.lock();
        let c = &st.chain;
        // Core compares with the greatest time up to each block, which
        // only grows along the chain, so a forward scan finds the first.
        let mut max_time = 0u64;
        for h in 0..=c.height() {
            let idx = c.at_height(h)?;
            max_time = max_time.max(u64::from(c.tree().get(idx).header.time));
            if max_time >= time {
                return Some(h);
            }
        }
        None
    }

    fn estimate_fee(&self, _conf_target: u32) -> Option<FeeRate> {
        // No fee estimator yet (no P2P, no relayed transactions to learn
        // from); wallets fall back to -fallbackfee, as Core does on a fresh
        // regtest node.
        None
    }

    fn min_fee(&self) -> FeeRate {
        let st = self.0.lock();
        let kvb = st.mempool.options().min_relay_fee.sat_per_kvb().max(0) as u64;
        FeeRate::from_sat_per_kwu(kvb.div_ceil(4))
    }

    fn broadcast(&self, tx: &Transaction, max_fee: Amount) -> Result<Txid, String> {
        let txid = tx.compute_txid();
        let mut st = self.0.lock();
        let st = &mut *st;
        if st.mempool.contains(&txid) {
            return Ok(txid);
        }
        let now = st.chain.now();
        let test = AcceptOptions {
            test_only: true,
            max_fee_rate: None,
            now,
        };
        let accepted = st
            .mempool
            .accept(tx.clone(), &View::new(&mut st.chain), test)
            .map_err(|r| r.reason.clone())?;
        if accepted.fee > max_fee.to_sat() as i64 {
            return Err("max-fee-exceeded".into());
        }
        let real = AcceptOptions {
            test_only: false,
            ..test
        };
        let accepted = st
            .mempool
            .accept(tx.clone(), &View::new(&mut st.chain), real)
            .map_err(|r| r.reason.clone())?;
        // Every wallet hears of it, the sender's included (Core's
        // transactionAddedToMempool), and of what it replaced.
        self.0.publish_tx(tx, &accepted);
        Ok(accepted.txid)
    }

    fn mempool_accept_test(&self, tx: &Transaction) -> Result<(), String> {
        let mut st = self.0.lock();
        let st = &mut *st;
        let now = st.chain.now();
        let opts = AcceptOptions {
            test_only: true,
            max_fee_rate: None,
            now,
        };
        st.mempool
            .accept(tx.clone(), &View::new(&mut st.chain), opts)
            .map(|_| ())
            .map_err(|r| r.reason.clone())
    }
}
