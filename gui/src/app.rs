//! The window: an eframe application that owns the [`Model`], the screens
//! and the current [`Session`], and turns worker [`Update`]s into model
//! changes. Nothing here waits for the node.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel as cc;
use serde_json::{json, Value};

use crate::backend::Connector;
use crate::error::BackendError;
use crate::model::{
    transactions_from_json, Balances, ChainInfo, MempoolInfo, Model, NetworkInfo, Phase, WalletInfo,
};
use crate::ui;
use crate::worker::{self, Dirty, Refreshed, Session, Sink, Tag, Update};
use btc_core::rpc_codes as codes;

/// How the window starts.
pub struct AppConfig {
    pub connector: Arc<dyn Connector>,
    /// The chain expected before the node says (for the title and checks).
    pub chain: String,
    /// `-wallet` names: the first is shown; missing ones are loaded.
    pub wallets: Vec<String>,
    /// Set by SIGTERM/SIGINT: close as if the window's close button was
    /// pressed.
    pub quit: Arc<AtomicBool>,
}

/// Where closing the window is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    No,
    /// Waiting for the node to stop (or for a start in progress to end).
    InProgress,
    /// Done: the window may go.
    Done,
}

/// The application.
pub struct GuiApp {
    connector: Arc<dyn Connector>,
    quit: Arc<AtomicBool>,
    wanted_wallets: Vec<String>,
    /// `-wallet` names already asked to load (once per session).
    loading_wanted: bool,
    sink: Sink,
    rx: cc::Receiver<(u64, Update)>,
    session: Option<Session>,
    /// Id of the current connection attempt / session.
    session_id: u64,
    /// Id of the session being closed.
    closing_id: Option<u64>,
    closing: Closing,
    pub model: Model,
    pub screens: ui::Screens,
}

impl GuiApp {
    /// Builds the window's state and starts the node (or attaches to it)
    /// in the background.
    pub fn new(ctx: &egui::Context, cfg: AppConfig) -> GuiApp {
        let (sink, rx) = Sink::new(ctx.clone());
        let mut app = GuiApp {
            connector: cfg.connector,
            quit: cfg.quit,
            wanted_wallets: cfg.wallets,
            loading_wanted: false,
            sink,
            rx,
            session: None,
            session_id: 0,
            closing_id: None,
            closing: Closing::No,
            model: Model::new(&cfg.chain),
            screens: ui::Screens::default(),
        };
        app.start();
        app
    }

    /// Starts (again) or reaches the node.
    pub fn start(&mut self) {
        self.session_id += 1;
        let verb = if self.connector.spawns() {
            "Starting the node…"
        } else {
            "Connecting to the node…"
        };
        self.model.phase = Phase::Connecting(verb.into());
        worker::connect(
            Arc::clone(&self.connector),
            self.sink.clone(),
            self.session_id,
        );
    }

    /// Whether the GUI started its node (restart) or attached (reconnect).
    pub fn spawns(&self) -> bool {
        self.connector.spawns()
    }

    pub fn describe(&self) -> String {
        self.connector.describe()
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref().filter(|_| self.model.connected())
    }

    pub fn closing(&self) -> Closing {
        self.closing
    }

    /// The process id of the node this window started (while connected
    /// to it), for diagnostics and tests.
    pub fn node_pid(&self) -> Option<u32> {
        self.session.as_ref().and_then(Session::node_pid)
    }

    /// Closing the window, SIGTERM and SIGINT all come here: a node the
    /// GUI started is stopped (in the background, with progress shown),
    /// an attached one is left alone.
    pub fn request_close(&mut self) {
        if self.closing != Closing::No {
            return;
        }
        match self.session.take() {
            Some(s) => {
                self.closing = Closing::InProgress;
                let what = if s.owns_node() {
                    "Stopping the node…"
                } else {
                    "Disconnecting…"
                };
                self.model.phase = Phase::ShuttingDown(what.into());
                self.closing_id = Some(s.id());
                s.close(self.sink.clone());
            }
            None if matches!(self.model.phase, Phase::Connecting(_)) => {
                // A start is under way: cut it short; it ends in an error
                // (after stopping what it started) or in a session closed
                // as soon as it arrives.
                self.connector.cancel();
                self.closing = Closing::InProgress;
                self.model.phase = Phase::ShuttingDown("Waiting for the node to start…".into());
            }
            None => {
                self.closing = Closing::Done;
                self.model.phase = Phase::Closed;
            }
        }
    }

