//! The typed consuming end of a channel: it yields `&Archived<T>`, borrowed
//! from shared memory for a trusted producer, or from a private validated
//! copy for an untrusted one.

use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use rkyv::rancor;
use rkyv::util::AlignedVec;

use super::message::Message;
use super::stream::StreamConsumer;
use super::trust::Trust;
use crate::error::{Error, Result};
use crate::ring::consumer::{RawRecord, RingConsumer};

enum Source {
    Ring(RingConsumer),
    Stream(StreamConsumer),
}

/// The consuming end of a channel of `T`.
pub struct Receiver<T> {
    source: Source,
    trust: Trust,
    /// Private copy of the current record for untrusted producers.
    scratch: AlignedVec<16>,
    /// Sequence number of the first record this receiver can get.
    start_seq: u64,
    _t: PhantomData<fn() -> T>,
}

/// One received record. Dereferences to the archived value. Dropping it
/// releases its ring space to the producer.
pub struct Record<'r, T: Message> {
    archived: &'r T::Archived,
    bytes: &'r [u8],
    seq: u64,
    release: Release<'r>,
}

enum Release<'r> {
    Nothing,
    Ring(&'r mut RingConsumer, RawRecord),
    Stream(&'r mut StreamConsumer),
}

impl<'r, T: Message> Record<'r, T> {
    /// The record's sequence number in its channel (0, 1, 2, ...).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The archive's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes
    }

    /// Keeps the record after this handle is gone: its space is released by
    /// [`Receiver::release_held`] or at the start of the next receive, not
    /// now. Lets a consumer move the release (a cursor store and a fence)
    /// out of its hot path. The reference borrows the receiver, so the
    /// record can't be released while it is in use.
    pub fn keep(mut self) -> &'r T::Archived {
        match std::mem::replace(&mut self.release, Release::Nothing) {
            Release::Nothing => {}
            Release::Ring(c, r) => c.hold(r),
            Release::Stream(s) => s.hold(),
        }
        self.archived
    }
}

impl<T: Message> Deref for Record<'_, T> {
    type Target = T::Archived;
    fn deref(&self) -> &T::Archived {
        self.archived
    }
}

impl<T: Message> Drop for Record<'_, T> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.release, Release::Nothing) {
            Release::Nothing => {}
            Release::Ring(c, r) => c.release(&r),
            Release::Stream(s) => s.release(),
        }
    }
}

impl<T: Message> Receiver<T> {
    pub(crate) fn from_ring(c: RingConsumer, trust: Trust, start_seq: u64) -> Receiver<T> {
        Self::new(Source::Ring(c), trust, start_seq)
    }

    pub(crate) fn from_stream(c: StreamConsumer, trust: Trust, start_seq: u64) -> Receiver<T> {
        Self::new(Source::Stream(c), trust, start_seq)
    }

    fn new(source: Source, trust: Trust, start_seq: u64) -> Receiver<T> {
        Receiver {
            source,
            trust,
            start_seq,
            scratch: AlignedVec::new(),
            _t: PhantomData,
        }
    }

    /// Sequence number of the first record this receiver can get: every
    /// record numbered below it was published before it attached.
    pub fn start_seq(&self) -> u64 {
        self.start_seq
    }

    /// Releases a record kept with [`Record::keep`], if any.
    pub fn release_held(&mut self) {
        match &mut self.source {
            Source::Ring(c) => c.release_held(),
            Source::Stream(s) => {
                if s.is_held() {
                    s.release();
                }
            }
        }
    }

    /// Whether records come through shared memory (false: a stream fallback).
    pub fn is_shared_memory(&self) -> bool {
        matches!(self.source, Source::Ring(_))
    }

    /// How long [`recv`](Self::recv) spins before parking (default 20 µs; zero parks at once).
    pub fn set_spin(&mut self, spin: Duration) {
        if let Source::Ring(c) = &mut self.source {
            c.set_spin(spin);
        }
    }

