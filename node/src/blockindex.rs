//! The block index: every block header the node has accepted, as a tree
//! (each entry points at its parent), with height, cumulative work, status
//! and where the block and its undo data are stored.
//!
//! Entries live in a vector and refer to each other by position; a skip
//! pointer per entry (Core's `pskip`) makes ancestor lookups logarithmic.
//! The tree is kept in memory and persisted as meta records of the store,
//! one per block, written with the UTXO flush.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use bitcoin::block::Header;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::pow::Work;
use bitcoin::BlockHash;

use crate::blockfiles::FilePos;

/// Position of an entry in the [`BlockTree`].
pub type Idx = usize;

/// Status bits of an entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status(u8);

impl Status {
    /// The block's data is in the block files.
    pub const HAVE_DATA: Status = Status(1);
    /// The block's undo data is in the undo files (it has been connected).
    pub const HAVE_UNDO: Status = Status(2);
    /// The block broke a consensus rule.
    pub const FAILED: Status = Status(4);
    /// An ancestor of the block broke a consensus rule.
    pub const FAILED_CHILD: Status = Status(8);
    /// The block was connected once: every rule, scripts included, held.
    pub const VALID_SCRIPTS: Status = Status(16);

    /// The bits of both.
    pub const fn union(self, other: Status) -> Status {
        Status(self.0 | other.0)
    }

    /// Whether every bit of `other` is set.
    pub fn has(self, other: Status) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the bits of `other`.
    pub fn set(&mut self, other: Status) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    pub fn clear(&mut self, other: Status) {
        self.0 &= !other.0;
    }

    /// Whether the block or an ancestor failed.
    pub fn failed(self) -> bool {
        self.0 & (Self::FAILED.0 | Self::FAILED_CHILD.0) != 0
    }
}

/// One block in the tree.
#[derive(Clone, Debug)]
pub struct BlockEntry {
    /// The block hash.
    pub hash: BlockHash,
    /// The header.
    pub header: Header,
    /// Height (genesis is 0).
    pub height: u32,
    /// The parent; `None` for genesis.
    pub prev: Option<Idx>,
    /// A far ancestor, for [`BlockTree::ancestor`].
    skip: Option<Idx>,
    /// Work of the chain up to and including this block.
    pub chainwork: Work,
    /// Median time past of the chain ending in this block.
    pub mtp: i64,
    /// Status bits.
    pub status: Status,
    /// Where the block's archive starts in the block files.
    pub data: Option<FilePos>,
    /// Length of the archive at `data`: with it, where a block lies is
    /// known without reading the file (block locations for the wallet).
    pub data_len: u32,
    /// Where its undo data is stored.
    pub undo: Option<FilePos>,
    /// Number of transactions.
    pub n_tx: u32,
    /// Arrival order: of two chains with equal work, the first seen wins.
    pub sequence: u64,
}

/// Why a record of the index does not decode.
#[derive(Debug, thiserror::Error)]
#[error("block index record: {0}")]
pub struct IndexDecodeError(&'static str);

const RECORD_LEN: usize = 80 + 1 + 8 + 8 + 4 + 8 + 4;

impl BlockEntry {
    /// The record persisted for this entry (height, work and links are
    /// recomputed on load).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_LEN);
        out.extend_from_slice(&serialize(&self.header));
        out.push(self.status.0);
        out.extend_from_slice(&self.data.map_or([0xff; 8], FilePos::encode));
        out.extend_from_slice(&self.undo.map_or([0xff; 8], FilePos::encode));
        out.extend_from_slice(&self.n_tx.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.data_len.to_le_bytes());
        out
    }
}

/// A decoded index record.
pub struct IndexRecord {
    /// The header.
    pub header: Header,
    /// Status bits.
    pub status: Status,
    /// Block position.
    pub data: Option<FilePos>,
    /// Length of the block's archive.
    pub data_len: u32,
    /// Undo position.
    pub undo: Option<FilePos>,
    /// Transactions.
    pub n_tx: u32,
    /// Arrival order.
    pub sequence: u64,
}

