//! Wire bytes to archive: [`BlockWire`] is a parsed block that rkyv
//! serializes as an [`ArchivedBlockArchive`] by copying the wire bytes once
//! and each table once, straight into whatever writer it is given.

use rkyv::rancor::{self, Fallible};
use rkyv::ser::writer::Buffer;
use rkyv::ser::{Allocator, Writer};
use rkyv::util::AlignedVec;
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{munge::munge, Archive, Place, Serialize};

use super::layout::{
    ArchivedBlockArchive, ArchivedInputEntry, ArchivedOutputEntry, ArchivedTxEntry,
};
use super::wire::{BlockIndex, WireError};

/// A block's wire bytes and the index one validating parse made of them.
///
/// `BlockWire<B>` implements rkyv's `Archive` (as [`ArchivedBlockArchive`])
/// and `Serialize`, so any rkyv writer takes it: `rkyv::to_bytes`,
/// `rkyv::api::high::to_bytes_in` over a caller's buffer, or an
/// `shm_ipc::Sender<BlockWire<B>>` writing into a ring slot.
///
/// `B` is the bytes' owner: `&[u8]` to borrow them, or an owned buffer
/// (`Vec<u8>`, `Box<[u8]>`, `Arc<[u8]>`) for a long-lived sender. A
/// `Sender<BlockWire<&'a [u8]>>` pins its type to one borrow `'a`, so every
/// block it sends must outlive the sender: fine for a test, wrong for a
/// node that reads block after block into one buffer. There the channel is
/// `Sender<BlockWire<Vec<u8>>>`: the read buffer moves into the `BlockWire`
/// (no copy) and comes back out with [`into_parts`](Self::into_parts) for
/// the next block, along with the index's tables.
#[derive(Debug, Clone)]
pub struct BlockWire<B> {
    bytes: B,
    index: BlockIndex,
}

/// Why an archive could not be written into a caller's buffer.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("buffer of {available} bytes, the archive needs {needed}")]
    BufferTooSmall { needed: usize, available: usize },
    #[error("buffer at {addr:#x} is not 16-byte aligned")]
    Misaligned { addr: usize },
    #[error("serializing: {0}")]
    Serialize(#[from] rancor::Error),
}

/// Alignment a buffer needs to hold an archive (what rkyv's `AlignedVec`
/// and shm-ipc's ring slots give).
pub const ARCHIVE_ALIGN: usize = 16;

impl<B: AsRef<[u8]>> BlockWire<B> {
    /// Validates `bytes` as a block (exactly the blocks rust-bitcoin's
    /// `deserialize::<Block>` accepts, up to 4 GiB) and indexes and hashes it.
    pub fn parse(bytes: B) -> Result<BlockWire<B>, WireError> {
        Self::parse_reusing(bytes, BlockIndex::default())
    }

    /// Like [`parse`](Self::parse), reusing the tables of an earlier index.
    pub fn parse_reusing(bytes: B, index: BlockIndex) -> Result<BlockWire<B>, WireError> {
        Self::parse_threads(bytes, index, 1)
    }

    /// Like [`parse_reusing`](Self::parse_reusing), hashing the
    /// transactions on `threads` threads ([`BlockIndex::parse_threads`]).
    pub fn parse_threads(
        bytes: B,
        mut index: BlockIndex,
        threads: usize,
    ) -> Result<BlockWire<B>, WireError> {
        index.parse_threads(bytes.as_ref(), threads)?;
        Ok(BlockWire { bytes, index })
    }

    /// The wire bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// The tables (the archive's entries).
    pub fn index(&self) -> &BlockIndex {
        &self.index
    }

    /// Gives back the bytes and the index, to reuse their allocations.
    pub fn into_parts(self) -> (B, BlockIndex) {
        (self.bytes, self.index)
    }

    /// The block hash.
    pub fn block_hash(&self) -> bitcoin::BlockHash {
        bitcoin::hashes::Hash::from_byte_array(self.index.hash)
    }

    /// Exact size of the archive in bytes (for sizing a buffer or a slot).
    pub fn archived_len(&self) -> usize {
        fn table<T>(pos: usize, n: usize) -> usize {
            pos.next_multiple_of(align_of::<T>()) + n * size_of::<T>()
        }
        // The order `serialize` writes them in.
        let pos = self.bytes.as_ref().len();
        let pos = table::<ArchivedTxEntry>(pos, self.index.txs.len());
        let pos = table::<ArchivedInputEntry>(pos, self.index.inputs.len());
        let pos = table::<ArchivedOutputEntry>(pos, self.index.outputs.len());
        let pos = table::<rkyv::Archived<u64>>(pos, self.index.script_tails.len());
        let pos = table::<rkyv::Archived<u64>>(pos, self.index.prevout_keys.len());
        table::<ArchivedBlockArchive>(pos, 1)
    }

