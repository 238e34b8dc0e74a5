//! The threads between the window and a [`Backend`]: the UI thread only
//! sends requests and reads [`Update`]s; every call to the node happens
//! here, so a slow or dead node never freezes the window.
//!
//! A [`Session`] has two workers:
//! - the **job** worker runs what the user asked for (send, create wallet,
//!   console commands...) one after the other;
//! - the **refresh** worker waits for notifications (never on a timer),
//!   folds whatever arrived together into one set of things to re-read,
//!   and re-reads them with one or two RPCs each.
//!
//! A job that may rescan the chain for a wallet (`loadwallet`,
//! `rescanblockchain`, `importdescriptors`...) is watched while it runs:
//! a thread of its own asks that wallet's `getwalletinfo` for its
//! `scanning` progress every [`SCAN_POLL`] and reports it as
//! [`Update::Scan`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel as cc;
use serde_json::{json, Value};

use crate::backend::{Backend, Connector, Notification, Notified};
use crate::console;
use crate::error::BackendError;
use crate::model::ScanProgress;

/// What a job's answer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    CreateWallet(String),
    LoadWallet(String),
    /// Fee estimate before the confirmation dialog (`walletcreatefundedpsbt`).
    PrepareSend,
    Unlock,
    Send,
    Relock,
    NewAddress,
    TxDetails(String),
    /// Anything the screens don't wait for.
    Other,
}

/// State the refresh worker re-reads (a bit set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dirty(u32);

impl Dirty {
    pub const CHAIN: Dirty = Dirty(1);
    pub const MEMPOOL: Dirty = Dirty(2);
    pub const NETWORK: Dirty = Dirty(4);
    pub const UPTIME: Dirty = Dirty(8);
    pub const IPC: Dirty = Dirty(16);
    pub const WALLETS: Dirty = Dirty(32);
    /// Balances and transactions of the shown wallet.
    pub const WALLET: Dirty = Dirty(64);
    /// Lock state and name of the shown wallet.
    pub const WALLET_INFO: Dirty = Dirty(128);
    pub const ALL: Dirty = Dirty(255);

    pub fn has(self, o: Dirty) -> bool {
        self.0 & o.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Dirty {
    type Output = Dirty;
    fn bitor(self, o: Dirty) -> Dirty {
        Dirty(self.0 | o.0)
    }
}

impl std::ops::BitOrAssign for Dirty {
    fn bitor_assign(&mut self, o: Dirty) {
        self.0 |= o.0;
    }
}

/// What a refresh re-read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    Chain,
    Mempool,
    Network,
    Uptime,
    Ipc,
    Wallets,
    WalletDir,
    WalletInfo(String),
    Balances(String),
    Transactions(String),
}

/// A message for the UI thread.
pub enum Update {
    /// What starting or stopping is doing now.
    Progress(String),
    Connected(Session),
    ConnectFailed(BackendError),
    /// The node went away.
    Lost(String),
    /// The session is closed (the node stopped, or we detached).
    Closed,
    /// A notification arrived (latency as measured here).
    Notified(Option<u64>),
    Refreshed(Refreshed, Result<Value, BackendError>),
    Reply(Tag, Result<Value, BackendError>),
    /// A console command's output.
    Console(u64, Result<Value, console::EvalError>),
    /// A call that may rescan is running: its wallet's rescan progress
    /// (`None`: not scanning, or the call ended).
    Scan(Option<ScanProgress>),
}

/// Where workers put updates: a channel, and a repaint request so the
/// window wakes up to read it (the only thing that wakes it).
#[derive(Clone)]
pub struct Sink {
    tx: cc::Sender<(u64, Update)>,
    ctx: egui::Context,
}

impl Sink {
    pub fn new(ctx: egui::Context) -> (Sink, cc::Receiver<(u64, Update)>) {
        let (tx, rx) = cc::unbounded();
        (Sink { tx, ctx }, rx)
    }

