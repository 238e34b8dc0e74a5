//! `bitcoin-wallet`: the wallets in their own process (see
//! `btc_wallet::process`).

fn main() {
    if let Err(e) = btc_wallet::process::run(std::env::args().skip(1).collect()) {
        eprintln!("Error: {e:#}");
        btc_service::logging::log(&format!("Error: {e:#}"));
        std::process::exit(1);
    }
}
