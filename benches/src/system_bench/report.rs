//! The figures: medians over the repetitions, ratios, and their two forms
//! (a table, or one JSON object).
//!
//! * blocks/s and MB/s: the history's blocks and bytes over the wall time.
//! * `ingest_ratio`: B over A blocks/s, the median of the per-repetition
//!   ratios (A and B alternate, so each pair saw the same machine).
//!   `ingest_cpu_ratio`: A's CPU seconds (bitcoind) over B's (node +
//!   wallet), the same way: the cost of the work, which other processes
//!   on a shared machine disturb less than the wall time.
//!   `rescan_ratio` (B/A) and `rescan_tcp_ratio` (C/A) likewise.
//! * `rescan_blocks_per_s_per_core`: mode B's blocks per CPU second of the
//!   wallet process (user + system, all threads, from /proc: the cores the
//!   matching actually used), the median of the passes (the first one also
//!   maps the block files, and reads them from disk when they are not in
//!   the page cache: `rescan_b_first_pass_blocks_per_cpu_s` is that one
//!   alone); `rescan_blocks_per_cpu_s` is the same figure,
//!   `rescan_b_blocks_per_s_per_nproc` divides by every core instead.
//! * `notify_p50_us` / `notify_p99_us`: mode B's `getipcinfo`
//!   `wallet_notify` after the one-by-one blocks (null if the node does not
//!   report it).
//!
//! A figure that was not measured is null, never estimated.

use serde_json::{json, Map, Value};

use super::cache::History;
use super::runs::{Ingest, ModeResult, Rescan};
use super::{Measured, Options};

/// Targets from the issue.
pub const INGEST_RATIO_TARGET: f64 = 0.97;
pub const RESCAN_RATIO_TARGET: f64 = 0.95;
pub const RESCAN_PER_CORE_TARGET: f64 = 3000.0;
/// Blocks at least this large (on average, past the first 100) count as
/// mainnet-sized for the per-core rescan target.
pub const MAINNET_SIZED_BYTES: u64 = 1_000_000;

pub fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Blocks/s and MB/s of a list of timed passes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    pub blocks_per_s: Option<f64>,
    pub mb_per_s: Option<f64>,
    pub secs: Option<f64>,
}

fn rate(passes: &[(u32, u64, f64)]) -> Rate {
    Rate {
        blocks_per_s: median(passes.iter().map(|p| f64::from(p.0) / p.2).collect()),
        mb_per_s: median(passes.iter().map(|p| p.1 as f64 / 1e6 / p.2).collect()),
        secs: median(passes.iter().map(|p| p.2).collect()),
    }
}

fn ingests(v: &[ModeResult]) -> Vec<Option<&Ingest>> {
    v.iter().map(|r| r.ingest.as_ref()).collect()
}

fn rescans(v: &[ModeResult]) -> Vec<Option<&Rescan>> {
    v.iter().map(|r| r.rescan.as_ref()).collect()
}

fn ingest_rate(v: &[Option<&Ingest>]) -> Rate {
    rate(
        &v.iter()
            .flatten()
            .map(|i| (i.blocks, i.bytes, i.secs))
            .collect::<Vec<_>>(),
    )
}

fn rescan_rate(v: &[Option<&Rescan>]) -> Rate {
    rate(
        &v.iter()
            .flatten()
            .map(|r| (r.blocks, r.bytes, r.secs))
            .collect::<Vec<_>>(),
    )
}

/// Median of the paired ratios `num[i] / den[i]` (blocks/s).
fn paired_ratio(num: &[Option<f64>], den: &[Option<f64>]) -> Option<f64> {
    median(
        num.iter()
            .zip(den)
            .filter_map(|(n, d)| Some(n.as_ref()? / d.as_ref()?))
            .collect(),
    )
}

/// The report.
pub struct Report {
    pub obj: Map<String, Value>,
    errors: Vec<String>,
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, |x| json!((x * 1000.0).round() / 1000.0))
}

