//! Result rows, the `--json` array and the markdown table.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::payload::format_size;
use super::Mode;

/// One measured (transport, payload, mode); exactly the JSON row shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Transport name, as in the registry.
    pub transport: String,
    /// Nominal payload size (the data bytes of the `BlockPayload`).
    pub payload_bytes: u64,
    /// `"spin"` or `"blocking"`.
    pub mode: Mode,
    /// Median one-way latency (round trip / 2), ns.
    pub p50_ns: u64,
    /// 99th-percentile one-way latency, ns.
    pub p99_ns: u64,
    /// Messages per second of the one-way stream.
    pub msgs_per_s: f64,
    /// `msgs_per_s × payload_bytes`.
    pub bytes_per_s: f64,
}

/// The JSON array of rows (pretty-printed, one object per row).
pub fn to_json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into())
}

/// Formats nanoseconds: `850 ns`, `1.23 µs`, `4.56 ms`.
pub fn format_ns(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

fn format_rate(per_s: f64) -> String {
    if per_s >= 1e6 {
        format!("{:.2} M", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.1} k", per_s / 1e3)
    } else {
        format!("{per_s:.0}")
    }
}

fn format_bytes_rate(per_s: f64) -> String {
    if per_s <= 0.0 {
        "-".into()
    } else if per_s >= 1e9 {
        format!("{:.2} GB/s", per_s / 1e9)
    } else {
        format!("{:.1} MB/s", per_s / 1e6)
    }
}

/// The reference transport of the ratio column.
pub const BASELINE: &str = "socketpair";

/// Markdown table, one line per row, in the given order, with the ratio
/// `p50(socketpair) / p50(transport)` at the same payload and mode ("×
/// faster than socketpair"; `-` where socketpair has no row).
pub fn to_markdown(rows: &[Row]) -> String {
    let base: HashMap<(u64, Mode), u64> = rows
        .iter()
        .filter(|r| r.transport == BASELINE)
        .map(|r| ((r.payload_bytes, r.mode), r.p50_ns))
        .collect();
    let mut out = String::new();
    out.push_str(
        "| transport | payload | mode | p50 one-way | p99 one-way | p50 vs socketpair | msgs/s | throughput |\n",
    );
    out.push_str("|---|---:|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let ratio = match base.get(&(r.payload_bytes, r.mode)) {
            Some(&b) if r.p50_ns > 0 => format!("{:.2}×", b as f64 / r.p50_ns as f64),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.transport,
            format_size(r.payload_bytes as usize),
            r.mode,
            format_ns(r.p50_ns),
            format_ns(r.p99_ns),
            ratio,
            format_rate(r.msgs_per_s),
            format_bytes_rate(r.bytes_per_s),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: &str, p50: u64) -> Row {
        Row {
            transport: t.into(),
            payload_bytes: 1024,
            mode: Mode::Spin,
            p50_ns: p50,
            p99_ns: p50 * 2,
            msgs_per_s: 1000.0,
            bytes_per_s: 1024.0 * 1000.0,
        }
    }

    #[test]
    fn json_row_shape() {
        let json = to_json(&[row("socketpair", 4000)]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 1);
        let o = arr[0].as_object().unwrap();
        let mut keys: Vec<&str> = o.keys().map(|k| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "bytes_per_s",
                "mode",
                "msgs_per_s",
                "p50_ns",
                "p99_ns",
                "payload_bytes",
                "transport"
            ]
        );
        assert_eq!(o["transport"], "socketpair");
        assert_eq!(o["mode"], "spin");
        assert!(o["payload_bytes"].is_u64());
        assert!(o["p50_ns"].is_u64());
        assert!(o["msgs_per_s"].is_f64());
        assert!(o["bytes_per_s"].is_f64());
        let back: Vec<Row> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0], row("socketpair", 4000));
    }

    #[test]
    fn markdown_has_ratio_to_socketpair() {
        let md = to_markdown(&[row("socketpair", 4000), row("pipe", 2000)]);
        assert!(md.contains("| socketpair | 1 KiB | spin | 4.00 µs | 8.00 µs | 1.00× |"));
        assert!(md.contains("| pipe | 1 KiB | spin | 2.00 µs | 4.00 µs | 2.00× |"));
    }

    #[test]
    fn ns_formatting() {
        assert_eq!(format_ns(850), "850 ns");
        assert_eq!(format_ns(1_234), "1.23 µs");
        assert_eq!(format_ns(4_560_000), "4.56 ms");
    }
}
