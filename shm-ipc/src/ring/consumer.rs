//! The consuming side of a ring: find the next record in place, hand it out,
//! release it, and park when there is nothing to read.
//!
//! A consumer writes only its own cursor page. Everything it reads from the
//! ring header or a record header is checked before use, so a broken or
//! hostile producer gives an error, never an out-of-bounds read.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{fence, AtomicBool};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::layout::{
    check_record, low_word, ring_offset, Policy, RecordHeader, NO_PIN, RECORD_ALIGN, RECORD_HEADER,
    WAIT_EVENTFD, WAIT_FUTEX, WAIT_GEN_SHIFT,
};
use super::segment::{CursorSegment, RingSegment};
use crate::error::{Error, Result};
use crate::platform;

/// Longest single park; a safety net, wakes normally come much sooner.
const PARK_SLICE: Duration = Duration::from_millis(100);

/// What a consumer shares with whoever can tell it its peer died (the
/// connection's reader thread): the flag and the means to wake it.
pub struct ConsumerShared {
    pub seg: RingSegment,
    pub eventfd: OwnedFd,
    pub dead: AtomicBool,
}

impl ConsumerShared {
    /// Marks the producer dead and wakes the consumer wherever it waits.
    pub fn peer_died(&self) {
        self.dead.store(true, SeqCst);
        platform::futex_wake(low_word(&self.seg.header().head.0.head), i32::MAX);
        platform::eventfd_signal(self.eventfd.as_fd());
    }
}

/// A record found in the ring, not yet released.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord {
    pub ptr: *const u8,
    pub len: usize,
    pub seq: u64,
    pub next: u64,
}

pub struct RingConsumer {
    shared: Arc<ConsumerShared>,
    cursor: CursorSegment,
    cap: u64,
    policy: Policy,
    pos: u64,
    expected: Option<u64>,
    gen: u32,
    spin: Duration,
    /// A record the user kept past its `Record` (released before the next
    /// poll): its sequence number and the position after it.
    held: Option<(u64, u64)>,
}

impl RingConsumer {
    /// A consumer that starts reading at `start`, where record `start_seq`
    /// will be (as its producer assigned at attach).
    pub fn new(
        shared: Arc<ConsumerShared>,
        cursor: CursorSegment,
        start: u64,
        start_seq: u64,
    ) -> RingConsumer {
        let cap = shared.seg.capacity();
        let policy = shared.seg.policy();
        cursor.page().cursor.0.store(start, Release);
        RingConsumer {
            shared,
            cursor,
            cap,
            policy,
            pos: start,
            expected: Some(start_seq),
            gen: 0,
            spin: Duration::from_micros(20),
            held: None,
        }
    }

    pub fn shared(&self) -> &Arc<ConsumerShared> {
        &self.shared
    }

