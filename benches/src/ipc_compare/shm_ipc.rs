//! The project's own engine, three ways:
//!
//! * `shm-ipc`: two channels (one per direction) over a socketpair the
//!   child inherits; records live in shared-memory rings and the receiver
//!   reads each one in place as `&ArchivedBlockPayload` (trusted: the peer
//!   is our own process image).
//! * `shm-ipc-untrusted`: the same, but the receiver copies each record
//!   out of shared memory once and validates it with bytecheck.
//! * `shm-ipc-tcp`: the child connects to a `tcp:127.0.0.1:0` listener;
//!   the same channel code falls back to length-prefixed archives on the
//!   stream (validated on receipt).
//!
//! Latency: `prepare` serializes the next message into the ring without
//! publishing it (`send_deferred`: the archive is in its slot, invisible to
//! the peer); the timed `send` publishes it (`flush`: a head store, and a
//! futex wake only if the peer is parked). Throughput: the producer
//! serializes every message into the ring (counted) and publishes every
//! `BATCH` messages, or every message from 64 KiB up.

use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{Context, Result};
use shm_ipc::{Address, ChannelConfig, Connection, Listener, Policy, Receiver, Sender, Trust};

use super::harness::{self, Consumer, PingPong, Producer};
use super::payload::{make_payload, BlockPayload};
use super::{spawn_child, Case, ChildArgs, Measurement, Mode, SyncChannel, Transport};

/// Ring size for a payload: room for three of its archives (one kept by
/// the reader, one in flight, one being written), as a power of two. No
/// bigger, so the rings' address space stays within the TLB's reach.
fn ring_for(payload: &BlockPayload) -> Result<u64> {
    let archive = rkyv::to_bytes::<rkyv::rancor::Error>(payload)?.len() as u64 + 64;
    Ok((3 * archive).next_power_of_two().max(64 << 10))
}

const CHANNEL: u32 = 1;
/// Small records published per flush in the throughput stream.
const BATCH: u32 = 64;
/// A blocking receive wakes at least this often to check on the peer.
const SLICE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy)]
enum Kind {
    Trusted,
    Untrusted,
    Tcp,
}

/// One of the three shm-ipc transports.
pub struct ShmIpc(Kind);

impl ShmIpc {
    pub fn trusted() -> Self {
        ShmIpc(Kind::Trusted)
    }
    pub fn untrusted() -> Self {
        ShmIpc(Kind::Untrusted)
    }
    pub fn tcp() -> Self {
        ShmIpc(Kind::Tcp)
    }

    fn trust(&self) -> Trust {
        match self.0 {
            // SAFETY: the producer is the other half of this same benchmark
            // binary, which writes only through `shm_ipc::Sender`.
            Kind::Trusted => unsafe { Trust::trusted() },
            Kind::Untrusted | Kind::Tcp => Trust::UNTRUSTED,
        }
    }
}

/// Both channels of one process.
struct Endpoint {
    tx: Sender<BlockPayload>,
    rx: Receiver<BlockPayload>,
    payload: BlockPayload,
    mode: Mode,
    sync: SyncChannel,
    unflushed: u32,
    // Last: the connection outlives the channels.
    _conn: Connection,
}

impl Endpoint {
    fn new(
        conn: Connection,
        trust: Trust,
        payload_bytes: usize,
        mode: Mode,
        sync: SyncChannel,
    ) -> Result<Self> {
        let timeout = sync.remaining();
        let payload = make_payload(payload_bytes);
        let ring = ring_for(&payload)?;
        let tx = Sender::<BlockPayload>::new(ChannelConfig::new(ring, Policy::Block))?;
        conn.offer(CHANNEL, &tx)?;
        let mut rx = conn
            .subscribe::<BlockPayload>(CHANNEL, trust, timeout)
            .context("subscribing to the peer's channel")?;
        if mode == Mode::Blocking {
            rx.set_spin(Duration::ZERO);
        }
        while tx.subscriber_count() == 0 {
            std::thread::sleep(Duration::from_micros(100));
            sync.check_now()?;
        }
        Ok(Endpoint {
            tx,
            rx,
            payload,
            mode,
            sync,
            unflushed: 0,
            _conn: conn,
        })
    }

