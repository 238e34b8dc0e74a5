//! Bitcoin types, their archived (rkyv) forms and the interfaces between the
//! node, wallet and GUI processes.
//!
//! Done so far: [`archive`], a block archived straight from its wire bytes
//! into an rkyv archive that readers use in place (in a shared-memory ring
//! slot, say), [`script`], script verification through Bitcoin Core's
//! consensus library (also straight from an archived block), and [`data`],
//! which locates the real blocks and test vectors the tests and benchmarks
//! use.

pub mod archive;
pub mod data;
pub mod hash;
pub mod interfaces;
pub mod json;
pub mod rpc_codes;
pub mod script;

pub use archive::{
    ArchiveError, ArchivedBlockArchive, BlockArchive, BlockIndex, BlockWire, CheckError, WireError,
};
