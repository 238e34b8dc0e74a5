//! The producing side of a ring: reserve space, write a record in place,
//! commit it locally, publish, and wake parked consumers.
//!
//! Single producer: one `RingProducer` per ring, used from one thread at a
//! time (`&mut self`). No lock is ever taken in shared memory.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use std::sync::atomic::{fence, AtomicU32};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::layout::{
    fits, low_word, max_payload, record_span, ring_offset, HeadLine, Policy, RecordHeader, NO_PIN,
    RECORD_HEADER, WAIT_EVENTFD, WAIT_FUTEX,
};
use super::subscribers::{RingShared, Snapshot, Subscriber};
use crate::error::{Error, Result};
use crate::platform;

/// How long a producer spins before it parks while waiting for space.
const SPIN_BEFORE_PARK: Duration = Duration::from_micros(50);
/// Longest single park; the producer re-checks the consumer set after it.
const PARK_SLICE: Duration = Duration::from_millis(50);

/// Counters of what a producer did (for monitoring and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerStats {
    pub records: u64,
    pub bytes: u64,
    /// Publishes (head stores): fewer than records when batched.
    pub publishes: u64,
    /// Wake-up system calls (futex wakes and eventfd signals) sent.
    pub wakes: u64,
    /// Times the producer had to wait for consumers (Block) or a pin (Lag).
    pub waits: u64,
}

pub struct RingProducer {
    stats: ProducerStats,
    shared: Arc<RingShared>,
    cap: u64,
    policy: Policy,
    /// End of the last committed record (published or not).
    committed: u64,
    /// Head value consumers can see.
    published: u64,
    next_seq: u64,
    /// Start and payload length of the newest committed record.
    last_start: u64,
    last_len: u64,
    /// `Block`: a write ending at or before this position is safe.
    limit: u64,
    snapshot: Snapshot,
    snap_version: u64,
    /// `Lag`: start positions of the records still in the ring, oldest first.
    records: VecDeque<u64>,
    oldest: u64,
    timeout: Option<Duration>,
}

impl RingProducer {
    pub fn new(shared: Arc<RingShared>) -> RingProducer {
        let cap = shared.seg.capacity();
        let policy = shared.seg.policy();
        let (snapshot, snap_version) = shared.snapshot();
        RingProducer {
            stats: ProducerStats::default(),
            shared,
            cap,
            policy,
            committed: 0,
            published: 0,
            next_seq: 0,
            last_start: 0,
            last_len: 0,
            limit: 0,
            snapshot,
            snap_version,
            records: VecDeque::new(),
            oldest: 0,
            timeout: None,
        }
    }

    pub fn shared(&self) -> &Arc<RingShared> {
        &self.shared
    }

    /// Largest payload one record can carry.
    pub fn max_payload(&self) -> u64 {
        max_payload(self.cap)
    }

    /// How long a `Block` send waits for consumers before `Error::Timeout`
    /// (and a `Lag` send for a consumer holding a record). `None`: forever.
    pub fn set_timeout(&mut self, t: Option<Duration>) {
        self.timeout = t;
    }

    /// Where the next record starts. Picks up consumer-set changes first.
    pub fn begin(&mut self) -> u64 {
        self.refresh();
        self.committed
    }

    /// Address of the payload of a record starting at `start`.
    pub fn payload_ptr(&self, start: u64) -> *mut u8 {
        let off = ring_offset(start, self.cap) + RECORD_HEADER;
        // SAFETY: off < cap + 16 and the data mapping is 2 * cap long.
        unsafe { self.shared.seg.data().add(off as usize) }
    }

    /// Makes sure a record starting at `start` with a payload of `len` bytes
    /// can be written without damaging anything a consumer may still read.
    /// `Block` waits for consumers; `Lag` reclaims the oldest records.
    pub fn ensure(&mut self, start: u64, len: u64) -> Result<()> {
        if len > self.max_payload() {
            return Err(Error::RecordTooLarge {
                size: len,
                capacity: self.max_payload(),
            });
        }
        let end = start + record_span(len);
        match self.policy {
            Policy::Block if end <= self.limit => Ok(()),
            Policy::Block => self.wait_for_space(end),
            Policy::Lag => self.reclaim(start, end),
        }
    }