    /// Writes the archive at the start of `out` (16-byte aligned, at least
    /// [`archived_len`](Self::archived_len) bytes) and returns its length.
    /// Read it back with [`ArchivedBlockArchive::from_bytes`] (validating)
    /// or `rkyv::access_unchecked` (trusting).
    pub fn archive_into(&self, out: &mut [u8]) -> Result<usize, ArchiveError> {
        let addr = out.as_ptr() as usize;
        if !addr.is_multiple_of(ARCHIVE_ALIGN) {
            return Err(ArchiveError::Misaligned { addr });
        }
        let needed = self.archived_len();
        if out.len() < needed {
            return Err(ArchiveError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        let written = rkyv::api::high::to_bytes_in::<_, rancor::Error>(self, Buffer::from(out))?;
        Ok(written.len())
    }

    /// The archive in a new aligned buffer.
    pub fn to_archive(&self) -> AlignedVec<ARCHIVE_ALIGN> {
        let mut v = AlignedVec::with_capacity(self.archived_len());
        self.write_archive(&mut v);
        v
    }

    /// Appends the archive to `out` after clearing it (reuses its allocation).
    pub fn write_archive(&self, out: &mut AlignedVec<ARCHIVE_ALIGN>) {
        out.clear();
        out.reserve(self.archived_len());
        let taken = std::mem::take(out);
        *out = rkyv::api::high::to_bytes_in::<_, rancor::Panic>(self, taken)
            .unwrap_or_else(|never| match never {});
    }
}

/// Where [`BlockWire`]'s serialize wrote each table.
pub struct BlockWireResolver {
    txs: VecResolver,
    inputs: VecResolver,
    outputs: VecResolver,
    script_tails: VecResolver,
    prevout_keys: VecResolver,
    raw: VecResolver,
}

impl<B: AsRef<[u8]>> Archive for BlockWire<B> {
    type Archived = ArchivedBlockArchive;
    type Resolver = BlockWireResolver;

    fn resolve(&self, resolver: BlockWireResolver, out: Place<ArchivedBlockArchive>) {
        munge!(let ArchivedBlockArchive { hash, txs, inputs, outputs, script_tails, prevout_keys, raw } = out);
        hash.write(self.index.hash);
        ArchivedVec::resolve_from_len(self.index.txs.len(), resolver.txs, txs);
        ArchivedVec::resolve_from_len(self.index.inputs.len(), resolver.inputs, inputs);
        ArchivedVec::resolve_from_len(self.index.outputs.len(), resolver.outputs, outputs);
        ArchivedVec::resolve_from_len(
            self.index.script_tails.len(),
            resolver.script_tails,
            script_tails,
        );
        ArchivedVec::resolve_from_len(
            self.index.prevout_keys.len(),
            resolver.prevout_keys,
            prevout_keys,
        );
        ArchivedVec::resolve_from_len(self.bytes.as_ref().len(), resolver.raw, raw);
    }
}

impl<B, S> Serialize<S> for BlockWire<B>
where
    B: AsRef<[u8]>,
    S: Fallible + Allocator + Writer + ?Sized,
{
    /// The wire bytes first (so they start the archive, 16-byte aligned in
    /// a ring slot), then each table; every one is a single `write`. The
    /// order must be the fields' order: rkyv's validator expects each
    /// field's data after the previous field's.
    fn serialize(&self, s: &mut S) -> Result<BlockWireResolver, S::Error> {
        Ok(BlockWireResolver {
            raw: ArchivedVec::serialize_from_slice(self.bytes.as_ref(), s)?,
            txs: ArchivedVec::serialize_from_slice(&self.index.txs, s)?,
            inputs: ArchivedVec::serialize_from_slice(&self.index.inputs, s)?,
            outputs: ArchivedVec::serialize_from_slice(&self.index.outputs, s)?,
            script_tails: ArchivedVec::serialize_from_slice(&self.index.script_tails, s)?,
            prevout_keys: ArchivedVec::serialize_from_slice(&self.index.prevout_keys, s)?,
        })
    }
}
