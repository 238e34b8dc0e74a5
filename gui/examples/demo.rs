//! The window on an in-memory fake node (no bitcoin-node needed): for
//! trying the screens and for screenshots.
//!
//! `cargo run --release -p btc-gui --example demo [-- -tab=node]`
//!
//! A thread plays the network: a payment arrives and a block is mined
//! every few seconds, so the window moves by itself (pushed updates).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use btc_gui::app::{AppConfig, GuiApp};
use btc_gui::fake::FakeNode;
use btc_gui::ui::Tab;

fn main() -> eframe::Result {
    let tab = std::env::args()
        .find_map(|a| a.strip_prefix("-tab=").map(str::to_lowercase))
        .unwrap_or_default();
    let node = FakeNode::new("regtest");
    node.add_wallet("alice", None, true);
    let mine = node.new_address("alice", "mining");
    let rent = node.new_address("alice", "rent");
    node.mine(110, &mine);
    node.receive(&rent, 12_500_000);
    {
        let node = node.clone();
        std::thread::spawn(move || {
            for i in 0u64.. {
                std::thread::sleep(Duration::from_secs(3));
                if i % 2 == 0 {
                    node.receive(&rent, 1_000_000 * (i as i64 % 7 + 1));
                } else {
                    node.mine(1, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080");
                }
            }
        });
    }
    let native = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title("Bitcoin [regtest] (demo)")
            .with_inner_size([960.0, 640.0]),
        ..Default::default()
    };
    eframe::run_native(
        "bitcoin-gui-demo",
        native,
        Box::new(move |cc| {
            let mut app = GuiApp::new(
                &cc.egui_ctx,
                AppConfig {
                    connector: node.connector(),
                    chain: "regtest".into(),
                    wallets: vec!["alice".into()],
                    quit: Arc::new(AtomicBool::new(false)),
                },
            );
            if let Some(t) = Tab::ALL.iter().find(|t| t.title().to_lowercase() == tab) {
                app.screens.tab = *t;
            }
            Ok(Box::new(app))
        }),
    )
}