impl Report {
    pub fn build(o: &Options, h: &History, m: &Measured, elapsed: f64) -> Report {
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ia = ingests(&m.a);
        let ib = ingests(&m.b);
        let ra = rescans(&m.a);
        let rb = rescans(&m.b);
        let rc: Vec<Option<&Rescan>> = m.c.iter().map(Some).collect();
        let (ing_a, ing_b) = (ingest_rate(&ia), ingest_rate(&ib));
        let (res_a, res_b, res_c) = (rescan_rate(&ra), rescan_rate(&rb), rescan_rate(&rc));
        let bps_i = |v: &[Option<&Ingest>]| -> Vec<Option<f64>> {
            v.iter()
                .map(|i| i.map(|i| f64::from(i.blocks) / i.secs))
                .collect()
        };
        let bps_r = |v: &[Option<&Rescan>]| -> Vec<Option<f64>> {
            v.iter()
                .map(|r| r.map(|r| f64::from(r.blocks) / r.secs))
                .collect()
        };
        let ingest_ratio = paired_ratio(&bps_i(&ib), &bps_i(&ia));
        let cpu_i = |v: &[Option<&Ingest>]| -> Vec<Option<f64>> {
            v.iter().map(|i| i.and_then(|i| i.cpu_s)).collect()
        };
        // A's CPU over B's: above 1 when B spends less.
        let ingest_cpu_ratio = paired_ratio(&cpu_i(&ia), &cpu_i(&ib));
        let rescan_ratio = paired_ratio(&bps_r(&rb), &bps_r(&ra));
        // C runs after B in the same repetition: pair it with that A.
        let ra_for_c: Vec<Option<&Rescan>> = ra.iter().copied().take(rc.len()).collect::<Vec<_>>();
        let rescan_tcp_ratio = paired_ratio(&bps_r(&rc), &bps_r(&ra_for_c));
        // Blocks per CPU second of `cpu` (a field of the rescans).
        let per_cpu_of = |v: &[Option<&Rescan>], cpu: fn(&Rescan) -> Option<f64>| {
            median(
                v.iter()
                    .flatten()
                    .filter_map(|r| {
                        let c = cpu(r)?;
                        (c > 0.0).then(|| f64::from(r.blocks) / c)
                    })
                    .collect(),
            )
        };
        let per_cpu = |v: &[Option<&Rescan>]| per_cpu_of(v, |r| r.wallet_cpu_s);
        let cpu_of = |v: &[Option<&Rescan>], node: bool| {
            median(
                v.iter()
                    .flatten()
                    .filter_map(|r| if node { r.node_cpu_s } else { r.wallet_cpu_s })
                    .collect(),
            )
        };
        let b_per_cpu = per_cpu(&rb);
        let b_first_per_cpu = per_cpu_of(&rb, |r| r.first_wallet_cpu_s);
        let b_per_nproc = res_b.blocks_per_s.map(|x| x / nproc as f64);
        let notify = |v: &[ModeResult], f: fn(&super::runs::Notify) -> f64| {
            median(v.iter().filter_map(|r| r.notify.as_ref().map(f)).collect())
        };
        let mut obj = Map::new();
        let mut put = |k: &str, v: Value| {
            obj.insert(k.to_string(), v);
        };
        put("blocks", json!(h.meta.blocks));
        put("history_bytes", json!(h.meta.history_bytes));
        put("history_mb", opt(Some(h.meta.history_bytes as f64 / 1e6)));
        put("txs", json!(h.meta.txs));
        put("inputs", json!(h.meta.inputs));
        put("wallet_scripts", json!(h.meta.wallet_scripts));
        put("expected_balance_sat", json!(h.meta.expected_balance_sat));
        // Blocks 1-100 hold only a coinbase: the mean of the others.
        let full_blocks = h.meta.blocks.saturating_sub(100).max(1);
        let mean_block = h.meta.history_bytes / u64::from(full_blocks);
        put("mean_block_bytes", json!(mean_block));
        put("history_generated", json!(h.generated));
        put(
            "generation_s",
            opt(h.generated.then_some(h.meta.generation_s)),
        );
        put("runs", json!(o.runs));
        put("quick", json!(o.quick));
        put("nproc", json!(nproc));
        // The node checks every script during ingest: blocks reach it one
        // at a time through submitblock, so the best header is never the
        // two weeks of work past them that -assumevalid needs.
        put("scripts_verified_during_ingest", json!(true));
        put("ingest_a_blocks_per_s", opt(ing_a.blocks_per_s));
        put("ingest_b_blocks_per_s", opt(ing_b.blocks_per_s));
        put("ingest_a_mb_per_s", opt(ing_a.mb_per_s));
        put("ingest_b_mb_per_s", opt(ing_b.mb_per_s));
        put("ingest_a_s", opt(ing_a.secs));
        put("ingest_b_s", opt(ing_b.secs));
        put("ingest_ratio", opt(ingest_ratio));
        put(
            "ingest_a_cpu_s",
            opt(median(cpu_i(&ia).into_iter().flatten().collect())),
        );
        put(
            "ingest_b_cpu_s",
            opt(median(cpu_i(&ib).into_iter().flatten().collect())),
        );
        put("ingest_cpu_ratio", opt(ingest_cpu_ratio));
        put("rescan_a_blocks_per_s", opt(res_a.blocks_per_s));
        put("rescan_b_blocks_per_s", opt(res_b.blocks_per_s));
        put("rescan_c_blocks_per_s", opt(res_c.blocks_per_s));
        put("rescan_a_mb_per_s", opt(res_a.mb_per_s));
        put("rescan_b_mb_per_s", opt(res_b.mb_per_s));
        put("rescan_c_mb_per_s", opt(res_c.mb_per_s));
        put("rescan_a_s", opt(res_a.secs));
        put("rescan_b_s", opt(res_b.secs));
        put("rescan_c_s", opt(res_c.secs));
        put("rescan_ratio", opt(rescan_ratio));
        put("rescan_tcp_ratio", opt(rescan_tcp_ratio));
        put("rescan_blocks_per_s_per_core", opt(b_per_cpu));
        put("rescan_blocks_per_cpu_s", opt(b_per_cpu));
        put("rescan_b_first_pass_blocks_per_cpu_s", opt(b_first_per_cpu));
        put("rescan_b_blocks_per_s_per_nproc", opt(b_per_nproc));
        put("rescan_a_blocks_per_cpu_s", opt(per_cpu(&ra)));
        put("rescan_c_blocks_per_cpu_s", opt(per_cpu(&rc)));
        put("rescan_a_cpu_s", opt(cpu_of(&ra, false)));
        put("rescan_b_wallet_cpu_s", opt(cpu_of(&rb, false)));
        put("rescan_b_node_cpu_s", opt(cpu_of(&rb, true)));
        put("rescan_c_wallet_cpu_s", opt(cpu_of(&rc, false)));
        put("rescan_c_node_cpu_s", opt(cpu_of(&rc, true)));
        put("notify_p50_us", opt(notify(&m.b, |n| n.p50_us)));
        put("notify_p99_us", opt(notify(&m.b, |n| n.p99_us)));
        put("notify_a_p50_us", opt(notify(&m.a, |n| n.p50_us)));
        put("notify_a_p99_us", opt(notify(&m.a, |n| n.p99_us)));
        put("notify_blocks", json!(o.notify_blocks));
        let why: Vec<Value> =
            m.a.iter()
                .map(|r| ("A", r))
                .chain(m.b.iter().map(|r| ("B", r)))
                .filter_map(|(l, r)| {
                    r.notify_missing
                        .as_ref()
                        .map(|w| json!(format!("{l}: {w}")))
                })
                .collect();
        put("notify_missing", Value::Array(why));
        let met = |v: Option<f64>, t: f64| v.map_or(Value::Null, |x| json!(x >= t));
        put(
            "targets",
            json!({
                "ingest_ratio": INGEST_RATIO_TARGET,
                "rescan_ratio": RESCAN_RATIO_TARGET,
                "rescan_blocks_per_s_per_core": RESCAN_PER_CORE_TARGET,
            }),
        );
        put(
            "targets_met",
            json!({
                "ingest_ratio": met(ingest_ratio, INGEST_RATIO_TARGET),
                "rescan_ratio": met(rescan_ratio, RESCAN_RATIO_TARGET),
                // The target is for mainnet-sized blocks: not judged on
                // smaller ones (--quick).
                "rescan_blocks_per_s_per_core": if mean_block >= MAINNET_SIZED_BYTES {
                    met(b_per_cpu, RESCAN_PER_CORE_TARGET)
                } else {
                    Value::Null
                },
            }),
        );
        put("wrong_answer", json!(m.wrong_answer));
        let errors: Vec<String> = {
            let mut u: Vec<String> = Vec::new();
            for e in &m.errors {
                if !u.contains(e) {
                    u.push(e.clone());
                }
            }
            u
        };
        put("errors", json!(errors));
        put("ok", json!(m.errors.is_empty()));
        put("elapsed_s", opt(Some(elapsed)));
        Report { obj, errors }
    }

