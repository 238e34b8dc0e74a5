//! Bitcoin types, their archived (rkyv) forms and the interfaces between the
//! node, wallet and GUI processes.
//!
//! Done so far: [`archive`], a block archived straight from its wire bytes
//! into an rkyv archive that readers use in place (in a shared-memory ring
//! slot, say), and [`data`], which locates the real blocks the tests and
//! benchmarks use.

pub mod archive;
pub mod data;
pub mod hash;

pub use archive::{
    ArchiveError, ArchivedBlockArchive, BlockArchive, BlockIndex, BlockWire, CheckError, WireError,
};
