//! `gettxoutsetinfo`: statistics and a hash of the whole UTXO set, computed
//! the way Bitcoin Core computes `hash_serialized_3`, so the two can be
//! compared.
//!
//! Core hashes, with double SHA-256, every coin in the order of its
//! database keys (txid, then output index ascending), each serialized as
//! `txid | vout (u32 LE) | height * 2 + coinbase (u32 LE) | amount (i64 LE) |
//! compact-size script length | script`.

use std::ops::ControlFlow;

use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin::VarInt;

use crate::store::{split_outpoint_key, Coin, CoinDecodeError, StoreError, UtxoStore};

/// What `gettxoutsetinfo` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UtxoStats {
    /// Transactions with at least one unspent output.
    pub transactions: u64,
    /// Unspent outputs.
    pub txouts: u64,
    /// Core's "bogosize": 50 bytes per coin plus its script.
    pub bogosize: u64,
    /// Sum of the amounts, in satoshis.
    pub total_amount: u64,
    /// Core's `hash_serialized_3`.
    pub hash_serialized_3: [u8; 32],
}

/// Errors computing the statistics.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A coin in the store does not decode.
    #[error("coin does not decode: {0}")]
    Coin(#[from] CoinDecodeError),
}

/// Walks the (flushed) store. Keys are ordered by txid, but the output
/// index is little-endian in our keys, so each transaction's coins are
/// sorted by index before hashing.
pub fn compute<S: UtxoStore>(store: &S) -> Result<UtxoStats, StatsError> {
    let mut stats = UtxoStats::default();
    let mut engine = sha256d::Hash::engine();
    let mut group: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut group_txid = [0u8; 32];
    let mut err = None;
    let mut buf = Vec::with_capacity(128);
    let mut finish = |txid: &[u8; 32],
                      group: &mut Vec<(u32, Vec<u8>)>,
                      stats: &mut UtxoStats,
                      engine: &mut bitcoin::hashes::sha256::HashEngine|
     -> Result<(), CoinDecodeError> {
        if group.is_empty() {
            return Ok(());
        }
        group.sort_unstable_by_key(|(v, _)| *v);
        stats.transactions += 1;
        for (vout, value) in group.drain(..) {
            let coin = Coin::decode(&value)?;
            buf.clear();
            buf.extend_from_slice(txid);
            buf.extend_from_slice(&vout.to_le_bytes());
            let code = (coin.height << 1) | u32::from(coin.coinbase);
            buf.extend_from_slice(&code.to_le_bytes());
            buf.extend_from_slice(&coin.amount.to_le_bytes());
            bitcoin::consensus::Encodable::consensus_encode(
                &VarInt(coin.script.len() as u64),
                &mut buf,
            )
            .expect("vec write");
            buf.extend_from_slice(&coin.script);
            engine.input(&buf);
            stats.txouts += 1;
            stats.bogosize += 50 + coin.script.len() as u64;
            stats.total_amount += coin.amount;
        }
        Ok(())
    };
    store.for_each(&mut |key, value| {
        let (txid, vout) = split_outpoint_key(key);
        if txid != group_txid {
            if let Err(e) = finish(&group_txid, &mut group, &mut stats, &mut engine) {
                err = Some(e);
                return ControlFlow::Break(());
            }
            group_txid = txid;
        }
        group.push((vout, value.to_vec()));
        ControlFlow::Continue(())
    })?;
    if let Some(e) = err {
        return Err(e.into());
    }
    finish(&group_txid, &mut group, &mut stats, &mut engine)?;
    stats.hash_serialized_3 = sha256d::Hash::from_engine(engine).to_byte_array();
    Ok(stats)
}
