//! The producer's view of its consumers: their cursor pages (read-only) and
//! the bookkeeping to wake them. The set changes while the producer runs
//! (attach, death), so it is published as a versioned snapshot that the
//! producer picks up with one atomic load per record.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

use super::layout::{low_word, CursorPage};
use super::segment::{CursorSegment, RingSegment};
use crate::platform;

/// One consumer, as its producer sees it.
pub struct Subscriber {
    pub(crate) id: u64,
    cursor: CursorSegment,
    /// Position the consumer was told to start at; its cursor counts from here.
    floor: u64,
    eventfd: Option<OwnedFd>,
    /// Highest cursor seen so far: a consumer's cursor never goes back, even
    /// if a hostile one writes a smaller value.
    seen: AtomicU64,
    /// The `waiting` value last woken, so repeated publishes wake a parked
    /// consumer once (wakes are coalesced).
    pub(crate) last_woken: AtomicU32,
    pub(crate) alive: AtomicBool,
}

impl Subscriber {
    pub fn page(&self) -> &CursorPage {
        self.cursor.page()
    }

    /// Everything before the returned position is released by this consumer.
    /// Clamped to `[floor, head]` and never decreasing, whatever the consumer wrote.
    pub fn released(&self, head: u64) -> u64 {
        let c = self
            .page()
            .cursor
            .0
            .load(Acquire)
            .clamp(self.floor, head.max(self.floor));
        let seen = self.seen.load(Relaxed).max(c);
        self.seen.store(seen, Relaxed);
        seen
    }

    pub fn eventfd(&self) -> Option<&OwnedFd> {
        self.eventfd.as_ref()
    }

    /// Wakes a producer parked on this consumer's words (used when the
    /// consumer dies, so the producer notices at once).
    pub fn wake_producer(&self) {
        platform::futex_wake(low_word(&self.page().cursor.0), i32::MAX);
        platform::futex_wake(low_word(&self.page().pin.0), i32::MAX);
    }
}

pub type Snapshot = Arc<Vec<Arc<Subscriber>>>;

/// Where a newly attached consumer starts.
#[derive(Debug, Clone, Copy)]
pub struct Attached {
    pub id: u64,
    pub start: u64,
    pub start_seq: u64,
}

/// A ring shared between its producer and the threads that attach consumers.
pub struct RingShared {
    pub seg: RingSegment,
    list: Mutex<Snapshot>,
    version: AtomicU64,
    next_id: AtomicU64,
}

impl RingShared {
    pub fn new(seg: RingSegment) -> RingShared {
        RingShared {
            seg,
            list: Mutex::new(Arc::new(Vec::new())),
            version: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// The published head and the sequence number of the record that starts there.
    pub fn head_and_seq(&self) -> (u64, u64) {
        let line = &self.seg.header().head.0;
        loop {
            let v1 = line.version.load(Acquire);
            if v1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let head = line.head.load(Acquire);
            let seq = line.seq.load(Acquire);
            fence(Acquire);
            if line.version.load(Relaxed) == v1 {
                return (head, seq);
            }
        }
    }

    /// Adds a consumer. Returns its id, the position it must start at (the
    /// current published head, always a record boundary) and the sequence
    /// number of the record that will start there.
    pub fn add(&self, cursor: CursorSegment, eventfd: Option<OwnedFd>) -> Attached {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        let (floor, seq) = self.head_and_seq();
        let id = self.next_id.fetch_add(1, Relaxed);
        let sub = Arc::new(Subscriber {
            id,
            cursor,
            floor,
            eventfd,
            seen: AtomicU64::new(floor),
            last_woken: AtomicU32::new(0),
            alive: AtomicBool::new(true),
        });
        let mut next: Vec<_> = list.iter().cloned().collect();
        next.push(sub);
        *list = Arc::new(next);
        self.version.fetch_add(1, Release);
        Attached {
            id,
            start: floor,
            start_seq: seq,
        }
    }

    /// Removes a consumer (it died or detached) and wakes the producer in case
    /// it was waiting for that consumer.
    pub fn remove(&self, id: u64) {
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        let mut gone = None;
        let next: Vec<_> = list
            .iter()
            .filter(|s| {
                if s.id == id {
                    gone = Some(Arc::clone(s));
                    false
                } else {
                    true
                }
            })
            .cloned()
            .collect();
        *list = Arc::new(next);
        self.version.fetch_add(1, Release);
        drop(list);
        if let Some(s) = gone {
            s.alive.store(false, Release);
            s.wake_producer();
        }
    }

    pub fn version(&self) -> u64 {
        self.version.load(Acquire)
    }

    pub fn snapshot(&self) -> (Snapshot, u64) {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        (Arc::clone(&list), self.version.load(Acquire))
    }

    pub fn subscriber_count(&self) -> usize {
        self.list.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
