//! Notification records: what the node tells its wallets and GUIs, in
//! chain order, through one ring.
//!
//! A record is an [`ArchivedEventSchema`]: a kind, a height, a hash, the
//! time the node published it, and a body. For a block the body is the
//! block's archive (`btc_core::ArchivedBlockArchive`), placed first in the
//! record so it starts at the slot's 16-byte alignment and is read where it
//! lies; for a mempool transaction it is the transaction's wire bytes; for
//! a wallet change it is the wallet's name.
//!
//! [`Event<B>`] is the producing form: `B` owns the body (the node's
//! `AlignedVec` archive, moved in, not copied), and rkyv writes it straight
//! into a ring slot. [`EventSchema`] defines the archived type, as
//! `BlockArchive` does for `BlockWire`.

use rkyv::rancor::Fallible;
use rkyv::ser::{Allocator, Writer};
use rkyv::util::AlignedVec;
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{munge::munge, Archive, Deserialize, Place, Serialize};

use crate::archive::ARCHIVE_ALIGN;
use crate::ArchivedBlockArchive;

/// What happened (Core's `CValidationInterface` callbacks, plus the
/// wallet-side change a GUI listens for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum EventKind {
    /// `blockConnected`: body = the archived block.
    BlockConnected = 1,
    /// `blockDisconnected`: body = the archived block.
    BlockDisconnected = 2,
    /// `transactionAddedToMempool`: body = the transaction.
    TxAdded = 3,
    /// `transactionRemovedFromMempool`: body = the transaction; `height`
    /// holds the removal reason.
    TxRemoved = 4,
    /// `updatedBlockTip`: no body.
    TipUpdated = 5,
    /// `chainStateFlushed`: no body.
    Flushed = 6,
    /// A wallet's balance or transactions changed (for the GUI): body =
    /// the wallet's name.
    WalletChanged = 7,
}

impl EventKind {
    /// The kind of a record's `kind` field, if it is one.
    pub fn from_u32(v: u32) -> Option<EventKind> {
        Some(match v {
            1 => EventKind::BlockConnected,
            2 => EventKind::BlockDisconnected,
            3 => EventKind::TxAdded,
            4 => EventKind::TxRemoved,
            5 => EventKind::TipUpdated,
            6 => EventKind::Flushed,
            7 => EventKind::WalletChanged,
            _ => return None,
        })
    }
}

/// The archived layout's schema (nothing builds it on the hot path).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct EventSchema {
    /// The body first: its bytes start the record.
    pub body: Vec<u8>,
    /// An [`EventKind`] as `u32`.
    pub kind: u32,
    pub height: u32,
    /// Block hash (block events and tip updates), else zero.
    pub hash: [u8; 32],
    /// `CLOCK_REALTIME` nanoseconds when the node published the record
    /// (for notification latency; both ends read the same clock).
    pub time_ns: u64,
}

/// A notification to publish. `B` owns the body.
#[derive(Debug, Clone)]
pub struct Event<B> {
    pub kind: EventKind,
    pub height: u32,
    pub hash: [u8; 32],
    pub time_ns: u64,
    pub body: B,
}

/// The record type of the notification rings (the same name on both ends
/// of a channel: shm-ipc checks it at subscribe).
pub type EventRecord = Event<AlignedVec<ARCHIVE_ALIGN>>;

impl<B: AsRef<[u8]>> Archive for Event<B> {
    type Archived = ArchivedEventSchema;
    type Resolver = VecResolver;

    fn resolve(&self, resolver: VecResolver, out: Place<ArchivedEventSchema>) {
        munge!(let ArchivedEventSchema { body, kind, height, hash, time_ns } = out);
        ArchivedVec::resolve_from_len(self.body.as_ref().len(), resolver, body);
        kind.write((self.kind as u32).into());
        height.write(self.height.into());
        hash.write(self.hash);
        time_ns.write(self.time_ns.into());
    }
}