    /// Writes the record header and counts the record as committed. It is
    /// visible to consumers after the next [`publish`](Self::publish).
    pub fn commit_local(&mut self, start: u64, len: u64) -> u64 {
        debug_assert_eq!(start, self.committed);
        let off = ring_offset(start, self.cap);
        // SAFETY: the header lies inside the record's reserved span (ensured);
        // RECORD_HEADER-aligned; only this producer writes it.
        let h = unsafe {
            &*self
                .shared
                .seg
                .data()
                .add(off as usize)
                .cast::<RecordHeader>()
        };
        let seq = self.next_seq;
        h.len.store(len as u32, Relaxed);
        h.seq.store(seq, Relaxed);

        if self.policy == Policy::Lag {
            self.records.push_back(start);
        }
        self.committed = start + record_span(len);
        self.last_start = start;
        self.last_len = len;
        self.next_seq += 1;
        self.stats.records += 1;
        self.stats.bytes += len;
        seq
    }

    /// Makes every committed record visible and wakes consumers that are parked.
    pub fn publish(&mut self) {
        if self.committed == self.published {
            return;
        }
        let line = &self.shared.seg.header().head.0;
        let v = line.version.load(Relaxed);
        line.version.store(v + 1, Relaxed);
        fence(Release);
        line.head.store(self.committed, Release);
        line.seq.store(self.next_seq, Relaxed);
        line.last_start.store(self.last_start, Relaxed);
        line.last_len.store(self.last_len, Relaxed);
        line.version.store(v + 2, Release);
        self.demote_newest();
        self.published = self.committed;
        self.stats.publishes += 1;
        self.refresh();
        if self.snapshot.is_empty() {
            return;
        }
        // Pairs with the consumer's fence between announcing it parks and
        // re-reading head: either it sees the new head, or we see it waiting.
        fence(SeqCst);
        self.stats.wakes += self.wake_parked();
    }

    /// Hands the lines a consumer reads first (the head line, the newest
    /// record's header and the end of its archive, where rkyv puts the root)
    /// to the shared cache, so its reads don't snoop our core. Once per
    /// publish, not per record: a batch keeps its lines while being written.
    fn demote_newest(&self) {
        let header = self.shared.seg.header();
        platform::demote_line((&header.head.0 as *const HeadLine).cast());
        let rec = self.payload_ptr(self.last_start);
        // SAFETY: the newest record spans [rec - 16, rec + last_len) inside
        // the double mapping; both addresses are inside it.
        unsafe {
            platform::demote_line(rec.sub(RECORD_HEADER as usize));
            if self.last_len > 0 {
                platform::demote_line(rec.add(self.last_len as usize - 1));
            }
        }
    }

    /// Wakes the consumers that announced a park we haven't woken yet.
    /// Returns the number of wake-up system calls made.
    fn wake_parked(&self) -> u64 {
        let head = &self.shared.seg.header().head.0.head;
        let mut calls = 0;
        let mut futex_woken = false;
        for sub in self.snapshot.iter() {
            let w = sub.page().waiting.0.load(Relaxed);
            if w == 0 || w == sub.last_woken.load(Relaxed) {
                continue;
            }
            sub.last_woken.store(w, Relaxed);
            if w & WAIT_EVENTFD != 0 {
                if let Some(fd) = sub.eventfd() {
                    platform::eventfd_signal(std::os::fd::AsFd::as_fd(fd));
                    calls += 1;
                }
            }
            if w & WAIT_FUTEX != 0 && !futex_woken {
                platform::futex_wake(low_word(head), i32::MAX);
                futex_woken = true;
                calls += 1;
            }
        }
        calls
    }

    /// Consumers parked right now, waiting for a record.
    pub fn parked_consumers(&self) -> usize {
        let (snapshot, _) = self.shared.snapshot();
        snapshot
            .iter()
            .filter(|s| s.page().waiting.0.load(Relaxed) != 0)
            .count()
    }

    pub fn stats(&self) -> ProducerStats {
        self.stats
    }

    /// Bytes between the slowest consumer and the head (how full the ring is).
    pub fn occupancy(&self) -> u64 {
        self.slowest().map_or(0, |(r, _)| self.published - r)
    }

    pub fn capacity(&self) -> u64 {
        self.cap
    }

    /// Records published so far.
    pub fn published_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn has_unpublished(&self) -> bool {
        self.committed != self.published
    }

