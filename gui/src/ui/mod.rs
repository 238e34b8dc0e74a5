//! The screens, and what they share: the top bar with the tabs and the
//! connection banner, the status bar, and small widgets.

pub mod console;
pub mod node;
pub mod overview;
pub mod plot;
pub mod receive;
pub mod send;
pub mod transactions;
pub mod wizard;

use serde_json::Value;

use crate::error::BackendError;
use crate::model::{Model, Phase};
use crate::worker::{Session, Tag};

/// The tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Overview,
    Send,
    Receive,
    Transactions,
    Node,
    Console,
}

impl Tab {
    pub const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Send,
        Tab::Receive,
        Tab::Transactions,
        Tab::Node,
        Tab::Console,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Send => "Send",
            Tab::Receive => "Receive",
            Tab::Transactions => "Transactions",
            Tab::Node => "Node",
            Tab::Console => "Console",
        }
    }

    /// Whether the tab shows a wallet (the wizard stands in without one).
    pub fn needs_wallet(self) -> bool {
        matches!(
            self,
            Tab::Overview | Tab::Send | Tab::Receive | Tab::Transactions
        )
    }
}

/// What a screen asks the application to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    /// Start the node again / reconnect.
    Restart,
    SelectWallet(String),
    OpenWizard,
}

/// What a screen may use: the model, and the session when connected.
pub struct Ctx<'a> {
    pub model: &'a mut Model,
    pub session: Option<&'a Session>,
}

impl Ctx<'_> {
    /// The session, if the node is there.
    pub fn live(&self) -> Option<&Session> {
        self.session.filter(|_| self.model.connected())
    }

    /// Calls the node for the shown wallet; false when it can't (no node).
    pub fn wallet_call(&self, tag: Tag, method: &str, params: Value) -> bool {
        match self.live() {
            Some(s) => {
                s.call(tag, self.model.wallet.as_deref(), method, params);
                true
            }
            None => false,
        }
    }
}

/// Every screen's state.
#[derive(Default)]
pub struct Screens {
    pub tab: Tab,
    pub send: send::SendScreen,
    pub receive: receive::ReceiveScreen,
    pub transactions: transactions::TransactionsScreen,
    pub console: console::ConsoleScreen,
    pub wizard: wizard::WizardScreen,
}

impl Screens {
    /// Draws the current tab (or the wizard when a wallet tab has no
    /// wallet).
    pub fn show(&mut self, ui: &mut egui::Ui, mut ctx: Ctx<'_>) -> Option<Action> {
        if self.tab.needs_wallet() && ctx.model.wallet.is_none() {
            return self.wizard.show(ui, &mut ctx);
        }
        match self.tab {
            Tab::Overview => overview::show(ui, ctx.model),
            Tab::Send => self.send.show(ui, &mut ctx),
            Tab::Receive => self.receive.show(ui, &mut ctx),
            Tab::Transactions => self.transactions.show(ui, &mut ctx),
            Tab::Node => node::show(ui, ctx.model),
            Tab::Console => self.console.show(ui, &mut ctx),
        }
        None
    }

    /// A job's answer. Returns a wallet to show, if the answer loaded one.
    pub fn reply(
        &mut self,
        mut ctx: Ctx<'_>,
        tag: Tag,
        r: Result<Value, BackendError>,
    ) -> Option<String> {
        match tag {
            Tag::CreateWallet(_) | Tag::LoadWallet(_) => {
                return self.wizard.reply(&mut ctx, tag, r)
            }
            Tag::PrepareSend | Tag::Unlock | Tag::Send | Tag::Relock => {
                self.send.reply(&mut ctx, tag, r)
            }
            Tag::NewAddress => self.receive.reply(&mut ctx, r),
            Tag::TxDetails(txid) => self.transactions.reply(&txid, r),
            Tag::Other => {}
        }
        None
    }

    /// The node went away: whatever was waiting for it stops waiting.
    pub fn on_lost(&mut self) {
        self.send.on_lost();
        self.receive.on_lost();
        self.console.on_lost();
        self.wizard.on_lost();
    }

    pub fn on_wallet_changed(&mut self) {
        self.send.reset();
        self.transactions.reset();
        self.receive.on_wallet_changed();
    }

    /// What long work is going on, for the status bar.
    pub fn busy(&self) -> Option<String> {
        self.send
            .busy()
            .or_else(|| self.wizard.busy.clone())
            .or_else(|| self.receive.busy())
            .or_else(|| self.console.busy())
    }
}

