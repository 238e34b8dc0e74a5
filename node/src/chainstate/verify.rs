//! `verifychain`: re-checks the last blocks of the active chain without
//! changing anything, at Bitcoin Core's levels:
//!
//! 0. each block can be read: its record's checksum holds, it is a valid
//!    archive and the archive's block hash is the index's;
//! 1. its stored hashes (block hash, txids, wtxids) are those of its bytes,
//!    and its merkle root and witness commitment hold;
//! 2. its undo data can be read and has one coin per input;
//! 3. disconnecting the blocks, tip first, in a memory overlay over the UTXO
//!    set is consistent: every output the block created is unspent, and no
//!    coin its undo data restores is;
//! 4. reconnecting them in the overlay, oldest first, passes every rule
//!    again, scripts included.

use std::collections::HashMap;

use btc_core::ArchivedBlockArchive;

use super::connect::is_unspendable;
use super::{rules, Chainstate};
use crate::store::{outpoint_key, Coin, OutPointKey};

/// Coins changed by the verification, over the real UTXO set.
struct Overlay {
    map: HashMap<OutPointKey, Option<Coin>>,
}

impl Overlay {
    fn get(&self, cs: &mut Chainstate, key: &OutPointKey) -> Result<Option<Coin>, String> {
        if let Some(v) = self.map.get(key) {
            return Ok(v.clone());
        }
        match cs.cache.get(&cs.store, key).map_err(|e| e.to_string())? {
            None => Ok(None),
            Some(b) => Coin::decode(b).map(Some).map_err(|e| e.to_string()),
        }
    }
}

impl Chainstate {
    /// `verifychain level n` over the last `n` active blocks (0: all).
    /// `Err` says what failed and where.
    pub fn verify_recent(&mut self, level: u8, n: u32) -> Result<(), String> {
        let tip = self.height();
        let from = if n == 0 {
            1
        } else {
            tip.saturating_sub(n - 1).max(1)
        };
        let mut overlay = Overlay {
            map: HashMap::new(),
        };
        let mut archives = Vec::new();
        for h in (from..=tip).rev() {
            let idx = self.active[h as usize];
            let archive = self.read_archive(idx).map_err(|e| e.to_string())?;
            if level == 0 {
                continue;
            }
            let block = ArchivedBlockArchive::from_bytes(&archive).map_err(|e| e.to_string())?;
            btc_core::archive::check::check_hashes(block)
                .and_then(|()| btc_core::archive::check::check_commitments(block).map(|_| ()))
                .map_err(|e| format!("block at height {h}: {e}"))?;
            if level < 2 {
                continue;
            }
            let undo = self.read_undo(idx).map_err(|e| e.to_string())?;
            let inputs: usize = block
                .txs()
                .filter(|t| !t.is_coinbase())
                .map(|t| t.input_count())
                .sum();
            if undo.spent.len() != inputs {
                return Err(format!(
                    "undo data of block at height {h} does not match its inputs"
                ));
            }
            if level < 3 {
                continue;
            }
            // Disconnect in the overlay.
            let mut coins = undo.spent.clone();
            for tx in block.txs().rev() {
                let txid = tx.txid();
                for (n, out) in tx.outputs().enumerate() {
                    if is_unspendable(out.script_bytes()) {
                        continue;
                    }
                    let key = outpoint_key(txid.as_ref(), n as u32);
                    if overlay.get(self, &key)?.is_none() {
                        return Err(format!(
                            "disconnecting height {h}: output {txid}:{n} is not in the UTXO set"
                        ));
                    }
                    overlay.map.insert(key, None);
                }
                if !tx.is_coinbase() {
                    for input in tx.inputs().rev() {
                        let coin = coins.pop().expect("counted above");
                        let key = outpoint_key(input.prev_txid().as_ref(), input.prev_vout());
                        if overlay.get(self, &key)?.is_some() {
                            return Err(format!(
                                "disconnecting height {h}: {} is unspent already",
                                input.previous_output()
                            ));
                        }
                        overlay.map.insert(key, Some(coin));
                    }
                }
            }
            archives.push((idx, archive));
        }
        if level < 4 {
            return Ok(());
        }
        // Reconnect, oldest first, with every rule.
        for (idx, archive) in archives.into_iter().rev() {
            let block = ArchivedBlockArchive::from_bytes(&archive).map_err(|e| e.to_string())?;
            let height = self.tree.get(idx).height;
            let mut spent = Vec::with_capacity(block.tx_count());
            for tx in block.txs() {
                let mut coins = Vec::new();
                if !tx.is_coinbase() {
                    for input in tx.inputs() {
                        let key = outpoint_key(input.prev_txid().as_ref(), input.prev_vout());
                        let coin = overlay.get(self, &key)?.ok_or_else(|| {
                            format!(
                                "reconnecting height {height}: {} is missing",
                                input.previous_output()
                            )
                        })?;
                        overlay.map.insert(key, None);
                        coins.push(coin);
                    }
                }
                let txid = tx.txid();
                for (n, out) in tx.outputs().enumerate() {
                    if !is_unspendable(out.script_bytes()) {
                        overlay.map.insert(
                            outpoint_key(txid.as_ref(), n as u32),
                            Some(Coin {
                                height,
                                coinbase: tx.is_coinbase(),
                                amount: out.value().to_sat(),
                                script: out.script_bytes().to_vec(),
                            }),
                        );
                    }
                }
                spent.push(coins);
            }
            rules::connect_checks(self, block, idx, &spent)
                .map_err(|r| format!("reconnecting height {height}: {r}"))?;
        }
        Ok(())
    }
}