impl<B, S> Serialize<S> for Event<B>
where
    B: AsRef<[u8]>,
    S: Fallible + Allocator + Writer + ?Sized,
{
    fn serialize(&self, s: &mut S) -> Result<VecResolver, S::Error> {
        ArchivedVec::serialize_from_slice(self.body.as_ref(), s)
    }
}

/// Nanoseconds of `CLOCK_REALTIME` now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Why a record's body is not a usable block.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the record is not a block event")]
    NotABlock,
    #[error("the block archive is not 16-byte aligned in the record")]
    Misaligned,
    #[error("invalid block archive: {0}")]
    Invalid(String),
}

impl ArchivedEventSchema {
    /// The record's kind, if known.
    pub fn event_kind(&self) -> Option<EventKind> {
        EventKind::from_u32(self.kind.to_native())
    }

    /// The block hash field.
    pub fn block_hash(&self) -> bitcoin::BlockHash {
        bitcoin::hashes::Hash::from_byte_array(self.hash)
    }

    /// The body's block archive, validated (bounds and cross-references;
    /// hashes are not recomputed).
    pub fn block(&self) -> Result<&ArchivedBlockArchive, BodyError> {
        let bytes = self.block_bytes()?;
        ArchivedBlockArchive::from_bytes(bytes).map_err(|e| BodyError::Invalid(e.to_string()))
    }

    fn block_bytes(&self) -> Result<&[u8], BodyError> {
        if !matches!(
            self.event_kind(),
            Some(EventKind::BlockConnected | EventKind::BlockDisconnected)
        ) {
            return Err(BodyError::NotABlock);
        }
        let bytes = self.body.as_slice();
        if !(bytes.as_ptr() as usize).is_multiple_of(ARCHIVE_ALIGN) {
            return Err(BodyError::Misaligned);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlockWire;
    use rkyv::rancor;

    fn block() -> Vec<u8> {
        use bitcoin::consensus::encode::serialize;
        serialize(&bitcoin::constants::genesis_block(
            bitcoin::Network::Regtest,
        ))
    }

    #[test]
    fn a_block_event_round_trips_with_its_archive_in_place() {
        let wire = BlockWire::parse(block()).unwrap();
        let ev = Event {
            kind: EventKind::BlockConnected,
            height: 7,
            hash: wire.index().hash,
            time_ns: 42,
            body: wire.to_archive(),
        };
        let bytes = rkyv::to_bytes::<rancor::Error>(&ev).unwrap();
        let rec = rkyv::access::<ArchivedEventSchema, rancor::Error>(&bytes).unwrap();
        assert_eq!(rec.event_kind(), Some(EventKind::BlockConnected));
        assert_eq!(rec.height.to_native(), 7);
        assert_eq!(rec.time_ns.to_native(), 42);
        let b = rec.block().unwrap();
        assert_eq!(b.block_hash(), wire.block_hash());
        assert_eq!(rec.block_hash(), wire.block_hash());
        // The body starts the record: no copy needed to align it.
        assert_eq!(rec.body.as_ptr(), bytes.as_ptr());
        assert_eq!(b.tx_count(), 1);
    }

    #[test]
    fn a_non_block_event_has_no_block_and_a_bad_body_is_refused() {
        let ev = Event {
            kind: EventKind::TxAdded,
            height: 0,
            hash: [0; 32],
            time_ns: 0,
            body: vec![1u8, 2, 3],
        };
        let bytes = rkyv::to_bytes::<rancor::Error>(&ev).unwrap();
        let rec = rkyv::access::<ArchivedEventSchema, rancor::Error>(&bytes).unwrap();
        assert!(matches!(rec.block(), Err(BodyError::NotABlock)));
        let bad = Event {
            kind: EventKind::BlockConnected,
            body: vec![0u8; 200],
            ..ev
        };
        let bytes = rkyv::to_bytes::<rancor::Error>(&bad).unwrap();
        let rec = rkyv::access::<ArchivedEventSchema, rancor::Error>(&bytes).unwrap();
        assert!(matches!(rec.block(), Err(BodyError::Invalid(_))));
        assert_eq!(EventKind::from_u32(99), None);
    }
}
