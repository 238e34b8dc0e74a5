//! `ipc-compare`: IPC transports measured between two real processes.
//! See `btc_benches::ipc_compare` (and `--help`).

use std::process::ExitCode;

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    btc_benches::ipc_compare::main_with_args(&args)
}
