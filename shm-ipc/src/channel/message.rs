//! What can travel on a channel, and the rkyv writer that serializes straight
//! into a ring slot (no intermediate buffer, no second copy).

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::{Positional, Writer};
use rkyv::{Archive, Portable, Serialize};

use crate::error::Error;
use crate::ring::producer::RingProducer;

/// A type that can be sent on a channel: it serializes with rkyv into a slot
/// and its archived form can be validated with bytecheck.
pub trait Message:
    Archive<Archived: Portable + for<'v> CheckBytes<HighValidator<'v, rancor::Error>>>
    + for<'a, 'r> Serialize<HighSerializer<SlotWriter<'a>, ArenaHandle<'r>, rancor::Error>>
{
}

impl<T> Message for T where
    T: Archive<Archived: Portable + for<'v> CheckBytes<HighValidator<'v, rancor::Error>>>
        + for<'a, 'r> Serialize<HighSerializer<SlotWriter<'a>, ArenaHandle<'r>, rancor::Error>>
{
}

/// An rkyv writer over a reserved ring slot. It grows the reservation as the
/// serializer writes (waiting for space or reclaiming it, by the ring's
/// policy) and fails cleanly when the record would not fit the ring.
pub struct SlotWriter<'a> {
    ring: &'a mut RingProducer,
    start: u64,
    len: usize,
    /// Why the slot could not take more bytes (rkyv only sees a marker).
    failure: &'a mut Option<Error>,
}

impl<'a> SlotWriter<'a> {
    pub(crate) fn new(
        ring: &'a mut RingProducer,
        start: u64,
        failure: &'a mut Option<Error>,
    ) -> SlotWriter<'a> {
        SlotWriter {
            ring,
            start,
            len: 0,
            failure,
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.len
    }
}

/// Marker error the writer hands rkyv; the real cause is kept in the writer.
#[derive(Debug)]
struct SlotUnavailable;

impl std::fmt::Display for SlotUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ring slot unavailable")
    }
}

impl std::error::Error for SlotUnavailable {}

impl Positional for SlotWriter<'_> {
    fn pos(&self) -> usize {
        self.len
    }
}

impl<E: rancor::Source> Writer<E> for SlotWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        let new_len = self.len + bytes.len();
        if let Err(e) = self.ring.ensure(self.start, new_len as u64) {
            *self.failure = Some(e);
            return Err(E::new(SlotUnavailable));
        }
        // SAFETY: `ensure` reserved [start, start + span(new_len)) for us: the
        // destination lies inside the double mapping and no consumer reads it
        // (it is past the published head). Source and destination can't overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ring.payload_ptr(self.start).add(self.len),
                bytes.len(),
            )
        };
        self.len = new_len;
        Ok(())
    }
}