impl IndexRecord {
    /// Decodes [`BlockEntry::encode`].
    pub fn decode(b: &[u8]) -> Result<IndexRecord, IndexDecodeError> {
        if b.len() != RECORD_LEN {
            return Err(IndexDecodeError("wrong length"));
        }
        let header: Header = deserialize(&b[..80]).map_err(|_| IndexDecodeError("bad header"))?;
        let pos = |s: &[u8]| {
            let a: [u8; 8] = s.try_into().unwrap_or([0xff; 8]);
            (a != [0xff; 8]).then(|| FilePos::decode(a))
        };
        Ok(IndexRecord {
            header,
            status: Status(b[80]),
            data: pos(&b[81..89]),
            undo: pos(&b[89..97]),
            n_tx: u32::from_le_bytes([b[97], b[98], b[99], b[100]]),
            sequence: u64::from_le_bytes(b[101..109].try_into().unwrap_or([0; 8])),
            data_len: u32::from_le_bytes(b[109..113].try_into().unwrap_or([0; 4])),
        })
    }
}

/// Core's `GetSkipHeight`.
fn skip_height(height: u32) -> u32 {
    fn invert_lowest_one(n: u32) -> u32 {
        n & n.wrapping_sub(1)
    }
    if height < 2 {
        return 0;
    }
    if height & 1 == 1 {
        invert_lowest_one(invert_lowest_one(height - 1)) + 1
    } else {
        invert_lowest_one(height)
    }
}

/// Every known block, as a tree.
#[derive(Default)]
pub struct BlockTree {
    entries: Vec<BlockEntry>,
    by_hash: HashMap<BlockHash, Idx>,
    /// Blocks that could be tips of the best chain: all of them that have
    /// not failed, ordered by work, then by arrival.
    candidates: BTreeSet<(Work, Reverse<u64>, Idx)>,
    next_sequence: u64,
    /// Entries changed since the last [`BlockTree::take_dirty`].
    dirty: Vec<Idx>,
}

impl BlockTree {
    /// An empty tree.
    pub fn new() -> BlockTree {
        BlockTree::default()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `idx`.
    pub fn get(&self, idx: Idx) -> &BlockEntry {
        &self.entries[idx]
    }

    /// The entry for `hash`.
    pub fn find(&self, hash: &BlockHash) -> Option<Idx> {
        self.by_hash.get(hash).copied()
    }

    /// All entries.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Idx, &BlockEntry)> {
        self.entries.iter().enumerate()
    }

    /// Adds a header whose parent is `prev` (`None` only for genesis), with
    /// the given status, returning its position. The caller checked it.
    pub fn insert(&mut self, header: Header, prev: Option<Idx>, status: Status) -> Idx {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.insert_with(header, prev, status, sequence)
    }

    fn insert_with(
        &mut self,
        header: Header,
        prev: Option<Idx>,
        status: Status,
        sequence: u64,
    ) -> Idx {
        let hash = header.block_hash();
        let idx = self.entries.len();
        let (height, chainwork) = match prev {
            Some(p) => {
                let pe = &self.entries[p];
                (pe.height + 1, pe.chainwork + header.work())
            }
            None => (0, header.work()),
        };
        let skip = prev.map(|p| self.ancestor(p, skip_height(height)));
        let mtp = self.mtp_with(prev, i64::from(header.time));
        self.entries.push(BlockEntry {
            hash,
            header,
            height,
            prev,
            skip,
            chainwork,
            mtp,
            status,
            data: None,
            data_len: 0,
            undo: None,
            n_tx: 0,
            sequence,
        });
        self.by_hash.insert(hash, idx);
        if !status.failed() {
            self.candidates.insert((chainwork, Reverse(sequence), idx));
        }
        self.dirty.push(idx);
        idx
    }

    /// Rebuilds an entry from its record; parents must be restored first
    /// (see [`BlockTree::restore_all`]).
    fn restore(&mut self, rec: IndexRecord) -> Result<Idx, IndexDecodeError> {
        let prev = if rec.header.prev_blockhash == BlockHash::from_byte_array([0; 32]) {
            None
        } else {
            Some(
                self.find(&rec.header.prev_blockhash)
                    .ok_or(IndexDecodeError("parent missing from the index"))?,
            )
        };
        let idx = self.insert_with(rec.header, prev, rec.status, rec.sequence);
        self.next_sequence = self.next_sequence.max(rec.sequence + 1);
        let e = &mut self.entries[idx];
        e.data = rec.data;
        e.data_len = rec.data_len;
        e.undo = rec.undo;
        e.n_tx = rec.n_tx;
        Ok(idx)
    }

