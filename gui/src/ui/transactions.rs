//! Transactions: the wallet's list, sortable by column, filtered by type
//! and by text (address, label, txid), with a details pane for the
//! selected one (completed by `gettransaction`).

use serde_json::{json, Value};

use super::Ctx;
use crate::amount::{self, format_btc};
use crate::error::BackendError;
use crate::model::{format_time, TxEntry};
use crate::worker::Tag;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Column {
    #[default]
    Date,
    Type,
    Address,
    Amount,
}

impl Column {
    pub const ALL: [Column; 4] = [Column::Date, Column::Type, Column::Address, Column::Amount];

    pub fn title(self) -> &'static str {
        match self {
            Column::Date => "Date",
            Column::Type => "Type",
            Column::Address => "Label / Address",
            Column::Amount => "Amount",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TypeFilter {
    #[default]
    All,
    Received,
    Sent,
    Mined,
}

impl TypeFilter {
    pub const ALL: [TypeFilter; 4] = [
        TypeFilter::All,
        TypeFilter::Received,
        TypeFilter::Sent,
        TypeFilter::Mined,
    ];

    pub fn title(self) -> &'static str {
        match self {
            TypeFilter::All => "All types",
            TypeFilter::Received => "Received",
            TypeFilter::Sent => "Sent",
            TypeFilter::Mined => "Mined only",
        }
    }

    fn accepts(self, t: &TxEntry) -> bool {
        match self {
            TypeFilter::All => true,
            TypeFilter::Received => t.category == "receive",
            TypeFilter::Sent => t.category == "send",
            TypeFilter::Mined => matches!(t.category.as_str(), "generate" | "immature" | "orphan"),
        }
    }
}

/// A row's identity (a transaction can have several rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowId {
    pub txid: String,
    pub vout: u64,
    pub category: String,
}

fn row_id(t: &TxEntry) -> RowId {
    RowId {
        txid: t.txid.clone(),
        vout: t.vout,
        category: t.category.clone(),
    }
}

pub struct TransactionsScreen {
    pub search: String,
    pub type_filter: TypeFilter,
    pub sort: Column,
    pub descending: bool,
    pub selected: Option<RowId>,
    /// `gettransaction` of the selected transaction.
    pub details: Option<(String, Result<Value, String>)>,
}

impl Default for TransactionsScreen {
    fn default() -> Self {
        TransactionsScreen {
            search: String::new(),
            type_filter: TypeFilter::All,
            sort: Column::Date,
            descending: true,
            selected: None,
            details: None,
        }
    }
}

impl TransactionsScreen {
    pub fn reset(&mut self) {
        *self = TransactionsScreen::default();
    }

