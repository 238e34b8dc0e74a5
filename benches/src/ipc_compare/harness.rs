//! The two measurements, identical for every transport.
//!
//! # Latency: the timed handoff
//!
//! A ping-pong between parent and child; each side answers with a message of
//! the same payload size. For every round:
//!
//! 1. Untimed: each side *prepares* its next message in its transport's
//!    send form ([`PingPong::prepare`]): postcard bytes with their length
//!    prefix for the socket-style paths, a loaned and written sample for
//!    iceoryx2, a built message for capnp, an archive ready to publish for
//!    shm-ipc. The child then signals "ready" on the [`SyncChannel`] and
//!    goes into its receive; the parent waits for that signal (and, in
//!    blocking mode, until the child is actually asleep in the kernel, see
//!    [`SyncChannel::wait_peer_asleep`]).
//! 2. Timed: the parent reads the clock, [`PingPong::send`]s, and
//!    [`PingPong::recv`]s the child's answer; the child, meanwhile, receives
//!    the ping and sends its prepared answer. The clock stops when the
//!    parent holds a **usable** value: a deserialized `BlockPayload`, or a
//!    reference it can read the items from (a capnp reader root, an rkyv
//!    archive in place).
//! 3. One-way latency = round trip / 2. p50 and p99 are taken over the
//!    rounds after a warm-up.
//!
//! So serialization of the outgoing message is *not* in the latency (it is
//! in the throughput), deserialization / validation / access of the incoming
//! one *is*.
//!
//! # Throughput
//!
//! A one-way stream parent → child. The parent ([`Producer`]) sends every
//! message from the `BlockPayload` value (serialization counted); the child
//! ([`Consumer`]) makes each one usable. After a warm-up that the child
//! acknowledges, the parent sends for the time budget, tells the child the
//! total (the side channel's `limit`, stored before the last send), and
//! stops the clock when the child reports it has made the last message
//! usable. `msgs_per_s = messages / elapsed`; the table derives
//! `bytes_per_s = msgs_per_s × payload_bytes`. A producer may batch
//! ([`Producer::flush`] is called before waiting for the child).
//!
//! # Modes
//!
//! `spin`: receivers busy-poll (non-blocking reads, `try_recv` loops).
//! `blocking`: receivers sleep in the kernel (blocking read, futex, condvar).
//! The harness itself only ever spins on the side channel between rounds
//! (outside the clock), except that it waits for the final throughput ack
//! in the case's mode.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::payload::BlockPayload;
use super::stats::{LatencyStats, ThroughputStats};
use super::sync::SyncChannel;
use super::{Case, Measurement, Mode, TestKind};

/// One side of the latency ping-pong. Both processes use the same
/// implementation type, usually.
pub trait PingPong {
    /// Untimed: builds this side's next outgoing message in its send form
    /// (and may release the previously received value).
    fn prepare(&mut self) -> Result<()>;
    /// Timed: sends the prepared message.
    fn send(&mut self) -> Result<()>;
    /// Timed: receives the peer's message and makes it usable (see the
    /// module docs). Returns something derived from the value, e.g. the
    /// number of items, which the harness keeps from being optimized away.
    /// The implementation may keep the value until the next `prepare`.
    fn recv(&mut self) -> Result<usize>;
}

