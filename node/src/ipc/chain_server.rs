//! The node's side of Core's `interfaces::Chain`: a wallet process's calls,
//! answered from the chainstate and mempool.
//!
//! Everything a wallet sends is untrusted: payloads are size-limited JSON
//! decoded into fixed shapes, hashes and transactions are parsed with
//! rust-bitcoin, locators and ranges are capped, and a bad call gets an
//! error reply, never a panic or an unbounded amount of work.

use bitcoin::consensus::encode::deserialize;
use bitcoin::{Amount, BlockHash, Transaction};
use btc_core::interfaces::calls::{decode, encode, MAX_LOCATIONS, MAX_LOCATOR};
use btc_core::interfaces::{method, BlockLocations, BlockRange, BroadcastRequest, Locator};
use btc_wallet::Chain;
use serde_json::Value;

use super::peer::Peer;
use crate::node::Node;
use crate::wallets::NodeChain;

/// Largest transaction a wallet may hand over (the standard weight limit,
/// as bytes, with room).
const MAX_TX_BYTES: usize = 400_000;

/// Answers one Chain call from a wallet process. `Err` is the error text
/// sent back.
pub fn answer(node: &Node, peer: &Peer, m: u32, payload: &[u8]) -> Result<Vec<u8>, String> {
    let chain = NodeChain(node);
    match m {
        method::TIP => Ok(encode(&chain.tip().map(|(h, hash)| (h, hash.to_string())))),
        method::BLOCK_HASH => {
            let height: u32 = decode(payload)?;
            Ok(encode(&chain.block_hash(height).map(|h| h.to_string())))
        }
        method::FIND_LOCATOR_FORK => {
            let Locator(hashes) = decode(payload)?;
            if hashes.len() > MAX_LOCATOR {
                return Err(format!(
                    "locator of {} hashes (at most {MAX_LOCATOR})",
                    hashes.len()
                ));
            }
            let hashes = hashes
                .iter()
                .map(|h| {
                    h.parse::<BlockHash>()
                        .map_err(|e| format!("bad hash {h:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let fork = chain.find_locator_fork(&hashes);
            Ok(encode(&fork.map(|(h, hash)| (h, hash.to_string()))))
        }
        method::FIND_FIRST_BLOCK_WITH_TIME => {
            let time: u64 = decode(payload)?;
            Ok(encode(&chain.find_first_block_with_time(time)))
        }
        method::ESTIMATE_FEE => {
            let target: u32 = decode(payload)?;
            Ok(encode(
                &chain.estimate_fee(target).map(|f| f.to_sat_per_kwu()),
            ))
        }
        method::MIN_FEE => Ok(encode(&chain.min_fee().to_sat_per_kwu())),
        method::BROADCAST => {
            let req: BroadcastRequest = decode(payload)?;
            let tx = parse_tx(&req.tx_hex)?;
            let fee = Amount::from_sat(req.max_fee_sat);
            let txid = chain.broadcast(&tx, fee)?;
            Ok(encode(&txid.to_string()))
        }
        method::MEMPOOL_ACCEPT_TEST => {
            let hex: String = decode(payload)?;
            let tx = parse_tx(&hex)?;
            chain.mempool_accept_test(&tx)?;
            Ok(encode(&Value::Null))
        }
        method::BLOCK_ARCHIVE => {
            let height: u32 = decode(payload)?;
            let mut st = node.lock();
            let idx = st
                .chain
                .at_height(height)
                .ok_or_else(|| format!("no block at height {height}"))?;
            let archive = st.chain.read_archive(idx).map_err(|e| e.to_string())?;
            Ok(archive.to_vec())
        }
        method::BLOCK_LOCATIONS => {
            let range: BlockRange = decode(payload)?;
            block_locations(node, peer, range)
        }
        other => Err(format!("unknown method {other}")),
    }
}

fn parse_tx(hex: &str) -> Result<Transaction, String> {
    if hex.len() > 2 * MAX_TX_BYTES {
        return Err("transaction too large".into());
    }
    let bytes: Vec<u8> =
        bitcoin::hex::FromHex::from_hex(hex).map_err(|e| format!("TX decode failed: {e}"))?;
    deserialize(&bytes).map_err(|e| format!("TX decode failed: {e}"))
}

/// Where blocks `range` lie in the block files, after handing the peer
/// read-only descriptors of files it does not have yet (the descriptors
/// go first on the socket, so they are there when the answer is).
///
/// A file only grows while the node runs (a torn tail is cut off only at
/// start-up, before any wallet connects), so a mapping of it stays valid
/// for the connection's life; a wallet maps afresh after reconnecting.
fn block_locations(node: &Node, peer: &Peer, range: BlockRange) -> Result<Vec<u8>, String> {
    if !peer.conn.is_shared_memory() {
        return Err("block files can't be handed over this connection".into());
    }
    if range.to < range.from {
        return Ok(encode(&BlockLocations::default()));
    }
    let (blocks, files) = {
        let st = node.lock();
        let blocks = st
            .chain
            .block_locations(range.from, range.to, MAX_LOCATIONS as usize);
        let mut wanted = Vec::new();
        for b in &blocks {
            if !wanted.contains(&b.file) && !peer.has_file(b.file) {
                wanted.push(b.file);
            }
        }
        let files = wanted
            .into_iter()
            .map(|f| st.chain.open_block_file_readonly(f).map(|h| (f, h)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("cannot open block files: {e}"))?;
        (blocks, files)
    };
    for (number, file) in files {
        use std::os::fd::AsFd;
        peer.conn
            .send_fds(number, &[file.as_fd()])
            .map_err(|e| e.to_string())?;
        peer.sent_file(number);
    }
    Ok(encode(&BlockLocations { blocks }))
}