    /// Sends `u` from session `id`. False when the window is gone.
    pub fn send(&self, id: u64, u: Update) -> bool {
        let ok = self.tx.send((id, u)).is_ok();
        self.ctx.request_repaint();
        ok
    }
}

enum Job {
    Rpc {
        tag: Tag,
        wallet: Option<String>,
        method: String,
        params: Value,
    },
    Console {
        id: u64,
        wallet: Option<String>,
        line: String,
    },
}

/// A live connection and its workers. Dropping it stops the workers (the
/// backend itself is closed by [`Session::close`]).
pub struct Session {
    id: u64,
    backend: Arc<dyn Backend>,
    jobs: cc::Sender<Job>,
    refresh: cc::Sender<Dirty>,
    wallet: Arc<Mutex<Option<String>>>,
}

impl Session {
    /// Starts the workers for `backend`; updates go to `sink` tagged `id`.
    pub fn start(backend: Arc<dyn Backend>, sink: Sink, id: u64) -> Session {
        let (jobs, jobs_rx) = cc::unbounded();
        let (refresh, refresh_rx) = cc::unbounded();
        let wallet = Arc::new(Mutex::new(None));
        {
            let (b, s) = (Arc::clone(&backend), sink.clone());
            spawn("gui-jobs", move || job_loop(&*b, &s, id, &jobs_rx));
        }
        {
            let (b, w) = (Arc::clone(&backend), Arc::clone(&wallet));
            let notes = backend.notifications();
            spawn("gui-refresh", move || {
                refresh_loop(&*b, &sink, id, &notes, &refresh_rx, &w)
            });
        }
        Session {
            id,
            backend,
            jobs,
            refresh,
            wallet,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn chain(&self) -> String {
        self.backend.chain()
    }

    pub fn owns_node(&self) -> bool {
        self.backend.owns_node()
    }

    /// The process id of the node the GUI started, if it did.
    pub fn node_pid(&self) -> Option<u32> {
        self.backend.node_pid()
    }

    /// Runs `method` on the job worker; the answer comes as
    /// [`Update::Reply`] with `tag`.
    pub fn call(&self, tag: Tag, wallet: Option<&str>, method: &str, params: Value) {
        let _ = self.jobs.send(Job::Rpc {
            tag,
            wallet: wallet.map(str::to_owned),
            method: method.to_string(),
            params,
        });
    }

    /// Runs a console line on the job worker ([`Update::Console`]).
    pub fn console(&self, id: u64, wallet: Option<&str>, line: &str) {
        let _ = self.jobs.send(Job::Console {
            id,
            wallet: wallet.map(str::to_owned),
            line: line.to_string(),
        });
    }

    /// Asks the refresh worker to re-read `what`.
    pub fn refresh(&self, what: Dirty) {
        let _ = self.refresh.send(what);
    }

    /// Chooses the wallet whose balances and transactions are kept fresh.
    pub fn set_wallet(&self, name: Option<&str>) {
        *self.wallet.lock().unwrap_or_else(|p| p.into_inner()) = name.map(str::to_owned);
        self.refresh(Dirty::WALLET | Dirty::WALLET_INFO);
    }

    /// Closes the backend on a thread of its own (stopping a spawned node
    /// takes a while); [`Update::Closed`] follows, with progress before.
    pub fn close(self, sink: Sink) {
        let Session { id, backend, .. } = self;
        spawn("gui-close", move || {
            backend.close(&|p| {
                sink.send(id, Update::Progress(p.to_string()));
            });
            sink.send(id, Update::Closed);
        });
    }

    /// Closes the backend on this thread (the window is already gone).
    pub fn close_now(self) {
        self.backend.close(&|_| {});
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    // A thread that can't start leaves the window without updates, which
    // it shows as a lost connection when the next call fails.
    let _ = std::thread::Builder::new().name(name.into()).spawn(f);
}

/// Starts or reaches the node off the UI thread: [`Update::Connected`] or
/// [`Update::ConnectFailed`] follows, with progress before.
pub fn connect(connector: Arc<dyn Connector>, sink: Sink, id: u64) {
    spawn("gui-connect", move || {
        let progress = |p: &str| {
            sink.send(id, Update::Progress(p.to_string()));
        };
        match connector.connect(&progress) {
            Ok(backend) => {
                let session = Session::start(backend, sink.clone(), id);
                session.refresh(Dirty::ALL);
                if !sink.send(id, Update::Connected(session)) {
                    // The window went away meanwhile: nothing will close it.
                }
            }
            Err(e) => {
                sink.send(id, Update::ConnectFailed(e));
            }
        }
    });
}

/// How often the progress of a rescan is asked for while a call that may
/// rescan runs.
pub const SCAN_POLL: Duration = Duration::from_secs(1);

/// Whether `method` may rescan the chain for a wallet, and which wallet's
/// `getwalletinfo` tells its progress: the wallet it loads, or the one the
/// call is for (`None`: the node's only wallet). `None` when it does not
/// rescan.
pub fn scan_target(wallet: Option<&str>, method: &str, params: &Value) -> Option<Option<String>> {
    match method {
        "loadwallet" | "restorewallet" => {
            let key = if method == "loadwallet" {
                "filename"
            } else {
                "wallet_name"
            };
            let name = match params {
                Value::Array(a) => a.first(),
                Value::Object(o) => o.get(key),
                _ => None,
            };
            Some(name.and_then(Value::as_str).map(str::to_owned))
        }
        "rescanblockchain" | "importdescriptors" | "importmulti" | "importprivkey"
        | "importaddress" | "importpubkey" => Some(wallet.map(str::to_owned)),
        _ => None,
    }
}

/// One call; one that may rescan (see [`scan_target`]) is watched while it
/// runs, its progress sent as [`Update::Scan`], and `Scan(None)` after.
pub fn call_watched(
    b: &dyn Backend,
    sink: &Sink,
    id: u64,
    wallet: Option<&str>,
    method: &str,
    params: Value,
) -> Result<Value, BackendError> {
    let Some(target) = scan_target(wallet, method, &params) else {
        return b.rpc(wallet, method, params);
    };
    let (done, ended) = cc::bounded::<()>(0);
    let r = std::thread::scope(|s| {
        // If no thread can be started, the call still runs, unwatched.
        let _ = std::thread::Builder::new()
            .name("gui-scan".into())
            .spawn_scoped(s, || watch_scan(b, sink, id, target.as_deref(), &ended));
        let r = b.rpc(wallet, method, params);
        drop(done);
        r
    });
    sink.send(id, Update::Scan(None));
    r
}

/// Asks `wallet`'s `getwalletinfo` every [`SCAN_POLL`] until `ended`
/// disconnects, reporting its `scanning` field.
fn watch_scan(
    b: &dyn Backend,
    sink: &Sink,
    id: u64,
    wallet: Option<&str>,
    ended: &cc::Receiver<()>,
) {
    while let Err(cc::RecvTimeoutError::Timeout) = ended.recv_timeout(SCAN_POLL) {
        match b.rpc(wallet, "getwalletinfo", json!([])) {
            Ok(info) => {
                sink.send(
                    id,
                    Update::Scan(ScanProgress::from_wallet_info(wallet, &info)),
                );
            }
            Err(e) if e.is_disconnect() => return,
            // Not loaded yet, say: ask again.
            Err(_) => {}
        }
    }
}

fn job_loop(b: &dyn Backend, sink: &Sink, id: u64, jobs: &cc::Receiver<Job>) {
    for job in jobs {
        match job {
            Job::Rpc {
                tag,
                wallet,
                method,
                params,
            } => {
                let r = call_watched(b, sink, id, wallet.as_deref(), &method, params);
                if let Err(BackendError::Disconnected(why)) = &r {
                    sink.send(id, Update::Lost(why.clone()));
                }
                sink.send(id, Update::Reply(tag, r));
            }
            Job::Console {
                id: n,
                wallet,
                line,
            } => {
                let r = match console::parse(&line) {
                    Ok(Some(call)) => console::eval(&call, &mut |m, p| {
                        call_watched(b, sink, id, wallet.as_deref(), m, p)
                    }),
                    Ok(None) => Ok(Value::Null),
                    Err(e) => Err(e.into()),
                };
                if let Err(console::EvalError::Rpc(BackendError::Disconnected(why))) = &r {
                    sink.send(id, Update::Lost(why.clone()));
                }
                sink.send(id, Update::Console(n, r));
            }
        }
    }
}

/// What a notification makes stale.
pub fn dirt_of(n: &Notification, wallet: Option<&str>) -> Dirty {
    match n {
        // New blocks change confirmations and maturity too.
        Notification::Tip { .. } | Notification::Block { .. } => {
            Dirty::CHAIN | Dirty::MEMPOOL | Dirty::IPC | Dirty::WALLET
        }
        Notification::Mempool => Dirty::MEMPOOL | Dirty::IPC,
        Notification::WalletChanged { wallet: w } => {
            if wallet == Some(w.as_str()) {
                Dirty::WALLET | Dirty::IPC
            } else {
                // Another wallet, or none shown: perhaps one was loaded
                // behind our back (RPC, another window); the list may
                // have changed.
                Dirty::WALLETS | Dirty::IPC
            }
        }
        Notification::Lagged => Dirty::ALL,
        Notification::Disconnected { .. } => Dirty::default(),
    }
}

fn refresh_loop(
    b: &dyn Backend,
    sink: &Sink,
    id: u64,
    notes: &cc::Receiver<Notified>,
    asks: &cc::Receiver<Dirty>,
    wallet: &Mutex<Option<String>>,
) {
    let current = || wallet.lock().unwrap_or_else(|p| p.into_inner()).clone();
    loop {
        let mut dirty = Dirty::default();
        let mut lost = None;
        let take = |n: Notified, dirty: &mut Dirty, lost: &mut Option<String>| {
            if let Notification::Disconnected { reason } = &n.what {
                *lost = Some(reason.clone());
                return;
            }
            sink.send(id, Update::Notified(n.latency_us));
            *dirty |= dirt_of(&n.what, current().as_deref());
        };
        // Wait for the first thing to do...
        cc::select! {
            recv(notes) -> n => match n {
                Ok(n) => take(n, &mut dirty, &mut lost),
                Err(_) => lost = Some("the notification stream ended".into()),
            },
            recv(asks) -> a => match a {
                Ok(d) => dirty |= d,
                Err(_) => return, // the session was dropped
            },
        }
        // ...then fold in everything already waiting: one refresh for a
        // burst of notifications.
        while lost.is_none() {
            if let Ok(n) = notes.try_recv() {
                take(n, &mut dirty, &mut lost);
            } else if let Ok(d) = asks.try_recv() {
                dirty |= d;
            } else {
                break;
            }
        }
        if !dirty.is_empty()
            && refresh(b, sink, id, dirty, current().as_deref()).is_err()
            && lost.is_none()
        {
            lost = Some("the node stopped answering".into());
        }
        if let Some(why) = lost {
            sink.send(id, Update::Lost(why));
            return;
        }
    }
}

/// Re-reads `dirty`. `Err` when the node is gone.
fn refresh(
    b: &dyn Backend,
    sink: &Sink,
    id: u64,
    dirty: Dirty,
    wallet: Option<&str>,
) -> Result<(), ()> {
    let run = |what: Refreshed, w: Option<&str>, method: &str, params: Value| {
        let r = b.rpc(w, method, params);
        let gone = r.as_ref().is_err_and(BackendError::is_disconnect);
        sink.send(id, Update::Refreshed(what, r));
        if gone {
            Err(())
        } else {
            Ok(())
        }
    };
    if dirty.has(Dirty::CHAIN) {
        run(Refreshed::Chain, None, "getblockchaininfo", json!([]))?;
    }
    if dirty.has(Dirty::MEMPOOL) {
        run(Refreshed::Mempool, None, "getmempoolinfo", json!([]))?;
    }
    if dirty.has(Dirty::NETWORK) {
        run(Refreshed::Network, None, "getnetworkinfo", json!([]))?;
    }
    if dirty.has(Dirty::UPTIME) {
        run(Refreshed::Uptime, None, "uptime", json!([]))?;
    }
    if dirty.has(Dirty::IPC) {
        run(Refreshed::Ipc, None, "getipcinfo", json!([]))?;
    }
    if dirty.has(Dirty::WALLETS) {
        run(Refreshed::Wallets, None, "listwallets", json!([]))?;
        run(Refreshed::WalletDir, None, "listwalletdir", json!([]))?;
    }
    if let Some(w) = wallet {
        if dirty.has(Dirty::WALLET_INFO) {
            run(
                Refreshed::WalletInfo(w.into()),
                Some(w),
                "getwalletinfo",
                json!([]),
            )?;
        }
        if dirty.has(Dirty::WALLET) {
            run(
                Refreshed::Balances(w.into()),
                Some(w),
                "getbalances",
                json!([]),
            )?;
            run(
                Refreshed::Transactions(w.into()),
                Some(w),
                "listtransactions",
                json!(["*", TX_LIMIT, 0, true]),
            )?;
        }
    }
    Ok(())
}

/// Transactions the window lists (the newest ones).
pub const TX_LIMIT: u32 = 2000;