    /// The next record if there is one; never waits.
    pub fn try_recv(&mut self) -> Result<Option<Record<'_, T>>> {
        self.next(Some(Duration::ZERO))
    }

    /// The next record, waiting as long as it takes (or until the peer dies).
    pub fn recv(&mut self) -> Result<Record<'_, T>> {
        self.recv_deadline(None)
    }

    /// The next record, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Record<'_, T>> {
        self.recv_deadline(Some(Instant::now() + timeout))
    }

    /// Busy-polls for the next record without ever parking (lowest latency,
    /// burns a core). Still returns on peer death or close.
    pub fn recv_spin(&mut self) -> Result<Record<'_, T>> {
        loop {
            let ready = match &mut self.source {
                Source::Ring(c) => c.poll()?.is_some(),
                Source::Stream(_) => true,
            };
            if ready {
                return self.recv_deadline(None);
            }
            std::hint::spin_loop();
        }
    }

    fn recv_deadline(&mut self, deadline: Option<Instant>) -> Result<Record<'_, T>> {
        if let Source::Ring(c) = &mut self.source {
            // Borrow dance: find out first whether a record is there, then
            // take the borrow that the returned record keeps.
            loop {
                if c.poll()?.is_some() {
                    break;
                }
                c.wait(deadline)?;
            }
        }
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        match self.next(timeout)? {
            Some(r) => Ok(r),
            None => Err(Error::Timeout),
        }
    }

    fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Record<'_, T>>> {
        let trusted = self.trust.is_trusted();
        match &mut self.source {
            Source::Ring(c) => {
                let Some(raw) = c.poll()? else {
                    return Ok(None);
                };
                if trusted {
                    // SAFETY: the record lies in our mapping (checked against the
                    // ring bounds by `poll`) and stays unchanged until released:
                    // the producer never writes past our cursor (Block) or our pin
                    // (Lag), and the mapping outlives `c`, which this borrow keeps.
                    let bytes = unsafe { std::slice::from_raw_parts(raw.ptr, raw.len) };
                    if bytes.len() < std::mem::size_of::<T::Archived>() {
                        c.release(&raw);
                        return Err(Error::InvalidArchive("record shorter than its root".into()));
                    }
                    // SAFETY: the channel was created trusted (`Trust::trusted` is
                    // unsafe and documents the promise): the producer writes only
                    // valid archives of T. `bytes` is 16-byte aligned.
                    let archived = unsafe { rkyv::access_unchecked::<T::Archived>(bytes) };
                    let seq = raw.seq;
                    return Ok(Some(Record {
                        archived,
                        bytes,
                        seq,
                        release: Release::Ring(c, raw),
                    }));
                }
                // Untrusted: copy once, release the slot, validate the copy.
                self.scratch.clear();
                self.scratch.reserve(raw.len);
                // SAFETY: `raw.ptr..+len` is inside our read-only mapping (bounds
                // checked by `poll`). The peer may still be writing it: u8 has no
                // invalid values, so the copy is at worst garbage, which
                // validation below rejects. The shared bytes are read only here.
                unsafe {
                    std::ptr::copy_nonoverlapping(raw.ptr, self.scratch.as_mut_ptr(), raw.len);
                    self.scratch.set_len(raw.len);
                }
                c.release(&raw);
                let bytes: &[u8] = &self.scratch;
                let archived = rkyv::access::<T::Archived, rancor::Error>(bytes)
                    .map_err(|e| Error::InvalidArchive(e.to_string()))?;
                Ok(Some(Record {
                    archived,
                    bytes,
                    seq: raw.seq,
                    release: Release::Nothing,
                }))
            }
            Source::Stream(s) => {
                // Frames crossed a network: always validated, whatever the trust.
                let Some(frame) = s.next(timeout)? else {
                    return Ok(None);
                };
                let seq = frame.seq;
                let bytes: *const [u8] = frame.bytes.as_slice();
                // SAFETY: the frame is owned by `s` and stays put until
                // `s.release()`, which only the returned record's drop calls; the
                // record's lifetime keeps `s` borrowed meanwhile.
                let bytes: &[u8] = unsafe { &*bytes };
                let archived = match rkyv::access::<T::Archived, rancor::Error>(bytes) {
                    Ok(a) => a,
                    Err(e) => {
                        s.release();
                        return Err(Error::InvalidArchive(e.to_string()));
                    }
                };
                Ok(Some(Record {
                    archived,
                    bytes,
                    seq,
                    release: Release::Stream(s),
                }))
            }
        }
    }

    /// For pollers: arms the readiness descriptor. Returns false if a record
    /// (or an error) is already waiting, in which case don't sleep; call
    /// `try_recv` again.
    pub fn arm(&mut self) -> bool {
        match &mut self.source {
            Source::Ring(c) => c.arm_eventfd(),
            Source::Stream(_) => true,
        }
    }

    fn eventfd_raw(&self) -> std::os::fd::RawFd {
        match &self.source {
            Source::Ring(c) => c.shared().eventfd.as_fd().as_raw_fd(),
            Source::Stream(s) => s.eventfd().as_raw_fd(),
        }
    }
}

/// A receiver registers its readiness descriptor (an eventfd the producer
/// signals when it publishes to an armed, waiting consumer, and that the
/// connection signals when the peer dies). Typical loop: drain with
/// `try_recv` until `None`, call `arm()`, and poll only if it returned true.
impl<T: Message> mio::event::Source for Receiver<T> {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> std::io::Result<()> {
        mio::unix::SourceFd(&self.eventfd_raw()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> std::io::Result<()> {
        mio::unix::SourceFd(&self.eventfd_raw()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> std::io::Result<()> {
        mio::unix::SourceFd(&self.eventfd_raw()).deregister(registry)
    }
}
