//! The real backend: a node over shm-ipc, either started by the GUI
//! (`bitcoin-node -ipcfd=N`, over a socketpair) or attached to
//! (`-ipcconnect=unix:PATH|tcp:HOST:PORT`).
//!
//! Protocol (btc_core::interfaces): `HELLO` with role `gui` (and the
//! node's IPC secret for a node bound beyond loopback, read from
//! `-ipccookiefile`, as the wallet process sends it), then
//! `NODE_RPC` calls carrying JSON-RPC requests, and a subscription to the
//! node's `UI_CHANNEL` ring of [`EventRecord`]s, read by a thread of its
//! own that turns them into [`Notification`]s.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use btc_core::interfaces::{
    calls, event::now_ns, method, EventKind, EventRecord, Hello, HelloReply, Role, RpcReply,
    RpcRequest, PROTOCOL_VERSION, UI_CHANNEL,
};
use crossbeam_channel as cc;
use serde_json::{json, Value};
use shm_ipc::{Address, Connection, Trust};

use crate::backend::{Backend, Connector, Notification, Notified};
use crate::error::BackendError;

/// How long the node may take to answer `HELLO` (it may be loading).
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the node may take to offer its notification ring.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one RPC may take (rescans and sends can be slow).
pub const RPC_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a spawned node has to exit after `stop`.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long after SIGTERM before SIGKILL.
pub const TERM_TIMEOUT: Duration = Duration::from_secs(10);

fn ipc_err(e: shm_ipc::Error) -> BackendError {
    match e {
        shm_ipc::Error::PeerDied | shm_ipc::Error::Closed => {
            BackendError::Disconnected("the node closed the connection".into())
        }
        shm_ipc::Error::Timeout => BackendError::Timeout,
        shm_ipc::Error::Remote(m) => {
            BackendError::Protocol(format!("the node refused the call: {m}"))
        }
        e if e.is_fatal() => BackendError::Disconnected(e.to_string()),
        e => BackendError::Protocol(e.to_string()),
    }
}

/// A node process this GUI started. The thread that spawned it stays
/// alive as long as the child (its "parent death" signal is tied to that
/// thread), waiting for it to exit.
pub struct NodeProcess {
    pid: i32,
    /// Exit status once exited (and reaped).
    state: Arc<(Mutex<Option<ExitStatus>>, Condvar)>,
}

impl NodeProcess {
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait(&self, timeout: Duration) -> Option<ExitStatus> {
        let (lock, cv) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut st = lock.lock().unwrap_or_else(|p| p.into_inner());
        while st.is_none() {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            st = cv
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *st
    }

    /// SIGTERM, then SIGKILL (to the whole group) if it does not exit
    /// within `grace`.
    pub fn terminate(&self, grace: Duration, progress: &dyn Fn(&str)) {
        if self.exited() {
            return;
        }
        self.signal(nix::sys::signal::Signal::SIGTERM);
        if self.wait(grace).is_none() {
            progress("Killing the node…");
            self.signal(nix::sys::signal::Signal::SIGKILL);
            self.wait(grace);
        }
    }

    pub fn exited(&self) -> bool {
        self.wait(Duration::ZERO).is_some()
    }

    /// Signals the node's process group (the node and the wallet it
    /// started), unless it already exited. The status lock is held, so
    /// the pid can't have been reaped and reused meanwhile.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let (lock, _) = &*self.state;
        let st = lock.lock().unwrap_or_else(|p| p.into_inner());
        if st.is_none() {
            let pg = nix::unistd::Pid::from_raw(self.pid);
            if nix::sys::signal::killpg(pg, sig).is_err() {
                let _ = nix::sys::signal::kill(pg, sig);
            }
        }
    }

