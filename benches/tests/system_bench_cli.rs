//! The `system-bench` binary without the node: arguments, the history
//! cache, and the JSON it prints when a binary under test is missing.

use std::path::PathBuf;
use std::process::{Command, Output};

fn run(cache: &PathBuf, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_system-bench"))
        .args(args)
        .env("SYSTEM_BENCH_CACHE", cache)
        .output()
        .expect("running system-bench")
}

fn temp_cache(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("system-bench-cli-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const TINY: &[&str] = &[
    "--blocks",
    "110",
    "--block-kb",
    "20",
    "--wallet-scripts",
    "10",
];

#[test]
fn help_and_bad_arguments() {
    let cache = temp_cache("args");
    let out = run(&cache, &["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--quick"));
    let out = run(&cache, &["--frobnicate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument"));
}

#[test]
fn history_is_generated_once_then_read_from_the_cache() {
    let cache = temp_cache("gen");
    let mut args = vec!["--generate-only"];
    args.extend_from_slice(TINY);
    let first = run(&cache, &args);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(err.contains("generating"), "{err}");
    let meta: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON metadata");
    assert_eq!(meta["blocks"], 110);
    assert_eq!(meta["wallet_outputs"], 10);
    assert!(meta["expected_balance_sat"].as_u64().unwrap() > 0);
    let second = run(&cache, &args);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{err}");
    assert!(err.contains("from the cache"), "{err}");
    assert_eq!(first.stdout, second.stdout);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_missing_binary_is_an_error_with_null_figures() {
    let cache = temp_cache("missing");
    let mut args = vec![
        "--json",
        "--modes",
        "a",
        "--runs",
        "1",
        "--bin-dir",
        "/nonexistent-system-bench-bins",
    ];
    args.extend_from_slice(TINY);
    let out = run(&cache, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}); stderr:\n{err}"));
    assert_eq!(v["ok"], false);
    assert!(v["ingest_a_blocks_per_s"].is_null());
    assert!(v["ingest_ratio"].is_null());
    assert!(
        v["errors"][0].as_str().unwrap().contains("not found"),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&cache);
}
