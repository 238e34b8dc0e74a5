//! `bitcoind`: the node and its wallets in one process, the reference the
//! split `bitcoin-node` + `bitcoin-wallet` must match answer for answer.

fn main() {
    let args = std::env::args().skip(1).collect();
    if let Err(e) = btc_node::app::run_program(btc_node::app::Program::Bitcoind, args) {
        eprintln!("Error: {e:#}");
        btc_node::logging::log(&format!("Error: {e:#}"));
        std::process::exit(1);
    }
}