    /// Starts `cmd` with `-ipcfd=N` in a process group of its own (so a
    /// Ctrl-C in the terminal reaches the GUI, which stops the node
    /// cleanly, and not the node directly), on a thread that then waits
    /// for it.
    pub fn spawn(mut cmd: Command) -> Result<(NodeProcess, Connection), BackendError> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
        // SAFETY: runs between fork and exec; sigprocmask is
        // async-signal-safe and nothing is allocated. The GUI blocks
        // SIGTERM/SIGINT for its signal thread; the node must not inherit
        // that mask (it sets up its own).
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::signal::sigprocmask(
                    nix::sys::signal::SigmaskHow::SIG_SETMASK,
                    Some(&nix::sys::signal::SigSet::empty()),
                    None,
                )
                .map_err(std::io::Error::from)
            });
        }
        let state = Arc::new((Mutex::new(None), Condvar::new()));
        let (tx, rx) = cc::bounded(1);
        let st = Arc::clone(&state);
        std::thread::Builder::new()
            .name("node-supervisor".into())
            .spawn(move || {
                let opts = shm_ipc::connection::SpawnOptions {
                    die_with_parent: true,
                    handshake_timeout: Duration::from_secs(30),
                };
                let (mut child, conn) = match shm_ipc::connection::spawn_child(&mut cmd, opts) {
                    Ok(x) => x,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let pid = child.id() as i32;
                let _ = tx.send(Ok((pid, conn)));
                // Wait for the exit without reaping, so `signal` can never
                // hit a reused pid; then reap under the lock.
                while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitid(
                    nix::sys::wait::Id::Pid(nix::unistd::Pid::from_raw(pid)),
                    nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT,
                ) {}
                let (lock, cv) = &*st;
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                *s = Some(child.wait().unwrap_or_else(|_| {
                    use std::os::unix::process::ExitStatusExt;
                    ExitStatus::from_raw(0)
                }));
                cv.notify_all();
            })
            .map_err(|e| BackendError::Start(format!("cannot start a thread: {e}")))?;
        match rx.recv() {
            Ok(Ok((pid, conn))) => Ok((NodeProcess { pid, state }, conn)),
            Ok(Err(e)) => Err(BackendError::Start(format!(
                "cannot start bitcoin-node: {e}"
            ))),
            Err(_) => Err(BackendError::Start("cannot start bitcoin-node".into())),
        }
    }
}

/// A node over shm-ipc.
pub struct IpcBackend {
    conn: Connection,
    chain: String,
    notes: cc::Receiver<Notified>,
    node: Option<NodeProcess>,
    closed: Mutex<bool>,
    /// Whether the node has its notification ring for us.
    pub subscribed: bool,
    /// How long a started node gets to stop before SIGTERM, and after
    /// SIGTERM before SIGKILL.
    stop_timeout: Duration,
    term_timeout: Duration,
}

impl IpcBackend {
    /// Says hello on `conn` as a GUI expecting `chain`, subscribes to the
    /// node's notifications and starts reading them. `node` is the process
    /// behind `conn` if the GUI started it (stopped on close).
    pub fn handshake(
        conn: Connection,
        chain: &str,
        node: Option<NodeProcess>,
        progress: &dyn Fn(&str),
    ) -> Result<IpcBackend, BackendError> {
        Self::handshake_with_secret(conn, chain, None, node, progress)
    }

    /// [`handshake`](Self::handshake), presenting the node's IPC secret
    /// (`<datadir>/<chain>/.ipccookie`) in `Hello.auth`: a node bound on
    /// an address beyond loopback (`-ipcallowremote`) lets no one in
    /// without it.
    pub fn handshake_with_secret(
        conn: Connection,
        chain: &str,
        secret: Option<&str>,
        node: Option<NodeProcess>,
        progress: &dyn Fn(&str),
    ) -> Result<IpcBackend, BackendError> {
        let hello = match Self::hello(&conn, chain, secret, progress) {
            Ok(r) => r,
            Err(BackendError::Start(m)) if node.is_none() && m.contains("IPC secret") => {
                // An attached node bound beyond loopback: say what to give.
                conn.shutdown();
                let hint = match secret {
                    None => "this node needs its IPC secret: -ipccookiefile=<its datadir>/<chain>/.ipccookie",
                    Some(_) => "-ipccookiefile is not this node's current .ipccookie",
                };
                return Err(BackendError::Start(format!("{m} ({hint})")));
            }
            Err(e) => {
                conn.shutdown();
                if let Some(n) = &node {
                    n.terminate(TERM_TIMEOUT, progress);
                }
                return Err(e);
            }
        };
        Self::subscribe(conn, hello, node, progress)
    }