    /// How long a blocking wait spins before it parks (zero: park at once).
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The next record, if one is published. It stays in the ring (and, in a
    /// `Lag` ring, protected from being overwritten) until [`release`](Self::release).
    pub fn poll(&mut self) -> Result<Option<RawRecord>> {
        self.release_held();
        let header = self.shared.seg.header();
        let page = self.cursor.page();
        loop {
            let head = header.head.0.head.load(Acquire);
            if self.pos >= head {
                if self.shared.dead.load(Acquire) {
                    return Err(Error::PeerDied);
                }
                if header.meta.0.closed.load(Acquire) != 0 {
                    if header.head.0.head.load(Acquire) > self.pos {
                        continue;
                    }
                    return Err(Error::Closed);
                }
                return Ok(None);
            }
            if !self.pos.is_multiple_of(RECORD_ALIGN) {
                // Only a broken producer (or its attach reply) can cause this.
                return Err(Error::Protocol(format!("misaligned position {}", self.pos)));
            }
            if self.policy == Policy::Lag {
                page.pin.0.store(self.pos, SeqCst);
                let oldest = header.oldest.0.load(SeqCst);
                if self.pos < oldest {
                    // Lapped: what we had not read yet is gone. Resync at the
                    // oldest intact record; its sequence number tells the gap.
                    page.pin.0.store(NO_PIN, Release);
                    if !oldest.is_multiple_of(RECORD_ALIGN) {
                        return Err(Error::Protocol(format!(
                            "misaligned oldest position {oldest}"
                        )));
                    }
                    self.pos = oldest;
                    page.cursor.0.store(oldest, Release);
                    continue;
                }
            } else if head - self.pos > self.cap {
                return Err(Error::Protocol("producer ran past a consumer".into()));
            }
            let off = ring_offset(self.pos, self.cap);
            let (len, seq) = match self.newest_hint() {
                Some(hint) => hint,
                None => {
                    // SAFETY: off < cap, the record header is 16 bytes and the
                    // mapping is 2 * cap long; the header is made of atomics,
                    // valid for any bytes.
                    let rh = unsafe {
                        &*self
                            .shared
                            .seg
                            .data()
                            .add(off as usize)
                            .cast::<RecordHeader>()
                    };
                    (rh.len.load(Relaxed), rh.seq.load(Relaxed))
                }
            };
            let Some((len, next)) = check_record(self.pos, head, len, self.cap) else {
                self.unpin();
                return Err(Error::Protocol(format!(
                    "corrupt record header at position {}",
                    self.pos
                )));
            };
            if let Some(exp) = self.expected {
                if seq != exp {
                    self.unpin();
                    if self.policy == Policy::Lag && seq > exp {
                        self.expected = Some(seq);
                        return Err(Error::Gap {
                            first: exp,
                            next: seq,
                        });
                    }
                    return Err(Error::Protocol(format!(
                        "record sequence jumped from {exp} to {seq}"
                    )));
                }
            }
            return Ok(Some(RawRecord {
                // SAFETY: inside the double mapping, as above (off + 16 + len <= 2 * cap).
                ptr: unsafe { self.shared.seg.data().add((off + RECORD_HEADER) as usize) },
                len: len as usize,
                seq,
                next,
            }));
        }
    }

    /// The length and sequence number of the record at our position, if it
    /// is the newest one: then the head line, which we just fetched, already
    /// says so. (Untrusted like any header: checked by the caller.)
    fn newest_hint(&self) -> Option<(u32, u64)> {
        let line = &self.shared.seg.header().head.0;
        let v1 = line.version.load(Acquire);
        if v1 % 2 == 1 {
            return None;
        }
        let start = line.last_start.load(Relaxed);
        let len = line.last_len.load(Relaxed);
        let next_seq = line.seq.load(Relaxed);
        fence(Acquire);
        if line.version.load(Relaxed) != v1 || start != self.pos || next_seq == 0 {
            return None;
        }
        Some((u32::try_from(len).ok()?, next_seq - 1))
    }

    fn unpin(&self) {
        if self.policy == Policy::Lag {
            self.cursor.page().pin.0.store(NO_PIN, Release);
        }
    }

    /// Keeps a polled record past its use: it is released by
    /// [`release_held`](Self::release_held) or before the next poll.
    pub fn hold(&mut self, rec: RawRecord) {
        self.held = Some((rec.seq, rec.next));
    }

    /// Releases a record kept with [`hold`](Self::hold), if any.
    pub fn release_held(&mut self) {
        if let Some((seq, next)) = self.held.take() {
            self.release_to(seq, next);
        }
    }

    /// Releases a record returned by [`poll`](Self::poll), letting the producer reuse its space.
    pub fn release(&mut self, rec: &RawRecord) {
        self.release_to(rec.seq, rec.next);
    }

    fn release_to(&mut self, seq: u64, next: u64) {
        let page = self.cursor.page();
        self.pos = next;
        self.expected = Some(seq + 1);
        page.cursor.0.store(next, Release);
        if self.policy == Policy::Lag {
            page.pin.0.store(NO_PIN, Release);
        }
        // Pairs with the producer's fence between announcing it waits and
        // re-reading our cursor/pin.
        fence(SeqCst);
        if self
            .shared
            .seg
            .header()
            .meta
            .0
            .producer_waiting
            .load(Relaxed)
            != 0
        {
            platform::futex_wake(low_word(&page.cursor.0), 1);
            platform::futex_wake(low_word(&page.pin.0), 1);
        }
    }

    /// Whether `poll` would return something (a record or an error) right now.
    fn ready(&self) -> bool {
        let header = self.shared.seg.header();
        header.head.0.head.load(SeqCst) > self.pos
            || header.meta.0.closed.load(Relaxed) != 0
            || self.shared.dead.load(Relaxed)
    }

    /// Waits until `poll` has something: spins for the configured time, then
    /// parks on the ring's head. `Err(Timeout)` once `deadline` passes.
    pub fn wait(&mut self, deadline: Option<Instant>) -> Result<()> {
        let spin_until = Instant::now() + self.spin;
        let mut n: u32 = 0;
        while !self.spin.is_zero() {
            if self.ready() {
                return Ok(());
            }
            std::hint::spin_loop();
            n = n.wrapping_add(1);
            if n.is_multiple_of(64) && Instant::now() >= spin_until {
                break;
            }
        }
        let shared = Arc::clone(&self.shared);
        let head_word = &shared.seg.header().head.0.head;
        loop {
            let slice = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Error::Timeout);
                    }
                    (d - now).min(PARK_SLICE)
                }
                None => PARK_SLICE,
            };
            let expected = head_word.load(Relaxed);
            self.announce(WAIT_FUTEX);
            if self.ready() {
                self.cursor.page().waiting.0.store(0, Relaxed);
                return Ok(());
            }
            platform::futex_wait(low_word(head_word), expected as u32, Some(slice));
            self.cursor.page().waiting.0.store(0, Relaxed);
            if self.ready() {
                return Ok(());
            }
        }
    }

    /// Tells the producer we sleep (new park generation, so its wake is not
    /// coalesced away), then fences against its publish.
    fn announce(&mut self, mode: u32) {
        self.gen = self.gen.wrapping_add(1) & (u32::MAX >> WAIT_GEN_SHIFT);
        let w = (self.gen << WAIT_GEN_SHIFT) | mode;
        self.cursor.page().waiting.0.store(w, SeqCst);
    }

    /// Arms the eventfd for a poller: returns false (and stays disarmed) when
    /// data is already there, so the caller must not sleep.
    pub fn arm_eventfd(&mut self) -> bool {
        self.release_held();
        platform::eventfd_drain(self.shared.eventfd.as_fd());
        self.announce(WAIT_EVENTFD);
        if self.ready() {
            self.cursor.page().waiting.0.store(0, Relaxed);
            return false;
        }
        true
    }

    /// Clears any armed wait after the poller woke.
    pub fn disarm(&mut self) {
        self.cursor.page().waiting.0.store(0, Relaxed);
    }
}

