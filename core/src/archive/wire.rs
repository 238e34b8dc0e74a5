//! The validating parser: one pass over a block's wire bytes that checks
//! them exactly as rust-bitcoin's `deserialize::<Block>` does and fills the
//! index (the archive's tables), then hashes every transaction once.

use super::layout::{
    prevout_key, script_tail, InputEntry, OutputEntry, TxEntry, HEADER_LEN, MIN_TX_LEN, TX_SEGWIT,
};
use crate::hash::{sha256d, sha256d_parts};

/// Why wire bytes are not a block. Offsets are from the start of the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("truncated: {needed} bytes needed at offset {at}, {available} left")]
    Truncated {
        at: usize,
        needed: u64,
        available: usize,
    },
    #[error("non-canonical CompactSize at offset {at}")]
    NonMinimalCompactSize { at: usize },
    #[error("{what} count {count} at offset {at} cannot fit in the {remaining} bytes left")]
    CountTooLarge {
        what: &'static str,
        count: u64,
        at: usize,
        remaining: usize,
    },
    #[error("transaction {tx}: unsupported segwit flag {flag:#04x}")]
    UnsupportedSegwitFlag { tx: usize, flag: u8 },
    #[error("transaction {tx}: segwit flag set but no witness present")]
    SegwitFlagWithoutWitness { tx: usize },
    #[error("transaction {tx}, input {input}: witness larger than 4,000,000 bytes or items")]
    OversizedWitness { tx: usize, input: usize },
    #[error("{trailing} bytes left after the last transaction, at offset {at}")]
    TrailingBytes { at: usize, trailing: usize },
    #[error("block of {len} bytes: offsets in the archive are 32-bit")]
    TooLarge { len: usize },
}

/// rust-bitcoin's `MAX_VEC_SIZE`: the limit on a witness's item count and
/// on its serialized items, which its decoder enforces.
const MAX_VEC_SIZE: u64 = 4_000_000;
/// Most transaction entries reserved before any is parsed.
const MAX_TX_RESERVE: usize = 1 << 14;
/// Smallest input: prevout (36), empty scriptSig (1), sequence (4).
const MIN_INPUT_LEN: usize = 41;
/// Smallest output: value (8), empty scriptPubKey (1).
const MIN_OUTPUT_LEN: usize = 9;

/// A cursor over wire bytes. Every read is bounds-checked and fails with a
/// typed error; nothing panics.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[cold]
    #[inline(never)]
    fn truncated(&self, needed: u64) -> WireError {
        WireError::Truncated {
            at: self.pos,
            needed,
            available: self.remaining(),
        }
    }

    /// The next `n` bytes.
    #[inline]
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        match usize::try_from(n)
            .ok()
            .and_then(|n| self.buf.get(self.pos..self.pos.checked_add(n)?))
        {
            Some(s) => {
                self.pos += s.len();
                Ok(s)
            }
            None => Err(self.truncated(n)),
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        match self.buf.get(self.pos..self.pos + N) {
            Some(s) => {
                self.pos += N;
                Ok(s.try_into().expect("N bytes"))
            }
            None => Err(self.truncated(N as u64)),
        }
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        self.array().map(u32::from_le_bytes)
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        self.array().map(u64::from_le_bytes)
    }

    /// A CompactSize, rejecting non-minimal encodings as rust-bitcoin does.
    #[inline]
    pub(crate) fn compact_size(&mut self) -> Result<u64, WireError> {
        let at = self.pos;
        let (value, min) = match self.u8()? {
            0xfd => (u64::from(u16::from_le_bytes(self.array()?)), 0xfd),
            0xfe => (u64::from(self.u32()?), 0x1_0000),
            0xff => (self.u64()?, 0x1_0000_0000),
            n => return Ok(u64::from(n)),
        };
        if value < min {
            return Err(WireError::NonMinimalCompactSize { at });
        }
        Ok(value)
    }

    /// A count of items of at least `min_len` bytes each, rejected at once if
    /// they could not fit in what is left (so no count can make us allocate
    /// more than the input justifies).
    #[inline]
    fn count(&mut self, what: &'static str, min_len: usize) -> Result<u64, WireError> {
        let at = self.pos;
        let count = self.compact_size()?;
        let remaining = self.remaining();
        if count.saturating_mul(min_len as u64) > remaining as u64 {
            return Err(WireError::CountTooLarge {
                what,
                count,
                at,
                remaining,
            });
        }
        Ok(count)
    }

    /// A CompactSize-prefixed byte string: its (offset, len).
    #[inline]
    fn var_bytes(&mut self) -> Result<(u32, u32, &'a [u8]), WireError> {
        let len = self.compact_size()?;
        let offset = self.pos;
        let bytes = self.take(len)?;
        // Both fit: the whole block is shorter than 4 GiB.
        Ok((offset as u32, len as u32, bytes))
    }
}

