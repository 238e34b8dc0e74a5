//! Blocks read back from the block files, and where they lie.
//!
//! A block record holds the block's rkyv archive, written at a 16-byte
//! aligned offset, so reading a block back is one read and a validation of
//! the archive's structure ([`ArchivedBlockArchive::from_bytes`]): no parse
//! and no hashing (the txids and wtxids are in it). The CRC of the record
//! guards the bytes; the archive's own block hash is compared with the
//! index's.
//!
//! The same bytes serve another process: [`Chainstate::block_locations`]
//! says where the archives of active blocks lie, and
//! [`Chainstate::open_block_file_readonly`] gives a read-only handle on a
//! block file to pass to it; it maps the file and uses the archives in
//! place.

use btc_core::archive::{ArchivedBlockArchive, ARCHIVE_ALIGN};
use btc_core::interfaces::BlockLocation;
use rkyv::util::AlignedVec;

use super::{ChainError, Chainstate};
use crate::blockfiles::{Kind, RECORD_ALIGN};
use crate::blockindex::Idx;

// A record's payload is aligned as an archive needs.
const _: () = assert!(RECORD_ALIGN as usize == ARCHIVE_ALIGN);

impl Chainstate {
    /// The archive of a stored block, read from the block files and checked
    /// (record checksum, archive structure, block hash against the index)
    /// without parsing or hashing the block.
    pub fn read_archive(&mut self, idx: Idx) -> Result<AlignedVec<ARCHIVE_ALIGN>, ChainError> {
        Ok(self.read_checked(idx)?.0)
    }

    /// The wire bytes of a stored block (the first bytes of its archive).
    pub fn read_block(&mut self, idx: Idx) -> Result<Vec<u8>, ChainError> {
        let (archive, wire) = self.read_checked(idx)?;
        Ok(archive[wire].to_vec())
    }

    /// [`Chainstate::read_archive`], and where in it the wire bytes are.
    fn read_checked(
        &mut self,
        idx: Idx,
    ) -> Result<(AlignedVec<ARCHIVE_ALIGN>, std::ops::Range<usize>), ChainError> {
        let e = self.tree.get(idx);
        let (hash, pos, len) = (e.hash, e.data, e.data_len);
        let pos =
            pos.ok_or_else(|| ChainError::Inconsistent(format!("block {hash} has no data")))?;
        let archive = self.files.read(Kind::Block, pos)?;
        let at = format!("blk{:05}.dat at offset {}", pos.file, pos.offset);
        if archive.len() != len as usize {
            return Err(ChainError::Inconsistent(format!(
                "the record of block {hash} in {at} is {} bytes, the block index says {len}",
                archive.len()
            )));
        }
        let block = ArchivedBlockArchive::from_bytes(&archive).map_err(|e| {
            ChainError::Inconsistent(format!(
                "the record of block {hash} in {at} is not a valid block archive: {e}"
            ))
        })?;
        if block.block_hash() != hash {
            return Err(ChainError::Inconsistent(format!(
                "the record in {at} holds block {}, the block index expects {hash}",
                block.block_hash()
            )));
        }
        let wire = block.wire();
        let start = wire.as_ptr() as usize - archive.as_ptr() as usize;
        let range = start..start + wire.len();
        Ok((archive, range))
    }

    /// Where the archives of active-chain blocks `from..=to` lie (at most
    /// `max`), in height order. Heights past the tip are left out, so the
    /// answer is shorter than asked (or empty) there.
    pub fn block_locations(&self, from: u32, to: u32, max: usize) -> Vec<BlockLocation> {
        let to = to.min(self.height());
        if from > to {
            return Vec::new();
        }
        (from..=to)
            .take(max)
            .filter_map(|height| {
                let e = self.tree.get(self.active[height as usize]);
                // Every active block has data; `None` would be a bug, and
                // a missing entry is what the caller can notice.
                let pos = e.data?;
                Some(BlockLocation {
                    height,
                    file: pos.file,
                    offset: u64::from(pos.offset),
                    len: u64::from(e.data_len),
                })
            })
            .collect()
    }

    /// A read-only (`O_RDONLY`) handle on block file `file`, to hand to
    /// another process that maps it and reads archives at the offsets of
    /// [`Chainstate::block_locations`]. While the chainstate is open the
    /// file only grows (a torn tail is cut at open, before anything is
    /// served), so a map of it stays valid; records appended later need a
    /// larger map.
    pub fn open_block_file_readonly(&self, file: u32) -> Result<std::fs::File, ChainError> {
        Ok(self.files.open_readonly(Kind::Block, file)?)
    }
}
