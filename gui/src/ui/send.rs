//! Send: recipient, amount (or the whole available balance), fee by
//! confirmation target or explicit rate, replace-by-fee; then a
//! confirmation dialog with the fee the wallet computed, an unlock prompt
//! for an encrypted wallet, and the send itself, all off the UI thread.

use serde_json::{json, Map, Value};

use super::{error, field, password, Ctx};
use crate::address;
use crate::amount::{self, format_btc};
use crate::error::BackendError;
use crate::worker::{Dirty, Tag};
use btc_core::rpc_codes as codes;

/// Confirmation targets offered (Core's GUI list).
pub const TARGETS: [u32; 9] = [2, 4, 6, 12, 24, 48, 144, 504, 1008];

/// Seconds an unlock for a send lasts (relocked right after the send).
const UNLOCK_SECS: u32 = 60;

pub const MSG_AMOUNT_OVER: &str = "The amount exceeds your balance.";
pub const MSG_AMOUNT_ZERO: &str = "The amount to pay must be larger than 0.";
pub const MSG_AMOUNT_BAD: &str = "Enter an amount in BTC, with at most 8 decimals.";
pub const MSG_FEE_BAD: &str = "Enter a fee rate in sat/vB, e.g. 2.5.";
pub const MSG_WRONG_PASS: &str = "The passphrase entered for the wallet decryption was incorrect.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FeeMode {
    #[default]
    Target,
    Rate,
}

/// Where a send is.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Stage {
    #[default]
    Editing,
    /// Asking the wallet for the fee.
    Preparing,
    /// The confirmation dialog (with the fee, when the wallet told it).
    Confirm {
        fee: Option<i64>,
    },
    /// The passphrase prompt.
    Unlock {
        error: Option<String>,
    },
    Unlocking,
    Sending,
}

/// What a send needs, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub address: String,
    pub sats: i64,
    pub subtract_fee: bool,
    pub fee: Value,
    pub rbf: bool,
}

#[derive(Default)]
pub struct SendScreen {
    pub address: String,
    pub label: String,
    pub amount: String,
    pub use_available: bool,
    pub fee_mode: FeeMode,
    pub target: u32,
    pub fee_rate: String,
    pub rbf: bool,
    pub stage: Stage,
    pub passphrase: String,
    pub address_error: Option<String>,
    pub amount_error: Option<String>,
    pub fee_error: Option<String>,
    /// The last send's outcome: txid or error.
    pub result: Option<Result<String, String>>,
    checked: Option<Checked>,
    /// We unlocked the wallet for this send: lock it again after.
    relock: bool,
    initialized: bool,
}

impl SendScreen {
    fn init(&mut self) {
        if !self.initialized {
            self.initialized = true;
            self.target = 6;
            self.rbf = true;
        }
    }

    /// Forgets the form (another wallet is shown).
    pub fn reset(&mut self) {
        *self = SendScreen::default();
    }

    pub fn busy(&self) -> Option<String> {
        match self.stage {
            Stage::Preparing => Some("Preparing the transaction…".into()),
            Stage::Unlocking => Some("Unlocking the wallet…".into()),
            Stage::Sending => Some("Sending…".into()),
            _ => None,
        }
    }

    pub fn on_lost(&mut self) {
        let msg = match self.stage {
            Stage::Editing => None,
            Stage::Sending => Some(
                "The node went away during the send: look for the transaction once it is back.",
            ),
            _ => Some("The node went away; nothing was sent."),
        };
        if let Some(m) = msg {
            self.stage = Stage::Editing;
            self.result = Some(Err(m.into()));
        }
        self.passphrase.clear();
    }

    /// Checks the form; sets the field errors.
    pub fn check(&mut self, ctx: &Ctx<'_>) -> Option<Checked> {
        self.address_error = None;
        self.amount_error = None;
        self.fee_error = None;
        let available = ctx.model.balances.map_or(0, |b| b.trusted);
        let addr = match address::validate(&self.address, &ctx.model.chain_name) {
            Ok(a) => Some(a.to_string()),
            Err(e) => {
                self.address_error = Some(e.to_string());
                None
            }
        };
        let sats = if self.use_available {
            Some(available).filter(|a| *a > 0).or_else(|| {
                self.amount_error = Some(MSG_AMOUNT_ZERO.into());
                None
            })
        } else {
            match amount::parse_btc(&self.amount) {
                None => {
                    self.amount_error = Some(MSG_AMOUNT_BAD.into());
                    None
                }
                Some(0) => {
                    self.amount_error = Some(MSG_AMOUNT_ZERO.into());
                    None
                }
                Some(s) if s > available => {
                    self.amount_error = Some(MSG_AMOUNT_OVER.into());
                    None
                }
                Some(s) => Some(s),
            }
        };
        let fee = match self.fee_mode {
            FeeMode::Target => Some(json!({"conf_target": self.target})),
            FeeMode::Rate => match parse_fee_rate(&self.fee_rate) {
                Some(r) => Some(json!({ "fee_rate": r })),
                None => {
                    self.fee_error = Some(MSG_FEE_BAD.into());
                    None
                }
            },
        };
        Some(Checked {
            address: addr?,
            sats: sats?,
            subtract_fee: self.use_available,
            fee: fee?,
            rbf: self.rbf,
        })
    }