    /// Receives one message and reads its item count, as the iceoryx2
    /// transport does.
    fn receive(&mut self) -> Result<usize> {
        // Kept, not released here: `prepare` releases it, outside the clock,
        // as the iceoryx2 transport drops its last sample in `prepare`.
        let use_it = |r: shm_ipc::Record<'_, BlockPayload>| r.keep().txs.len();
        match self.mode {
            Mode::Spin => loop {
                if let Some(r) = self.rx.try_recv()? {
                    return Ok(use_it(r));
                }
                std::hint::spin_loop();
                self.sync.check()?;
            },
            Mode::Blocking => loop {
                match self.rx.recv_timeout(SLICE) {
                    Ok(r) => return Ok(use_it(r)),
                    Err(shm_ipc::Error::Timeout) => self.sync.check_now()?,
                    Err(e) => return Err(e.into()),
                }
            },
        }
    }
}

impl PingPong for Endpoint {
    fn prepare(&mut self) -> Result<()> {
        self.rx.release_held();
        self.tx.send_deferred(&self.payload)?;
        Ok(())
    }
    fn send(&mut self) -> Result<()> {
        Ok(self.tx.flush()?)
    }
    fn recv(&mut self) -> Result<usize> {
        self.receive()
    }
}

impl Producer for Endpoint {
    fn send_value(&mut self, value: &BlockPayload) -> Result<()> {
        self.tx.send_deferred(value)?;
        self.unflushed += 1;
        if self.unflushed >= BATCH || self.payload.data_len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<()> {
        self.unflushed = 0;
        Ok(self.tx.flush()?)
    }
}

impl Consumer for Endpoint {
    fn recv(&mut self) -> Result<usize> {
        self.receive()
    }
}

impl Transport for ShmIpc {
    fn name(&self) -> &'static str {
        match self.0 {
            Kind::Trusted => "shm-ipc",
            Kind::Untrusted => "shm-ipc-untrusted",
            Kind::Tcp => "shm-ipc-tcp",
        }
    }

    fn run(&self, case: &Case<'_>) -> Result<Measurement> {
        let sync = SyncChannel::create(case.cfg.child_timeout)?;
        let timeout = case.cfg.child_timeout;
        let (child, conn) = match self.0 {
            Kind::Tcp => {
                let l = Listener::bind(&Address::parse("tcp:127.0.0.1:0")?)?;
                let child = spawn_child(case, &sync, &[], Some(&l.address().to_string()))?;
                let conn = l.accept(timeout);
                (child, conn)
            }
            Kind::Trusted | Kind::Untrusted => {
                let (ours, theirs) = shm_ipc::platform::seqpacket_pair()?;
                let child = spawn_child(case, &sync, &[theirs.as_fd()], None)?;
                drop(theirs); // keep only our end, so the child's death is an EOF
                (child, Connection::from_fd(ours, timeout))
            }
        };
        let result = (|| {
            let mut ep = Endpoint::new(
                conn?,
                self.trust(),
                case.payload_bytes,
                case.mode,
                sync.clone(),
            )?;
            harness::run_parent(case, &sync, &mut ep)
        })();
        child.complete(result)
    }

    fn child(&self, args: &ChildArgs) -> Result<()> {
        let timeout = args.sync.remaining();
        let conn = match self.0 {
            Kind::Tcp => Address::parse(args.extra()?)?.connect(timeout)?,
            Kind::Trusted | Kind::Untrusted => Connection::from_fd(args.take_fd(0)?, timeout)?,
        };
        let mut ep = Endpoint::new(
            conn,
            self.trust(),
            args.payload_bytes,
            args.mode,
            args.sync.clone(),
        )?;
        harness::run_child(&args.sync, args.test, &mut ep)
    }
}
