//! `iceoryx2`: two publish/subscribe services of `[u8]` slices (one per
//! direction), zero-copy: the sender loans a sample in shared memory,
//! writes the rkyv archive of the `BlockPayload` into it and sends an offset;
//! the receiver's usable value is the received sample, read in place as
//! `&ArchivedBlockPayload` (trusted access, like `shm-ipc` trusted mode:
//! the peer is our own process image).
//!
//! * Latency: each side's message is archived once before timing and copied
//!   into a loaned sample in `prepare` (untimed); `send` publishes it.
//! * Throughput: the producer loans a sample and serializes the value
//!   straight into it with rkyv (counted). Backpressure: the subscriber's
//!   buffer holds 8 samples and the publisher retries until delivered.
//! * Spin mode: `receive()` in a polling loop. Blocking mode: each direction
//!   also has an event service; the sender `notify()`s after each send and
//!   the receiver sleeps in the listener's `timed_wait` when nothing is
//!   there.
//!
//! Cleanup: service names are unique per case (`btcb/<pid>/<n>/...`), every
//! resource goes when both nodes drop; a crashed run's leftovers are removed
//! by iceoryx2's dead-node cleanup, which a new node runs on creation.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::BackpressureAction;
use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;
use iceoryx2::sample_mut::SampleMut;
use iceoryx2::service::port_factory::{event as event_pf, publish_subscribe as ps_pf};
use rkyv::rancor;
use rkyv::util::AlignedVec;

use crate::ipc_compare::harness::{self, Consumer, PingPong, Producer};
use crate::ipc_compare::payload::{make_payload, ArchivedBlockPayload, BlockPayload};
use crate::ipc_compare::{
    spawn_child, Case, ChildArgs, Measurement, Mode, SyncChannel, TestKind, Transport,
};

/// The iceoryx2 transport.
pub struct Iceoryx2;

type Svc = ipc::Service;

/// Alignment of every sample's payload (enough for rkyv archives).
const ALIGN: usize = 16;
/// How long a publisher retries a full subscriber buffer before failing.
const BACKPRESSURE_LIMIT: Duration = Duration::from_secs(10);

fn ie<E: Debug>(what: &'static str) -> impl FnOnce(E) -> anyhow::Error {
    move |e| anyhow!("iceoryx2 {what}: {e:?}")
}

fn quiet_logs() {
    set_log_level(LogLevel::Error);
}

/// Everything one process holds: node, services, ports.
struct IoxEndpoint {
    // Field order is drop order: ports before services before the node.
    publisher: Publisher<Svc, [u8], ()>,
    subscriber: Subscriber<Svc, [u8], ()>,
    notifier: Option<Notifier<Svc>>,
    listener: Option<Listener<Svc>>,
    prepared: Option<SampleMut<Svc, [u8], ()>>,
    last: Option<Sample<Svc, [u8], ()>>,
    archive: AlignedVec,
    sync: SyncChannel,
    _services: Services,
    _node: Node<Svc>,
}

struct Services {
    _out: ps_pf::PortFactory<Svc, [u8], ()>,
    _inp: ps_pf::PortFactory<Svc, [u8], ()>,
    _out_ev: Option<event_pf::PortFactory<Svc>>,
    _inp_ev: Option<event_pf::PortFactory<Svc>>,
}

/// Who creates the services (the parent, before spawning) and who opens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Parent,
    Child,
}

