//! What lives in shared memory, byte for byte, and the index arithmetic on it.
//!
//! A ring is one memfd: a header page, then `capacity` bytes of records. The
//! header is written only by the producer. Each consumer has its own cursor
//! page (a separate memfd) that only it writes. Positions are byte counts that
//! only grow (u64, never wrap in practice); a position's place in the ring is
//! `pos % capacity`. Because the record area is mapped twice back to back, a
//! record that starts near the end runs on contiguously and is never split.
//!
//! Every record is `[RecordHeader][payload][padding to RECORD_ALIGN]`; the
//! payload starts 16-byte aligned, which rkyv archives need for in-place access.

use std::sync::atomic::{AtomicU32, AtomicU64};

/// Identifies a ring header page.
pub const RING_MAGIC: u64 = u64::from_le_bytes(*b"SHMRING1");
/// Identifies a consumer cursor page.
pub const CURSOR_MAGIC: u64 = u64::from_le_bytes(*b"SHMCURS1");
/// Alignment of every record start and every payload.
pub const RECORD_ALIGN: u64 = 16;
/// Size of [`RecordHeader`].
pub const RECORD_HEADER: u64 = 16;
/// Size of the header page in front of the record area.
pub const HEADER_PAGE: usize = 4096;
/// Value of a cursor page's `pin` when the consumer holds no record.
pub const NO_PIN: u64 = u64::MAX;

/// Bits of a consumer's `waiting` word. The upper bits count park episodes, so
/// the producer can tell a new park from one it has already woken (coalescing).
pub const WAIT_FUTEX: u32 = 1;
pub const WAIT_EVENTFD: u32 = 2;
pub const WAIT_GEN_SHIFT: u32 = 2;

/// Full-ring policy of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Policy {
    /// The producer waits for the slowest consumer: no record is ever lost.
    Block = 1,
    /// The producer never waits for a consumer's backlog: a consumer that falls
    /// a whole ring behind gets a gap report and resyncs. (It does wait, briefly,
    /// for a record a consumer is holding a reference to at that moment.)
    Lag = 2,
}

impl Policy {
    pub fn from_u32(v: u32) -> Option<Policy> {
        match v {
            1 => Some(Policy::Block),
            2 => Some(Policy::Lag),
            _ => None,
        }
    }
}

/// One value on its own pair of cache lines, so that writers of different
/// fields never contend (128 bytes covers the adjacent-line prefetcher).
#[repr(C, align(128))]
pub struct Padded<T>(pub T);

/// Fixed facts about a ring, written once by the producer before it is shared.
/// (Atomics throughout: a hostile peer may change them under us, and a reader
/// loads each once and keeps its own copy.)
#[repr(C)]
pub struct RingMeta {
    pub magic: AtomicU64,
    pub version: AtomicU32,
    pub policy: AtomicU32,
    pub capacity: AtomicU64,
    pub epoch: AtomicU64,
    /// Set by the producer when it is dropped: nothing more will come.
    pub closed: AtomicU32,
    /// Non-zero while the producer is parked waiting for consumers.
    pub producer_waiting: AtomicU32,
}

/// The ring's header page.
#[repr(C)]
pub struct RingHeader {
    pub meta: Padded<RingMeta>,
    /// End of the last published record. Consumers park on its low 32 bits.
    pub head: Padded<HeadLine>,
    /// Lowest position whose record is still intact (`Lag` rings).
    pub oldest: Padded<AtomicU64>,
}

/// The published head and, on the same cache line, the sequence number of
/// the record that will start there and where the newest record starts and
/// how long it is. `version` makes them readable together (a seqlock: odd
/// while the producer updates them). A consumer that has caught up reads its
/// next record's length here, saving a cache miss on the record header.
#[repr(C)]
pub struct HeadLine {
    pub head: AtomicU64,
    pub seq: AtomicU64,
    pub version: AtomicU64,
    pub last_start: AtomicU64,
    pub last_len: AtomicU64,
}

/// A consumer's cursor page: written by that consumer only.
#[repr(C)]
pub struct CursorPage {
    pub magic: Padded<AtomicU64>,
    /// Everything before this position has been released by the consumer.
    pub cursor: Padded<AtomicU64>,
    /// Position of the record the consumer is reading right now, or [`NO_PIN`]
    /// (`Lag` rings only).
    pub pin: Padded<AtomicU64>,
    /// Non-zero while the consumer is parked: `gen << WAIT_GEN_SHIFT | mode`.
    pub waiting: Padded<AtomicU32>,
}

/// In front of every record.
#[repr(C, align(16))]
pub struct RecordHeader {
    /// Payload length in bytes.
    pub len: AtomicU32,
    pub _reserved: AtomicU32,
    /// Sequence number: 0 for a ring's first record, then +1 each.
    pub seq: AtomicU64,
}

