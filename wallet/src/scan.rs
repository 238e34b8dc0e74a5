//! Matching a block against the wallet, in place and without `&mut`.
//!
//! [`match_block`] is a pure function of the two indexes and an archived
//! block, so blocks of a rescan can be matched on several threads and the
//! results applied in order ([`crate::Wallet::apply_matches`]). It sweeps
//! the archive's dense column of script tails (scriptPubKeys against the
//! [`ScriptIndex`]: a script is read only on a filter hit) and then its
//! column of prevout keys (spent outpoints against the
//! [`OutpointIndex`] and the outputs just found in the same block, which a
//! later transaction of the block may spend). No transaction is decoded:
//! the apply step decodes only the matching ones (`TxRef::to_transaction`).

use bitcoin::hashes::Hash;
use bitcoin::Txid;
use btc_core::archive::{prevout_key, BlockTables};
use btc_core::ArchivedBlockArchive;

use crate::index::{OutpointIndex, ScriptIndex, ScriptOrigin};

/// One transaction of a block that concerns the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxMatch {
    /// Position in the block.
    pub index: u32,
    /// Outputs paying the wallet: `(vout, origin)`.
    pub outputs: Vec<(u32, ScriptOrigin)>,
    /// Inputs spending a wallet output (input positions).
    pub spends: Vec<u32>,
}

/// What [`match_block`] found, in block order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matches {
    /// The matching transactions, ordered by position.
    pub txs: Vec<TxMatch>,
}

impl Matches {
    /// Whether nothing matched.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Merges `other` (a second match of the same block against more
    /// scripts or outpoints) into `self`, keeping block order and without
    /// duplicates.
    pub fn merge(&mut self, other: Matches) {
        for m in other.txs {
            match self.txs.binary_search_by_key(&m.index, |t| t.index) {
                Ok(pos) => {
                    let t = &mut self.txs[pos];
                    for o in m.outputs {
                        if !t.outputs.iter().any(|x| x.0 == o.0) {
                            t.outputs.push(o);
                        }
                    }
                    t.outputs.sort_by_key(|o| o.0);
                    for s in m.spends {
                        if !t.spends.contains(&s) {
                            t.spends.push(s);
                        }
                    }
                    t.spends.sort_unstable();
                }
                Err(pos) => self.txs.insert(pos, m),
            }
        }
    }
}

/// The transaction whose entries start at or before `entry` in a table
/// whose per-transaction start is `first(tx)`.
fn owner(block: &BlockTables<'_>, entry: u32, first: impl Fn(usize) -> u32) -> Option<u32> {
    let n = block.txs.len();
    // Last tx with first(tx) <= entry (transactions with no entries share
    // their start with the next one, so take the last).
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if first(mid) <= entry {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo.checked_sub(1).map(|i| i as u32)
}

fn entry_of(matches: &mut Vec<TxMatch>, index: u32) -> &mut TxMatch {
    let pos = match matches.binary_search_by_key(&index, |t| t.index) {
        Ok(pos) => pos,
        Err(pos) => {
            matches.insert(
                pos,
                TxMatch {
                    index,
                    outputs: Vec::new(),
                    spends: Vec::new(),
                },
            );
            pos
        }
    };
    &mut matches[pos]
}

/// Matches `block` (a validated archive, or the tables of an archive only
/// checked structurally) against the wallet's scripts and outpoints. Pure:
/// it reads the indexes and the tables and returns what it found. Tables
/// that disagree with each other or point outside `raw` (which validation
/// rules out) have those entries skipped or misattributed, never a panic.
pub fn match_block<'a>(
    scripts: &ScriptIndex,
    outpoints: &OutpointIndex,
    block: impl Into<BlockTables<'a>>,
) -> Matches {
    let block: BlockTables<'a> = block.into();
    let block = &block;
    let raw = block.raw;
    let mut txs: Vec<TxMatch> = Vec::new();
    // Outputs found in this block, as (txid bytes, vout), for spends later
    // in the same block.
    let mut found: Vec<([u8; 32], u32)> = Vec::new();

    if !scripts.is_empty() {
        for (i, tail) in block.script_tails.iter().enumerate() {
            let script = || {
                let out = block.outputs.get(i)?;
                let start = out.script_offset.to_native() as usize;
                raw.get(start..start.checked_add(out.script_len.to_native() as usize)?)
            };
            let Some(origin) = scripts.get_by_tail(tail.to_native(), script) else {
                continue;
            };
            let i = i as u32;
            let Some(tx) = owner(block, i, |t| block.txs[t].first_output.to_native()) else {
                continue;
            };
            let entry = &block.txs[tx as usize];
            let vout = i - entry.first_output.to_native();
            found.push((entry.txid, vout));
            entry_of(&mut txs, tx).outputs.push((vout, origin));
        }
    }

    if !outpoints.is_empty() || !found.is_empty() {
        // Compared by key first, so an input's entry is read only when its
        // key is one of these.
        let found_keys: Vec<u64> = found.iter().map(|(t, v)| prevout_key(t, *v)).collect();
        for (i, key) in block.prevout_keys.iter().enumerate() {
            let prevout = || {
                let input = block.inputs.get(i)?;
                Some((&input.prev_txid, input.prev_vout.to_native()))
            };
            let key = key.to_native();
            let ours = outpoints.contains_by_key(key, prevout)
                || (found_keys.contains(&key)
                    && prevout().is_some_and(|(txid, vout)| {
                        found.iter().any(|(t, v)| t == txid && *v == vout)
                    }));
            if !ours {
                continue;
            }
            let i = i as u32;
            let Some(tx) = owner(block, i, |t| block.txs[t].first_input.to_native()) else {
                continue;
            };
            let first = block.txs[tx as usize].first_input.to_native();
            entry_of(&mut txs, tx).spends.push(i - first);
        }
    }
    Matches { txs }
}

/// The txid of transaction `index` of `block`, if it exists.
pub fn txid_at(block: &ArchivedBlockArchive, index: u32) -> Option<Txid> {
    block
        .txs
        .get(index as usize)
        .map(|t| Txid::from_byte_array(t.txid))
}