    /// Rebuilds the tree from persisted records, in any order.
    pub fn restore_all(records: Vec<IndexRecord>) -> Result<BlockTree, IndexDecodeError> {
        let mut tree = BlockTree::new();
        let mut by_prev: HashMap<BlockHash, Vec<IndexRecord>> = HashMap::new();
        for rec in records {
            by_prev
                .entry(rec.header.prev_blockhash)
                .or_default()
                .push(rec);
        }
        let mut stack = vec![BlockHash::from_byte_array([0; 32])];
        while let Some(parent) = stack.pop() {
            if let Some(children) = by_prev.remove(&parent) {
                for rec in children {
                    let hash = rec.header.block_hash();
                    tree.restore(rec)?;
                    stack.push(hash);
                }
            }
        }
        if !by_prev.is_empty() {
            return Err(IndexDecodeError("records whose parents are missing"));
        }
        tree.dirty.clear();
        Ok(tree)
    }

    /// Median of the last 11 block times of the chain ending in `prev`,
    /// with `time` appended.
    fn mtp_with(&self, prev: Option<Idx>, time: i64) -> i64 {
        let mut times = vec![time];
        let mut cur = prev;
        while let Some(i) = cur {
            if times.len() == 11 {
                break;
            }
            times.push(i64::from(self.entries[i].header.time));
            cur = self.entries[i].prev;
        }
        times.sort_unstable();
        times[times.len() / 2]
    }

    /// The ancestor of `idx` at `height` (`idx` itself at its own height).
    /// `height` must not exceed `idx`'s.
    pub fn ancestor(&self, idx: Idx, height: u32) -> Idx {
        let mut walk = idx;
        let mut h = self.entries[walk].height;
        debug_assert!(height <= h);
        while h > height {
            let e = &self.entries[walk];
            let hs = skip_height(h);
            let hs_prev = skip_height(h - 1);
            match e.skip {
                Some(s)
                    if hs == height
                        || (hs > height && !(hs_prev + 2 < hs && hs_prev >= height)) =>
                {
                    walk = s;
                    h = hs;
                }
                _ => {
                    walk = e.prev.expect("height > 0 has a parent");
                    h -= 1;
                }
            }
        }
        walk
    }

    /// The last common ancestor of `a` and `b`.
    pub fn fork_point(&self, mut a: Idx, mut b: Idx) -> Idx {
        let (ha, hb) = (self.entries[a].height, self.entries[b].height);
        if ha > hb {
            a = self.ancestor(a, hb);
        } else if hb > ha {
            b = self.ancestor(b, ha);
        }
        while a != b {
            a = self.entries[a].prev.expect("same genesis");
            b = self.entries[b].prev.expect("same genesis");
        }
        a
    }

    /// Whether `a` is `b` or an ancestor of it.
    pub fn is_ancestor(&self, a: Idx, b: Idx) -> bool {
        let ha = self.entries[a].height;
        ha <= self.entries[b].height && self.ancestor(b, ha) == a
    }

    /// The candidate with the most work (first arrived among equals).
    pub fn best_candidate(&self) -> Option<Idx> {
        self.candidates.iter().next_back().map(|&(_, _, idx)| idx)
    }

