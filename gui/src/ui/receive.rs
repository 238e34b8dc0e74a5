//! Receive: a new address with a label (and optionally an amount and a
//! message), shown as a BIP21 URI and a QR code, copied to the clipboard
//! on request; earlier requests of this session are listed.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{error, field, Ctx};
use crate::amount::{self, format_btc};
use crate::error::BackendError;
use crate::model::format_time;
use crate::qr;
use crate::worker::Tag;

/// A payment request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub address: String,
    pub label: String,
    pub amount: Option<i64>,
    pub message: String,
    pub time: i64,
}

impl Request {
    pub fn uri(&self) -> String {
        qr::bip21(&self.address, self.amount, &self.label, &self.message)
    }
}

#[derive(Default)]
pub struct ReceiveScreen {
    pub label: String,
    pub amount: String,
    pub message: String,
    pub error: Option<String>,
    pub pending: Option<Request>,
    /// Requests per wallet, newest last.
    pub requests: BTreeMap<String, Vec<Request>>,
    wallet: Option<String>,
    /// The request shown (index into the wallet's list).
    pub shown: Option<usize>,
    /// The QR texture of the shown request's URI.
    qr: Option<(String, egui::TextureHandle)>,
    /// What was last copied (for the "copied" hint).
    pub copied: Option<String>,
}

impl ReceiveScreen {
    pub fn busy(&self) -> Option<String> {
        self.pending
            .as_ref()
            .map(|_| "Creating an address…".to_string())
    }

    pub fn on_lost(&mut self) {
        if self.pending.take().is_some() {
            self.error = Some("The node went away before the address was made.".into());
        }
    }

    pub fn on_wallet_changed(&mut self) {
        self.pending = None;
        self.shown = None;
        self.error = None;
        self.copied = None;
    }

    fn list(&self) -> &[Request] {
        self.wallet
            .as_ref()
            .and_then(|w| self.requests.get(w))
            .map_or(&[], Vec::as_slice)
    }

    /// The shown request.
    pub fn current(&self) -> Option<&Request> {
        self.shown.and_then(|i| self.list().get(i))
    }

    fn create(&mut self, ctx: &Ctx<'_>) {
        self.error = None;
        self.copied = None;
        let amount = if self.amount.trim().is_empty() {
            None
        } else {
            match amount::parse_btc(&self.amount) {
                Some(a) if a > 0 => Some(a),
                _ => {
                    self.error = Some("Enter an amount in BTC, or leave it empty.".into());
                    return;
                }
            }
        };
        let label = self.label.trim().to_string();
        if ctx.wallet_call(Tag::NewAddress, "getnewaddress", json!([label])) {
            self.pending = Some(Request {
                address: String::new(),
                label,
                amount,
                message: self.message.trim().to_string(),
                time: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            });
        }
    }

    pub fn reply(&mut self, ctx: &mut Ctx<'_>, r: Result<Value, BackendError>) {
        let Some(mut req) = self.pending.take() else {
            return;
        };
        match r {
            Ok(Value::String(a)) => {
                req.address = a;
                let w = ctx.model.wallet.clone().unwrap_or_default();
                let list = self.requests.entry(w).or_default();
                list.push(req);
                self.shown = Some(list.len() - 1);
                self.label.clear();
                self.amount.clear();
                self.message.clear();
            }
            Ok(other) => self.error = Some(format!("Unexpected answer: {other}")),
            Err(e) => self.error = Some(e.message()),
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ctx: &mut Ctx<'_>) {
        self.wallet = ctx.model.wallet.clone();
        ui.heading("Request a payment");
        egui::Grid::new("receive-form")
            .num_columns(2)
            .show(ui, |ui| {
                field(ui, "Label:", &mut self.label, "Label for the new address");
                ui.end_row();
                field(
                    ui,
                    "Amount:",
                    &mut self.amount,
                    "Optional amount to request (BTC)",
                );
                ui.end_row();
                field(
                    ui,
                    "Message:",
                    &mut self.message,
                    "Optional message for the payer",
                );
                ui.end_row();
            });
        let can = ctx.live().is_some() && self.pending.is_none();
        if ui
            .add_enabled(can, egui::Button::new("Create new receiving address"))
            .clicked()
        {
            self.create(ctx);
        }
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(req) = self.current().cloned() {
            ui.separator();
            self.show_request(ui, &req);
        }
        ui.separator();
        ui.heading("Requested payments history");
        let list = self.list().to_vec();
        if list.is_empty() {
            ui.label("No requests yet.");
            return;
        }
        egui::ScrollArea::vertical()
            .id_salt("requests")
            .max_height(200.0)
            .show(ui, |ui| {
                egui::Grid::new("requests-grid")
                    .num_columns(4)
                    .striped(true)
                    .show(ui, |ui| {
                        ui.strong("Date");
                        ui.strong("Label");
                        ui.strong("Message");
                        ui.strong("Amount");
                        ui.end_row();
                        for (i, r) in list.iter().enumerate().rev() {
                            let selected = self.shown == Some(i);
                            if ui.selectable_label(selected, format_time(r.time)).clicked() {
                                self.shown = Some(i);
                                self.copied = None;
                            }
                            let label = if r.label.is_empty() {
                                "(no label)"
                            } else {
                                &r.label
                            };
                            if ui.selectable_label(selected, label).clicked() {
                                self.shown = Some(i);
                                self.copied = None;
                            }
                            ui.label(r.message.as_str());
                            ui.label(
                                r.amount
                                    .map(format_btc)
                                    .unwrap_or_else(|| "(no amount)".into()),
                            );
                            ui.end_row();
                        }
                    });
            });
    }

    fn show_request(&mut self, ui: &mut egui::Ui, req: &Request) {
        let uri = req.uri();
        if self.qr.as_ref().is_none_or(|(u, _)| *u != uri) {
            self.qr = qr::image(&uri).map(|img| {
                let tex = ui
                    .ctx()
                    .load_texture("receive-qr", img, egui::TextureOptions::NEAREST);
                (uri.clone(), tex)
            });
        }
        ui.horizontal(|ui| {
            if let Some((_, tex)) = &self.qr {
                let side = 200.0;
                ui.add(
                    egui::Image::new((tex.id(), egui::vec2(side, side)))
                        .alt_text(format!("QR code of {uri}")),
                );
            } else {
                ui.label("(too long for a QR code)");
            }
            ui.vertical(|ui| {
                // One label per line ("Label: rent"), so they never read
                // like the form's field names.
                ui.label("Address:");
                ui.add(
                    egui::Label::new(egui::RichText::new(req.address.as_str()).monospace())
                        .selectable(true),
                );
                ui.label("URI:");
                ui.add(
                    egui::Label::new(egui::RichText::new(uri.as_str()).monospace())
                        .selectable(true),
                );
                if !req.label.is_empty() {
                    ui.label(format!("Label: {}", req.label));
                }
                if let Some(a) = req.amount {
                    ui.label(format!("Amount: {}", format_btc(a)));
                }
                if !req.message.is_empty() {
                    ui.label(format!("Message: {}", req.message));
                }
                ui.horizontal(|ui| {
                    if ui.button("Copy address").clicked() {
                        ui.ctx().copy_text(req.address.clone());
                        self.copied = Some(req.address.clone());
                    }
                    if ui.button("Copy URI").clicked() {
                        ui.ctx().copy_text(uri.clone());
                        self.copied = Some(uri.clone());
                    }
                });
                if self.copied.is_some() {
                    ui.label("Copied to clipboard.");
                }
            });
        });
    }
}
