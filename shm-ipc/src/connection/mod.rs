//! A control connection to one peer process, and everything that rides on it.
//!
//! After a handshake (protocol version, capabilities, epochs), a reader
//! thread owns the receiving side. It routes replies to pending calls,
//! requests to [`Connection::requests`], channel offers and attaches to the
//! channels, stream records to their receivers, and descriptors to
//! [`Connection::fds`]. When the peer goes away (EOF, hang-up, a protocol
//! violation) it notices at once and turns that into `Error::PeerDied` on
//! every pending call and every receiver fed by this peer, and detaches the
//! peer's consumers from our rings so producers go on serving the others.

pub mod address;
pub mod link;
mod spawn;
pub mod wire;

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel as cc;

pub use address::{Address, Listener, Pending};
pub use spawn::{connection_from_args, spawn_child, SpawnOptions, IPC_FD_ARG};

use self::link::{Incoming, Link};
use self::wire::{Msg, CAP_SHARED_MEMORY, MAX_CALL_PAYLOAD, MAX_CALL_TOTAL};
use crate::channel::stream::{InFrame, OutFrame, StreamConsumer, StreamFanout};
use crate::channel::{Message, Receiver, Sender, Trust};
use crate::error::{Error, Result};
use crate::platform;
use crate::ring::consumer::{ConsumerShared, RingConsumer};
use crate::ring::segment::{CursorSegment, RingSegment};
use crate::ring::subscribers::RingShared;
use crate::PROTOCOL_VERSION;

/// Records queued per stream subscriber before `Block` waits / `Lag` drops.
const STREAM_QUEUE: usize = 256;

/// A request from the peer. Answer it with [`Request::reply`]; dropping it
/// unanswered answers with an error so the caller never hangs.
pub struct Request {
    pub method: u32,
    pub payload: Vec<u8>,
    id: u64,
    conn: Weak<Inner>,
    replied: bool,
}

impl Request {
    pub fn reply(mut self, result: std::result::Result<&[u8], &str>) -> Result<()> {
        self.replied = true;
        let Some(inner) = self.conn.upgrade() else {
            return Err(Error::PeerDied);
        };
        let (ok, payload) = match result {
            Ok(p) => (true, p),
            Err(e) => (false, e.as_bytes()),
        };
        let last = inner.send_parts(self.id, true, payload)?;
        inner.send(
            &Msg::Reply {
                id: self.id,
                ok,
                payload: last.to_vec(),
            },
            &[],
        )
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        if !self.replied {
            if let Some(inner) = self.conn.upgrade() {
                let _ = inner.send(
                    &Msg::Reply {
                        id: self.id,
                        ok: false,
                        payload: b"request dropped".to_vec(),
                    },
                    &[],
                );
            }
        }
    }
}

struct OfferRecv {
    type_name: String,
    fd: Option<OwnedFd>,
}

struct Offered {
    ring: Arc<RingShared>,
    fanout: Arc<StreamFanout>,
}

enum AttachReply {
    Attached { start: u64, start_seq: u64 },
    Refused(String),
}

#[derive(Default)]
struct State {
    /// Channels the peer offered us, not yet subscribed.
    offers: HashMap<u32, OfferRecv>,
    attach_replies: HashMap<u32, AttachReply>,
    /// Channels we offered the peer.
    offered: HashMap<u32, Offered>,
    /// The peer's consumers on our rings: detached when it dies.
    peer_consumers: Vec<(Arc<RingShared>, u64)>,
    peer_streams: Vec<Arc<AtomicBool>>,
    /// Our shared-memory receivers fed by the peer: told when it dies.
    our_consumers: Vec<Weak<ConsumerShared>>,
    /// Our stream receivers, by channel.
    routes: HashMap<u32, (cc::Sender<InFrame>, Arc<OwnedFd>)>,
    /// Leading pieces of the peer's big calls, and of the replies to ours.
    call_parts: HashMap<u64, Vec<u8>>,
    reply_parts: HashMap<u64, Vec<u8>>,
}

/// Most calls (or replies) a peer may have in pieces at once.
const MAX_PARTIAL_CALLS: usize = 64;

/// Descriptors the peer handed over, with the application's tag.
pub type TaggedFds = (u32, Vec<OwnedFd>);