    /// Candidates in order of preference, best first.
    pub fn candidates_desc(&self) -> impl Iterator<Item = Idx> + '_ {
        self.candidates.iter().rev().map(|&(_, _, idx)| idx)
    }

    /// Changes the status of `idx` (keeping the candidate set in step).
    pub fn update_status(&mut self, idx: Idx, f: impl FnOnce(&mut Status)) {
        let e = &mut self.entries[idx];
        let key = (e.chainwork, Reverse(e.sequence), idx);
        let was_failed = e.status.failed();
        f(&mut e.status);
        let now_failed = e.status.failed();
        if was_failed && !now_failed {
            self.candidates.insert(key);
        } else if !was_failed && now_failed {
            self.candidates.remove(&key);
        }
        self.dirty.push(idx);
    }

    /// Records where the block's archive (`len` bytes; and its transaction
    /// count) is stored.
    pub fn set_data(&mut self, idx: Idx, pos: FilePos, len: u32, n_tx: u32) {
        let e = &mut self.entries[idx];
        e.data = Some(pos);
        e.data_len = len;
        e.n_tx = n_tx;
        e.status.set(Status::HAVE_DATA);
        self.dirty.push(idx);
    }

    /// Records where the block's undo data is stored.
    pub fn set_undo(&mut self, idx: Idx, pos: FilePos) {
        let e = &mut self.entries[idx];
        e.undo = Some(pos);
        e.status.set(Status::HAVE_UNDO);
        e.status.set(Status::VALID_SCRIPTS);
        self.dirty.push(idx);
    }

    /// Entries that changed since the last call, each once.
    pub fn take_dirty(&mut self) -> Vec<Idx> {
        let mut d = std::mem::take(&mut self.dirty);
        d.sort_unstable();
        d.dedup();
        d
    }

    /// Every descendant of `idx` (not `idx` itself).
    pub fn descendants(&self, idx: Idx) -> Vec<Idx> {
        let h = self.entries[idx].height;
        // Entries are appended after their parents, so one forward pass sees
        // parents before children.
        let mut inside = HashMap::new();
        inside.insert(idx, ());
        let mut out = Vec::new();
        for (i, e) in self.entries.iter().enumerate().skip(idx + 1) {
            if e.height > h {
                if let Some(p) = e.prev {
                    if inside.contains_key(&p) {
                        inside.insert(i, ());
                        out.push(i);
                    }
                }
            }
        }
        out
    }

    /// Tips: entries that are nobody's parent.
    pub fn tips(&self) -> Vec<Idx> {
        let mut is_parent = vec![false; self.entries.len()];
        for e in &self.entries {
            if let Some(p) = e.prev {
                is_parent[p] = true;
            }
        }
        (0..self.entries.len()).filter(|&i| !is_parent[i]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::block::Version;
    use bitcoin::{CompactTarget, TxMerkleNode};

    fn header(prev: BlockHash, n: u32) -> Header {
        Header {
            version: Version::from_consensus(4),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::from_byte_array([n as u8; 32]),
            time: 1_600_000_000 + n,
            bits: CompactTarget::from_consensus(0x207fffff),
            nonce: n,
        }
    }

    #[test]
    fn ancestors_forks_and_restore() {
        let mut t = BlockTree::new();
        let mut prev = None;
        let mut hash = BlockHash::from_byte_array([0; 32]);
        let mut main = Vec::new();
        for n in 0..300 {
            let h = header(hash, n);
            hash = h.block_hash();
            let idx = t.insert(h, prev, Status::HAVE_DATA);
            main.push(idx);
            prev = Some(idx);
        }
        for (height, &idx) in main.iter().enumerate() {
            assert_eq!(t.ancestor(main[299], height as u32), idx);
            assert_eq!(t.get(idx).height, height as u32);
        }
        // A fork off height 150, two blocks long: less work than main.
        let f1 = t.insert(
            header(t.get(main[150]).hash, 1000),
            Some(main[150]),
            Status::HAVE_DATA,
        );
        let f2 = t.insert(header(t.get(f1).hash, 1001), Some(f1), Status::HAVE_DATA);
        assert_eq!(t.fork_point(f2, main[299]), main[150]);
        assert!(t.is_ancestor(main[150], f2));
        assert!(!t.is_ancestor(main[151], f2));
        assert_eq!(t.best_candidate(), Some(main[299]));
        t.update_status(main[200], |s| s.set(Status::FAILED));
        for d in t.descendants(main[200]) {
            t.update_status(d, |s| s.set(Status::FAILED_CHILD));
        }
        assert_eq!(t.best_candidate(), Some(main[199]));
        let mut tips = t.tips();
        tips.sort_unstable();
        assert_eq!(tips, vec![main[299], f2]);

        let pos = FilePos {
            file: 3,
            offset: 4096,
        };
        t.set_data(main[5], pos, 123_456, 7);
        let records: Vec<IndexRecord> = t
            .iter()
            .rev()
            .map(|(_, e)| IndexRecord::decode(&e.encode()).unwrap())
            .collect();
        let r = BlockTree::restore_all(records).unwrap();
        assert_eq!(r.len(), t.len());
        let best = r.best_candidate().unwrap();
        assert_eq!(r.get(best).hash, t.get(main[199]).hash);
        assert_eq!(r.get(best).chainwork, t.get(main[199]).chainwork);
        let e = r.get(r.find(&t.get(main[5]).hash).unwrap());
        assert_eq!((e.data, e.data_len, e.n_tx), (Some(pos), 123_456, 7));
        assert!(IndexRecord::decode(&[0; 5]).is_err());
    }
}