    fn hello(
        conn: &Connection,
        chain: &str,
        secret: Option<&str>,
        progress: &dyn Fn(&str),
    ) -> Result<HelloReply, BackendError> {
        progress("Waiting for the node to answer…");
        let hello = Hello {
            version: PROTOCOL_VERSION,
            role: Role::Gui,
            chain: chain.to_string(),
            // Unix sockets and loopback need no secret.
            auth: secret.map(str::to_owned),
        };
        let reply = conn
            .call(method::HELLO, &calls::encode(&hello), Some(HELLO_TIMEOUT))
            .map_err(|e| match e {
                shm_ipc::Error::Remote(m) => {
                    BackendError::Start(format!("the node refused the GUI: {m}"))
                }
                e => ipc_err(e),
            })?;
        let reply: HelloReply = calls::decode(&reply).map_err(BackendError::Protocol)?;
        if reply.version != PROTOCOL_VERSION {
            return Err(BackendError::Start(format!(
                "the node speaks interface version {}, this GUI {PROTOCOL_VERSION}",
                reply.version
            )));
        }
        Ok(reply)
    }

    fn subscribe(
        conn: Connection,
        reply: HelloReply,
        node: Option<NodeProcess>,
        progress: &dyn Fn(&str),
    ) -> Result<IpcBackend, BackendError> {
        progress("Subscribing to notifications…");
        // Untrusted: records are copied and validated, whoever the node is.
        let rx = conn.subscribe::<EventRecord>(UI_CHANNEL, Trust::UNTRUSTED, SUBSCRIBE_TIMEOUT);
        let (tx, notes) = cc::unbounded();
        let subscribed = rx.is_ok();
        let c = conn.clone();
        std::thread::Builder::new()
            .name("gui-events".into())
            .spawn(move || match rx {
                Ok(rx) => read_events(rx, &c, &tx),
                Err(e) => {
                    // No ring: the window still works, updates come after
                    // its own actions only. Report when the node goes.
                    let _ = e;
                    while !c.wait_closed(Duration::from_secs(3600)) {}
                    let _ = tx.send(
                        Notification::Disconnected {
                            reason: "the node closed the connection".into(),
                        }
                        .into(),
                    );
                }
            })
            .map_err(|e| BackendError::Start(format!("cannot start a thread: {e}")))?;
        Ok(IpcBackend {
            conn,
            chain: reply.chain,
            notes,
            node,
            closed: Mutex::new(false),
            subscribed,
            stop_timeout: STOP_TIMEOUT,
            term_timeout: TERM_TIMEOUT,
        })
    }
}

impl IpcBackend {
    /// How long a node the GUI started gets to stop before SIGTERM
    /// (`stop`), and then before SIGKILL (`term`).
    pub fn with_stop_timeouts(mut self, stop: Duration, term: Duration) -> IpcBackend {
        self.stop_timeout = stop;
        self.term_timeout = term;
        self
    }
}

/// Reads the node's UI ring until it goes away.
fn read_events(
    mut rx: shm_ipc::Receiver<EventRecord>,
    conn: &Connection,
    tx: &cc::Sender<Notified>,
) {
    loop {
        let n = match rx.recv() {
            Ok(rec) => {
                let latency_us = now_ns()
                    .checked_sub(rec.time_ns.to_native())
                    .map(|ns| ns / 1000);
                let height = rec.height.to_native();
                let what = match rec.event_kind() {
                    Some(EventKind::TipUpdated) => Notification::Tip {
                        height,
                        hash: rec.block_hash().to_string(),
                    },
                    Some(EventKind::BlockConnected) => Notification::Block {
                        height,
                        connected: true,
                    },
                    Some(EventKind::BlockDisconnected) => Notification::Block {
                        height,
                        connected: false,
                    },
                    Some(EventKind::TxAdded | EventKind::TxRemoved) => Notification::Mempool,
                    Some(EventKind::WalletChanged) => Notification::WalletChanged {
                        wallet: String::from_utf8_lossy(rec.body.as_slice()).into_owned(),
                    },
                    Some(EventKind::Flushed) | None => continue,
                };
                Notified { what, latency_us }
            }
            Err(shm_ipc::Error::Gap { .. }) => Notification::Lagged.into(),
            // A malformed record from the node: skip it, re-read state.
            Err(shm_ipc::Error::InvalidArchive(_)) => Notification::Lagged.into(),
            Err(shm_ipc::Error::Timeout) => continue,
            Err(e) => {
                // The ring closes as the node shuts down, just before the
                // connection does: report once the connection is gone too,
                // so "disconnected" and `is_connected` agree.
                conn.wait_closed(Duration::from_secs(2));
                let _ = tx.send(
                    Notification::Disconnected {
                        reason: match e {
                            shm_ipc::Error::PeerDied | shm_ipc::Error::Closed => {
                                "the node closed the connection".into()
                            }
                            e => e.to_string(),
                        },
                    }
                    .into(),
                );
                return;
            }
        };
        if tx.send(n).is_err() {
            return; // nobody listens any more
        }
    }
}

