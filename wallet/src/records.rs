//! The records the wallet file holds, postcard-encoded, and their
//! conversions.

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::crypto::MasterKeyRecord;
use crate::error::StoreError;
use crate::tx::{TxState, WalletTx};

/// Meta key: [`Settings`].
pub const META_SETTINGS: &str = "settings";
/// Meta key: [`LastBlock`].
pub const META_LAST_BLOCK: &str = "last_block";
/// Meta key: [`MasterKeyRecord`] (encrypted wallets only).
pub const META_MASTER_KEY: &str = "master_key";
/// Meta key: the next `order` number (u64).
pub const META_ORDER: &str = "order";
/// Meta key: the next descriptor id (u32).
pub const META_NEXT_DESC: &str = "next_desc";

/// Format version of the records.
pub const FORMAT_VERSION: u32 = 1;

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain structs into a Vec cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// Decodes a record, or reports the file as corrupt.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The wallet's settings, written at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Record format.
    pub format_version: u32,
    /// Network name (`bitcoin`, `testnet`, `signet`, `regtest`).
    pub network: String,
    /// Core's `WALLET_FLAG_DISABLE_PRIVATE_KEYS`.
    pub disable_private_keys: bool,
    /// Core's `WALLET_FLAG_BLANK_WALLET`.
    pub blank: bool,
    /// Core's `WALLET_FLAG_AVOID_REUSE`.
    pub avoid_reuse: bool,
    /// Creation time (unix seconds).
    pub birthtime: u64,
}

/// The last block whose effects are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBlock {
    /// Height.
    pub height: u32,
    /// Hash.
    pub hash: [u8; 32],
    /// Header time.
    pub time: u32,
}

impl LastBlock {
    /// The hash as a `BlockHash`.
    pub fn block_hash(&self) -> BlockHash {
        BlockHash::from_byte_array(self.hash)
    }
}

/// A descriptor and its range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescRecord {
    /// The public descriptor (rust-miniscript's text).
    pub desc: String,
    /// Creation/import time.
    pub timestamp: u64,
    /// First derived index.
    pub range_start: u32,
    /// One past the last derived index.
    pub range_end: u32,
    /// Next index to hand out.
    pub next_index: u32,
    /// Active for its output type.
    pub active: bool,
    /// Change branch.
    pub internal: bool,
    /// Hardened steps written with `'`.
    pub apostrophe: bool,
}

/// A descriptor's private keys: the private descriptor string, in clear
/// or sealed under the master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SecretRecord {
    /// Unencrypted wallet.
    Plain(String),
    /// Encrypted wallet: `crypto::seal(master, text, aad = id)`.
    Sealed(Vec<u8>),
}

/// The encrypted master key (re-exported record).
pub type MasterKey = MasterKeyRecord;

/// A wallet transaction's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateRecord {
    /// In a block.
    Confirmed {
        /// Block hash.
        block_hash: [u8; 32],
        /// Height.
        height: u32,
        /// Position.
        index: u32,
        /// Header time.
        block_time: u32,
    },
    /// In the mempool.
    InMempool,
    /// Conflicted with a block.
    Conflicted {
        /// Block hash.
        block_hash: [u8; 32],
        /// Height.
        height: u32,
    },
    /// Neither.
    Inactive {
        /// Abandoned.
        abandoned: bool,
    },
}

/// A wallet transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Serialized transaction (with witnesses).
    pub tx: Vec<u8>,
    /// State.
    pub state: StateRecord,
    /// Time first seen.
    pub time_received: u64,
    /// Core's smart time.
    pub time: u64,
    /// Arrival order.
    pub order: u64,
    /// User comment.
    pub comment: Option<String>,
    /// User comment_to.
    pub comment_to: Option<String>,
}

impl TxRecord {
    /// The record of a wallet transaction.
    pub fn from_wtx(w: &WalletTx) -> TxRecord {
        let state = match w.state {
            TxState::Confirmed {
                block_hash,
                height,
                index,
                block_time,
            } => StateRecord::Confirmed {
                block_hash: block_hash.to_byte_array(),
                height,
                index,
                block_time,
            },
            TxState::InMempool => StateRecord::InMempool,
            TxState::Conflicted { block_hash, height } => StateRecord::Conflicted {
                block_hash: block_hash.to_byte_array(),
                height,
            },
            TxState::Inactive { abandoned } => StateRecord::Inactive { abandoned },
        };
        TxRecord {
            tx: bitcoin::consensus::serialize(&w.tx),
            state,
            time_received: w.time_received,
            time: w.time,
            order: w.order,
            comment: w.comment.clone(),
            comment_to: w.comment_to.clone(),
        }
    }

    /// The wallet transaction of a record.
    pub fn to_wtx(&self) -> Result<WalletTx, StoreError> {
        let tx: bitcoin::Transaction = bitcoin::consensus::deserialize(&self.tx)
            .map_err(|e| StoreError::Corrupt(format!("transaction: {e}")))?;
        let state = match self.state {
            StateRecord::Confirmed {
                block_hash,
                height,
                index,
                block_time,
            } => TxState::Confirmed {
                block_hash: BlockHash::from_byte_array(block_hash),
                height,
                index,
                block_time,
            },
            StateRecord::InMempool => TxState::InMempool,
            StateRecord::Conflicted { block_hash, height } => TxState::Conflicted {
                block_hash: BlockHash::from_byte_array(block_hash),
                height,
            },
            StateRecord::Inactive { abandoned } => TxState::Inactive { abandoned },
        };
        Ok(WalletTx {
            txid: tx.compute_txid(),
            tx,
            state,
            time_received: self.time_received,
            time: self.time,
            order: self.order,
            comment: self.comment.clone(),
            comment_to: self.comment_to.clone(),
        })
    }
}
