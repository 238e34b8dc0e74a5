//! Headers and blocks as Core 28's `getblockheader` (`blockheaderToJSON`)
//! and `getblock` (`blockToJSON`) write them, and `GetDifficulty`.

use bitcoin::block::Header;
use bitcoin::hex::DisplayHex;
use bitcoin::{Block, BlockHash, CompactTarget, Network, VarInt, Work};
use serde_json::{Map, Value};

use super::number::double;
use super::params::ParamError;
use super::tx::{tx_to_json, SpentOutput, TxJsonOptions};

/// Core's `GetDifficulty`: how many times harder than the easiest target
/// (`0x1d00ffff`) a target is, computed in doubles exactly as Core does.
pub fn difficulty(bits: CompactTarget) -> f64 {
    let bits = bits.to_consensus();
    let mut shift = (bits >> 24) & 0xff;
    let mut diff = f64::from(0x0000_ffffu32) / f64::from(bits & 0x00ff_ffff);
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

/// What the block index knows about a header and the header does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderInfo {
    /// The block's height.
    pub height: i32,
    /// Depth in the active chain (1 for the tip), or -1 if the block is not
    /// on the active chain.
    pub confirmations: i64,
    /// Median time of the past 11 blocks (Core's `GetMedianTimePast`).
    pub median_time: i64,
    /// Total work of the chain up to and including this block.
    pub chainwork: Work,
    /// Number of transactions (0 if only the header is known).
    pub n_tx: u32,
    /// The next block on the active chain, if any.
    pub next: Option<BlockHash>,
}

/// Core's `blockheaderToJSON`: hash, confirmations, height, version,
/// versionHex, merkleroot, time, mediantime, nonce, bits, difficulty,
/// chainwork, nTx, previousblockhash (all but the genesis block),
/// nextblockhash (when there is one).
pub fn header_to_json(header: &Header, info: &HeaderInfo) -> Value {
    Value::Object(header_map(header, info))
}

fn header_map(header: &Header, info: &HeaderInfo) -> Map<String, Value> {
    let version = header.version.to_consensus();
    let bits = header.bits.to_consensus();
    let mut out = Map::new();
    out.insert("hash".into(), header.block_hash().to_string().into());
    out.insert("confirmations".into(), info.confirmations.into());
    out.insert("height".into(), info.height.into());
    out.insert("version".into(), version.into());
    out.insert(
        "versionHex".into(),
        format!("{:08x}", version as u32).into(),
    );
    out.insert("merkleroot".into(), header.merkle_root.to_string().into());
    out.insert("time".into(), header.time.into());
    out.insert("mediantime".into(), info.median_time.into());
    out.insert("nonce".into(), header.nonce.into());
    out.insert("bits".into(), format!("{bits:08x}").into());
    out.insert("difficulty".into(), double(difficulty(header.bits)));
    let chainwork = info.chainwork.to_be_bytes().to_lower_hex_string();
    out.insert("chainwork".into(), chainwork.into());
    out.insert("nTx".into(), info.n_tx.into());
    if info.height > 0 {
        out.insert(
            "previousblockhash".into(),
            header.prev_blockhash.to_string().into(),
        );
    }
    if let Some(next) = info.next {
        out.insert("nextblockhash".into(), next.to_string().into());
    }
    out
}

/// How `getblock` shows transactions (Core's `TxVerbosity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxVerbosity {
    /// Verbosity 1: txids only.
    Txid,
    /// Verbosity 2: transaction objects with `hex`, and `fee` when undo data
    /// is given.
    Details,
    /// Verbosity 3: as 2, and each input's `prevout` when undo data is given.
    DetailsAndPrevout,
}

impl TxVerbosity {
    /// Core's mapping of `getblock`'s verbosity: `None` for 0 and below (the
    /// caller answers with the block's hex), 1, 2, and 3 for anything
    /// higher.
    pub fn from_getblock(verbosity: i64) -> Option<TxVerbosity> {
        match verbosity {
            i64::MIN..=0 => None,
            1 => Some(TxVerbosity::Txid),
            2 => Some(TxVerbosity::Details),
            _ => Some(TxVerbosity::DetailsAndPrevout),
        }
    }
}

/// Why [`block_to_json`] failed.
pub type BlockJsonError = ParamError;

/// Core 28's `blockToJSON`: the header object, then strippedsize, size,
/// weight and tx (txids, or transaction objects with `hex`). `spent` is the
/// block's undo data, one list per transaction with the coinbase's empty:
/// with it, verbosity 2 adds each transaction's `fee` and verbosity 3 also
/// each input's `prevout`, as Core does when it has the undo data.
pub fn block_to_json(
    block: &Block,
    info: &HeaderInfo,
    verbosity: TxVerbosity,
    network: Network,
    spent: Option<&[Vec<SpentOutput>]>,
) -> Result<Value, BlockJsonError> {
    if let Some(spent) = spent {
        if spent.len() != block.txdata.len() {
            return Err(ParamError::new(
                super::params::RPC_INTERNAL_ERROR,
                "Undo data does not match the block's transactions",
            ));
        }
    }
    let mut out = header_map(&block.header, info);
    let stripped = Header::SIZE
        + VarInt::from(block.txdata.len()).size()
        + block.txdata.iter().map(|tx| tx.base_size()).sum::<usize>();
    out.insert("strippedsize".into(), stripped.into());
    out.insert("size".into(), block.total_size().into());
    out.insert("weight".into(), block.weight().to_wu().into());
    let txs = match verbosity {
        TxVerbosity::Txid => block
            .txdata
            .iter()
            .map(|tx| tx.compute_txid().to_string().into())
            .collect(),
        TxVerbosity::Details | TxVerbosity::DetailsAndPrevout => {
            let mut txs = Vec::with_capacity(block.txdata.len());
            for (i, tx) in block.txdata.iter().enumerate() {
                let opts = TxJsonOptions {
                    network,
                    include_hex: true,
                    block_hash: None,
                    // The coinbase has no undo data.
                    spent: spent
                        .filter(|_| i > 0)
                        .and_then(|s| s.get(i))
                        .map(|v| v.as_slice()),
                    show_prevout: verbosity == TxVerbosity::DetailsAndPrevout,
                };
                txs.push(tx_to_json(tx, &opts)?);
            }
            txs
        }
    };
    out.insert("tx".into(), Value::Array(txs));
    Ok(Value::Object(out))
}
