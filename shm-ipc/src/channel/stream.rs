//! The stream fallback: where shared memory is impossible (TCP, maybe another
//! machine), records travel as length-prefixed archives. The producer still
//! writes each record once, into its own ring slot; the bytes are then copied
//! to each stream subscriber's queue, and the connection's writer sends them.
//! The receiver reads them into an aligned private buffer and validates them.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver as QueueRx, RecvTimeoutError, Sender as QueueTx, TrySendError};
use rkyv::util::AlignedVec;

use crate::error::{Error, Result};
use crate::ring::Policy;

/// An outgoing record for one stream subscriber.
pub struct OutFrame {
    pub channel: u32,
    pub seq: u64,
    pub bytes: Vec<u8>,
}

/// An incoming record, aligned for in-place rkyv access.
pub struct InFrame {
    pub seq: u64,
    pub bytes: AlignedVec<16>,
}

struct StreamSub {
    channel: u32,
    tx: QueueTx<OutFrame>,
    alive: Arc<AtomicBool>,
}

/// A sender's stream subscribers.
#[derive(Default)]
pub struct StreamFanout {
    subs: Mutex<Vec<StreamSub>>,
    count: AtomicUsize,
}

impl StreamFanout {
    pub fn add(&self, channel: u32, tx: QueueTx<OutFrame>, alive: Arc<AtomicBool>) {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        subs.push(StreamSub { channel, tx, alive });
        self.count.store(subs.len(), Ordering::Release);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Queues a committed record (the caller's own copy of its bytes) for
    /// every stream subscriber. `Block` waits for queue room (up to
    /// `timeout`); `Lag` drops the record for a full subscriber, which sees
    /// the gap in the sequence numbers.
    pub fn push(
        &self,
        seq: u64,
        bytes: Vec<u8>,
        policy: Policy,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let mut subs = self.subs.lock().unwrap_or_else(|p| p.into_inner());
        let mut result = Ok(());
        // The last subscriber takes the caller's copy; only the others clone it.
        let mut owned = Some(bytes);
        let n = subs.len();
        let mut i = 0;
        subs.retain(|s| {
            i += 1;
            if !s.alive.load(Ordering::Acquire) {
                return false;
            }
            let bytes = if i == n {
                owned.take().unwrap_or_default()
            } else {
                owned.as_ref().map(|b| b.to_vec()).unwrap_or_default()
            };
            let frame = OutFrame {
                channel: s.channel,
                seq,
                bytes,
            };
            match policy {
                Policy::Lag => !matches!(s.tx.try_send(frame), Err(TrySendError::Disconnected(_))),
                Policy::Block => {
                    let r = match timeout {
                        Some(t) => s.tx.send_timeout(frame, t).map_err(|e| e.is_timeout()),
                        None => s.tx.send(frame).map_err(|_| false),
                    };
                    match r {
                        Ok(()) => true,
                        Err(true) => {
                            result = Err(Error::Timeout);
                            true
                        }
                        Err(false) => false,
                    }
                }
            }
        });
        self.count.store(subs.len(), Ordering::Release);
        result
    }
}

/// The receiving end of a stream channel: frames routed to it by its
/// connection's reader thread.
pub struct StreamConsumer {
    rx: QueueRx<InFrame>,
    current: Option<InFrame>,
    /// The current frame was kept past its record (see `Record::keep`).
    held: bool,
    expected: Option<u64>,
    dead: Arc<AtomicBool>,
    eventfd: Arc<std::os::fd::OwnedFd>,
}

impl StreamConsumer {
    pub fn new(
        rx: QueueRx<InFrame>,
        dead: Arc<AtomicBool>,
        eventfd: Arc<std::os::fd::OwnedFd>,
    ) -> Self {
        StreamConsumer {
            rx,
            current: None,
            held: false,
            expected: None,
            dead,
            eventfd,
        }
    }

    pub fn eventfd(&self) -> &std::os::fd::OwnedFd {
        &self.eventfd
    }

    /// The next frame, waiting up to `timeout` (`Some(ZERO)`: don't wait).
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<&InFrame>> {
        if self.held {
            self.release();
        }
        if self.current.is_none() {
            let got = match timeout {
                Some(t) if t.is_zero() => self.rx.try_recv().map_err(|e| e.is_disconnected()),
                Some(t) => self
                    .rx
                    .recv_timeout(t)
                    .map_err(|e| e == RecvTimeoutError::Disconnected),
                None => self.rx.recv().map_err(|_| true),
            };
            match got {
                Ok(f) => self.current = Some(f),
                Err(true) => {
                    return Err(if self.dead.load(Ordering::Acquire) {
                        Error::PeerDied
                    } else {
                        Error::Closed
                    })
                }
                Err(false) if timeout.is_some_and(|t| !t.is_zero()) => return Err(Error::Timeout),
                Err(false) => return Ok(None),
            }
        }
        let Some(frame) = self.current.as_ref() else {
            return Ok(None);
        };
        if let Some(exp) = self.expected {
            if frame.seq != exp {
                let seq = frame.seq;
                self.expected = Some(seq);
                if seq > exp {
                    return Err(Error::Gap {
                        first: exp,
                        next: seq,
                    });
                }
                self.current = None;
                return Err(Error::Protocol(format!(
                    "stream sequence went back from {exp} to {seq}"
                )));
            }
        }
        Ok(self.current.as_ref())
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Keeps the current frame until the next `next` (or `release`).
    pub fn hold(&mut self) {
        self.held = self.current.is_some();
    }

    /// Drops the current frame after use.
    pub fn release(&mut self) {
        self.held = false;
        if let Some(f) = self.current.take() {
            self.expected = Some(f.seq + 1);
        }
    }
}