impl IoxEndpoint {
    fn new(
        base: &str,
        role: Role,
        mode: Mode,
        payload_bytes: usize,
        buffer: usize,
        sync: SyncChannel,
    ) -> Result<Self> {
        quiet_logs();
        let node = NodeBuilder::new()
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Svc>()
            .map_err(ie("node"))?;
        let payload = make_payload(payload_bytes);
        let archive = rkyv::to_bytes::<rancor::Error>(&payload)?;
        let (out_name, in_name) = match role {
            Role::Parent => (format!("{base}/p2c"), format!("{base}/c2p")),
            Role::Child => (format!("{base}/c2p"), format!("{base}/p2c")),
        };
        let pubsub = |name: &str| -> Result<ps_pf::PortFactory<Svc, [u8], ()>> {
            let sn: ServiceName = name.try_into().map_err(ie("service name"))?;
            let b = node
                .service_builder(&sn)
                .publish_subscribe::<[u8]>()
                .payload_alignment(Alignment::new(ALIGN).expect("power of two"))
                .enable_safe_overflow(false)
                .subscriber_max_buffer_size(buffer)
                .subscriber_max_borrowed_samples(2)
                .history_size(0)
                .max_publishers(1)
                .max_subscribers(1)
                .max_nodes(2);
            match role {
                Role::Parent => b.create().map_err(ie("create service")),
                Role::Child => b.open().map_err(ie("open service")),
            }
        };
        let event = |name: &str| -> Result<event_pf::PortFactory<Svc>> {
            let sn: ServiceName = format!("{name}/ev")
                .as_str()
                .try_into()
                .map_err(ie("service name"))?;
            let b = node
                .service_builder(&sn)
                .event()
                .max_notifiers(1)
                .max_listeners(1)
                .max_nodes(2);
            match role {
                Role::Parent => b.create().map_err(ie("create event")),
                Role::Child => b.open().map_err(ie("open event")),
            }
        };
        // Create/open in the same order on both sides: p2c first.
        let (out, inp) = match role {
            Role::Parent => {
                let o = pubsub(&out_name)?;
                (o, pubsub(&in_name)?)
            }
            Role::Child => {
                let i = pubsub(&in_name)?;
                (pubsub(&out_name)?, i)
            }
        };
        let (out_ev, inp_ev) = if mode == Mode::Blocking {
            match role {
                Role::Parent => {
                    let o = event(&out_name)?;
                    (Some(o), Some(event(&in_name)?))
                }
                Role::Child => {
                    let i = event(&in_name)?;
                    (Some(event(&out_name)?), Some(i))
                }
            }
        } else {
            (None, None)
        };
        let max_len = archive.len();
        let publisher = out
            .publisher_builder()
            .initial_max_slice_len(max_len)
            .allocation_strategy(AllocationStrategy::Static)
            .max_loaned_samples(2)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .set_backpressure_handler(|info: &iceoryx2::port::BackpressureInfo| {
                if info.elapsed_time > BACKPRESSURE_LIMIT {
                    BackpressureAction::DiscardDataAndFail
                } else {
                    BackpressureAction::Retry
                }
            })
            .create()
            .map_err(ie("publisher"))?;
        let subscriber = inp
            .subscriber_builder()
            .buffer_size(buffer)
            .create()
            .map_err(ie("subscriber"))?;
        let notifier = match &out_ev {
            Some(f) => Some(f.notifier_builder().create().map_err(ie("notifier"))?),
            None => None,
        };
        let listener = match &inp_ev {
            Some(f) => Some(f.listener_builder().create().map_err(ie("listener"))?),
            None => None,
        };
        Ok(Self {
            publisher,
            subscriber,
            notifier,
            listener,
            prepared: None,
            last: None,
            archive,
            sync,
            _services: Services {
                _out: out,
                _inp: inp,
                _out_ev: out_ev,
                _inp_ev: inp_ev,
            },
            _node: node,
        })
    }

    fn notify(&self) -> Result<()> {
        if let Some(n) = &self.notifier {
            n.notify().map_err(ie("notify"))?;
        }
        Ok(())
    }

    fn receive(&mut self) -> Result<Sample<Svc, [u8], ()>> {
        let mut waited = false;
        loop {
            if let Some(s) = self.subscriber.receive().map_err(ie("receive"))? {
                return Ok(s);
            }
            match &self.listener {
                None => {
                    std::hint::spin_loop();
                    self.sync.check()?;
                }
                Some(l) => {
                    // Liveness checks only after a wake-up that brought
                    // nothing (timeout or a stale notification).
                    if waited {
                        self.sync.check_now()?;
                    }
                    l.timed_wait(|_| {}, Duration::from_millis(50))
                        .map_err(ie("listener wait"))?;
                    waited = true;
                }
            }
        }
    }

