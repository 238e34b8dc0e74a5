//! An archived block's tables as plain slices, for readers that sweep them
//! (a wallet matching a block) and that start either from a validated
//! [`ArchivedBlockArchive`] or from an [`ArchivedBlockShape`], whose tables
//! are only known to lie inside the bytes.
//!
//! Nothing here assumes the tables agree with each other or with `raw`:
//! every lookup through them must be bounds-checked (`get`), and a reader
//! that needs the accessors of [`ArchivedBlockArchive`] validates the
//! archive first.

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use rkyv::rancor;

use super::layout::{
    ArchivedBlockArchive, ArchivedBlockShape, ArchivedInputEntry, ArchivedOutputEntry,
    ArchivedTxEntry, HEADER_LEN,
};

/// The tables of an archived block, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct BlockTables<'a> {
    /// The stored block hash.
    pub hash: &'a [u8; 32],
    /// The block as on the wire.
    pub raw: &'a [u8],
    pub txs: &'a [ArchivedTxEntry],
    pub inputs: &'a [ArchivedInputEntry],
    pub outputs: &'a [ArchivedOutputEntry],
    /// One per output (when the tables agree): [`script_tail`](super::script_tail).
    pub script_tails: &'a [rkyv::Archived<u64>],
    /// One per input (when the tables agree): [`prevout_key`](super::prevout_key).
    pub prevout_keys: &'a [rkyv::Archived<u64>],
}

impl<'a> BlockTables<'a> {
    pub fn block_hash(&self) -> BlockHash {
        BlockHash::from_byte_array(*self.hash)
    }

    /// The header's time, or `None` when `raw` is shorter than a header.
    pub fn header_time(&self) -> Option<u32> {
        let header = self.raw.get(..HEADER_LEN)?;
        // version (4), previous block (32), merkle root (32), then time.
        let time: [u8; 4] = header.get(68..72)?.try_into().ok()?;
        Some(u32::from_le_bytes(time))
    }
}

impl<'a> From<&'a ArchivedBlockArchive> for BlockTables<'a> {
    fn from(b: &'a ArchivedBlockArchive) -> BlockTables<'a> {
        BlockTables {
            hash: &b.hash,
            raw: b.raw.as_slice(),
            txs: b.txs.as_slice(),
            inputs: b.inputs.as_slice(),
            outputs: b.outputs.as_slice(),
            script_tails: b.script_tails.as_slice(),
            prevout_keys: b.prevout_keys.as_slice(),
        }
    }
}

impl<'a> From<&'a ArchivedBlockShape> for BlockTables<'a> {
    fn from(b: &'a ArchivedBlockShape) -> BlockTables<'a> {
        BlockTables {
            hash: &b.hash,
            raw: b.raw.as_slice(),
            txs: b.txs.as_slice(),
            inputs: b.inputs.as_slice(),
            outputs: b.outputs.as_slice(),
            script_tails: b.script_tails.as_slice(),
            prevout_keys: b.prevout_keys.as_slice(),
        }
    }
}

impl ArchivedBlockShape {
    /// Checks `bytes` structurally only (in O(1): the root and the four
    /// tables lie inside `bytes`, aligned) and returns the shape in place.
    pub fn from_bytes(bytes: &[u8]) -> Result<&ArchivedBlockShape, rancor::Error> {
        rkyv::access::<ArchivedBlockShape, rancor::Error>(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{BlockArchive, OutputEntry, TxEntry};

    #[test]
    fn a_shape_reads_the_same_bytes_as_the_archive() {
        let mut raw = vec![0u8; 100];
        raw[68..72].copy_from_slice(&1_700_000_123u32.to_le_bytes());
        let block = BlockArchive {
            hash: [7; 32],
            raw,
            txs: vec![TxEntry {
                offset: 81,
                len: 19,
                base_len: 19,
                n_outputs: 1,
                ..TxEntry::default()
            }],
            inputs: vec![],
            outputs: vec![OutputEntry {
                value: 5,
                script_offset: 90,
                script_len: 3,
            }],
            script_tails: vec![9],
            prevout_keys: vec![],
        };
        let bytes = rkyv::to_bytes::<rancor::Error>(&block).unwrap();
        let full = BlockTables::from(ArchivedBlockArchive::from_bytes(&bytes).unwrap());
        let shape = BlockTables::from(ArchivedBlockShape::from_bytes(&bytes).unwrap());
        assert_eq!(full.hash, shape.hash);
        assert_eq!(full.raw, shape.raw);
        assert_eq!(full.txs.len(), 1);
        assert_eq!(shape.txs[0].len, full.txs[0].len);
        assert_eq!(shape.script_tails[0], 9);
        assert_eq!(shape.header_time(), Some(1_700_000_123));
        assert_eq!(shape.block_hash(), full.block_hash());
    }

    #[test]
    fn a_shape_takes_what_validation_refuses_but_not_what_is_out_of_bounds() {
        // Inconsistent tables (a script outside raw): the archive is
        // refused, the shape is not.
        let block = BlockArchive {
            hash: [1; 32],
            raw: vec![0; 40],
            txs: vec![],
            inputs: vec![],
            outputs: vec![OutputEntry {
                value: 1,
                script_offset: 1_000_000,
                script_len: 25,
            }],
            script_tails: vec![0],
            prevout_keys: vec![],
        };
        let bytes = rkyv::to_bytes::<rancor::Error>(&block).unwrap();
        assert!(ArchivedBlockArchive::from_bytes(&bytes).is_err());
        let shape = BlockTables::from(ArchivedBlockShape::from_bytes(&bytes).unwrap());
        assert_eq!(shape.header_time(), None);
        assert_eq!(shape.outputs.len(), 1);
        // Cut bytes: a table past the end is refused by both.
        for cut in [1, bytes.len() / 2, bytes.len() - 8] {
            let mut short = rkyv::util::AlignedVec::<16>::new();
            short.extend_from_slice(&bytes[cut..]);
            assert!(ArchivedBlockShape::from_bytes(&short).is_err(), "cut {cut}");
        }
        assert!(ArchivedBlockShape::from_bytes(&[]).is_err());
    }
}