impl Backend for IpcBackend {
    fn rpc(
        &self,
        wallet: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, BackendError> {
        let req = RpcRequest {
            wallet: wallet.map(str::to_owned),
            method: method.to_string(),
            params,
            sync_seq: None,
        };
        let bytes = self
            .conn
            .call(method::NODE_RPC, &calls::encode(&req), Some(RPC_TIMEOUT))
            .map_err(ipc_err)?;
        let reply: RpcReply = calls::decode(&bytes).map_err(BackendError::Protocol)?;
        match (reply.result, reply.error) {
            (_, Some(e)) => Err(BackendError::Remote {
                code: e.code,
                message: e.message,
            }),
            (Some(v), None) => Ok(v),
            (None, None) => Ok(Value::Null),
        }
    }

    fn notifications(&self) -> cc::Receiver<Notified> {
        self.notes.clone()
    }

    fn is_connected(&self) -> bool {
        self.conn.is_alive()
    }

    fn chain(&self) -> String {
        self.chain.clone()
    }

    fn owns_node(&self) -> bool {
        self.node.is_some()
    }

    fn node_pid(&self) -> Option<u32> {
        self.node.as_ref().and_then(|n| u32::try_from(n.pid()).ok())
    }

    fn close(&self, progress: &dyn Fn(&str)) {
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if *closed {
            return;
        }
        *closed = true;
        let Some(node) = &self.node else {
            progress("Disconnecting…");
            self.conn.shutdown();
            return;
        };
        if !node.exited() {
            progress("Stopping the node…");
            let asked = self.conn.is_alive()
                && self
                    .conn
                    .call(
                        method::NODE_RPC,
                        &calls::encode(&RpcRequest {
                            wallet: None,
                            method: "stop".into(),
                            params: json!([]),
                            sync_seq: None,
                        }),
                        Some(Duration::from_secs(10)),
                    )
                    .ok()
                    .and_then(|b| calls::decode::<RpcReply>(&b).ok())
                    .is_some_and(|r| r.error.is_none());
            if !asked {
                // No stop over IPC: the node stops cleanly on SIGTERM too.
                node.signal(nix::sys::signal::Signal::SIGTERM);
            }
            progress("Waiting for the node to finish…");
            if node.wait(self.stop_timeout).is_none() {
                progress("The node is slow to stop: asking again…");
                node.terminate(self.term_timeout, progress);
            }
        }
        self.conn.shutdown();
    }
}

impl Drop for IpcBackend {
    fn drop(&mut self) {
        // The last handle: never leave a node we started behind.
        self.close(&|_| {});
    }
}

/// The connection of a [`Connector::connect`] under way, so that
/// [`Connector::cancel`] can cut it (the handshake then fails at once).
#[derive(Default)]
struct Pending {
    conn: Mutex<Option<Connection>>,
    cancelled: std::sync::atomic::AtomicBool,
}

impl Pending {
    fn begin(&self) {
        self.cancelled
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Notes the connection; cut at once if cancelled meanwhile.
    fn set(&self, conn: &Connection) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        if self.cancelled.load(std::sync::atomic::Ordering::Acquire) {
            conn.shutdown();
        }
    }

