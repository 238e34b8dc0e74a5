//! `bitcoin-gui`: starts `bitcoin-node` (or attaches to one with
//! `-ipcconnect`) and shows its wallet in a window (see the library).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use btc_gui::app::{AppConfig, GuiApp};
use btc_gui::backend::Connector;
use btc_gui::ipc::{AttachConnector, SpawnConnector};
use btc_gui::options::{Options, HELP};
use nix::sys::signal::{SigSet, Signal};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    // Before any thread starts: SIGTERM and SIGINT are blocked everywhere
    // and taken by one thread, which closes the window the normal way.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.thread_block().context("blocking SIGTERM/SIGINT")?;

    let opts = Options::parse(std::env::args().skip(1))?;
    if opts.help {
        print!("{HELP}");
        return Ok(ExitCode::SUCCESS);
    }
    if opts.version {
        println!("bitcoin-gui {}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    let chain = opts.chain_name().to_string();
    let connector: Arc<dyn Connector> = match &opts.ipcconnect {
        Some(addr) => {
            shm_ipc::Address::parse(addr).with_context(|| format!("-ipcconnect={addr}"))?;
            Arc::new(AttachConnector::new(addr, &chain).with_cookie_file(opts.cookie_file()))
        }
        None => Arc::new(SpawnConnector::new(
            opts.node_path
                .clone()
                .unwrap_or_else(SpawnConnector::default_node_path),
            opts.node_args.clone(),
            &chain,
        )),
    };

    let quit = Arc::new(AtomicBool::new(false));
    let window: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
    {
        let (quit, window) = (Arc::clone(&quit), Arc::clone(&window));
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                while let Ok(sig) = signals.wait() {
                    if quit.swap(true, Ordering::AcqRel) {
                        // A second signal while closing: leave now. The node
                        // gets SIGTERM from the kernel when its supervising
                        // thread dies with us, and stops on its own.
                        eprintln!("bitcoin-gui: {sig:?} again, exiting without waiting");
                        std::process::exit(130);
                    }
                    eprintln!("bitcoin-gui: {sig:?}, shutting down");
                    if let Some(ctx) = window.get() {
                        ctx.request_repaint();
                    }
                }
            })
            .context("starting the signal thread")?;
    }

    let title = match chain.as_str() {
        "main" => "Bitcoin".to_string(),
        c => format!("Bitcoin [{c}]"),
    };
    let native = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title(&title)
            .with_app_id("bitcoin-gui")
            .with_inner_size([960.0, 640.0])
            .with_min_inner_size([640.0, 420.0]),
        ..Default::default()
    };
    let cfg = AppConfig {
        connector,
        chain,
        wallets: opts.wallets.clone(),
        quit: Arc::clone(&quit),
    };
    let w = Arc::clone(&window);
    eframe::run_native(
        "bitcoin-gui",
        native,
        Box::new(move |cc| {
            let _ = w.set(cc.egui_ctx.clone());
            if quit.load(Ordering::Acquire) {
                cc.egui_ctx.request_repaint();
            }
            Ok(Box::new(GuiApp::new(&cc.egui_ctx, cfg)))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