/// The tables a parse produces: exactly the archive's entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockIndex {
    /// Block hash (internal byte order).
    pub hash: [u8; 32],
    pub txs: Vec<TxEntry>,
    pub inputs: Vec<InputEntry>,
    pub outputs: Vec<OutputEntry>,
    pub script_tails: Vec<u64>,
    pub prevout_keys: Vec<u64>,
}

impl BlockIndex {
    /// Empties the tables, keeping their allocations.
    pub fn clear(&mut self) {
        self.hash = [0; 32];
        self.txs.clear();
        self.inputs.clear();
        self.outputs.clear();
        self.script_tails.clear();
        self.prevout_keys.clear();
    }

    /// Parses `block` into this index (cleared first) and hashes it.
    pub fn parse(&mut self, block: &[u8]) -> Result<(), WireError> {
        self.parse_threads(block, 1)
    }

    /// Like [`parse`](Self::parse), hashing the transactions on `threads`
    /// threads (scoped, spawned for this call; 0 counts as 1). Hashing is
    /// nine tenths of the work: see the README's figures.
    pub fn parse_threads(&mut self, block: &[u8], threads: usize) -> Result<(), WireError> {
        self.clear();
        let r = self.parse_tables(block).map(|()| {
            hash_txs_threads(block, &mut self.txs, threads);
            self.hash = sha256d(&block[..HEADER_LEN]);
        });
        if r.is_err() {
            self.clear();
        }
        r
    }

    /// The validating pass alone: fills the tables but leaves the txids,
    /// wtxids and block hash zero. For measuring the parse apart from the
    /// hashing; [`parse`](Self::parse) is the real thing.
    #[doc(hidden)]
    pub fn parse_unhashed(&mut self, block: &[u8]) -> Result<(), WireError> {
        self.clear();
        self.parse_tables(block)
    }

    fn parse_tables(&mut self, block: &[u8]) -> Result<(), WireError> {
        if block.len() > u32::MAX as usize {
            return Err(WireError::TooLarge { len: block.len() });
        }
        let mut r = Reader::new(block);
        r.take(HEADER_LEN as u64)?;
        let n_tx = r.count("transaction", MIN_TX_LEN)?;
        // A count that fits the bytes could still ask for ~10x their size
        // (a 96-byte entry per 10-byte minimal tx): reserve for a real
        // block's worth at most, and let parsed transactions grow the rest.
        self.txs.reserve((n_tx as usize).min(MAX_TX_RESERVE));
        for tx in 0..n_tx as usize {
            self.parse_tx(&mut r, tx)?;
        }
        if r.remaining() > 0 {
            return Err(WireError::TrailingBytes {
                at: r.pos(),
                trailing: r.remaining(),
            });
        }
        Ok(())
    }