const _: () = assert!(std::mem::size_of::<RecordHeader>() as u64 == RECORD_HEADER);
const _: () = assert!(std::mem::size_of::<RingHeader>() <= HEADER_PAGE);
const _: () = assert!(std::mem::size_of::<CursorPage>() <= HEADER_PAGE);

/// The low 32 bits of an `AtomicU64`, as the futex word that waiters park on.
/// Only the kernel reads it through this view.
pub fn low_word(v: &AtomicU64) -> &AtomicU32 {
    #[cfg(not(target_endian = "little"))]
    compile_error!("low_word assumes little-endian");
    // SAFETY: an AtomicU64 is 8-byte aligned and 8 bytes long; its first four
    // bytes are a valid, aligned u32 location for as long as the borrow lasts.
    // Rust code never accesses it through this view: it is handed to the
    // futex syscalls only, which read it as a 32-bit word.
    unsafe { &*(v as *const AtomicU64).cast::<AtomicU32>() }
}

/// `x` rounded up to a multiple of `a` (a power of two).
pub const fn align_up(x: u64, a: u64) -> u64 {
    (x + a - 1) & !(a - 1)
}

/// Bytes a record with a payload of `len` takes in the ring.
pub const fn record_span(len: u64) -> u64 {
    align_up(RECORD_HEADER + len, RECORD_ALIGN)
}

/// Largest payload a ring of `capacity` bytes can hold.
pub const fn max_payload(capacity: u64) -> u64 {
    capacity - RECORD_HEADER
}

/// Place of position `pos` in a ring of `capacity` bytes (a power of two).
pub const fn ring_offset(pos: u64, capacity: u64) -> u64 {
    pos & (capacity - 1)
}

/// Whether a write that ends at `end` leaves intact every byte at or after
/// `keep_from`, in a ring of `capacity` bytes.
pub const fn fits(end: u64, keep_from: u64, capacity: u64) -> bool {
    end <= keep_from.saturating_add(capacity)
}

/// Checks a record header read at `pos` against what was published: the
/// whole record must lie in `[pos, head)` and fit the ring. Returns the
/// payload length and the position of the next record.
pub fn check_record(pos: u64, head: u64, len: u32, capacity: u64) -> Option<(u64, u64)> {
    let len = len as u64;
    if len > max_payload(capacity) {
        return None;
    }
    let next = pos.checked_add(record_span(len))?;
    if next > head {
        return None;
    }
    Some((len, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn spans_are_aligned_and_cover_the_record(len in 0u64..(1 << 30)) {
            let s = record_span(len);
            prop_assert_eq!(s % RECORD_ALIGN, 0);
            prop_assert!(s >= RECORD_HEADER + len);
            prop_assert!(s < RECORD_HEADER + len + RECORD_ALIGN);
        }

        #[test]
        fn offsets_stay_inside_the_ring(pos in any::<u64>(), shift in 12u32..31) {
            let cap = 1u64 << shift;
            let off = ring_offset(pos, cap);
            prop_assert!(off < cap);
            prop_assert_eq!(off, pos % cap);
            // a record of up to max_payload starting at `off` ends inside the
            // double mapping (2 * cap)
            prop_assert!(off + record_span(max_payload(cap)) <= 2 * cap + RECORD_ALIGN);
        }

        #[test]
        fn aligned_positions_keep_records_aligned(k in 0u64..(1 << 40), len in 0u64..(1 << 20), shift in 12u32..31) {
            let cap = 1u64 << shift;
            let pos = k * RECORD_ALIGN;
            let next = pos + record_span(len);
            prop_assert_eq!(ring_offset(next, cap) % RECORD_ALIGN, 0);
            prop_assert_eq!((ring_offset(pos, cap) + RECORD_HEADER) % RECORD_ALIGN, 0);
        }

        #[test]
        fn fits_never_lets_a_write_pass_a_reader(keep in 0u64..(1 << 50), end in 0u64..(1 << 51), shift in 12u32..31) {
            let cap = 1u64 << shift;
            if fits(end, keep, cap) {
                // the bytes overwritten by a write ending at `end` are those
                // before `end - cap`, all below `keep`
                prop_assert!(end.saturating_sub(cap) <= keep);
            } else {
                prop_assert!(end - cap > keep);
            }
        }

        #[test]
        fn check_record_accepts_exactly_published_records(pos in 0u64..(1 << 40), len in any::<u32>(), extra in 0u64..4096, shift in 12u32..31) {
            let cap = 1u64 << shift;
            let pos = pos * RECORD_ALIGN;
            let span = record_span(len as u64);
            let head = pos + span + extra;
            match check_record(pos, head, len, cap) {
                Some((l, next)) => {
                    prop_assert_eq!(l, len as u64);
                    prop_assert_eq!(next, pos + span);
                    prop_assert!(l <= max_payload(cap));
                }
                None => prop_assert!(len as u64 > max_payload(cap)),
            }
            // a head that stops short of the record's end rejects it
            if span > 0 {
                prop_assert!(check_record(pos, pos + span - 1, len, cap).is_none());
            }
        }
    }
}
