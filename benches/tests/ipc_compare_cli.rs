//! End to end: the real binary, a real child process, JSON on stdout.

use std::process::Command;

#[test]
fn quick_json_socketpair_1k() {
    let out = Command::new(env!("CARGO_BIN_EXE_ipc-compare"))
        .args([
            "--quick",
            "--json",
            "--transport",
            "socketpair",
            "--payload",
            "1024",
        ])
        .output()
        .expect("running ipc-compare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}; stderr:\n{stderr}",
        out.status
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let rows: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not only JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
    let rows = rows.as_array().expect("a JSON array");
    assert_eq!(rows.len(), 2, "one row per mode: {rows:?}");
    let mut modes = Vec::new();
    for r in rows {
        assert_eq!(r["transport"], "socketpair");
        assert_eq!(r["payload_bytes"], 1024);
        modes.push(r["mode"].as_str().expect("mode is a string").to_string());
        let p50 = r["p50_ns"].as_u64().expect("p50_ns is an integer");
        let p99 = r["p99_ns"].as_u64().expect("p99_ns is an integer");
        assert!(p50 > 0 && p50 <= p99, "{r}");
        let msgs = r["msgs_per_s"].as_f64().expect("msgs_per_s is a number");
        let bytes = r["bytes_per_s"].as_f64().expect("bytes_per_s is a number");
        assert!(msgs > 0.0, "{r}");
        assert!(
            (bytes - msgs * 1024.0).abs() <= 1e-6 * bytes.max(1.0),
            "{r}"
        );
    }
    modes.sort();
    assert_eq!(modes, ["blocking", "spin"]);
}

#[test]
fn unknown_transport_is_an_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_ipc-compare"))
        .args(["--quick", "--transport", "nope"])
        .output()
        .expect("running ipc-compare");
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}
