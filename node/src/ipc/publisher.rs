//! The node's notification rings: chain events, queued in chain order by
//! the node (under its chainstate lock, never blocking there), written
//! once each into the `EVENTS_CHANNEL` ring by one thread, whatever the
//! number of wallet processes reading it. A block's archive moves from the
//! chainstate into the event and is copied once, into the ring slot.
//!
//! The same thread also writes a small record per event into the GUI's
//! `Lag` ring, where a slow GUI loses records instead of holding the node.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash;
use btc_core::interfaces::{
    event::now_ns, Event, EventKind, EventRecord, EVENTS_RING_BYTES, UI_RING_BYTES,
};
use rkyv::util::AlignedVec;
use serde_json::{json, Value};
use shm_ipc::{ChannelConfig, Connection, Policy, Sender};

use crate::wallets::WalletEvent;

/// How long the ring may stay full before readers behind are dropped.
pub const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Default)]
struct Queue {
    /// Events with the time they were queued (when the block was
    /// connected), which their records carry for latency measurements.
    items: VecDeque<(u64, WalletEvent)>,
    /// Events queued so far, and published so far.
    queued: u64,
    published: u64,
    /// Ring sequence number of the last event published.
    last_seq: Option<u64>,
    stop: bool,
}

/// The notification rings and their writer.
pub struct Publisher {
    /// Called when a record can't be written for [`STUCK_AFTER`] (a
    /// subscriber holds the ring full), with the last sequence number
    /// published: it drops the subscribers that are behind.
    on_stuck: std::sync::OnceLock<Box<dyn Fn(Option<u64>) + Send + Sync>>,
    queue: Mutex<Queue>,
    changed: Condvar,
    events: Mutex<Sender<EventRecord>>,
    ui: Mutex<Sender<EventRecord>>,
    /// The event ring's statistics when `info` last got its lock: what
    /// `getipcinfo` shows while a send waits for a slow subscriber.
    events_info: Mutex<Value>,
}

