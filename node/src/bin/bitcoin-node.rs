//! `bitcoin-node`: validation, chainstate and JSON-RPC (see the library).

fn main() {
    if let Err(e) = btc_node::app::run(std::env::args().skip(1).collect()) {
        eprintln!("Error: {e:#}");
        btc_node::logging::log(&format!("Error: {e:#}"));
        std::process::exit(1);
    }
}