    fn refresh(&mut self) {
        if self.shared.version() != self.snap_version {
            let (s, v) = self.shared.snapshot();
            self.snapshot = s;
            self.snap_version = v;
            self.limit = 0; // recompute against the new set
        }
    }

    /// The slowest live consumer's released position and the consumer itself.
    fn slowest(&self) -> Option<(u64, Arc<Subscriber>)> {
        self.snapshot
            .iter()
            .filter(|s| s.alive.load(Relaxed))
            .map(|s| (s.released(self.published), Arc::clone(s)))
            .min_by_key(|(r, _)| *r)
    }

    fn wait_for_space(&mut self, end: u64) -> Result<()> {
        let started = Instant::now();
        loop {
            self.refresh();
            // With no consumer, keep what is published: a consumer attaching
            // now starts there.
            let slow = self.slowest();
            let keep_from = slow.as_ref().map_or(self.published, |(r, _)| *r);
            self.limit = keep_from + self.cap;
            if fits(end, keep_from, self.cap) {
                return Ok(());
            }
            if self.has_unpublished() {
                // Consumers can't free space for records they can't see.
                self.publish();
                continue;
            }
            let Some((_, sub)) = slow else { continue };
            if let Some(t) = self.timeout {
                if started.elapsed() >= t {
                    return Err(Error::Timeout);
                }
            }
            if started.elapsed() < SPIN_BEFORE_PARK {
                std::hint::spin_loop();
                continue;
            }
            let (published, cap) = (self.published, self.cap);
            self.park_on(low_word(&sub.page().cursor.0), || {
                sub.alive.load(Relaxed) && !fits(end, sub.released(published), cap)
            });
        }
    }

    /// Parks on a consumer's word while `still_blocked` holds, announcing it
    /// in the header so the consumer knows to wake us.
    fn park_on(&mut self, word: &AtomicU32, still_blocked: impl Fn() -> bool) {
        self.stats.waits += 1;
        let meta = &self.shared.seg.header().meta.0;
        let expected = word.load(Relaxed);
        meta.producer_waiting.store(1, SeqCst);
        // Pairs with the consumer's fence between moving its cursor/pin and
        // reading `producer_waiting`.
        fence(SeqCst);
        if still_blocked() && self.shared.version() == self.snap_version {
            platform::futex_wait(word, expected, Some(PARK_SLICE));
        }
        meta.producer_waiting.store(0, Relaxed);
    }

    fn reclaim(&mut self, start: u64, end: u64) -> Result<()> {
        let keep_from = end.saturating_sub(self.cap);
        if keep_from <= self.oldest {
            return Ok(());
        }
        while let Some(&front) = self.records.front() {
            if front >= keep_from {
                break;
            }
            self.records.pop_front();
        }
        let new_oldest = self.records.front().copied().unwrap_or(start);
        if new_oldest > self.published {
            self.publish(); // oldest never runs ahead of head
        }
        self.oldest = new_oldest;
        self.shared.seg.header().oldest.0.store(new_oldest, SeqCst);
        // Pairs with the consumer's pin-then-check: either it sees the new
        // `oldest` and backs off, or we see its pin and wait for it.
        fence(SeqCst);
        self.refresh();
        let started = Instant::now();
        let snapshot = Arc::clone(&self.snapshot);
        for sub in snapshot.iter() {
            let pin = &sub.page().pin.0;
            loop {
                let p = pin.load(SeqCst);
                if p == NO_PIN || p >= new_oldest || !sub.alive.load(Relaxed) {
                    break;
                }
                if let Some(t) = self.timeout {
                    if started.elapsed() >= t {
                        return Err(Error::Timeout);
                    }
                }
                if started.elapsed() < SPIN_BEFORE_PARK {
                    std::hint::spin_loop();
                    continue;
                }
                self.park_on(low_word(pin), || pin.load(SeqCst) == p);
            }
        }
        Ok(())
    }

    /// Marks the ring closed and wakes every consumer.
    pub fn close(&mut self) {
        self.publish();
        let header = self.shared.seg.header();
        header.meta.0.closed.store(1, SeqCst);
        platform::futex_wake(low_word(&header.head.0.head), i32::MAX);
        for sub in self.snapshot.iter() {
            if let Some(fd) = sub.eventfd() {
                platform::eventfd_signal(std::os::fd::AsFd::as_fd(fd));
            }
        }
    }
}

impl Drop for RingProducer {
    fn drop(&mut self) {
        self.close();
    }
}
