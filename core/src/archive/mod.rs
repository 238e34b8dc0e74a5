//! A block as an rkyv archive that readers use in place.
//!
//! A node receives a block's wire bytes, parses them once
//! ([`BlockWire::parse`]: validation, the index, txids and wtxids), and
//! serializes the result with rkyv straight into a caller's buffer, an
//! `AlignedVec` or a shared-memory ring slot: the wire bytes are copied once,
//! each table once. Readers get an [`ArchivedBlockArchive`] and reach any
//! transaction, input or output in O(1) without parsing.
//!
//! | module | job |
//! |---|---|
//! | `layout` | the archived types, byte for byte, and their validation |
//! | `wire` | the validating parser that builds the index |
//! | `build` | [`BlockWire`]: rkyv `Archive` + `Serialize` from wire bytes |
//! | `access` | reading the archive: header, txs, inputs, outputs |
//! | [`check`] | merkle root and witness commitment of an archived block |

mod access;
mod build;
pub mod check;
mod layout;
mod tables;
mod wire;

pub use access::{InputRef, OutputRef, TxRef, WitnessItems};
pub use build::{ArchiveError, BlockWire, BlockWireResolver, ARCHIVE_ALIGN};
pub use check::{CheckError, WitnessStatus};
pub use layout::{prevout_key, script_tail, ArchivedBlockShape, BlockShape};
pub use layout::{
    ArchivedBlockArchive, ArchivedInputEntry, ArchivedOutputEntry, ArchivedTxEntry, BlockArchive,
    InputEntry, OutputEntry, TxEntry, HEADER_LEN, TX_SEGWIT,
};
pub use tables::BlockTables;
pub use wire::{BlockIndex, WireError};