    fn done(&self) {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn cancel(&self) {
        self.cancelled
            .store(true, std::sync::atomic::Ordering::Release);
        if let Some(c) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).take() {
            c.shutdown();
        }
    }
}

/// Starts `bitcoin-node` with the GUI's node options.
pub struct SpawnConnector {
    pub node: PathBuf,
    pub args: Vec<String>,
    pub chain: String,
    /// How long the node gets to stop after `stop` before SIGTERM, and
    /// after SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
    pub term_timeout: Duration,
    pending: Pending,
}

impl SpawnConnector {
    pub fn new(node: PathBuf, args: Vec<String>, chain: &str) -> SpawnConnector {
        SpawnConnector {
            node,
            args,
            chain: chain.to_string(),
            stop_timeout: STOP_TIMEOUT,
            term_timeout: TERM_TIMEOUT,
            pending: Pending::default(),
        }
    }

    /// `bitcoin-node` next to the running executable.
    pub fn default_node_path() -> PathBuf {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
            .join("bitcoin-node")
    }
}

impl Connector for SpawnConnector {
    fn connect(&self, progress: &dyn Fn(&str)) -> Result<Arc<dyn Backend>, BackendError> {
        if !self.node.exists() {
            return Err(BackendError::Start(format!(
                "{} not found (use -node=PATH)",
                self.node.display()
            )));
        }
        progress("Starting bitcoin-node…");
        self.pending.begin();
        let mut cmd = Command::new(&self.node);
        cmd.args(&self.args);
        let (proc_, conn) = NodeProcess::spawn(cmd)?;
        let status = Arc::clone(&proc_.state);
        self.pending.set(&conn);
        let r = IpcBackend::handshake(conn, &self.chain, Some(proc_), progress);
        self.pending.done();
        match r {
            Ok(b) => Ok(Arc::new(
                b.with_stop_timeouts(self.stop_timeout, self.term_timeout),
            )),
            Err(e) => {
                // The node was stopped; say how it ended.
                let how = match *status.0.lock().unwrap_or_else(|p| p.into_inner()) {
                    Some(s) => format!(" (bitcoin-node exited: {s})"),
                    None => String::new(),
                };
                Err(BackendError::Start(format!("{}{how}", e.message())))
            }
        }
    }

    fn spawns(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "bitcoin-node started by this window".into()
    }

    fn cancel(&self) {
        self.pending.cancel();
    }
}

/// Reads the node's IPC secret from `path` (`-ipccookiefile`), as the
/// wallet process does: the file's text, trimmed.
pub fn read_secret(path: &Path) -> Result<String, BackendError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BackendError::Start(format!(
            "cannot read -ipccookiefile {}: {e}",
            path.display()
        ))
    })?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(BackendError::Start(format!(
            "-ipccookiefile {} is empty",
            path.display()
        )));
    }
    Ok(secret.to_string())
}

/// Attaches to a running node at an shm-ipc address.
pub struct AttachConnector {
    pub address: String,
    pub chain: String,
    /// `-ipccookiefile`: the node's IPC secret, read at every connect (a
    /// restarted node writes a new one).
    pub cookie_file: Option<PathBuf>,
    pending: Pending,
}

impl AttachConnector {
    pub fn new(address: &str, chain: &str) -> AttachConnector {
        AttachConnector {
            address: address.to_string(),
            chain: chain.to_string(),
            cookie_file: None,
            pending: Pending::default(),
        }
    }

    /// Presents the secret in `path` to the node (`-ipccookiefile`).
    pub fn with_cookie_file(mut self, path: Option<PathBuf>) -> AttachConnector {
        self.cookie_file = path;
        self
    }
}

impl Connector for AttachConnector {
    fn connect(&self, progress: &dyn Fn(&str)) -> Result<Arc<dyn Backend>, BackendError> {
        progress(&format!("Connecting to {}…", self.address));
        self.pending.begin();
        let secret = self.cookie_file.as_deref().map(read_secret).transpose()?;
        let addr = Address::parse(&self.address).map_err(|e| BackendError::Start(e.to_string()))?;
        let conn = addr.connect(Duration::from_secs(10)).map_err(|e| {
            BackendError::Start(format!("cannot reach the node at {}: {e}", self.address))
        })?;
        self.pending.set(&conn);
        let r =
            IpcBackend::handshake_with_secret(conn, &self.chain, secret.as_deref(), None, progress);
        self.pending.done();
        Ok(Arc::new(r?))
    }

    fn spawns(&self) -> bool {
        false
    }

    fn describe(&self) -> String {
        format!("node at {}", self.address)
    }

    fn cancel(&self) {
        self.pending.cancel();
    }
}
