//! The typed producing end of a channel, and its loans.
//!
//! A record goes through type states: a [`Loan`] starts `Uninit` (a reserved
//! slot), becomes `Written` (the archive is in the slot, invisible to
//! consumers, and can be inspected in place), and is then committed or
//! abandoned. An uncommitted loan is never seen by any consumer, and you
//! cannot commit a slot you haven't written: that does not compile.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use rkyv::rancor;

use super::message::{Message, SlotWriter};
use super::receiver::Receiver;
use super::stream::StreamFanout;
use super::trust::Trust;
use crate::error::{Error, Result};
use crate::platform;
use crate::ring::consumer::{ConsumerShared, RingConsumer};
use crate::ring::producer::RingProducer;
use crate::ring::segment::{CursorSegment, RingSegment};
use crate::ring::subscribers::RingShared;
use crate::ring::Policy;

/// How a channel is built.
#[derive(Debug, Clone, Copy)]
pub struct ChannelConfig {
    /// Ring size in bytes: a power of two, at least a page. The largest
    /// record is this minus 16 bytes.
    pub capacity: u64,
    pub policy: Policy,
    /// How long a send may wait for consumers before `Error::Timeout`.
    pub send_timeout: Option<Duration>,
}

impl ChannelConfig {
    pub fn new(capacity: u64, policy: Policy) -> ChannelConfig {
        ChannelConfig {
            capacity,
            policy,
            send_timeout: None,
        }
    }
}

/// Everything a sender owns, independent of the record type.
pub(crate) struct SenderCore {
    pub(crate) ring: RingProducer,
    pub(crate) streams: Arc<StreamFanout>,
    pub(crate) epoch: u64,
    timeout: Option<Duration>,
    /// Committed records not yet published, copied for stream subscribers
    /// (copied at commit, because the ring may reuse their space before the
    /// next publish; sent at publish, like the ring makes them visible).
    unstreamed: Vec<(u64, Vec<u8>)>,
}

impl SenderCore {
    fn commit(&mut self, start: u64, len: usize, publish: bool) -> Result<u64> {
        let seq = self.ring.commit_local(start, len as u64);
        if !self.streams.is_empty() {
            // SAFETY: the record was just written and committed by us; it lies
            // inside the mapping and no one else writes it.
            let bytes = unsafe { std::slice::from_raw_parts(self.ring.payload_ptr(start), len) };
            self.unstreamed.push((seq, bytes.to_vec()));
        }
        if publish {
            self.publish()?;
        }
        Ok(seq)
    }

    /// Makes committed records visible: in the ring, and on the streams.
    fn publish(&mut self) -> Result<()> {
        self.ring.publish();
        if self.unstreamed.is_empty() {
            return Ok(());
        }
        let policy = self.ring.shared().seg.policy();
        for (seq, bytes) in std::mem::take(&mut self.unstreamed) {
            self.streams.push(seq, bytes, policy, self.timeout)?;
        }
        Ok(())
    }
}

impl Drop for SenderCore {
    fn drop(&mut self) {
        let _ = self.publish();
    }
}

/// The producing end of a channel of `T`.
pub struct Sender<T> {
    pub(crate) core: SenderCore,
    _t: PhantomData<fn(&T)>,
}

impl<T: Message> Sender<T> {
    /// A new channel with no consumer yet.
    pub fn new(cfg: ChannelConfig) -> Result<Sender<T>> {
        Self::with_epoch(cfg, platform::process_epoch())
    }

    pub(crate) fn with_epoch(cfg: ChannelConfig, epoch: u64) -> Result<Sender<T>> {
        let seg = RingSegment::create(cfg.capacity, cfg.policy, epoch)?;
        let mut ring = RingProducer::new(Arc::new(RingShared::new(seg)));
        ring.set_timeout(cfg.send_timeout);
        Ok(Sender {
            core: SenderCore {
                ring,
                streams: Arc::new(StreamFanout::default()),
                epoch,
                timeout: cfg.send_timeout,
                unstreamed: Vec::new(),
            },
            _t: PhantomData,
        })
    }