    /// The rows shown, filtered and sorted.
    pub fn rows<'a>(&self, txs: &'a [TxEntry]) -> Vec<&'a TxEntry> {
        let needle = self.search.trim().to_lowercase();
        let mut rows: Vec<&TxEntry> = txs
            .iter()
            .filter(|t| self.type_filter.accepts(t))
            .filter(|t| {
                needle.is_empty()
                    || t.txid.contains(&needle)
                    || t.address
                        .as_deref()
                        .is_some_and(|a| a.to_lowercase().contains(&needle))
                    || t.label
                        .as_deref()
                        .is_some_and(|l| l.to_lowercase().contains(&needle))
            })
            .collect();
        // Stable sort on the list's order (oldest first) keeps ties in time order.
        match self.sort {
            Column::Date => rows.sort_by_key(|t| t.time),
            Column::Type => rows.sort_by_key(|t| t.kind()),
            Column::Address => rows.sort_by_key(|t| {
                t.label
                    .clone()
                    .or_else(|| t.address.clone())
                    .unwrap_or_default()
            }),
            Column::Amount => rows.sort_by_key(|t| t.amount),
        }
        if self.descending {
            rows.reverse();
        }
        rows
    }

    pub fn reply(&mut self, txid: &str, r: Result<Value, BackendError>) {
        if self.selected.as_ref().is_some_and(|s| s.txid == txid) {
            self.details = Some((txid.to_string(), r.map_err(|e| e.message())));
        }
    }

    fn select(&mut self, t: &TxEntry, ctx: &Ctx<'_>) {
        self.selected = Some(row_id(t));
        self.details = None;
        ctx.wallet_call(
            Tag::TxDetails(t.txid.clone()),
            "gettransaction",
            json!([t.txid]),
        );
    }

    pub fn show(&mut self, ui: &mut egui::Ui, ctx: &mut Ctx<'_>) {
        ui.heading("Transaction history");
        ui.horizontal(|ui| {
            let l = ui.label("Type:");
            egui::ComboBox::from_id_salt("type-filter")
                .selected_text(self.type_filter.title())
                .show_ui(ui, |ui| {
                    for f in TypeFilter::ALL {
                        ui.selectable_value(&mut self.type_filter, f, f.title());
                    }
                })
                .response
                .labelled_by(l.id);
            let s = ui.label("Search:");
            ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .hint_text("Enter address, transaction id, or label to search"),
            )
            .labelled_by(s.id);
        });
        let txs = ctx.model.txs.clone();
        let rows = self.rows(&txs);
        let selected_entry = self
            .selected
            .as_ref()
            .and_then(|s| txs.iter().find(|t| row_id(t) == *s))
            .cloned();
        if selected_entry.is_some() {
            egui::Panel::bottom("tx-details")
                .resizable(true)
                .default_size(220.0)
                .show(ui, |ui| {
                    if let Some(t) = &selected_entry {
                        self.details_pane(ui, t);
                    }
                });
        }
        ui.label(format!("{} of {} transactions", rows.len(), txs.len()));
        egui::ScrollArea::vertical()
            .id_salt("tx-list")
            .show(ui, |ui| {
                egui::Grid::new("tx-grid")
                    .num_columns(5)
                    .striped(true)
                    .show(ui, |ui| {
                        for c in Column::ALL {
                            ui.horizontal(|ui| {
                                if ui
                                    .button(c.title())
                                    .on_hover_text("Sort by this column")
                                    .clicked()
                                {
                                    if self.sort == c {
                                        self.descending = !self.descending;
                                    } else {
                                        self.sort = c;
                                        self.descending = c == Column::Date || c == Column::Amount;
                                    }
                                }
                                if self.sort == c {
                                    sort_arrow(ui, self.descending);
                                }
                            });
                        }
                        ui.strong("Status");
                        ui.end_row();
                        let mut clicked = None;
                        for t in &rows {
                            let sel = self.selected.as_ref() == Some(&row_id(t));
                            let who = t
                                .label
                                .clone()
                                .or_else(|| t.address.clone())
                                .unwrap_or_else(|| "(n/a)".into());
                            let cells = [
                                format_time(t.time),
                                t.kind().to_string(),
                                who,
                                format_btc(t.amount),
                            ];
                            for cell in cells {
                                if ui.selectable_label(sel, cell).clicked() {
                                    clicked = Some((*t).clone());
                                }
                            }
                            ui.label(t.status());
                            ui.end_row();
                        }
                        if let Some(t) = clicked {
                            self.select(&t, ctx);
                        }
                    });
                if rows.is_empty() {
                    ui.label("No transactions match.");
                }
            });
    }

    fn details_pane(&mut self, ui: &mut egui::Ui, t: &TxEntry) {
        ui.horizontal(|ui| {
            ui.heading("Transaction details");
            if ui.button("Close details").clicked() {
                self.selected = None;
                self.details = None;
            }
        });
        let full = self
            .details
            .as_ref()
            .filter(|(id, _)| *id == t.txid)
            .map(|(_, r)| r.clone());
        egui::ScrollArea::vertical()
            .id_salt("tx-details-scroll")
            .show(ui, |ui| {
                egui::Grid::new("tx-details-grid")
                    .num_columns(2)
                    .show(ui, |ui| {
                        let mut row = |k: &str, v: String| {
                            ui.label(k);
                            ui.add(
                                egui::Label::new(egui::RichText::new(v).monospace())
                                    .selectable(true),
                            );
                            ui.end_row();
                        };
                        row("Status:", t.status());
                        row("Date:", format_time(t.time));
                        row("Type:", t.kind().into());
                        if let Some(a) = &t.address {
                            row("Address:", a.clone());
                        }
                        if let Some(l) = &t.label {
                            row("Label:", l.clone());
                        }
                        row("Amount:", format_btc(t.amount));
                        if let Some(f) = t.fee {
                            row("Fee:", format_btc(f));
                            row("Net amount:", format_btc(t.amount + f));
                        }
                        row("Transaction ID:", t.txid.clone());
                        row("Output index:", t.vout.to_string());
                        if !t.replaceable.is_empty() {
                            row("Replaceable:", t.replaceable.clone());
                        }
                        match &full {
                            Some(Ok(v)) => {
                                if let Some(h) = v.get("blockhash").and_then(Value::as_str) {
                                    row("Block:", h.to_string());
                                }
                                if let Some(hex) = v.get("hex").and_then(Value::as_str) {
                                    row("Size:", format!("{} bytes", hex.len() / 2));
                                }
                                if let Some(a) = v.get("amount").and_then(amount::from_json) {
                                    row("Net for this wallet:", format_btc(a));
                                }
                            }
                            Some(Err(e)) => row("Details:", format!("not available: {e}")),
                            None => row("Details:", "loading…".into()),
                        }
                    });
            });
    }
}

/// A small triangle pointing down (descending) or up (painted: the
/// bundled fonts have no arrow glyphs).
fn sort_arrow(ui: &mut egui::Ui, descending: bool) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
    let (t, b, c) = (rect.top() + 2.0, rect.bottom() - 2.0, rect.center().x);
    let pts = if descending {
        vec![
            egui::pos2(rect.left(), t),
            egui::pos2(rect.right(), t),
            egui::pos2(c, b),
        ]
    } else {
        vec![
            egui::pos2(rect.left(), b),
            egui::pos2(rect.right(), b),
            egui::pos2(c, t),
        ]
    };
    let color = ui.visuals().text_color();
    ui.painter()
        .add(egui::Shape::convex_polygon(pts, color, egui::Stroke::NONE));
}