/// Sending side of the throughput stream.
pub trait Producer {
    /// Serializes `value` and sends it (both counted).
    fn send_value(&mut self, value: &BlockPayload) -> Result<()>;
    /// Pushes out anything batched. Called before waiting for the child.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Receiving side of the throughput stream.
pub trait Consumer {
    /// Receives one message and makes it usable; returns something derived
    /// from it (e.g. the item count).
    fn recv(&mut self) -> Result<usize>;
}

/// How long to wait, at most, for a blocking-mode child to fall asleep
/// before a timed round.
const ASLEEP_CAP: Duration = Duration::from_millis(2);

/// Parent side of the test `case` asks for: latency, or a throughput stream
/// of the case's payload.
pub fn run_parent<E: PingPong + Producer + ?Sized>(
    case: &Case<'_>,
    sync: &SyncChannel,
    ep: &mut E,
) -> Result<Measurement> {
    match case.test {
        TestKind::Latency => latency_parent(case, sync, ep),
        TestKind::Throughput => {
            let value = super::payload::make_payload(case.payload_bytes);
            throughput_parent(case, sync, &value, ep)
        }
    }
}

/// Child side of `test`.
pub fn run_child<E: PingPong + Consumer + ?Sized>(
    sync: &SyncChannel,
    test: TestKind,
    ep: &mut E,
) -> Result<()> {
    match test {
        TestKind::Latency => latency_child(sync, ep),
        TestKind::Throughput => throughput_child(sync, ep),
    }
}

/// Parent side of the latency test.
pub fn latency_parent<E: PingPong + ?Sized>(
    case: &Case<'_>,
    sync: &SyncChannel,
    ep: &mut E,
) -> Result<Measurement> {
    let cfg = case.cfg;
    let warmup_time = cfg.latency_budget / 10;
    let mut samples: Vec<u64> = Vec::with_capacity(1024);
    let mut total_rtt = Duration::ZERO;
    let start = Instant::now();
    let mut measure_start: Option<Instant> = None;
    let mut round: u32 = 0;
    loop {
        ep.prepare()?;
        sync.wait_peer_ready(round + 1)?;
        if case.mode == Mode::Blocking {
            sync.wait_peer_asleep(ASLEEP_CAP);
        }
        let warm = (round as usize) < cfg.latency_warmup || start.elapsed() < warmup_time;
        let last = !warm && {
            let ms = *measure_start.get_or_insert_with(Instant::now);
            let n = samples.len() + 1;
            n >= cfg.latency_max_samples
                || (n >= cfg.latency_min_samples && ms.elapsed() >= cfg.latency_budget)
        };
        if last {
            sync.set_limit(round + 1);
        }
        let t0 = Instant::now();
        ep.send()?;
        let v = ep.recv()?;
        let rtt = t0.elapsed();
        black_box(v);
        if !warm {
            samples.push((rtt.as_nanos() / 2) as u64);
            total_rtt += rtt;
        }
        round += 1;
        if last {
            break;
        }
    }
    ep.prepare()?; // release the last received value before teardown
    sync.signal_done();
    Ok(Measurement::Latency(LatencyStats::from_samples(
        samples, total_rtt,
    )))
}

/// Child side of the latency test: answers every ping until the parent's
/// limit, then waits for the parent to finish.
pub fn latency_child<E: PingPong + ?Sized>(sync: &SyncChannel, ep: &mut E) -> Result<()> {
    let mut round: u32 = 0;
    while round < sync.limit() {
        ep.prepare()?;
        sync.signal_ready(round + 1);
        black_box(ep.recv()?);
        ep.send()?;
        round += 1;
    }
    ep.prepare()?;
    sync.wait_done()
}

/// Parent side of the throughput test: streams `value` to the child.
pub fn throughput_parent<P: Producer + ?Sized>(
    case: &Case<'_>,
    sync: &SyncChannel,
    value: &BlockPayload,
    producer: &mut P,
) -> Result<Measurement> {
    let cfg = case.cfg;
    let warmup = warmup_messages(case.payload_bytes, cfg.quick);
    sync.set_warmup(warmup);
    sync.wait_peer_ready(1)?;
    for _ in 0..warmup {
        producer.send_value(value)?;
    }
    producer.flush()?;
    sync.wait_ack(1, case.mode)?;

    let t0 = Instant::now();
    let mut n: u32 = 0;
    loop {
        n += 1;
        let last = n >= cfg.throughput_max_msgs
            || (n >= cfg.throughput_min_msgs && t0.elapsed() >= cfg.throughput_budget);
        if last {
            sync.set_limit(warmup + n);
        }
        producer.send_value(value)?;
        if last {
            break;
        }
    }
    producer.flush()?;
    sync.wait_ack(2, case.mode)?;
    let elapsed = t0.elapsed();
    sync.signal_done();
    Ok(Measurement::Throughput(ThroughputStats {
        msgs: n as u64,
        elapsed,
    }))
}

/// Child side of the throughput test: consumes until the parent's limit.
/// Call once the consumer is set up (it signals ready itself).
pub fn throughput_child<C: Consumer + ?Sized>(sync: &SyncChannel, consumer: &mut C) -> Result<()> {
    sync.signal_ready(1);
    let mut received: u32 = 0;
    let mut warmup: Option<u32> = None;
    loop {
        black_box(consumer.recv()?);
        received += 1;
        // The parent stored the warm-up count before its first send.
        let w = *warmup.get_or_insert_with(|| sync.warmup());
        if received == w {
            sync.signal_ack(1);
        }
        if received >= sync.limit() {
            break;
        }
    }
    sync.signal_ack(2);
    sync.wait_done()
}

/// Warm-up messages of a throughput run: about 4 MiB worth (quick: 2 MiB),
/// between 2 and 200 messages.
pub fn warmup_messages(payload_bytes: usize, quick: bool) -> u32 {
    let bytes = if quick { 2 << 20 } else { 4 << 20 };
    (bytes / payload_bytes.max(1)).clamp(2, 200) as u32
}
