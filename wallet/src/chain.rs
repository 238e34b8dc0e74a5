//! What the wallet needs from the node, modelled on Bitcoin Core's
//! `interfaces::Chain`: a handful of calls, none of them per output or
//! per block in a loop. Blocks themselves are not fetched through this
//! trait: the node pushes them ([`crate::Wallet::block_connected`] and
//! friends), in place, as archived blocks.
//!
//! [`MemoryChain`] is an in-memory implementation for tests: a chain of
//! archived blocks built in the test, a set of "mempool" transactions and a
//! settable fee estimate.

mod memory;

pub use memory::MemoryChain;

use bitcoin::{Amount, BlockHash, FeeRate, Transaction, Txid};
use btc_core::ArchivedBlockArchive;

/// What [`Chain::with_blocks`] hands a rescan: heights and blocks, in
/// place.
pub type BlockBatch<'a> = [(u32, BatchBlock<'a>)];

/// A block of a rescan batch: an archive already validated, or the bytes
/// of one that the rescan's matching threads check (in parallel): its
/// shape always, the whole archive only when something in it matches.
#[derive(Clone, Copy, Debug)]
pub enum BatchBlock<'a> {
    /// Validated by the chain.
    Checked(&'a ArchivedBlockArchive),
    /// Not validated yet (block files mapped in place, or read by the
    /// node for `bitcoind`'s wallets).
    Unchecked(&'a [u8]),
}

impl<'a> BatchBlock<'a> {
    /// The archive, validated; `None` when the bytes are not a valid
    /// archive (the rescan stops there, as at a missing block).
    pub fn archive(self) -> Option<&'a ArchivedBlockArchive> {
        match self {
            BatchBlock::Checked(a) => Some(a),
            BatchBlock::Unchecked(bytes) => ArchivedBlockArchive::from_bytes(bytes).ok(),
        }
    }
}

/// The node, as the wallet sees it.
pub trait Chain {
    /// Height and hash of the active chain's tip, or `None` before genesis
    /// is loaded.
    fn tip(&self) -> Option<(u32, BlockHash)>;

    /// Hash of the active chain's block at `height`.
    fn block_hash(&self, height: u32) -> Option<BlockHash>;

    /// Core's `findLocatorFork`: the height and hash of the last block of
    /// `locator` (hashes from the wallet's last processed block back to
    /// genesis, densest near the tip) that is on the active chain. The node
    /// then replays the blocks after it.
    fn find_locator_fork(&self, locator: &[BlockHash]) -> Option<(u32, BlockHash)>;

    /// Calls `f` with the active chain's block at `height`, in place (a
    /// rescan reads blocks this way, as Core's `findBlock(.., data)`).
    /// Returns `false` when the block is not available.
    fn with_block(&self, height: u32, f: &mut dyn FnMut(&ArchivedBlockArchive)) -> bool;

    /// Calls `f` once with the active chain's blocks `from..=to` (or a
    /// leading part of them, at least one), in place, for a rescan to
    /// match on several threads. Returns how many blocks `f` got (0: the
    /// block at `from` is not available).
    fn with_blocks(&self, from: u32, to: u32, f: &mut dyn FnMut(&BlockBatch<'_>)) -> usize {
        let _ = to;
        let mut n = 0;
        self.with_block(from, &mut |b| {
            f(&[(from, BatchBlock::Checked(b))]);
            n = 1;
        });
        n
    }

    /// Core's `findFirstBlockWithTimeAndHeight`: the height of the first
    /// block whose time is at least `time`. A rescan for keys created at
    /// `time` (less Core's two-hour window) starts there.
    fn find_first_block_with_time(&self, time: u64) -> Option<u32>;

    /// Fee estimate for confirmation within `conf_target` blocks (Core's
    /// `estimateSmartFee`), or `None` when the node has no estimate.
    fn estimate_fee(&self, conf_target: u32) -> Option<FeeRate>;

    /// The fee rate below which the node's mempool refuses transactions
    /// (Core: `max(mempoolMinFee, minRelayTxFee)`). Defaults to 1 sat/vB.
    fn min_fee(&self) -> FeeRate {
        FeeRate::from_sat_per_vb_u32(1)
    }

    /// Submits `tx` to the node's mempool and relays it (Core's
    /// `broadcastTransaction`). `max_fee` is the highest absolute fee the
    /// node accepts for it. The error is Core's reject reason, e.g.
    /// `"insufficient fee"` or `"bad-txns-inputs-missingorspent"`.
    fn broadcast(&self, tx: &Transaction, max_fee: Amount) -> Result<Txid, String>;

    /// Core's `testmempoolaccept` for one transaction: `Ok` when the node's
    /// mempool would take it, else the reject reason. Nothing is changed.
    fn mempool_accept_test(&self, tx: &Transaction) -> Result<(), String>;
}
