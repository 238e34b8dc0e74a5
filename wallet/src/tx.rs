//! A wallet transaction and its state (Core's `CWalletTx` and `TxState`).

use bitcoin::{BlockHash, Transaction, Txid};

/// Core's coinbase maturity (blocks).
pub const COINBASE_MATURITY: u32 = 100;

/// Where a wallet transaction stands (Core 28's `TxState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// In block `block_hash` at `height`, position `index`.
    Confirmed {
        /// Hash of the block.
        block_hash: BlockHash,
        /// Height of the block.
        height: u32,
        /// Position in the block.
        index: u32,
        /// The block header's time.
        block_time: u32,
    },
    /// In the node's mempool.
    InMempool,
    /// Conflicts with a transaction of block `block_hash` at `height`
    /// (a negative depth).
    Conflicted {
        /// The conflicting block.
        block_hash: BlockHash,
        /// Its height.
        height: u32,
    },
    /// Neither in a block nor in the mempool; `abandoned` when the user
    /// said so (`abandontransaction`).
    Inactive {
        /// Abandoned by the user.
        abandoned: bool,
    },
}

/// A transaction the wallet keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletTx {
    /// The transaction.
    pub tx: Transaction,
    /// Its txid (cached).
    pub txid: Txid,
    /// Its state.
    pub state: TxState,
    /// When the wallet first saw it (unix seconds).
    pub time_received: u64,
    /// Core's `nTimeSmart`: the block time for a transaction first seen in
    /// a block, else the time received.
    pub time: u64,
    /// Order of arrival (Core's `nOrderPos`), for `listtransactions`.
    pub order: u64,
    /// `comment` given to `sendtoaddress`.
    pub comment: Option<String>,
    /// `comment_to` given to `sendtoaddress`.
    pub comment_to: Option<String>,
}

impl WalletTx {
    /// Core's `GetTxDepthInMainChain` with the wallet's last processed
    /// height: confirmations, negative for a transaction that conflicts
    /// with a block, 0 otherwise.
    pub fn depth(&self, tip: Option<u32>) -> i64 {
        let Some(tip) = tip else { return 0 };
        match self.state {
            TxState::Confirmed { height, .. } => i64::from(tip) - i64::from(height) + 1,
            TxState::Conflicted { height, .. } => -(i64::from(tip) - i64::from(height) + 1),
            _ => 0,
        }
    }

    /// Whether it is a coinbase.
    pub fn is_coinbase(&self) -> bool {
        self.tx.is_coinbase()
    }

    /// Core's `GetTxBlocksToMaturity`: `max(0, COINBASE_MATURITY + 1 -
    /// depth)` for a coinbase, so the wallet treats a coinbase as mature
    /// from 101 confirmations (one more than consensus requires, as Core).
    pub fn blocks_to_maturity(&self, tip: Option<u32>) -> u32 {
        if !self.is_coinbase() {
            return 0;
        }
        let left = i64::from(COINBASE_MATURITY) + 1 - self.depth(tip);
        left.clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Core's `IsTxImmatureCoinBase`.
    pub fn is_immature(&self, tip: Option<u32>) -> bool {
        self.blocks_to_maturity(tip) > 0
    }

    /// Whether it is in the mempool.
    pub fn in_mempool(&self) -> bool {
        self.state == TxState::InMempool
    }

    /// Whether the user abandoned it.
    pub fn is_abandoned(&self) -> bool {
        self.state == TxState::Inactive { abandoned: true }
    }

    /// Whether it conflicts with a block.
    pub fn is_conflicted(&self) -> bool {
        matches!(self.state, TxState::Conflicted { .. })
    }

    /// The block it is in, if any.
    pub fn block(&self) -> Option<(BlockHash, u32, u32, u32)> {
        match self.state {
            TxState::Confirmed {
                block_hash,
                height,
                index,
                block_time,
            } => Some((block_hash, height, index, block_time)),
            _ => None,
        }
    }
}
