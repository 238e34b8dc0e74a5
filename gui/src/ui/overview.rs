//! Overview: the wallet's balances and its most recent transactions.

use crate::amount::format_btc;
use crate::model::{format_time, Model};

/// Transactions listed under "Recent transactions".
pub const RECENT: usize = 8;

pub fn show(ui: &mut egui::Ui, m: &Model) {
    ui.heading("Balances");
    match &m.balances {
        Some(b) => {
            egui::Grid::new("balances").num_columns(2).show(ui, |ui| {
                for (name, v, tip) in [
                    ("Available:", b.trusted, "Your current spendable balance"),
                    (
                        "Pending:",
                        b.pending,
                        "Total of transactions that have yet to be confirmed, and do not yet count toward the spendable balance",
                    ),
                    (
                        "Immature:",
                        b.immature,
                        "Mined balance that has not yet matured",
                    ),
                ] {
                    ui.label(name).on_hover_text(tip);
                    ui.monospace(format_btc(v));
                    ui.end_row();
                }
                ui.separator();
                ui.end_row();
                ui.strong("Total:");
                ui.monospace(format_btc(b.total()));
                ui.end_row();
            });
        }
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Reading balances…");
            });
        }
    }
    if m.chain.as_ref().is_some_and(|c| c.ibd) {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "The displayed information may be out of date: the node is still synchronizing.",
        );
    }
    ui.add_space(12.0);
    ui.heading("Recent transactions");
    if m.txs.is_empty() {
        ui.label("No transactions yet.");
        return;
    }
    egui::Grid::new("recent")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            for t in m.txs.iter().rev().take(RECENT) {
                ui.label(format_time(t.time));
                ui.label(t.kind());
                ui.label(
                    t.label
                        .clone()
                        .or_else(|| t.address.clone())
                        .unwrap_or_default(),
                );
                ui.monospace(format_btc(t.amount));
                ui.end_row();
            }
        });
}
