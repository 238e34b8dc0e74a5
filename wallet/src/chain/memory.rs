//! [`MemoryChain`]: an in-memory [`Chain`] for tests.

use std::cell::RefCell;

use bitcoin::{Amount, BlockHash, FeeRate, Transaction, Txid};
use btc_core::{ArchivedBlockArchive, BlockWire};
use rkyv::util::AlignedVec;

use super::Chain;

/// A chain of archived blocks built in a test, a "mempool" that takes
/// whatever is broadcast (unless told to refuse), and a settable fee
/// estimate.
#[derive(Default)]
pub struct MemoryChain {
    blocks: Vec<(BlockHash, AlignedVec<{ btc_core::archive::ARCHIVE_ALIGN }>)>,
    /// Transactions broadcast and not yet mined (tests take them from here).
    mempool: RefCell<Vec<Transaction>>,
    /// What `estimate_fee` answers.
    pub fee_estimate: Option<FeeRate>,
    /// When set, `broadcast` and `mempool_accept_test` fail with it.
    pub reject: Option<String>,
}

/// Why a block could not be added.
#[derive(Debug, thiserror::Error)]
pub enum MemoryChainError {
    /// The block's bytes did not parse.
    #[error("block does not parse: {0}")]
    Wire(#[from] btc_core::WireError),
    /// The block does not build on the tip.
    #[error("block does not build on the tip")]
    NotOnTip,
}

impl MemoryChain {
    /// An empty chain (no genesis).
    pub fn new() -> MemoryChain {
        MemoryChain::default()
    }

    /// Appends a block (its wire bytes) at height `self.height() + 1` (0
    /// for the first) and returns its height.
    pub fn push_block(&mut self, block: &bitcoin::Block) -> Result<u32, MemoryChainError> {
        if let Some((_, tip)) = self.tip() {
            if block.header.prev_blockhash != tip {
                return Err(MemoryChainError::NotOnTip);
            }
        }
        let wire = BlockWire::parse(bitcoin::consensus::serialize(block))?;
        let archive = wire.to_archive();
        self.blocks.push((wire.block_hash(), archive));
        let mined: std::collections::HashSet<Txid> =
            block.txdata.iter().map(|t| t.compute_txid()).collect();
        self.mempool
            .borrow_mut()
            .retain(|t| !mined.contains(&t.compute_txid()));
        Ok((self.blocks.len() - 1) as u32)
    }

    /// Removes the tip block and returns its archive bytes.
    pub fn pop_block(&mut self) -> Option<AlignedVec<{ btc_core::archive::ARCHIVE_ALIGN }>> {
        self.blocks.pop().map(|(_, a)| a)
    }

    /// The archive bytes of the block at `height`, not validated (what a
    /// rescan of mapped block files gets).
    pub fn archive_bytes(&self, height: u32) -> Option<&[u8]> {
        self.blocks.get(height as usize).map(|(_, b)| &b[..])
    }

    /// The archived block at `height`.
    pub fn archive(&self, height: u32) -> Option<&ArchivedBlockArchive> {
        let (_, bytes) = self.blocks.get(height as usize)?;
        ArchivedBlockArchive::from_bytes(bytes).ok()
    }

    /// Number of blocks minus one (the tip's height), or `None` when empty.
    pub fn height(&self) -> Option<u32> {
        self.blocks.len().checked_sub(1).map(|h| h as u32)
    }

    /// Transactions broadcast and not mined yet, oldest first.
    pub fn mempool(&self) -> Vec<Transaction> {
        self.mempool.borrow().clone()
    }

    /// Empties the mempool and returns what was in it.
    pub fn take_mempool(&self) -> Vec<Transaction> {
        std::mem::take(&mut *self.mempool.borrow_mut())
    }
}

impl Chain for MemoryChain {
    fn tip(&self) -> Option<(u32, BlockHash)> {
        let h = self.height()?;
        Some((h, self.blocks[h as usize].0))
    }

    fn block_hash(&self, height: u32) -> Option<BlockHash> {
        self.blocks.get(height as usize).map(|(h, _)| *h)
    }

    fn find_locator_fork(&self, locator: &[BlockHash]) -> Option<(u32, BlockHash)> {
        locator.iter().find_map(|hash| {
            self.blocks
                .iter()
                .position(|(h, _)| h == hash)
                .map(|height| (height as u32, *hash))
        })
    }

    fn with_block(&self, height: u32, f: &mut dyn FnMut(&ArchivedBlockArchive)) -> bool {
        match self.archive(height) {
            Some(block) => {
                f(block);
                true
            }
            None => false,
        }
    }

    fn find_first_block_with_time(&self, time: u64) -> Option<u32> {
        let mut max_time = 0u64;
        for h in 0..self.blocks.len() {
            let block = self.archive(h as u32)?;
            max_time = max_time.max(u64::from(block.header().time));
            if max_time >= time {
                return Some(h as u32);
            }
        }
        None
    }

    fn estimate_fee(&self, _conf_target: u32) -> Option<FeeRate> {
        self.fee_estimate
    }

    fn broadcast(&self, tx: &Transaction, _max_fee: Amount) -> Result<Txid, String> {
        if let Some(reason) = &self.reject {
            return Err(reason.clone());
        }
        let txid = tx.compute_txid();
        let mut pool = self.mempool.borrow_mut();
        if !pool.iter().any(|t| t.compute_txid() == txid) {
            pool.push(tx.clone());
        }
        Ok(txid)
    }

    fn mempool_accept_test(&self, _tx: &Transaction) -> Result<(), String> {
        match &self.reject {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }
}