    fn options(c: &Checked, sffo_key: &str) -> Value {
        let mut o = Map::new();
        if let Value::Object(f) = &c.fee {
            o.extend(f.clone());
        }
        o.insert("replaceable".into(), json!(c.rbf));
        if c.subtract_fee {
            o.insert(sffo_key.into(), json!([0]));
        }
        Value::Object(o)
    }

    fn outputs(c: &Checked) -> Value {
        let mut out = Map::new();
        out.insert(c.address.clone(), amount::to_json(c.sats));
        json!([out])
    }

    /// "Send" pressed: check, then ask the wallet for the fee.
    pub fn start(&mut self, ctx: &Ctx<'_>) {
        self.result = None;
        let Some(c) = self.check(ctx) else { return };
        let params = json!([
            [],
            Self::outputs(&c),
            null,
            Self::options(&c, "subtractFeeFromOutputs")
        ]);
        self.checked = Some(c);
        if ctx.wallet_call(Tag::PrepareSend, "walletcreatefundedpsbt", params) {
            self.stage = Stage::Preparing;
        }
    }

    /// Confirmed: unlock first if the wallet is locked, then send.
    fn confirmed(&mut self, ctx: &Ctx<'_>) {
        if ctx.model.wallet_info.as_ref().is_some_and(|w| w.locked()) {
            self.stage = Stage::Unlock { error: None };
        } else {
            self.send(ctx);
        }
    }

    fn send(&mut self, ctx: &Ctx<'_>) {
        let Some(c) = &self.checked else {
            self.stage = Stage::Editing;
            return;
        };
        let params = json!([
            Self::outputs(c),
            null,
            null,
            null,
            Self::options(c, "subtract_fee_from_outputs")
        ]);
        self.stage = if ctx.wallet_call(Tag::Send, "send", params) {
            Stage::Sending
        } else {
            Stage::Editing
        };
    }

    fn unlock(&mut self, ctx: &Ctx<'_>) {
        let pass = std::mem::take(&mut self.passphrase);
        if ctx.wallet_call(Tag::Unlock, "walletpassphrase", json!([pass, UNLOCK_SECS])) {
            self.stage = Stage::Unlocking;
        }
    }

    /// A job's answer.
    pub fn reply(&mut self, ctx: &mut Ctx<'_>, tag: Tag, r: Result<Value, BackendError>) {
        match (tag, r) {
            (Tag::PrepareSend, Ok(v)) if self.stage == Stage::Preparing => {
                let fee = v.get("fee").and_then(amount::from_json);
                self.stage = Stage::Confirm { fee };
            }
            (Tag::PrepareSend, Err(e)) if e.is(codes::RPC_METHOD_NOT_FOUND) => {
                // The wallet can't tell the fee beforehand: confirm without it.
                self.stage = Stage::Confirm { fee: None };
            }
            (Tag::PrepareSend | Tag::Send | Tag::Unlock, Err(e)) if e.is_disconnect() => {
                self.on_lost();
            }
            (Tag::PrepareSend | Tag::Send, Err(e)) => {
                self.stage = Stage::Editing;
                if e.is(codes::RPC_WALLET_UNLOCK_NEEDED) {
                    self.stage = Stage::Unlock { error: None };
                } else {
                    self.show_error(&e);
                }
            }
            (Tag::Unlock, Ok(_)) => {
                self.relock = true;
                if let Some(s) = ctx.live() {
                    s.refresh(Dirty::WALLET_INFO);
                }
                self.send(ctx);
            }
            (Tag::Unlock, Err(e)) => {
                let msg = if e.is(codes::RPC_WALLET_PASSPHRASE_INCORRECT) {
                    MSG_WRONG_PASS.to_string()
                } else {
                    e.message()
                };
                self.stage = if e.is_disconnect() {
                    Stage::Editing
                } else {
                    Stage::Unlock { error: Some(msg) }
                };
            }
            (Tag::Send, Ok(v)) => {
                let txid = v
                    .get("txid")
                    .and_then(Value::as_str)
                    .or_else(|| v.as_str())
                    .unwrap_or("")
                    .to_string();
                if !self.label.trim().is_empty() {
                    let a = self.checked.as_ref().map(|c| c.address.clone());
                    ctx.wallet_call(Tag::Other, "setlabel", json!([a, self.label.trim()]));
                }
                if std::mem::take(&mut self.relock) {
                    ctx.wallet_call(Tag::Relock, "walletlock", json!([]));
                }
                if let Some(s) = ctx.live() {
                    s.refresh(Dirty::WALLET | Dirty::WALLET_INFO);
                }
                self.stage = Stage::Editing;
                self.address.clear();
                self.label.clear();
                self.amount.clear();
                self.use_available = false;
                self.checked = None;
                self.result = Some(Ok(txid));
            }
            (Tag::Relock, _) => {
                if let Some(s) = ctx.live() {
                    s.refresh(Dirty::WALLET_INFO);
                }
            }
            _ => {}
        }
    }

