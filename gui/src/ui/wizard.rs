//! First run: no wallet is shown, so create one (optionally encrypted
//! with a passphrase) or open one the node has on disk.

use serde_json::{json, Value};

use super::{error, field, password, Action, Ctx};
use crate::error::BackendError;
use crate::worker::{Dirty, Tag};
use btc_core::rpc_codes as codes;

pub const MSG_NO_NAME: &str = "Enter a wallet name.";
pub const MSG_PASS_MISMATCH: &str = "The passphrases do not match.";

#[derive(Default)]
pub struct WizardScreen {
    pub name: String,
    pub passphrase: String,
    pub repeat: String,
    pub open_name: String,
    pub error: Option<String>,
    /// What is under way ("Creating wallet…").
    pub busy: Option<String>,
    /// The user opened the wizard: don't pick a wallet for them.
    pub requested: bool,
}

impl WizardScreen {
    pub fn on_lost(&mut self) {
        if self.busy.take().is_some() {
            self.error = Some("The node went away; the wallet may not be ready.".into());
        }
    }

    fn create(&mut self, ctx: &Ctx<'_>) {
        self.error = None;
        let name = self.name.trim().to_string();
        if name.is_empty() {
            self.error = Some(MSG_NO_NAME.into());
            return;
        }
        if self.passphrase != self.repeat {
            self.error = Some(MSG_PASS_MISMATCH.into());
            return;
        }
        // createwallet name disable_private_keys blank passphrase avoid_reuse descriptors
        let params = json!([name, false, false, self.passphrase, false, true]);
        if let Some(s) = ctx.live() {
            s.call(
                Tag::CreateWallet(name.clone()),
                None,
                "createwallet",
                params,
            );
            self.busy = Some(format!("Creating wallet {name}…"));
        }
    }

    fn open(&mut self, ctx: &Ctx<'_>, name: &str) {
        self.error = None;
        let name = name.trim().to_string();
        if name.is_empty() {
            self.error = Some(MSG_NO_NAME.into());
            return;
        }
        if let Some(s) = ctx.live() {
            s.call(
                Tag::LoadWallet(name.clone()),
                None,
                "loadwallet",
                json!([name]),
            );
            self.busy = Some(format!("Opening wallet {name}…"));
        }
    }

    /// A create/load answer: the wallet to show on success.
    pub fn reply(
        &mut self,
        ctx: &mut Ctx<'_>,
        tag: Tag,
        r: Result<Value, BackendError>,
    ) -> Option<String> {
        self.busy = None;
        let asked = match &tag {
            Tag::CreateWallet(n) | Tag::LoadWallet(n) => n.clone(),
            _ => return None,
        };
        if let Some(s) = ctx.live() {
            s.refresh(Dirty::WALLETS);
        }
        match r {
            Ok(v) => {
                self.passphrase.clear();
                self.repeat.clear();
                self.name.clear();
                self.open_name.clear();
                Some(
                    v.get("name")
                        .and_then(Value::as_str)
                        .map_or(asked, str::to_owned),
                )
            }
            // Already loaded is as good as loaded.
            Err(e) if e.is(codes::RPC_WALLET_ALREADY_LOADED) => Some(asked),
            Err(e) => {
                self.error = Some(e.message());
                None
            }
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ctx: &mut Ctx<'_>) -> Option<Action> {
        let mut action = None;
        ui.heading("Welcome");
        ui.label("No wallet is open. Create a new wallet, or open one the node already has.");
        if !ctx.model.connected() {
            ui.label("The node is not connected: wallets can be opened once it is.");
        }
        if let Some(b) = &self.busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(b.as_str());
            });
            // Loading a wallet may rescan the chain for it.
            super::scan_bar(ui, ctx.model);
        }
        if let Some(e) = &self.error {
            error(ui, e);
        }
        let idle = self.busy.is_none() && ctx.live().is_some();
        ui.add_space(8.0);
        ui.group(|ui| {
            ui.strong("Create a new wallet");
            egui::Grid::new("create-wallet").num_columns(2).show(ui, |ui| {
                field(ui, "Wallet name:", &mut self.name, "e.g. main");
                ui.end_row();
                password(ui, "Passphrase (optional):", &mut self.passphrase);
                ui.end_row();
                password(ui, "Repeat passphrase:", &mut self.repeat);
                ui.end_row();
            });
            ui.label("A passphrase encrypts the wallet's keys: it is asked for before every send. If it is lost, so are the coins.");
            if ui.add_enabled(idle, egui::Button::new("Create wallet")).clicked() {
                self.create(ctx);
            }
        });
        ui.add_space(8.0);
        ui.group(|ui| {
            ui.strong("Open an existing wallet");
            let loaded = &ctx.model.wallets;
            if !loaded.is_empty() {
                ui.label("Open now:");
                ui.horizontal_wrapped(|ui| {
                    for w in loaded {
                        if ui.button(format!("Show {w}")).clicked() {
                            action = Some(Action::SelectWallet(w.clone()));
                        }
                    }
                });
            }
            let on_disk: Vec<String> = ctx
                .model
                .wallet_dir
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|w| !loaded.contains(w))
                .collect();
            if !on_disk.is_empty() {
                ui.label("On disk:");
                ui.horizontal_wrapped(|ui| {
                    for w in on_disk {
                        let shown = if w.is_empty() {
                            "(default wallet)".to_string()
                        } else {
                            w.clone()
                        };
                        if ui
                            .add_enabled(idle, egui::Button::new(format!("Open {shown}")))
                            .clicked()
                        {
                            self.open(ctx, &w);
                        }
                    }
                });
            }
            ui.horizontal(|ui| {
                field(ui, "Wallet to open:", &mut self.open_name, "name");
                if ui
                    .add_enabled(idle, egui::Button::new("Open wallet"))
                    .clicked()
                {
                    let n = self.open_name.clone();
                    self.open(ctx, &n);
                }
            });
        });
        action
    }
}