    pub fn json(&self) -> Value {
        Value::Object(self.obj.clone())
    }

    /// A readable table.
    pub fn table(&self) -> String {
        let g = |k: &str| self.obj.get(k).and_then(Value::as_f64);
        let f = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
        let mut s = String::new();
        s.push_str(&format!(
            "system-bench: {} blocks, {} MB of history ({} kB per block past the first 100), {} wallet scripts, {} run(s){}\n\n",
            self.obj["blocks"],
            f(g("history_mb"), 1),
            f(g("mean_block_bytes").map(|b| b / 1000.0), 0),
            self.obj["wallet_scripts"],
            self.obj["runs"],
            if self.obj["quick"] == json!(true) {
                ", quick"
            } else {
                ""
            }
        ));
        s.push_str(&format!(
            "{:<44} {:>12} {:>10} {:>10}\n",
            "", "blocks/s", "MB/s", "seconds"
        ));
        for (label, key) in [
            ("ingest   A bitcoind", "ingest_a"),
            ("ingest   B bitcoin-node + bitcoin-wallet", "ingest_b"),
            ("rescan   A in-process", "rescan_a"),
            ("rescan   B across processes, shm", "rescan_b"),
            ("rescan   C across processes, tcp", "rescan_c"),
        ] {
            s.push_str(&format!(
                "{label:<44} {:>12} {:>10} {:>10}\n",
                f(g(&format!("{key}_blocks_per_s")), 1),
                f(g(&format!("{key}_mb_per_s")), 1),
                f(g(&format!("{key}_s")), 2),
            ));
        }
        s.push('\n');
        for (label, key, prec, target) in [
            (
                "ingest ratio B/A",
                "ingest_ratio",
                3,
                Some(INGEST_RATIO_TARGET),
            ),
            (
                "ingest CPU, A's over B's (node + wallet)",
                "ingest_cpu_ratio",
                3,
                None,
            ),
            (
                "rescan ratio B/A",
                "rescan_ratio",
                3,
                Some(RESCAN_RATIO_TARGET),
            ),
            ("rescan ratio C/A (tcp)", "rescan_tcp_ratio", 3, None),
            (
                "rescan B blocks per wallet CPU-second",
                "rescan_blocks_per_s_per_core",
                0,
                Some(RESCAN_PER_CORE_TARGET),
            ),
            (
                "rescan B blocks/s per core (nproc)",
                "rescan_b_blocks_per_s_per_nproc",
                0,
                None,
            ),
            (
                "rescan A blocks per bitcoind CPU-second",
                "rescan_a_blocks_per_cpu_s",
                0,
                None,
            ),
            ("notify latency p50 (us), B", "notify_p50_us", 0, None),
            ("notify latency p99 (us), B", "notify_p99_us", 0, None),
            ("notify latency p50 (us), A", "notify_a_p50_us", 0, None),
        ] {
            let v = g(key);
            let small = key == "rescan_blocks_per_s_per_core"
                && g("mean_block_bytes").is_some_and(|b| b < MAINNET_SIZED_BYTES as f64);
            let t = match (v, target) {
                (Some(_), Some(t)) if small => {
                    format!("   target {t} is for mainnet-sized blocks (not these)")
                }
                (Some(x), Some(t)) => {
                    format!("   target {t} {}", if x >= t { "met" } else { "NOT met" })
                }
                _ => String::new(),
            };
            s.push_str(&format!("{label:<44} {:>12}{t}\n", f(v, prec)));
        }
        s.push_str(
            "\nThe node verifies every script during ingest (blocks arrive one by one through\nsubmitblock, so -assumevalid never applies).\n",
        );
        if !self.errors.is_empty() {
            s.push_str("\nerrors:\n");
            for e in &self.errors {
                s.push_str(&format!("  {e}\n"));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        let r = paired_ratio(
            &[Some(9.0), None, Some(4.0)],
            &[Some(10.0), Some(1.0), Some(5.0)],
        );
        assert!((r.unwrap() - 0.85).abs() < 1e-12);
    }
}