    /// Reads every update the workers sent (non-blocking).
    pub fn pump(&mut self) {
        while let Ok((id, u)) = self.rx.try_recv() {
            self.apply(id, u);
        }
    }

    fn apply(&mut self, id: u64, u: Update) {
        if let Update::Closed = u {
            if self.closing_id == Some(id) {
                self.closing = Closing::Done;
                self.model.phase = Phase::Closed;
            }
            return;
        }
        if let Update::Progress(p) = &u {
            if self.closing_id == Some(id) {
                self.model.phase = Phase::ShuttingDown(p.clone());
                return;
            }
        }
        if id != self.session_id {
            // A session we left (lost, or replaced by a restart): if it
            // connected late, close it.
            if let Update::Connected(s) = u {
                s.close(self.sink.clone());
            }
            return;
        }
        match u {
            Update::Progress(p) => {
                if let Phase::Connecting(_) = self.model.phase {
                    self.model.phase = Phase::Connecting(p);
                }
            }
            Update::Connected(s) => {
                if self.closing == Closing::InProgress {
                    self.closing_id = Some(s.id());
                    s.close(self.sink.clone());
                    return;
                }
                self.model.chain_name = s.chain();
                self.model.phase = Phase::Connected;
                self.loading_wanted = false;
                if let Some(w) = self.model.wallet.clone() {
                    s.set_wallet(Some(&w));
                }
                self.session = Some(s);
            }
            Update::ConnectFailed(e) => {
                if self.closing == Closing::InProgress {
                    self.closing = Closing::Done;
                    self.model.phase = Phase::Closed;
                } else {
                    self.model.phase = Phase::Failed(e.message());
                }
            }
            Update::Lost(why) => {
                if self.model.phase == Phase::Connected {
                    self.model.phase = Phase::Lost(why);
                    self.model.scan = None;
                    // Reap what is left of it (a dead child) in the background.
                    if let Some(s) = self.session.take() {
                        s.close(self.sink.clone());
                    }
                    self.screens.on_lost();
                }
            }
            Update::Closed => {}
            Update::Notified(lat) => {
                self.model.note_latency(lat);
            }
            Update::Refreshed(what, r) => self.refreshed(what, r),
            Update::Scan(p) => self.model.scan = p,
            Update::Reply(tag, r) => {
                let ctx = ui::Ctx {
                    model: &mut self.model,
                    session: self.session.as_ref(),
                };
                if let Some(select) = self.screens.reply(ctx, tag, r) {
                    self.select_wallet(Some(select));
                }
            }
            Update::Console(n, r) => {
                self.screens.console.output(n, r);
                // A command may have loaded, unloaded, locked or unlocked
                // a wallet: no notification says so.
                if let Some(s) = self.session() {
                    s.refresh(Dirty::WALLETS | Dirty::WALLET_INFO);
                }
            }
        }
    }