pub(crate) struct Inner {
    link: Link,
    peer_epoch: u64,
    epoch: u64,
    shared_memory: bool,
    dead: Arc<AtomicBool>,
    next_id: AtomicU64,
    calls: Mutex<HashMap<u64, cc::Sender<Result<Vec<u8>>>>>,
    requests_tx: Mutex<Option<cc::Sender<Request>>>,
    requests_rx: cc::Receiver<Request>,
    fds_tx: Mutex<Option<cc::Sender<TaggedFds>>>,
    fds_rx: cc::Receiver<TaggedFds>,
    state: Mutex<State>,
    changed: Condvar,
    /// Signalled when a request or descriptors arrive, and when the peer
    /// goes away: what makes a connection pollable.
    events: OwnedFd,
}

/// Closes the link when the last user handle goes away.
struct Handle(Arc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.0.send(&Msg::Shutdown, &[]);
        self.0.link.shutdown();
    }
}

/// A control connection to a peer. Clones share it; it closes when the
/// last clone is dropped (or on [`shutdown`](Self::shutdown)).
#[derive(Clone)]
pub struct Connection(Arc<Handle>);

impl Connection {
    /// Performs the handshake on a fresh link and starts the reader.
    pub(crate) fn handshake(link: Link, timeout: Duration) -> Result<Connection> {
        Self::handshake_as(link, timeout, PROTOCOL_VERSION)
    }

    fn handshake_as(link: Link, timeout: Duration, version: u32) -> Result<Connection> {
        let epoch = platform::process_epoch();
        let caps = if link.shares_memory() {
            CAP_SHARED_MEMORY
        } else {
            0
        };
        link.send(
            &Msg::Hello {
                version,
                caps,
                epoch,
            }
            .encode(),
            &[],
        )?;
        if !link.wait_readable(timeout)? {
            return Err(Error::Timeout);
        }
        let mut buf = vec![0u8; 64 * 1024];
        let (peer_version, peer_caps, peer_epoch) = match link.recv(&mut buf)? {
            Incoming::Control(bytes, _) => match Msg::decode(&bytes)? {
                Msg::Hello {
                    version,
                    caps,
                    epoch,
                } => (version, caps, epoch),
                _ => return Err(Error::Protocol("expected a hello".into())),
            },
            Incoming::Closed => return Err(Error::PeerDied),
            Incoming::Data { .. } => return Err(Error::Protocol("expected a hello".into())),
        };
        if peer_version != version {
            link.shutdown();
            return Err(Error::VersionMismatch {
                ours: version,
                theirs: peer_version,
            });
        }
        let (requests_tx, requests_rx) = cc::unbounded();
        let (fds_tx, fds_rx) = cc::unbounded();
        let inner = Arc::new(Inner {
            shared_memory: link.shares_memory() && peer_caps & CAP_SHARED_MEMORY != 0,
            link,
            peer_epoch,
            epoch,
            dead: Arc::new(AtomicBool::new(false)),
            next_id: AtomicU64::new(1),
            calls: Mutex::new(HashMap::new()),
            requests_tx: Mutex::new(Some(requests_tx)),
            requests_rx,
            fds_tx: Mutex::new(Some(fds_tx)),
            fds_rx,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            events: platform::eventfd()?,
        });
        let reader = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("shm-ipc-reader".into())
            .spawn(move || reader.read_loop(buf))?;
        Ok(Connection(Arc::new(Handle(inner))))
    }

    /// Two connected ends in this process (tests, in-process wiring).
    pub fn pair() -> Result<(Connection, Connection)> {
        let (a, b) = platform::seqpacket_pair()?;
        let t = std::thread::spawn(move || {
            Connection::handshake(Link::Packet(b), Duration::from_secs(5))
        });
        let a = Connection::handshake(Link::Packet(a), Duration::from_secs(5))?;
        let b = t
            .join()
            .map_err(|_| Error::Protocol("handshake thread panicked".into()))??;
        Ok((a, b))
    }

    /// Adopts an inherited or otherwise obtained `SOCK_SEQPACKET` socket.
    pub fn from_fd(fd: OwnedFd, timeout: Duration) -> Result<Connection> {
        Connection::handshake(Link::Packet(fd), timeout)
    }

    /// Test hook: handshake announcing another protocol version.
    #[doc(hidden)]
    pub fn from_fd_with_version(
        fd: OwnedFd,
        timeout: Duration,
        version: u32,
    ) -> Result<Connection> {
        Connection::handshake_as(Link::Packet(fd), timeout, version)
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.0 .0
    }