/// The tab row, the wallet selector and the connection banner.
pub fn top_bar(ui: &mut egui::Ui, model: &Model, tab: &mut Tab, spawns: bool) -> Action {
    let mut action = Action::None;
    ui.horizontal(|ui| {
        for t in Tab::ALL {
            ui.selectable_value(tab, t, t.title());
        }
        ui.separator();
        if !model.wallets.is_empty() {
            let shown = model.wallet.clone().unwrap_or_else(|| "(none)".into());
            let label = ui.label("Wallet:");
            egui::ComboBox::from_id_salt("wallet-select")
                .selected_text(shown.clone())
                .show_ui(ui, |ui| {
                    for w in &model.wallets {
                        if ui
                            .selectable_label(Some(w) == model.wallet.as_ref(), w)
                            .clicked()
                        {
                            action = Action::SelectWallet(w.clone());
                        }
                    }
                })
                .response
                .labelled_by(label.id);
        }
        if model.connected() && ui.button("Open or create wallet…").clicked() {
            action = Action::OpenWizard;
        }
    });
    match &model.phase {
        Phase::Lost(why) | Phase::Failed(why) => {
            let lost = matches!(model.phase, Phase::Lost(_));
            egui::Frame::new()
                .fill(ui.visuals().error_fg_color.gamma_multiply(0.25))
                .inner_margin(6.0)
                .show(ui, |ui| {
                    ui.horizontal_wrapped(|ui| {
                        let title = if lost {
                            "Node disconnected"
                        } else if spawns {
                            "The node could not be started"
                        } else {
                            "Could not connect to the node"
                        };
                        ui.strong(title);
                        ui.label(format!("({why}).")).on_hover_text(why.as_str());
                        if lost {
                            ui.label("What is shown is as of the last update.");
                        }
                        let verb = if spawns { "Restart node" } else { "Reconnect" };
                        if ui.button(verb).clicked() {
                            action = Action::Restart;
                        }
                    });
                });
        }
        Phase::Connecting(what) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(what.as_str());
            });
        }
        _ => {}
    }
    action
}

/// Chain, height, connection and what is in progress.
pub fn status_bar(ui: &mut egui::Ui, model: &Model, describe: &str, busy: Option<String>) {
    ui.horizontal(|ui| {
        let state = match &model.phase {
            Phase::Connected => "Connected",
            Phase::Connecting(_) => "Connecting",
            Phase::Lost(_) => "Disconnected",
            Phase::Failed(_) => "Not started",
            Phase::ShuttingDown(_) => "Shutting down",
            Phase::Closed => "Closed",
        };
        ui.label(format!("{state} · {describe}"));
        ui.separator();
        ui.label(format!("Chain: {}", model.chain_name));
        if let Some(c) = &model.chain {
            ui.separator();
            ui.label(format!("Blocks: {}", c.blocks));
            if c.ibd || c.progress < 0.9999 {
                ui.add(
                    egui::ProgressBar::new(c.progress as f32)
                        .desired_width(120.0)
                        .text(format!("Syncing {:.1}%", c.progress * 100.0)),
                );
            }
        }
        if let Some(b) = busy {
            ui.separator();
            ui.spinner();
            ui.label(b);
        }
        if model.scan.is_some() {
            ui.separator();
            scan_bar(ui, model);
        }
    });
}

/// The progress of a rescan under way, if any (asked for once a second
/// while a call that may rescan runs).
pub fn scan_bar(ui: &mut egui::Ui, model: &Model) {
    if let Some(s) = &model.scan {
        ui.add(
            egui::ProgressBar::new(s.progress as f32)
                .desired_width(240.0)
                .text(s.text()),
        );
    }
}

/// While closing: a modal saying what is going on (the window can't be
/// used then, but it keeps painting).
pub fn shutdown_overlay(ctx: &egui::Context, model: &Model) {
    if let Phase::ShuttingDown(what) = &model.phase {
        egui::Modal::new(egui::Id::unique("shutdown")).show(ctx, |ui| {
            ui.heading("Shutting down");
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(what.as_str());
            });
            ui.label("Do not shut down the computer until this window disappears.");
        });
    }
}

/// A labelled single-line text field (the label names it for screen
/// readers and tests).
pub fn field(ui: &mut egui::Ui, label: &str, text: &mut String, hint: &str) -> egui::Response {
    let l = ui.label(label);
    ui.add(egui::TextEdit::singleline(text).hint_text(hint.to_string()))
        .labelled_by(l.id)
}

/// A labelled password field.
pub fn password(ui: &mut egui::Ui, label: &str, text: &mut String) -> egui::Response {
    let l = ui.label(label);
    ui.add(egui::TextEdit::singleline(text).password(true))
        .labelled_by(l.id)
}

/// An error line.
pub fn error(ui: &mut egui::Ui, text: &str) {
    ui.colored_label(ui.visuals().error_fg_color, text);
}