    fn send_loop(&self, sample: SampleMut<Svc, [u8], ()>) -> Result<()> {
        sample.send().map_err(ie("send"))?;
        self.notify()
    }

    fn loan(
        &self,
        len: usize,
    ) -> Result<iceoryx2::sample_mut_uninit::SampleMutUninit<Svc, [core::mem::MaybeUninit<u8>], ()>>
    {
        loop {
            match self.publisher.loan_slice_uninit(len) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    // All samples in flight: wait for the subscriber to
                    // release one.
                    self.sync
                        .check_now()
                        .map_err(|c| c.context(format!("loan: {e:?}")))?;
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Reads the items of a received sample in place; returns their count.
fn items(sample: &Sample<Svc, [u8], ()>) -> Result<usize> {
    let bytes = sample.payload();
    if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
        bail!("sample payload is not {ALIGN}-aligned");
    }
    // SAFETY: the bytes are an archive of BlockPayload written by our peer
    // (the same binary) with rkyv::to_bytes / to_bytes_in; the slice is
    // suitably aligned (checked above) and stays valid while `sample` lives.
    let archived = unsafe { rkyv::access_unchecked::<ArchivedBlockPayload>(bytes) };
    Ok(archived.txs.len())
}

impl PingPong for IoxEndpoint {
    fn prepare(&mut self) -> Result<()> {
        self.last = None;
        let uninit = self.loan(self.archive.len())?;
        self.prepared = Some(uninit.write_from_slice(&self.archive));
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        let s = self
            .prepared
            .take()
            .ok_or_else(|| anyhow!("nothing prepared"))?;
        self.send_loop(s)
    }

    fn recv(&mut self) -> Result<usize> {
        let s = self.receive()?;
        let n = items(&s)?;
        self.last = Some(s);
        Ok(n)
    }
}

impl Producer for IoxEndpoint {
    fn send_value(&mut self, value: &BlockPayload) -> Result<()> {
        let len = self.archive.len();
        let mut uninit = self.loan(len)?;
        let written = rkyv::api::high::to_bytes_in::<_, rancor::Error>(
            value,
            rkyv::ser::writer::Buffer::from(uninit.payload_mut()),
        )?
        .len();
        if written != len {
            bail!("archive is {written} bytes, expected {len}");
        }
        // SAFETY: rkyv wrote all `len` bytes of the loaned slice (checked
        // just above; rkyv writes padding as zeros).
        let sample = unsafe { uninit.assume_init() };
        self.send_loop(sample)
    }
}

impl Consumer for IoxEndpoint {
    fn recv(&mut self) -> Result<usize> {
        let s = self.receive()?;
        items(&s)
    }
}

static CASE_COUNTER: AtomicU32 = AtomicU32::new(0);

fn buffer_for(test: TestKind) -> usize {
    match test {
        TestKind::Latency => 2,
        TestKind::Throughput => 8,
    }
}

impl Transport for Iceoryx2 {
    fn name(&self) -> &'static str {
        "iceoryx2"
    }

    fn run(&self, case: &Case<'_>) -> Result<Measurement> {
        let sync = SyncChannel::create(case.cfg.child_timeout)?;
        let base = format!(
            "btcb/{}/{}",
            std::process::id(),
            CASE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut ep = IoxEndpoint::new(
            &base,
            Role::Parent,
            case.mode,
            case.payload_bytes,
            buffer_for(case.test),
            sync.clone(),
        )?;
        let child = spawn_child(case, &sync, &[], Some(&base))?;
        let result = harness::run_parent(case, &sync, &mut ep);
        let result = child.complete(result);
        drop(ep);
        result
    }

    fn child(&self, args: &ChildArgs) -> Result<()> {
        let mut ep = IoxEndpoint::new(
            args.extra()?,
            Role::Child,
            args.mode,
            args.payload_bytes,
            buffer_for(args.test),
            args.sync.clone(),
        )?;
        harness::run_child(&args.sync, args.test, &mut ep)
    }
}
