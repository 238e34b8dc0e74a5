//! `system-bench`: block ingest, rescans and notification latency of the
//! node with a wallet attached, on a synthetic regtest history. See
//! `btc_benches::system_bench` (and `--help`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match btc_benches::system_bench::main_with_args(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("system-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
