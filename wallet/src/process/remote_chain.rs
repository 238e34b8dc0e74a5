//! The node, seen from a wallet process: Core's `interfaces::Chain` as
//! calls on the control channel.
//!
//! Blocks are never copied through the socket when the node shares memory
//! with us: the node hands over its block files as read-only descriptors,
//! once each, and says where each block's archive lies; we map the files
//! and match the archives where they lie. Only over TCP does a block come
//! through the stream (`BLOCK_ARCHIVE`).

use std::collections::HashMap;
use std::fs::File;
use std::sync::Mutex;
use std::time::Duration;

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::{Amount, BlockHash, FeeRate, Transaction, Txid};
use btc_core::interfaces::calls::{decode, encode};
use btc_core::interfaces::{
    method, BlockLocation, BlockLocations, BlockRange, BroadcastRequest, Locator,
};
use btc_core::ArchivedBlockArchive;
use memmap2::Mmap;
use rkyv::util::AlignedVec;
use shm_ipc::Connection;

use crate::chain::{BatchBlock, BlockBatch, Chain};

/// How long a Chain call may take before the node is presumed stuck.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Block locations asked for at once during a scan.
const LOCATION_BATCH: u32 = 2000;

/// The node at the other end of `conn`.
pub struct RemoteChain {
    conn: Connection,
    /// Whether the node hands over block files (shared memory) or sends
    /// blocks (TCP), as its hello said; cleared if mapping fails.
    block_files: Mutex<bool>,
    files: Mutex<Files>,
}

#[derive(Default)]
struct Files {
    /// Descriptors the node handed over, by file number.
    handles: HashMap<u32, File>,
    /// Their mappings (remapped when a file has grown past its map).
    maps: HashMap<u32, Mmap>,
    /// Locations fetched ahead for a scan.
    ahead: HashMap<u32, BlockLocation>,
}

impl Files {
    /// Maps `loc`'s file if it is not mapped far enough yet.
    fn ensure_mapped(&mut self, loc: &BlockLocation) -> bool {
        let end = loc.offset.saturating_add(loc.len);
        let stale = self
            .maps
            .get(&loc.file)
            .is_none_or(|m| (m.len() as u64) < end);
        if !stale {
            return true;
        }
        let Some(handle) = self.handles.get(&loc.file) else {
            return false;
        };
        // SAFETY: the node only appends to its block files and never
        // rewrites bytes it has written while it runs (a torn tail is cut
        // off only at its start-up, and a new connection maps afresh); the
        // descriptor is read-only, so the mapping is read-only, and every
        // archive read from it is checked before use (its shape, by rkyv,
        // for a rescan's sweep; in full before its accessors are used).
        match unsafe { Mmap::map(handle) } {
            Ok(m) => {
                self.maps.insert(loc.file, m);
                true
            }
            Err(_) => false,
        }
    }

    /// The archive at `loc`, validated, where it lies in the mapping.
    fn archive(&self, loc: &BlockLocation) -> Option<&ArchivedBlockArchive> {
        ArchivedBlockArchive::from_bytes(self.archive_bytes(loc)?).ok()
    }

    /// The bytes at `loc` in the mapping, not validated.
    fn archive_bytes(&self, loc: &BlockLocation) -> Option<&[u8]> {
        let map = self.maps.get(&loc.file)?;
        let start = usize::try_from(loc.offset).ok()?;
        let end = usize::try_from(loc.offset.checked_add(loc.len)?).ok()?;
        map.get(start..end)
    }
}

impl RemoteChain {
    pub fn new(conn: Connection, block_files: bool) -> RemoteChain {
        RemoteChain {
            conn,
            block_files: Mutex::new(block_files),
            files: Mutex::new(Files::default()),
        }
    }

