//! Node: network, tip, sync progress, mempool, uptime, and the IPC
//! statistics of every ring, plotted as they change. All of it is re-read
//! when a notification says it changed, never on a timer.

use crate::model::{format_duration, Model, Phase};
use crate::ui::plot::{human, sparkline};

pub fn show(ui: &mut egui::Ui, m: &Model) {
    egui::ScrollArea::vertical().id_salt("node").show(ui, |ui| {
        ui.heading("Node information");
        egui::Grid::new("node-info")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                let mut row = |k: &str, v: String| {
                    ui.label(k);
                    ui.label(v);
                    ui.end_row();
                };
                row("Network:", m.chain_name.clone());
                let state = match &m.phase {
                    Phase::Connected => "connected".to_string(),
                    Phase::Lost(w) => format!("disconnected ({w})"),
                    Phase::Connecting(w) => w.clone(),
                    Phase::Failed(w) => format!("not started ({w})"),
                    Phase::ShuttingDown(w) => w.clone(),
                    Phase::Closed => "closed".into(),
                };
                row("Connection:", state);
                if let Some(n) = &m.network {
                    row("Version:", n.subversion.clone());
                    row("Peers:", n.connections.to_string());
                }
                match &m.chain {
                    Some(c) => {
                        row("Blocks:", c.blocks.to_string());
                        row("Headers:", c.headers.to_string());
                        row("Best block:", c.best_hash.clone());
                    }
                    None => row("Blocks:", "unknown".into()),
                }
                if let Some(p) = &m.mempool {
                    row(
                        "Mempool:",
                        format!("{} transactions ({} bytes)", p.size, p.bytes),
                    );
                }
                if let Some(u) = m.uptime_now() {
                    row("Uptime:", format_duration(u));
                }
                row("Notifications received:", m.notifications.to_string());
                if let (Some(p50), Some(p99)) = (m.gui_latency_pct(50.0), m.gui_latency_pct(99.0)) {
                    row(
                        "Notification latency (GUI):",
                        format!("p50 {p50} µs, p99 {p99} µs"),
                    );
                }
            });
        if m.uptime.is_some() {
            // The uptime clock ticks on screen; the node is not asked again.
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs(1));
        }
        if let Some(c) = &m.chain {
            let l = ui.label("Sync progress:");
            ui.add(
                egui::ProgressBar::new(c.progress as f32)
                    .text(format!("{:.2}%", c.progress * 100.0)),
            )
            .labelled_by(l.id);
        }
        ui.add_space(10.0);
        ui.heading("IPC statistics");
        match m.ipc_supported {
            Some(false) => {
                ui.label("The node does not report IPC statistics (no getipcinfo).");
                return;
            }
            None => {
                ui.label("Waiting for the node's first answer…");
                return;
            }
            Some(true) => {}
        }
        if m.rings.is_empty() {
            ui.label("The node reported no rings.");
            return;
        }
        egui::Grid::new("ipc-rings")
            .num_columns(8)
            .striped(true)
            .show(ui, |ui| {
                for h in [
                    "Ring",
                    "Records",
                    "Records/s",
                    "Bytes/s",
                    "Occupancy",
                    "Subscribers",
                    "Notify p50",
                    "Notify p99",
                ] {
                    ui.strong(h);
                }
                ui.end_row();
                let dash = || "–".to_string();
                for r in &m.rings {
                    let last = m
                        .ring_history
                        .get(&r.name)
                        .and_then(|h| h.samples.back().copied())
                        .unwrap_or_default();
                    ui.label(r.name.as_str());
                    ui.label(r.records.map_or_else(dash, |v| v.to_string()));
                    ui.label(human(last.records_per_s));
                    ui.label(human(last.bytes_per_s));
                    ui.label(r.occupancy_pct().map_or_else(dash, |p| format!("{p:.1}%")));
                    ui.label(r.subscribers.map_or_else(dash, |v| v.to_string()));
                    ui.label(r.p50_us.map_or_else(dash, |v| format!("{v:.0} µs")));
                    ui.label(r.p99_us.map_or_else(dash, |v| format!("{v:.0} µs")));
                    ui.end_row();
                }
            });
        ui.add_space(6.0);
        let size = egui::vec2(200.0, 50.0);
        for r in &m.rings {
            let Some(h) = m.ring_history.get(&r.name) else {
                continue;
            };
            let col = |f: fn(&crate::model::RingSample) -> f64| -> Vec<f64> {
                h.samples.iter().map(f).collect()
            };
            ui.label(egui::RichText::new(format!("Ring {}", r.name)).strong());
            ui.horizontal(|ui| {
                sparkline(ui, "Throughput", &col(|s| s.records_per_s), "rec/s", size);
                sparkline(ui, "Occupancy", &col(|s| s.occupancy_pct), "%", size);
                sparkline(ui, "Notify p99", &col(|s| s.p99_us), "µs", size);
            });
        }
    });
}