    /// Whether channels on this connection use shared memory (false: the TCP stream fallback).
    pub fn is_shared_memory(&self) -> bool {
        self.inner().shared_memory
    }

    pub fn is_alive(&self) -> bool {
        !self.inner().dead.load(Ordering::Acquire)
    }

    /// The epoch the peer announced: different for every start of the peer.
    pub fn peer_epoch(&self) -> u64 {
        self.inner().peer_epoch
    }

    pub fn epoch(&self) -> u64 {
        self.inner().epoch
    }

    /// Calls the peer: `method` and `payload` are the application's. Fails with
    /// `PeerDied` at once if the peer goes away, `Timeout` after `timeout`.
    pub fn call(&self, method: u32, payload: &[u8], timeout: Option<Duration>) -> Result<Vec<u8>> {
        if payload.len() > MAX_CALL_TOTAL {
            return Err(Error::Config(format!(
                "call payload of {} bytes is over the {MAX_CALL_TOTAL}-byte limit",
                payload.len()
            )));
        }
        let inner = self.inner();
        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = cc::bounded(1);
        inner
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        if inner.dead.load(Ordering::Acquire) {
            inner
                .calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Err(Error::PeerDied);
        }
        let sent = inner.send_parts(id, false, payload).and_then(|last| {
            inner.send(
                &Msg::Call {
                    id,
                    method,
                    payload: last.to_vec(),
                },
                &[],
            )
        });
        if let Err(e) = sent {
            inner
                .calls
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            return Err(e);
        }
        let got = match timeout {
            Some(t) => rx.recv_timeout(t).map_err(|e| e.is_timeout()),
            None => rx.recv().map_err(|_| false),
        };
        match got {
            Ok(r) => r,
            Err(true) => {
                inner
                    .calls
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                Err(Error::Timeout)
            }
            Err(false) => Err(Error::PeerDied),
        }
    }

    /// Requests from the peer. Disconnects when the peer goes away.
    pub fn requests(&self) -> &cc::Receiver<Request> {
        &self.inner().requests_rx
    }