    /// The connection.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    fn call<T: serde::de::DeserializeOwned>(&self, m: u32, payload: Vec<u8>) -> Result<T, String> {
        let bytes = self
            .conn
            .call(m, &payload, Some(CALL_TIMEOUT))
            .map_err(|e| e.to_string())?;
        decode(&bytes)
    }

    fn maps_block_files(&self) -> bool {
        *self.block_files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Location of the block at `height`, fetching the next batch when it
    /// is not known yet.
    fn location(&self, height: u32) -> Option<BlockLocation> {
        if let Some(l) = self.lock_files().ahead.remove(&height) {
            return Some(l);
        }
        let range = BlockRange {
            from: height,
            to: height.saturating_add(LOCATION_BATCH - 1),
        };
        let got: Result<BlockLocations, String> =
            self.call(method::BLOCK_LOCATIONS, encode(&range));
        let locs = match got {
            Ok(l) => l,
            Err(e) => {
                // The node can't hand its files over: blocks come through
                // the connection instead.
                btc_service::log_line!(
                    "block files not available ({e}); reading blocks through the connection"
                );
                *self.block_files.lock().unwrap_or_else(|e| e.into_inner()) = false;
                return None;
            }
        };
        let mut f = self.lock_files();
        for (tag, fds) in self.conn.fds().try_iter() {
            if let Some(fd) = fds.into_iter().next() {
                f.handles.insert(tag, File::from(fd));
                f.maps.remove(&tag);
            }
        }
        f.ahead.clear();
        let mut found = None;
        for l in locs.blocks {
            if l.height == height {
                found = Some(l);
            } else {
                f.ahead.insert(l.height, l);
            }
        }
        found
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls `f` with the archive at `loc`, mapped in place.
    fn with_mapped(&self, loc: &BlockLocation, f: &mut dyn FnMut(&ArchivedBlockArchive)) -> bool {
        let mut files = self.lock_files();
        if !files.ensure_mapped(loc) {
            return false;
        }
        match files.archive(loc) {
            Some(b) => {
                f(b);
                true
            }
            None => false,
        }
    }

    fn with_streamed(&self, height: u32, f: &mut dyn FnMut(&ArchivedBlockArchive)) -> bool {
        let Ok(bytes) = self
            .conn
            .call(method::BLOCK_ARCHIVE, &encode(&height), Some(CALL_TIMEOUT))
        else {
            return false;
        };
        let mut buf = AlignedVec::<16>::with_capacity(bytes.len());
        buf.extend_from_slice(&bytes);
        match ArchivedBlockArchive::from_bytes(&buf) {
            Ok(b) => {
                f(b);
                true
            }
            Err(_) => false,
        }
    }
}

fn parse_hash(s: &str) -> Option<BlockHash> {
    s.parse().ok()
}

impl Chain for RemoteChain {
    fn tip(&self) -> Option<(u32, BlockHash)> {
        let t: Option<(u32, String)> = self.call(method::TIP, encode(&())).ok()?;
        t.and_then(|(h, s)| Some((h, parse_hash(&s)?)))
    }

    fn block_hash(&self, height: u32) -> Option<BlockHash> {
        let h: Option<String> = self.call(method::BLOCK_HASH, encode(&height)).ok()?;
        h.and_then(|s| parse_hash(&s))
    }

    fn find_locator_fork(&self, locator: &[BlockHash]) -> Option<(u32, BlockHash)> {
        let hashes = locator
            .iter()
            .take(btc_core::interfaces::calls::MAX_LOCATOR)
            .map(|h| h.to_string())
            .collect();
        let r: Option<(u32, String)> = self
            .call(method::FIND_LOCATOR_FORK, encode(&Locator(hashes)))
            .ok()?;
        r.and_then(|(h, s)| Some((h, parse_hash(&s)?)))
    }

    fn with_block(&self, height: u32, f: &mut dyn FnMut(&ArchivedBlockArchive)) -> bool {
        if self.maps_block_files() {
            if let Some(loc) = self.location(height) {
                if self.with_mapped(&loc, f) {
                    return true;
                }
            }
            if self.maps_block_files() {
                return false;
            }
        }
        self.with_streamed(height, f)
    }

    fn with_blocks(&self, from: u32, to: u32, f: &mut dyn FnMut(&BlockBatch<'_>)) -> usize {
        if !self.maps_block_files() {
            let mut n = 0;
            self.with_streamed(from, &mut |b| {
                f(&[(from, BatchBlock::Checked(b))]);
                n = 1;
            });
            return n;
        }
        // Locations of the batch (fetched ahead in large batches).
        let mut locs = Vec::new();
        for h in from..=to {
            match self.location(h) {
                Some(l) => locs.push(l),
                None => break,
            }
        }
        if locs.is_empty() {
            return if self.maps_block_files() {
                0
            } else {
                self.with_blocks(from, to, f)
            };
        }
        let mut files = self.lock_files();
        for l in &locs {
            if !files.ensure_mapped(l) {
                return 0;
            }
        }
        // Validated by the rescan's matching threads.
        let mut blocks = Vec::with_capacity(locs.len());
        for l in &locs {
            match files.archive_bytes(l) {
                Some(b) => blocks.push((l.height, BatchBlock::Unchecked(b))),
                None => break,
            }
        }
        f(&blocks);
        blocks.len()
    }

    fn find_first_block_with_time(&self, time: u64) -> Option<u32> {
        self.call(method::FIND_FIRST_BLOCK_WITH_TIME, encode(&time))
            .ok()
            .flatten()
    }

    fn estimate_fee(&self, conf_target: u32) -> Option<FeeRate> {
        let r: Option<u64> = self.call(method::ESTIMATE_FEE, encode(&conf_target)).ok()?;
        r.map(FeeRate::from_sat_per_kwu)
    }

    fn min_fee(&self) -> FeeRate {
        self.call::<u64>(method::MIN_FEE, encode(&()))
            .map(FeeRate::from_sat_per_kwu)
            .unwrap_or(FeeRate::from_sat_per_vb_u32(1))
    }

    fn broadcast(&self, tx: &Transaction, max_fee: Amount) -> Result<Txid, String> {
        let req = BroadcastRequest {
            tx_hex: serialize_hex(tx),
            max_fee_sat: max_fee.to_sat(),
        };
        let bytes = self
            .conn
            .call(method::BROADCAST, &encode(&req), Some(CALL_TIMEOUT))
            .map_err(remote_reason)?;
        let txid: String = decode(&bytes)?;
        txid.parse()
            .map_err(|e| format!("node answered a bad txid: {e}"))
    }

    fn mempool_accept_test(&self, tx: &Transaction) -> Result<(), String> {
        self.conn
            .call(
                method::MEMPOOL_ACCEPT_TEST,
                &encode(&serialize_hex(tx)),
                Some(CALL_TIMEOUT),
            )
            .map(|_| ())
            .map_err(remote_reason)
    }
}

/// A reject reason from the node (its error text), or why the call failed.
fn remote_reason(e: shm_ipc::Error) -> String {
    match e {
        shm_ipc::Error::Remote(reason) => reason,
        other => other.to_string(),
    }
}