    /// Puts a wallet error where it belongs in the form.
    fn show_error(&mut self, e: &BackendError) {
        let msg = e.message();
        if e.is(codes::RPC_INVALID_ADDRESS_OR_KEY) {
            self.address_error = Some(address::AddressError::Invalid.to_string());
        } else if e.is(codes::RPC_WALLET_INSUFFICIENT_FUNDS) || msg.contains("Insufficient funds") {
            self.amount_error = Some(if self.use_available {
                MSG_AMOUNT_OVER.to_string()
            } else {
                "The total exceeds your balance when the transaction fee is included.".to_string()
            });
        } else {
            self.result = Some(Err(msg));
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ctx: &mut Ctx<'_>) {
        self.init();
        ui.heading("Send coins");
        let available = ctx.model.balances.map_or(0, |b| b.trusted);
        let editing = self.stage == Stage::Editing;
        ui.add_enabled_ui(editing, |ui| {
            egui::Grid::new("send-form").num_columns(2).show(ui, |ui| {
                field(ui, "Pay to:", &mut self.address, "Enter a Bitcoin address");
                ui.end_row();
                if let Some(e) = &self.address_error {
                    ui.label("");
                    error(ui, e);
                    ui.end_row();
                }
                field(
                    ui,
                    "Label:",
                    &mut self.label,
                    "Optional label for the address book",
                );
                ui.end_row();
                let l = ui.label("Amount:");
                ui.horizontal(|ui| {
                    if self.use_available {
                        self.amount = amount::format_plain(available);
                    }
                    ui.add_enabled(
                        !self.use_available,
                        egui::TextEdit::singleline(&mut self.amount).hint_text("0.00000000"),
                    )
                    .labelled_by(l.id);
                    ui.label("BTC");
                    ui.checkbox(&mut self.use_available, "Use available balance")
                        .on_hover_text("Send everything: the fee is taken from the amount");
                });
                ui.end_row();
                if let Some(e) = &self.amount_error {
                    ui.label("");
                    error(ui, e);
                    ui.end_row();
                }
                ui.label("Transaction fee:");
                ui.vertical(|ui| {
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut self.fee_mode, FeeMode::Target, "Confirmation target");
                        let t = ui.label("Target:");
                        ui.add_enabled_ui(self.fee_mode == FeeMode::Target, |ui| {
                            egui::ComboBox::from_id_salt("conf-target")
                                .selected_text(target_text(self.target))
                                .show_ui(ui, |ui| {
                                    for n in TARGETS {
                                        ui.selectable_value(&mut self.target, n, target_text(n));
                                    }
                                })
                                .response
                                .labelled_by(t.id);
                        });
                    });
                    ui.horizontal(|ui| {
                        ui.radio_value(&mut self.fee_mode, FeeMode::Rate, "Custom fee rate");
                        let l = ui.label("Fee rate:");
                        ui.add_enabled(
                            self.fee_mode == FeeMode::Rate,
                            egui::TextEdit::singleline(&mut self.fee_rate)
                                .hint_text("sat/vB")
                                .desired_width(80.0),
                        )
                        .labelled_by(l.id);
                        ui.label("sat/vB");
                    });
                    if let Some(e) = &self.fee_error {
                        error(ui, e);
                    }
                    ui.checkbox(&mut self.rbf, "Replace-by-fee (BIP-125)")
                        .on_hover_text(
                            "Allows the fee to be raised later by replacing the transaction",
                        );
                });
                ui.end_row();
            });
        });
        ui.horizontal(|ui| {
            let can = editing && ctx.live().is_some();
            if ui.add_enabled(can, egui::Button::new("Send…")).clicked() {
                self.start(ctx);
            }
            if ui
                .add_enabled(editing, egui::Button::new("Clear"))
                .clicked()
            {
                let keep = (self.target, self.rbf);
                *self = SendScreen::default();
                self.initialized = true;
                (self.target, self.rbf) = keep;
            }
            ui.label(format!("Available: {}", format_btc(available)));
        });
        if let Some(b) = self.busy() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(b);
            });
        }
        match &self.result {
            Some(Ok(txid)) => {
                ui.label("Transaction sent.");
                ui.horizontal(|ui| {
                    ui.label("Transaction ID:");
                    ui.monospace(txid.as_str());
                });
            }
            Some(Err(e)) => error(ui, &format!("Send failed: {e}")),
            None => {}
        }
        self.dialogs(ui.ctx(), ctx);
    }

    fn dialogs(&mut self, ectx: &egui::Context, ctx: &Ctx<'_>) {
        match self.stage.clone() {
            Stage::Confirm { fee } => {
                let Some(c) = self.checked.clone() else {
                    self.stage = Stage::Editing;
                    return;
                };
                let mut answer = None;
                egui::Modal::new(egui::Id::unique("confirm-send")).show(ectx, |ui| {
                    ui.heading("Confirm send coins");
                    egui::Grid::new("confirm-grid")
                        .num_columns(2)
                        .show(ui, |ui| {
                            ui.label("Pay to:");
                            ui.monospace(c.address.as_str());
                            ui.end_row();
                            if !self.label.trim().is_empty() {
                                ui.label("Label:");
                                ui.label(self.label.trim());
                                ui.end_row();
                            }
                            ui.label("Amount:");
                            ui.monospace(format_btc(c.sats));
                            ui.end_row();
                            ui.label("Fee:");
                            match fee {
                                Some(f) => ui.monospace(format_btc(f)),
                                None => ui.label("computed by the wallet when sending"),
                            };
                            ui.end_row();
                            if let Some(f) = fee {
                                ui.label("Total:");
                                let total = if c.subtract_fee { c.sats } else { c.sats + f };
                                ui.monospace(format_btc(total));
                                ui.end_row();
                            }
                            ui.label("Fee setting:");
                            ui.label(match (&c.fee.get("conf_target"), &c.fee.get("fee_rate")) {
                                (Some(t), _) => format!("confirm within {t} blocks"),
                                (_, Some(r)) => format!("{r} sat/vB"),
                                _ => String::new(),
                            });
                            ui.end_row();
                            ui.label("Replace-by-fee:");
                            ui.label(if c.rbf { "yes" } else { "no" });
                            ui.end_row();
                        });
                    if c.subtract_fee {
                        ui.label("The fee will be deducted from the amount sent.");
                    }
                    ui.horizontal(|ui| {
                        if ui.button("Confirm send").clicked() {
                            answer = Some(true);
                        }
                        if ui.button("Cancel").clicked() {
                            answer = Some(false);
                        }
                    });
                });
                match answer {
                    Some(true) => self.confirmed(ctx),
                    Some(false) => self.stage = Stage::Editing,
                    None => {}
                }
            }
            Stage::Unlock { error: err } => {
                let mut answer = None;
                egui::Modal::new(egui::Id::unique("unlock")).show(ectx, |ui| {
                    ui.heading("Unlock wallet");
                    ui.label("This operation needs your wallet passphrase to unlock the wallet.");
                    let r = password(ui, "Passphrase:", &mut self.passphrase);
                    if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                        answer = Some(true);
                    }
                    if let Some(e) = &err {
                        error(ui, e);
                    }
                    ui.horizontal(|ui| {
                        if ui.button("Unlock").clicked() {
                            answer = Some(true);
                        }
                        if ui.button("Cancel").clicked() {
                            answer = Some(false);
                        }
                    });
                });
                match answer {
                    Some(true) => self.unlock(ctx),
                    Some(false) => {
                        self.passphrase.clear();
                        self.stage = Stage::Editing;
                    }
                    None => {}
                }
            }
            _ => {}
        }
    }
}

fn target_text(n: u32) -> String {
    let mins = n * 10;
    let time = if mins < 120 {
        format!("{mins} minutes")
    } else if mins < 2 * 24 * 60 {
        format!("{} hours", mins / 60)
    } else {
        format!("{} days", mins / (24 * 60))
    };
    format!("{time} ({n} blocks)")
}

/// A sat/vB rate with up to 3 decimals, positive.
pub fn parse_fee_rate(s: &str) -> Option<Value> {
    let t = s.trim();
    let (w, f) = t.split_once('.').unwrap_or((t, ""));
    let ok = !t.is_empty()
        && f.len() <= 3
        && w.bytes().all(|b| b.is_ascii_digit())
        && f.bytes().all(|b| b.is_ascii_digit())
        && t.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    if !ok {
        return None;
    }
    serde_json::from_str(&format!(
        "{}{}",
        if w.is_empty() { "0" } else { w },
        if f.is_empty() {
            String::new()
        } else {
            format!(".{f}")
        }
    ))
    .ok()
}
