//! The server: listeners watched by one acceptor thread (mio), a thread
//! per connection (at most [`MAX_CONNECTIONS`]) that parses requests and
//! writes answers, and a fixed pool of worker threads that run handler
//! calls taken from a bounded queue.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::allow::AllowRule;
use super::auth::Auth;
use super::conn;
use super::options::HttpOptions;
use super::response::{write_response, Response};
use super::{HttpError, RpcHandler};

/// Open connections beyond this are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 512;

/// Stack of a connection thread (request parsing only; handlers run on
/// workers).
const CONN_STACK: usize = 512 * 1024;
/// Stack of a worker thread (handlers may recurse deeply).
const WORKER_STACK: usize = 8 * 1024 * 1024;

const WAKE: Token = Token(usize::MAX);

/// A unit of work for a worker.
pub(crate) type Job = Box<dyn FnOnce() + Send + 'static>;

struct ConnEntry {
    /// A second handle on the socket, to shut it down on stop.
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
}

/// What connection threads share.
pub(crate) struct Shared {
    pub(crate) allow: Vec<AllowRule>,
    pub(crate) auth: Auth,
    pub(crate) timeout: Duration,
    pub(crate) max_body: usize,
    pub(crate) auth_failure_delay: Duration,
    pub(crate) handler: Arc<dyn RpcHandler>,
    pub(crate) stopping: AtomicBool,
    conns: Mutex<HashMap<u64, ConnEntry>>,
}

impl Shared {
    fn conns(&self) -> MutexGuard<'_, HashMap<u64, ConnEntry>> {
        // Nothing panics while holding the lock; recover anyway.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes a connection from the table when its thread ends.
struct Deregister {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Deregister {
    fn drop(&mut self) {
        self.shared.conns().remove(&self.id);
    }
}

/// A running JSON-RPC HTTP server. [`HttpServer::stop`] (or drop) stops
/// accepting, closes idle connections, lets requests in progress finish and
/// joins every thread.
pub struct HttpServer {
    addrs: Vec<SocketAddr>,
    running: Option<Running>,
}

struct Running {
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    acceptor: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

fn optional_bind_failure(addr: &SocketAddr, e: &io::Error) -> bool {
    addr.ip() == IpAddr::V6(Ipv6Addr::LOCALHOST)
        && (e.kind() == io::ErrorKind::AddrNotAvailable
            || e.raw_os_error() == Some(libc::EADDRNOTAVAIL)
            || e.raw_os_error() == Some(libc::EAFNOSUPPORT))
}

fn worker_loop(rx: Receiver<Job>) {
    while let Ok(job) = rx.recv() {
        // Handler panics are caught closer in; this keeps the worker alive
        // whatever happens.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

impl HttpServer {
    /// Binds every address in `opts.binds` (an unavailable `[::1]` is
    /// skipped), starts the workers and the acceptor.
    pub fn start(opts: HttpOptions, handler: Arc<dyn RpcHandler>) -> Result<HttpServer, HttpError> {
        let mut listeners = Vec::new();
        for addr in &opts.binds {
            match TcpListener::bind(addr) {
                Ok(l) => listeners.push(l),
                Err(e) if optional_bind_failure(addr, &e) => {}
                Err(source) => {
                    return Err(HttpError::Bind {
                        addr: *addr,
                        source,
                    })
                }
            }
        }
        if listeners.is_empty() {
            return Err(HttpError::NoBind);
        }
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;

        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        for (i, l) in listeners.iter().enumerate() {
            l.set_nonblocking(true)?;
            poll.registry().register(
                &mut SourceFd(&l.as_raw_fd()),
                Token(i),
                Interest::READABLE,
            )?;
        }

        let shared = Arc::new(Shared {
            allow: opts.allow,
            auth: opts.auth,
            timeout: opts.timeout,
            max_body: opts.max_body,
            auth_failure_delay: opts.auth_failure_delay,
            handler,
            stopping: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
        });

        let (tx, rx) = bounded::<Job>(opts.work_queue.max(1));
        let mut workers = Vec::new();
        for i in 0..opts.threads.max(1) {
            let rx = rx.clone();
            let spawned = thread::Builder::new()
                .name(format!("http-worker-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || worker_loop(rx));
            match spawned {
                Ok(h) => workers.push(h),
                Err(e) => {
                    drop(tx);
                    for w in workers {
                        let _ = w.join();
                    }
                    return Err(e.into());
                }
            }
        }
        drop(rx);

        let acceptor_shared = shared.clone();
        let acceptor = thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(poll, listeners, acceptor_shared, tx));
        let acceptor = match acceptor {
            Ok(h) => h,
            Err(e) => {
                // The closure, and with it the queue's sender, is gone:
                // the workers end.
                for w in workers {
                    let _ = w.join();
                }
                return Err(e.into());
            }
        };
        Ok(HttpServer {
            addrs,
            running: Some(Running {
                shared,
                waker,
                acceptor: Some(acceptor),
                workers,
            }),
        })
    }

    /// The addresses actually listened on (with the real ports if 0 was
    /// asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Stops accepting, closes idle connections, lets requests in progress
    /// finish and joins all threads. Blocks as long as a handler call runs.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(mut r) = self.running.take() else {
            return;
        };
        r.shared.stopping.store(true, Ordering::SeqCst);
        let _ = r.waker.wake();
        if let Some(a) = r.acceptor.take() {
            let _ = a.join();
        }
        let conns = std::mem::take(&mut *r.shared.conns());
        for entry in conns.values() {
            let _ = entry.stream.shutdown(Shutdown::Read);
        }
        for (_, mut entry) in conns {
            if let Some(t) = entry.thread.take() {
                let _ = t.join();
            }
        }
        for w in r.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(
    mut poll: Poll,
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    jobs: Sender<Job>,
) {
    let mut events = Events::with_capacity(64);
    let mut next_id = 0u64;
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        for ev in events.iter() {
            let Some(listener) = listeners.get(ev.token().0) else {
                continue;
            };
            // Edge-triggered: accept until the backlog is empty.
            loop {
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                match listener.accept() {
                    Ok((stream, peer)) => {
                        spawn_connection(&shared, stream, peer, &jobs, &mut next_id)
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                        ) => {}
                    // Out of descriptors or similar: wait and retry.
                    Err(_) => thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

fn spawn_connection(
    shared: &Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    jobs: &Sender<Job>,
    next_id: &mut u64,
) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    // Held while spawning so the thread's deregistration comes after the
    // registration.
    let mut conns = shared.conns();
    if conns.len() >= MAX_CONNECTIONS {
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let resp = Response::text(503, "Too many connections");
        let _ = write_response(&stream, &resp, 1, false, false);
        return;
    }
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    let id = *next_id;
    *next_id += 1;
    let shared = shared.clone();
    let jobs = jobs.clone();
    // The guard is made inside the thread: if spawning fails, nothing
    // tries to take the lock held here.
    let spawned = thread::Builder::new()
        .name("http-conn".into())
        .stack_size(CONN_STACK)
        .spawn(move || {
            let guard = Deregister { shared, id };
            conn::serve(&guard.shared, stream, peer, &jobs);
        });
    if let Ok(thread) = spawned {
        conns.insert(
            id,
            ConnEntry {
                stream: handle,
                thread: Some(thread),
            },
        );
    }
}