    /// One transaction, accepted or rejected exactly as rust-bitcoin's
    /// `Transaction::consensus_decode` does.
    fn parse_tx(&mut self, r: &mut Reader<'_>, tx: usize) -> Result<(), WireError> {
        let start = r.pos();
        r.take(4)?; // version
        let mut n_in = r.count("input", MIN_INPUT_LEN)?;
        // An input count of zero is the BIP144 marker (as in rust-bitcoin:
        // a transaction without inputs can't be serialized without witness).
        let segwit = n_in == 0;
        if segwit {
            let flag = r.u8()?;
            if flag != 1 {
                return Err(WireError::UnsupportedSegwitFlag { tx, flag });
            }
            n_in = r.count("input", MIN_INPUT_LEN)?;
        }
        let first_input = self.inputs.len();
        self.inputs.reserve(n_in as usize);
        for _ in 0..n_in {
            let prevout = r.take(36)?;
            let mut prev_txid = [0u8; 32];
            prev_txid.copy_from_slice(&prevout[..32]);
            let mut vout = [0u8; 4];
            vout.copy_from_slice(&prevout[32..]);
            let (script_sig_offset, script_sig_len, _) = r.var_bytes()?;
            let sequence = r.u32()?;
            self.prevout_keys
                .push(prevout_key(&prev_txid, u32::from_le_bytes(vout)));
            self.inputs.push(InputEntry {
                prev_txid,
                prev_vout: u32::from_le_bytes(vout),
                sequence,
                script_sig_offset,
                script_sig_len,
                witness_offset: 0,
                witness_len: 0,
                witness_items: 0,
            });
        }
        let n_out = r.count("output", MIN_OUTPUT_LEN)?;
        let first_output = self.outputs.len();
        self.outputs.reserve(n_out as usize);
        for _ in 0..n_out {
            let value = r.u64()?;
            let (script_offset, script_len, script) = r.var_bytes()?;
            self.outputs.push(OutputEntry {
                value,
                script_offset,
                script_len,
            });
            self.script_tails.push(script_tail(script));
        }
        let io_end = r.pos();
        if segwit {
            let mut any = false;
            for (input, e) in self.inputs[first_input..].iter_mut().enumerate() {
                let items = r.compact_size()?;
                if items > MAX_VEC_SIZE {
                    return Err(WireError::OversizedWitness { tx, input });
                }
                let from = r.pos();
                for _ in 0..items {
                    let len = r.compact_size()?;
                    r.take(len)?;
                    if (r.pos() - from) as u64 > MAX_VEC_SIZE {
                        return Err(WireError::OversizedWitness { tx, input });
                    }
                }
                any |= items > 0;
                e.witness_offset = from as u32;
                e.witness_len = (r.pos() - from) as u32;
                e.witness_items = items as u32;
            }
            if n_in > 0 && !any {
                return Err(WireError::SegwitFlagWithoutWitness { tx });
            }
        }
        r.take(4)?; // lock time
        let len = r.pos() - start;
        // Version, inputs and outputs, lock time; without marker and flag.
        let base_len = if segwit { io_end - start - 2 + 4 } else { len };
        self.txs.push(TxEntry {
            txid: [0; 32],
            wtxid: [0; 32],
            offset: start as u32,
            len: len as u32,
            base_len: base_len as u32,
            first_input: first_input as u32,
            n_inputs: n_in as u32,
            first_output: first_output as u32,
            n_outputs: n_out as u32,
            flags: if segwit { TX_SEGWIT } else { 0 },
        });
        Ok(())
    }
}

/// The bytes whose sha256d is the txid: the whole transaction without
/// witness, or version, inputs and outputs, and lock time of a segwit one.
pub(crate) fn txid_preimage(tx_bytes: &[u8], base_len: usize) -> [&[u8]; 3] {
    if base_len == tx_bytes.len() {
        [tx_bytes, &[], &[]]
    } else {
        let io = &tx_bytes[6..6 + base_len - 8];
        [&tx_bytes[..4], io, &tx_bytes[tx_bytes.len() - 4..]]
    }
}