impl Publisher {
    /// Creates the rings and starts their writer thread.
    /// `ring_bytes`: the event ring's capacity (a power of two; default
    /// [`EVENTS_RING_BYTES`]).
    pub fn start(ring_bytes: Option<u64>) -> shm_ipc::Result<(Arc<Publisher>, JoinHandle<()>)> {
        let mut cfg = ChannelConfig::new(ring_bytes.unwrap_or(EVENTS_RING_BYTES), Policy::Block);
        cfg.send_timeout = Some(STUCK_AFTER);
        let events = Sender::new(cfg)?;
        let ui = Sender::new(ChannelConfig::new(UI_RING_BYTES, Policy::Lag))?;
        let p = Arc::new(Publisher {
            on_stuck: std::sync::OnceLock::new(),
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            events: Mutex::new(events),
            ui: Mutex::new(ui),
            events_info: Mutex::new(Value::Null),
        });
        let me = p.clone();
        let thread = std::thread::Builder::new()
            .name("publisher".into())
            .spawn(move || me.run())
            .map_err(shm_ipc::Error::Io)?;
        Ok((p, thread))
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what to do when the ring stays full (see `on_stuck`).
    pub fn set_on_stuck(&self, f: impl Fn(Option<u64>) + Send + Sync + 'static) {
        let _ = self.on_stuck.set(Box::new(f));
    }

    /// Queues events in chain order.
    pub fn queue(&self, events: Vec<WalletEvent>) {
        let mut q = self.lock();
        q.queued += events.len() as u64;
        let now = now_ns();
        q.items.extend(events.into_iter().map(|e| (now, e)));
        self.changed.notify_all();
    }

    /// Offers a wallet process the event ring, a GUI the GUI ring (never
    /// the `Block` ring: a GUI must not be able to hold the node back).
    pub fn offer(&self, conn: &Connection, gui: bool) -> shm_ipc::Result<()> {
        if gui {
            let ui = self.ui.lock().unwrap_or_else(|e| e.into_inner());
            conn.offer(btc_core::interfaces::UI_CHANNEL, &ui)
        } else {
            let ev = self.events.lock().unwrap_or_else(|e| e.into_inner());
            conn.offer(btc_core::interfaces::EVENTS_CHANNEL, &ev)
        }
    }

    /// Waits until every event queued before this call is in the ring and
    /// returns the ring sequence number of the last one (`None` if nothing
    /// was ever published): what a wallet must have applied to answer an
    /// RPC as of now.
    pub fn sync_point(&self) -> Option<u64> {
        let mut q = self.lock();
        let target = q.queued;
        while q.published < target && !q.stop {
            q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        q.last_seq
    }

    /// Tells GUIs that wallet `name` changed.
    pub fn wallet_changed(&self, name: &str) {
        let mut body = AlignedVec::<16>::new();
        body.extend_from_slice(name.as_bytes());
        let ev = Event {
            kind: EventKind::WalletChanged,
            height: 0,
            hash: [0; 32],
            time_ns: now_ns(),
            body,
        };
        let _ = self.ui.lock().unwrap_or_else(|e| e.into_inner()).send(&ev);
    }

    /// Stops the writer once the queue is drained.
    pub fn stop(&self) {
        let mut q = self.lock();
        q.stop = true;
        self.changed.notify_all();
    }

    /// Ring statistics for `getipcinfo`.
    pub fn info(&self) -> Value {
        let ring = |name: &str, s: &Sender<EventRecord>| {
            let st = s.stats();
            let (occupied, capacity) = s.occupancy();
            json!({
                "name": name,
                "records": st.records,
                "bytes": st.bytes,
                "occupancy": occupied,
                "capacity": capacity,
                "subscribers": s.subscriber_count(),
            })
        };
        // The event ring's lock is held by a send that may wait up to
        // STUCK_AFTER for a subscriber: never wait for it here.
        let mut last = self.events_info.lock().unwrap_or_else(|e| e.into_inner());
        let events = match self.events.try_lock() {
            Ok(ev) => {
                *last = ring("events", &ev);
                last.clone()
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                *last = ring("events", &p.into_inner());
                last.clone()
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                let mut v = match &*last {
                    Value::Null => json!({ "name": "events" }),
                    seen => seen.clone(),
                };
                if let Some(o) = v.as_object_mut() {
                    o.insert("waiting_for_subscribers".into(), Value::Bool(true));
                }
                v
            }
        };
        drop(last);
        let ui = self.ui.lock().unwrap_or_else(|e| e.into_inner());
        json!([events, ring("ui", &ui)])
    }

    fn run(&self) {
        loop {
            let item = {
                let mut q = self.lock();
                loop {
                    if let Some(item) = q.items.pop_front() {
                        break item;
                    }
                    if q.stop {
                        return;
                    }
                    q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            let (queued_ns, item) = item;
            let (record, ui) = to_record(item, queued_ns);
            let seq = loop {
                let sent = self
                    .events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .send(&record);
                match sent {
                    Ok(seq) => break Some(seq),
                    Err(shm_ipc::Error::Timeout) => {
                        // A subscriber has not read for STUCK_AFTER: drop
                        // those behind, then try again. (A retry may repeat
                        // a record a TCP subscriber already got; wallets
                        // skip blocks they have.)
                        crate::log_line!("ipc: the notification ring is full; dropping wallets that don't read it");
                        let last = self.lock().last_seq;
                        if let Some(f) = self.on_stuck.get() {
                            f(last);
                        }
                        if self.lock().stop {
                            break None;
                        }
                    }
                    Err(e) => {
                        crate::log_line!("ipc: cannot publish a notification: {e}");
                        break None;
                    }
                }
            };
            // Lag policy: never waits for a GUI.
            let _ = self.ui.lock().unwrap_or_else(|e| e.into_inner()).send(&ui);
            let mut q = self.lock();
            q.published += 1;
            if seq.is_some() {
                q.last_seq = seq;
            }
            self.changed.notify_all();
        }
    }
}

/// The ring record of an event, and the GUI's small record for it (the
/// same kind, height and hash, without the body).
fn to_record(item: WalletEvent, now: u64) -> (EventRecord, EventRecord) {
    let (kind, height, hash, body) = match item {
        WalletEvent::Connected {
            height,
            hash,
            archive,
        } => (
            EventKind::BlockConnected,
            height,
            hash.to_byte_array(),
            archive,
        ),
        WalletEvent::Disconnected {
            height,
            hash,
            archive,
        } => (
            EventKind::BlockDisconnected,
            height,
            hash.to_byte_array(),
            archive,
        ),
        WalletEvent::TipUpdated { height, hash } => (
            EventKind::TipUpdated,
            height,
            hash.to_byte_array(),
            AlignedVec::new(),
        ),
        WalletEvent::Flushed { height, hash } => (
            EventKind::Flushed,
            height,
            hash.to_byte_array(),
            AlignedVec::new(),
        ),
        WalletEvent::TxRemoved { txid, reason } => (
            EventKind::TxRemoved,
            reason.code(),
            txid.to_byte_array(),
            AlignedVec::new(),
        ),
        WalletEvent::TxAdded(tx) => {
            let mut body = AlignedVec::<16>::new();
            body.extend_from_slice(&serialize(&tx));
            (
                EventKind::TxAdded,
                0,
                tx.compute_txid().to_byte_array(),
                body,
            )
        }
    };
    let ui = Event {
        kind,
        height,
        hash,
        time_ns: now,
        body: AlignedVec::new(),
    };
    let ev = Event {
        kind,
        height,
        hash,
        time_ns: now,
        body,
    };
    (ev, ui)
}