    /// Hands descriptors to the peer (a unix connection only), with a tag.
    pub fn send_fds(&self, tag: u32, fds: &[std::os::fd::BorrowedFd<'_>]) -> Result<()> {
        if !self.is_shared_memory() {
            return Err(Error::NotShared("tcp"));
        }
        if fds.len() > platform::MAX_FDS_PER_MSG {
            return Err(Error::Config("too many descriptors in one message".into()));
        }
        self.inner().send(&Msg::Fds { tag }, fds)
    }

    /// Descriptors the peer handed us, with their tags.
    pub fn fds(&self) -> &cc::Receiver<TaggedFds> {
        &self.inner().fds_rx
    }

    /// Offers a channel to the peer under the number `channel`. Over shared
    /// memory the peer maps the ring read-only; over TCP it gets a stream.
    /// The peer attaches with [`subscribe`](Self::subscribe).
    pub fn offer<T: Message>(&self, channel: u32, sender: &Sender<T>) -> Result<()> {
        let inner = self.inner();
        let ring = Arc::clone(sender.shared());
        let msg = Msg::Offer {
            channel,
            policy: ring.seg.policy() as u32,
            capacity: ring.seg.capacity(),
            type_name: std::any::type_name::<T>().to_string(),
        };
        inner.lock_state().offered.insert(
            channel,
            Offered {
                ring: Arc::clone(&ring),
                fanout: Arc::clone(&sender.core.streams),
            },
        );
        if inner.shared_memory {
            inner.send(&msg, &[ring.seg.fd().as_fd()])
        } else {
            inner.send(&msg, &[])
        }
    }

    /// Attaches to channel `channel` that the peer offers (waiting up to
    /// `timeout` for the offer). Records start with the next one the peer
    /// publishes.
    pub fn subscribe<T: Message>(
        &self,
        channel: u32,
        trust: Trust,
        timeout: Duration,
    ) -> Result<Receiver<T>> {
        let inner = self.inner();
        let deadline = Instant::now() + timeout;
        let offer = inner.wait_for(deadline, |st| st.offers.remove(&channel))?;
        let ours = std::any::type_name::<T>();
        if offer.type_name != ours {
            return Err(Error::TypeMismatch {
                ours: ours.into(),
                theirs: offer.type_name,
            });
        }
        if inner.shared_memory {
            let fd = offer
                .fd
                .ok_or_else(|| Error::Protocol("offer without a segment".into()))?;
            let seg = RingSegment::open(fd, inner.peer_epoch)?;
            let cursor = CursorSegment::create()?;
            let eventfd = platform::eventfd()?;
            inner.send(
                &Msg::Attach { channel },
                &[cursor.fd().as_fd(), eventfd.as_fd()],
            )?;
            let (start, start_seq) = inner.wait_attached(channel, deadline)?;
            let shared = Arc::new(ConsumerShared {
                seg,
                eventfd,
                dead: AtomicBool::new(false),
            });
            inner
                .lock_state()
                .our_consumers
                .push(Arc::downgrade(&shared));
            if inner.dead.load(Ordering::Acquire) {
                shared.peer_died();
            }
            Ok(Receiver::from_ring(
                RingConsumer::new(shared, cursor, start, start_seq),
                trust,
                start_seq,
            ))
        } else {
            let (tx, rx) = cc::bounded(STREAM_QUEUE);
            let eventfd = Arc::new(platform::eventfd()?);
            inner
                .lock_state()
                .routes
                .insert(channel, (tx, Arc::clone(&eventfd)));
            inner.send(&Msg::Attach { channel }, &[])?;
            let (_, start_seq) = inner.wait_attached(channel, deadline)?;
            Ok(Receiver::from_stream(
                StreamConsumer::new(rx, Arc::clone(&inner.dead), eventfd),
                trust,
                start_seq,
            ))
        }
    }

    /// Tells the peer we are done and closes the connection.
    pub fn shutdown(&self) {
        let _ = self.inner().send(&Msg::Shutdown, &[]);
        self.inner().link.shutdown();
    }

    /// Waits until the peer is gone (EOF), up to `timeout`. True if it is.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let inner = self.inner();
        let deadline = Instant::now() + timeout;
        let mut st = inner.lock_state();
        while !inner.dead.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = inner
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// A connection is readable (for mio) when requests or descriptors are
/// waiting, or when the peer has gone away. After a wake, drain
/// [`Connection::requests`] and [`Connection::fds`] with `try_recv` and
/// check [`Connection::is_alive`]; the readiness is reset by
/// [`Connection::clear_readiness`].
impl mio::event::Source for Connection {
    fn register(
        &mut self,
        r: &mio::Registry,
        t: mio::Token,
        i: mio::Interest,
    ) -> std::io::Result<()> {
        mio::unix::SourceFd(&std::os::fd::AsRawFd::as_raw_fd(&self.inner().events))
            .register(r, t, i)
    }
    fn reregister(
        &mut self,
        r: &mio::Registry,
        t: mio::Token,
        i: mio::Interest,
    ) -> std::io::Result<()> {
        mio::unix::SourceFd(&std::os::fd::AsRawFd::as_raw_fd(&self.inner().events))
            .reregister(r, t, i)
    }
    fn deregister(&mut self, r: &mio::Registry) -> std::io::Result<()> {
        mio::unix::SourceFd(&std::os::fd::AsRawFd::as_raw_fd(&self.inner().events)).deregister(r)
    }
}

impl Connection {
    /// Resets the poll readiness (call before draining, so nothing is missed).
    pub fn clear_readiness(&self) {
        platform::eventfd_drain(self.inner().events.as_fd());
        if !self.is_alive() {
            platform::eventfd_signal(self.inner().events.as_fd());
        }
    }
}

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, msg: &Msg, fds: &[std::os::fd::BorrowedFd<'_>]) -> Result<()> {
        self.link.send(&msg.encode(), fds)
    }

    /// Sends all but the last piece of a call's or reply's `payload` as
    /// [`Msg::Part`]s and returns the last piece (at most
    /// [`MAX_CALL_PAYLOAD`] bytes), for the `Call` or `Reply` itself.
    fn send_parts<'p>(&self, id: u64, reply: bool, payload: &'p [u8]) -> Result<&'p [u8]> {
        if payload.len() > MAX_CALL_TOTAL {
            return Err(Error::Config(format!(
                "payload of {} bytes is over the {MAX_CALL_TOTAL}-byte limit",
                payload.len()
            )));
        }
        let mut rest = payload;
        while rest.len() > MAX_CALL_PAYLOAD {
            let (head, tail) = rest.split_at(MAX_CALL_PAYLOAD);
            self.send(
                &Msg::Part {
                    id,
                    reply,
                    data: head.to_vec(),
                },
                &[],
            )?;
            rest = tail;
        }
        Ok(rest)
    }

    /// Waits until `take` finds something in the state, the peer dies, or the deadline passes.
    fn wait_for<R>(
        &self,
        deadline: Instant,
        mut take: impl FnMut(&mut State) -> Option<R>,
    ) -> Result<R> {
        let mut st = self.lock_state();
        loop {
            if let Some(r) = take(&mut st) {
                return Ok(r);
            }
            if self.dead.load(Ordering::Acquire) {
                return Err(Error::PeerDied);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout);
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn wait_attached(&self, channel: u32, deadline: Instant) -> Result<(u64, u64)> {
        match self.wait_for(deadline, |st| st.attach_replies.remove(&channel))? {
            AttachReply::Attached { start, start_seq } => Ok((start, start_seq)),
            AttachReply::Refused(why) => Err(Error::Remote(why)),
        }
    }

    fn read_loop(self: Arc<Self>, mut buf: Vec<u8>) {
        loop {
            let r = match self.link.recv(&mut buf) {
                Ok(Incoming::Closed) | Err(_) => break,
                Ok(Incoming::Data {
                    channel,
                    seq,
                    payload,
                }) => self.on_data(channel, seq, payload),
                Ok(Incoming::Control(bytes, fds)) => match Msg::decode(&bytes) {
                    Ok(Msg::Shutdown) => break,
                    Ok(msg) => self.on_control(msg, fds),
                    Err(e) => Err(e),
                },
            };
            if r.is_err() {
                // A peer that breaks the protocol is dropped.
                self.link.shutdown();
                break;
            }
        }
        self.on_closed();
    }

    fn on_control(self: &Arc<Self>, msg: Msg, fds: Vec<OwnedFd>) -> Result<()> {
        match msg {
            Msg::Part { id, reply, data } => {
                let mut st = self.lock_state();
                let parts = if reply {
                    &mut st.reply_parts
                } else {
                    &mut st.call_parts
                };
                if !parts.contains_key(&id) && parts.len() >= MAX_PARTIAL_CALLS {
                    return Err(Error::Protocol("too many calls in pieces at once".into()));
                }
                let buf = parts.entry(id).or_default();
                if buf.len() + data.len() > MAX_CALL_TOTAL {
                    return Err(Error::Protocol("call payload over the size limit".into()));
                }
                buf.extend_from_slice(&data);
            }
            Msg::Reply { id, ok, payload } => {
                let payload = match self.lock_state().reply_parts.remove(&id) {
                    Some(mut head) => {
                        head.extend_from_slice(&payload);
                        head
                    }
                    None => payload,
                };
                if let Some(tx) = self
                    .calls
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id)
                {
                    let r = if ok {
                        Ok(payload)
                    } else {
                        Err(Error::Remote(String::from_utf8_lossy(&payload).into()))
                    };
                    let _ = tx.send(r);
                }
            }
            Msg::Call {
                id,
                method,
                payload,
            } => {
                let payload = match self.lock_state().call_parts.remove(&id) {
                    Some(mut head) => {
                        head.extend_from_slice(&payload);
                        head
                    }
                    None => payload,
                };
                let req = Request {
                    method,
                    payload,
                    id,
                    conn: Arc::downgrade(self),
                    replied: false,
                };
                if let Some(tx) = &*self.requests_tx.lock().unwrap_or_else(|p| p.into_inner()) {
                    let _ = tx.send(req);
                }
                platform::eventfd_signal(self.events.as_fd());
            }
            Msg::Offer {
                channel, type_name, ..
            } => {
                let fd = fds.into_iter().next();
                self.lock_state()
                    .offers
                    .insert(channel, OfferRecv { type_name, fd });
                self.changed.notify_all();
            }
            Msg::Attach { channel } => self.on_attach(channel, fds)?,
            Msg::Attached {
                channel,
                start,
                start_seq,
            } => {
                self.lock_state()
                    .attach_replies
                    .insert(channel, AttachReply::Attached { start, start_seq });
                self.changed.notify_all();
            }
            Msg::Refused { channel, reason } => {
                self.lock_state()
                    .attach_replies
                    .insert(channel, AttachReply::Refused(reason));
                self.changed.notify_all();
            }
            Msg::Fds { tag } => {
                if let Some(tx) = &*self.fds_tx.lock().unwrap_or_else(|p| p.into_inner()) {
                    let _ = tx.send((tag, fds));
                }
                platform::eventfd_signal(self.events.as_fd());
            }
            Msg::Hello { .. } | Msg::Data { .. } | Msg::Shutdown => {
                return Err(Error::Protocol("unexpected control message".into()));
            }
        }
        Ok(())
    }

    fn on_attach(self: &Arc<Self>, channel: u32, fds: Vec<OwnedFd>) -> Result<()> {
        let refuse = |why: &str| {
            self.send(
                &Msg::Refused {
                    channel,
                    reason: why.into(),
                },
                &[],
            )
        };
        let Some((ring, fanout)) = self
            .lock_state()
            .offered
            .get(&channel)
            .map(|o| (Arc::clone(&o.ring), Arc::clone(&o.fanout)))
        else {
            return refuse("no such channel");
        };
        if self.shared_memory {
            let mut fds = fds.into_iter();
            let (Some(cursor_fd), Some(eventfd)) = (fds.next(), fds.next()) else {
                return refuse("attach without cursor page and eventfd");
            };
            let cursor = match CursorSegment::open(cursor_fd) {
                Ok(c) => c,
                Err(e) => return refuse(&e.to_string()),
            };
            let at = ring.add(cursor, Some(eventfd));
            self.lock_state()
                .peer_consumers
                .push((Arc::clone(&ring), at.id));
            if self.dead.load(Ordering::Acquire) {
                ring.remove(at.id);
            }
            self.send(
                &Msg::Attached {
                    channel,
                    start: at.start,
                    start_seq: at.start_seq,
                },
                &[],
            )
        } else {
            let alive = Arc::new(AtomicBool::new(true));
            let (tx, rx) = cc::bounded::<OutFrame>(STREAM_QUEUE);
            let writer = Arc::clone(self);
            std::thread::Builder::new()
                .name("shm-ipc-stream".into())
                .spawn(move || {
                    for f in rx {
                        if writer.link.send_data(f.channel, f.seq, &f.bytes).is_err() {
                            break;
                        }
                    }
                })?;
            // Subscribed before the reply: every record published after the
            // peer's `subscribe` returns reaches it. (Records may even arrive
            // before `Attached`; the peer routes them already.)
            // The first record the stream can carry is the next one
            // published (one being published right now may come too).
            let (_, start_seq) = ring.head_and_seq();
            fanout.add(channel, tx, Arc::clone(&alive));
            self.lock_state().peer_streams.push(alive);
            self.send(
                &Msg::Attached {
                    channel,
                    start: 0,
                    start_seq,
                },
                &[],
            )
        }
    }

    fn on_data(&self, channel: u32, seq: u64, payload: rkyv::util::AlignedVec<16>) -> Result<()> {
        let route = self
            .lock_state()
            .routes
            .get(&channel)
            .map(|(tx, efd)| (tx.clone(), Arc::clone(efd)));
        let Some((tx, efd)) = route else {
            return Err(Error::Protocol(format!(
                "record for unknown channel {channel}"
            )));
        };
        // A full queue waits here: backpressure through TCP to the producer.
        if tx
            .send(InFrame {
                seq,
                bytes: payload,
            })
            .is_ok()
        {
            platform::eventfd_signal(efd.as_fd());
        } else {
            // Receiver dropped: forget the route, keep the connection.
            self.lock_state().routes.remove(&channel);
        }
        Ok(())
    }

    fn on_closed(&self) {
        self.dead.store(true, Ordering::Release);
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.requests_tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        self.fds_tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut st = self.lock_state();
        for (ring, id) in st.peer_consumers.drain(..) {
            ring.remove(id);
        }
        for alive in st.peer_streams.drain(..) {
            alive.store(false, Ordering::Release);
        }
        for c in st.our_consumers.drain(..) {
            if let Some(c) = c.upgrade() {
                c.peer_died();
            }
        }
        for (_, (_, efd)) in st.routes.drain() {
            platform::eventfd_signal(efd.as_fd());
        }
        st.offered.clear();
        drop(st);
        self.changed.notify_all();
        platform::eventfd_signal(self.events.as_fd());
    }
}