/// Bytes hashed for a transaction: its base once, and all of it again for
/// the wtxid of a segwit one.
fn hashed_len(t: &TxEntry) -> u64 {
    let extra = if t.flags & TX_SEGWIT == 0 { 0 } else { t.len };
    u64::from(t.base_len) + u64::from(extra)
}

/// [`hash_txs`] over `threads` contiguous runs of transactions with about
/// the same number of bytes to hash each.
fn hash_txs_threads(block: &[u8], txs: &mut [TxEntry], threads: usize) {
    let threads = threads.clamp(1, txs.len().max(1));
    if threads == 1 {
        return hash_txs(block, txs);
    }
    let share = txs.iter().map(hashed_len).sum::<u64>() / threads as u64 + 1;
    std::thread::scope(|scope| {
        let mut rest = txs;
        for _ in 1..threads {
            let mut acc = 0;
            let split = rest
                .iter()
                .position(|t| {
                    acc += hashed_len(t);
                    acc >= share
                })
                .map_or(rest.len(), |i| i + 1);
            let (run, tail) = rest.split_at_mut(split);
            rest = tail;
            scope.spawn(move || hash_txs(block, run));
        }
        hash_txs(block, rest);
    });
}

/// Computes every txid and wtxid, each once (one hash for a transaction
/// without witness).
pub(crate) fn hash_txs(block: &[u8], txs: &mut [TxEntry]) {
    for t in txs {
        let bytes = &block[t.offset as usize..(t.offset + t.len) as usize];
        if t.flags & TX_SEGWIT == 0 {
            t.txid = sha256d(bytes);
            t.wtxid = t.txid;
        } else {
            t.txid = sha256d_parts(&txid_preimage(bytes, t.base_len as usize));
            t.wtxid = sha256d(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(bytes: &[u8]) -> Result<u64, WireError> {
        Reader::new(bytes).compact_size()
    }

    #[test]
    fn compact_size_is_canonical() {
        assert_eq!(cs(&[0xfc]), Ok(0xfc));
        assert_eq!(cs(&[0xfd, 0xfd, 0x00]), Ok(0xfd));
        assert_eq!(
            cs(&[0xfd, 0xfc, 0x00]),
            Err(WireError::NonMinimalCompactSize { at: 0 })
        );
        assert_eq!(cs(&[0xfe, 0x00, 0x00, 0x01, 0x00]), Ok(0x1_0000));
        assert!(cs(&[0xfe, 0xff, 0xff, 0x00, 0x00]).is_err());
        assert_eq!(cs(&[0xff, 0, 0, 0, 0, 1, 0, 0, 0]), Ok(0x1_0000_0000));
        assert!(cs(&[0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
        assert!(matches!(
            cs(&[0xfd, 0x01]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(cs(&[]), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn absurd_counts_fail_before_allocating() {
        let mut block = vec![0u8; 80];
        block.extend_from_slice(&[0xff; 9]);
        let mut index = BlockIndex::default();
        assert!(matches!(
            index.parse(&block),
            Err(WireError::CountTooLarge {
                what: "transaction",
                ..
            })
        ));
        assert_eq!(index.txs.capacity(), 0);
    }

    #[test]
    fn a_count_that_fits_reserves_a_real_blocks_worth_at_most() {
        // 100,000 transactions claimed, and 1 MB to hold them: plausible,
        // but the first one is malformed.
        let mut block = vec![0u8; 80];
        block.extend_from_slice(&[0xfe, 0xa0, 0x86, 0x01, 0x00]);
        block.resize(block.len() + 1_000_000, 0);
        let mut index = BlockIndex::default();
        assert_eq!(
            index.parse(&block),
            Err(WireError::UnsupportedSegwitFlag { tx: 0, flag: 0 })
        );
        assert_eq!(index.txs.capacity(), MAX_TX_RESERVE);
    }
}