    /// Reserves a slot for the next record.
    pub fn loan(&mut self) -> Loan<'_, T, Uninit> {
        let start = self.core.ring.begin();
        Loan {
            core: &mut self.core,
            start,
            state: Uninit,
            _t: PhantomData,
        }
    }

    /// Serializes `value` into the ring and publishes it. Returns its sequence number.
    pub fn send(&mut self, value: &T) -> Result<u64> {
        self.loan().write(value)?.commit()
    }

    /// Like [`send`](Self::send) but leaves the record unpublished until
    /// [`flush`](Self::flush) (or the next publish): one head store and at
    /// most one wake for a whole batch.
    pub fn send_deferred(&mut self, value: &T) -> Result<u64> {
        self.loan().write(value)?.commit_deferred()
    }

    /// Publishes deferred records and wakes parked consumers. (Fails only
    /// for stream subscribers: `Timeout` when a `Block` stream stays full.)
    pub fn flush(&mut self) -> Result<()> {
        self.core.publish()
    }

    /// What the producer did so far: records, bytes, publishes, wakes, waits.
    pub fn stats(&self) -> crate::ring::producer::ProducerStats {
        self.core.ring.stats()
    }

    /// Consumers (through shared memory) parked right now, waiting for a record.
    pub fn parked_consumers(&self) -> usize {
        self.core.ring.parked_consumers()
    }

    /// Bytes published but not yet released by the slowest consumer, and the
    /// ring's capacity.
    pub fn occupancy(&self) -> (u64, u64) {
        (self.core.ring.occupancy(), self.core.ring.capacity())
    }

    /// Largest record payload this channel carries.
    pub fn max_record(&self) -> u64 {
        self.core.ring.max_payload()
    }

    /// Consumers attached through shared memory, plus stream subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.core.ring.shared().subscriber_count() + self.core.streams.len()
    }

    /// A consumer in this same process (for in-process wiring and tests): the
    /// same ring and protocol, only without a socket in between.
    pub fn subscribe_local(&self, trust: Trust) -> Result<Receiver<T>> {
        let shared = self.core.ring.shared();
        let ring_fd = shared.seg.fd().try_clone()?;
        let seg = RingSegment::open(ring_fd, self.core.epoch)?;
        let cursor = CursorSegment::create()?;
        let producer_view = CursorSegment::open(cursor.fd().try_clone()?)?;
        let eventfd = platform::eventfd()?;
        let producer_eventfd = eventfd.try_clone()?;
        let at = shared.add(producer_view, Some(producer_eventfd));
        let consumer = Arc::new(ConsumerShared {
            seg,
            eventfd,
            dead: Default::default(),
        });
        Ok(Receiver::from_ring(
            RingConsumer::new(consumer, cursor, at.start, at.start_seq),
            trust,
            at.start_seq,
        ))
    }

    pub(crate) fn shared(&self) -> &Arc<RingShared> {
        self.core.ring.shared()
    }

    /// The ring's memfd (sealed: whoever receives it can only map it read-only).
    pub fn segment_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(self.core.ring.shared().seg.fd())
    }
}

/// A reserved slot: nothing written yet.
pub struct Uninit;
/// A written slot, not yet visible to consumers.
pub struct Written {
    len: usize,
}

/// A ring slot on loan to the producer. See the module docs for its states.
#[must_use = "a loan does nothing until written and committed"]
pub struct Loan<'s, T, S> {
    core: &'s mut SenderCore,
    start: u64,
    state: S,
    _t: PhantomData<fn(&T)>,
}

impl<'s, T: Message> Loan<'s, T, Uninit> {
    /// Serializes `value` straight into the slot.
    pub fn write(self, value: &T) -> Result<Loan<'s, T, Written>> {
        let Loan { core, start, .. } = self;
        let mut failure = None;
        let writer = SlotWriter::new(&mut core.ring, start, &mut failure);
        let len = match rkyv::api::high::to_bytes_in::<_, rancor::Error>(value, writer) {
            Ok(w) => w.written(),
            // rkyv sees a failed slot write as its own error; ours is kept aside.
            Err(e) => return Err(failure.unwrap_or(Error::InvalidArchive(e.to_string()))),
        };
        Ok(Loan {
            core,
            start,
            state: Written { len },
            _t: PhantomData,
        })
    }

    /// Writes a record from parts: `fill` gets a buffer of `max_len` bytes
    /// in the slot (16-byte aligned) and returns how many it used. For
    /// archives built by hand, such as a block archived from wire bytes.
    pub fn write_with<E>(
        self,
        max_len: usize,
        fill: impl FnOnce(&mut [u8]) -> std::result::Result<usize, E>,
    ) -> Result<Loan<'s, T, Written>, WriteError<E>> {
        let Loan { core, start, .. } = self;
        core.ring
            .ensure(start, max_len as u64)
            .map_err(WriteError::Channel)?;
        // SAFETY: `ensure` reserved max_len bytes of payload at this slot, which
        // no consumer reads (past the head) and no one else writes.
        let buf = unsafe { std::slice::from_raw_parts_mut(core.ring.payload_ptr(start), max_len) };
        let len = fill(buf).map_err(WriteError::Fill)?;
        if len > max_len {
            return Err(WriteError::Channel(Error::Config(format!(
                "filled {len} bytes into a {max_len}-byte slot"
            ))));
        }
        Ok(Loan {
            core,
            start,
            state: Written { len },
            _t: PhantomData,
        })
    }
}

/// Failure of [`Loan::write_with`]: the channel's, or the filler's own.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E> {
    #[error(transparent)]
    Channel(Error),
    #[error("filling the slot failed: {0:?}")]
    Fill(E),
}

impl<'s, T: Message> Loan<'s, T, Written> {
    /// The record's bytes, in place.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the slot holds `len` bytes we wrote; only we write it until
        // it is committed, and the borrow ends before that.
        unsafe {
            std::slice::from_raw_parts(self.core.ring.payload_ptr(self.start), self.state.len)
        }
    }

    /// The archive, validated in place (for records written from parts).
    pub fn access(&self) -> Result<&T::Archived> {
        rkyv::access::<T::Archived, rancor::Error>(self.bytes())
            .map_err(|e| Error::InvalidArchive(e.to_string()))
    }

    /// Publishes the record and wakes parked consumers. Returns its sequence number.
    pub fn commit(self) -> Result<u64> {
        self.core.commit(self.start, self.state.len, true)
    }

    /// Commits without publishing yet; see [`Sender::send_deferred`].
    pub fn commit_deferred(self) -> Result<u64> {
        self.core.commit(self.start, self.state.len, false)
    }

    /// Drops the record: no consumer ever sees it.
    pub fn abandon(self) {}
}