    fn refreshed(&mut self, what: Refreshed, r: Result<Value, BackendError>) {
        self.model.updated = Some(std::time::SystemTime::now());
        let m = &mut self.model;
        let for_shown = |w: &String, m: &Model| m.wallet.as_ref() == Some(w);
        match (what, r) {
            (Refreshed::Chain, Ok(v)) => {
                if let Some(c) = ChainInfo::from_json(&v) {
                    m.chain_name = c.chain.clone();
                    m.chain = Some(c);
                }
            }
            (Refreshed::Mempool, Ok(v)) => m.mempool = MempoolInfo::from_json(&v),
            (Refreshed::Network, Ok(v)) => m.network = NetworkInfo::from_json(&v),
            (Refreshed::Uptime, Ok(v)) => {
                m.uptime = v.as_u64().map(|s| (s, std::time::Instant::now()));
            }
            (Refreshed::Ipc, Ok(v)) => m.set_ipc(&v),
            (Refreshed::Ipc, Err(_)) => m.ipc_supported = Some(false),
            (Refreshed::Wallets, Ok(v)) => {
                m.wallets = v
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|w| w.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                self.choose_wallet();
            }
            (Refreshed::WalletDir, Ok(v)) => {
                m.wallet_dir = v.get("wallets").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(|w| w.get("name").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                });
            }
            (Refreshed::WalletDir, Err(_)) => m.wallet_dir = None,
            (Refreshed::WalletInfo(w), Ok(v)) if for_shown(&w, m) => {
                m.wallet_info = WalletInfo::from_json(&v);
            }
            (Refreshed::Balances(w), Ok(v)) if for_shown(&w, m) => {
                m.balances = Balances::from_json(&v);
            }
            (Refreshed::Transactions(w), Ok(v)) if for_shown(&w, m) => {
                m.txs = transactions_from_json(&v);
            }
            (
                Refreshed::WalletInfo(w) | Refreshed::Balances(w) | Refreshed::Transactions(w),
                Err(e),
            ) if for_shown(&w, m) && e.is(codes::RPC_WALLET_NOT_FOUND) => {
                // Unloaded behind our back (console, another client).
                m.wallets.retain(|x| *x != w);
                self.select_wallet(None);
                if let Some(s) = self.session() {
                    s.refresh(Dirty::WALLETS);
                }
            }
            _ => {}
        }
    }

    /// After `listwallets`: keep the shown wallet if still loaded, else
    /// show the `-wallet` one (loading it if needed), else the first.
    fn choose_wallet(&mut self) {
        let loaded = self.model.wallets.clone();
        if let Some(w) = &self.model.wallet {
            if loaded.contains(w) {
                return;
            }
        } else if self.screens.wizard.requested {
            return;
        }
        if let Some(first) = self.wanted_wallets.first().cloned() {
            if loaded.contains(&first) {
                self.select_wallet(Some(first));
                return;
            }
            if !self.loading_wanted {
                self.loading_wanted = true;
                if let Some(s) = self.session() {
                    s.call(
                        Tag::LoadWallet(first.clone()),
                        None,
                        "loadwallet",
                        json!([first]),
                    );
                    self.screens.wizard.busy = Some(format!("Opening wallet {first}…"));
                }
                return;
            }
        }
        self.select_wallet(loaded.first().cloned());
    }

    /// Shows `name` (or no wallet: the first-run wizard).
    pub fn select_wallet(&mut self, name: Option<String>) {
        if name.is_some() {
            self.screens.wizard.requested = false;
        }
        if self.model.wallet == name {
            return;
        }
        self.model.wallet = name.clone();
        self.model.clear_wallet();
        if let Some(n) = &name {
            if !self.model.wallets.contains(n) {
                self.model.wallets.push(n.clone());
            }
        }
        self.screens.on_wallet_changed();
        if let Some(s) = &self.session {
            s.set_wallet(name.as_deref());
        }
    }

    /// One frame's logic: updates in, signals and close requests handled.
    pub fn tick(&mut self, ctx: &egui::Context) {
        self.pump();
        if self.quit.swap(false, Ordering::AcqRel) {
            self.request_close();
        }
        if ctx.input(|i| i.viewport().close_requested()) && self.closing != Closing::Done {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.request_close();
        }
        if self.closing == Closing::Done {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Draws the window.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let mut action = ui::Action::None;
        let spawns = self.spawns();
        egui::Panel::top("top").show(ui, |ui| {
            action = ui::top_bar(ui, &self.model, &mut self.screens.tab, spawns);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            ui::status_bar(ui, &self.model, &self.describe(), self.screens.busy());
        });
        egui::CentralPanel::default().show(ui, |ui| {
            let ctx = ui::Ctx {
                model: &mut self.model,
                session: self.session.as_ref(),
            };
            if let Some(a) = self.screens.show(ui, ctx) {
                action = a;
            }
        });
        ui::shutdown_overlay(ui.ctx(), &self.model);
        match action {
            ui::Action::None => {}
            ui::Action::Restart => self.start(),
            ui::Action::SelectWallet(w) => self.select_wallet(Some(w)),
            ui::Action::OpenWizard => {
                self.screens.wizard.requested = true;
                self.screens.tab = ui::Tab::Overview;
                self.select_wallet(None);
                if let Some(s) = self.session() {
                    s.refresh(Dirty::WALLETS);
                }
            }
        }
    }
}

impl eframe::App for GuiApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.tick(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // The window went away without the close path (it shouldn't):
        // still stop a node we started.
        if let Some(s) = self.session.take() {
            s.close_now();
        }
    }
}