#[cfg(test)]
mod hostile_producer {
    //! A producer may write anything into its header and records. Whatever
    //! it writes, a consumer returns records inside the ring or an error.
    use super::*;
    use crate::ring::layout::{Policy, RecordHeader, RECORD_HEADER};
    use crate::ring::segment::RingSegment;
    use proptest::prelude::*;

    const CAP: u64 = 4096;

    fn consumer(policy: Policy) -> (RingSegment, RingConsumer) {
        let seg = RingSegment::create(CAP, policy, 1).unwrap();
        let ro = RingSegment::open(seg.fd().try_clone().unwrap(), 1).unwrap();
        let shared = Arc::new(ConsumerShared {
            seg: ro,
            eventfd: platform::eventfd().unwrap(),
            dead: AtomicBool::new(false),
        });
        let c = RingConsumer::new(shared, CursorSegment::create().unwrap(), 0, 0);
        (seg, c)
    }

    proptest! {
        #[test]
        fn any_header_values_give_bounded_records_or_errors(
            head in any::<u64>(), oldest in any::<u64>(), lag in any::<bool>(),
            records in proptest::collection::vec((any::<u32>(), any::<u64>()), 1..8),
            offsets in proptest::collection::vec(0u64..CAP / 16, 1..8),
        ) {
            let (seg, mut c) = consumer(if lag { Policy::Lag } else { Policy::Block });
            for ((len, seq), off) in records.iter().zip(&offsets) {
                // SAFETY: off * 16 < CAP; the writable mapping is 2 * CAP long.
                let h = unsafe { &*seg.data().add((off * 16) as usize).cast::<RecordHeader>() };
                h.len.store(*len, Relaxed);
                h.seq.store(*seq, Relaxed);
            }
            seg.header().head.0.head.store(head, Release);
            seg.header().oldest.0.store(oldest, Release);
            for _ in 0..16 {
                match c.poll() {
                    Ok(Some(r)) => {
                        let base = c.shared.seg.data() as usize;
                        let p = r.ptr as usize;
                        prop_assert!(p >= base + RECORD_HEADER as usize);
                        prop_assert!(p + r.len <= base + 2 * CAP as usize);
                        c.release(&r);
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
