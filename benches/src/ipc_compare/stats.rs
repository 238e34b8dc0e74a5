//! Percentiles and the per-test results the harness produces.

use std::time::Duration;

/// Nearest-rank percentile (`p` in 0..=100) of an ascending-sorted slice;
/// 0 for an empty one.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Result of a latency (ping-pong) test.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyStats {
    /// Number of timed round trips.
    pub samples: usize,
    /// Median one-way latency (round trip / 2), ns.
    pub p50_ns: u64,
    /// 99th-percentile one-way latency, ns.
    pub p99_ns: u64,
    /// Messages per second of the ping-pong itself (two per round trip,
    /// over the timed round trips only). Used as the throughput of
    /// transports that have no stream test (`futex`).
    pub pingpong_msgs_per_s: f64,
}

impl LatencyStats {
    /// Builds the stats from one-way samples (ns) and the summed round-trip
    /// time of the timed rounds.
    pub fn from_samples(mut one_way_ns: Vec<u64>, total_rtt: Duration) -> Self {
        one_way_ns.sort_unstable();
        let secs = total_rtt.as_secs_f64();
        Self {
            samples: one_way_ns.len(),
            p50_ns: percentile(&one_way_ns, 50.0),
            p99_ns: percentile(&one_way_ns, 99.0),
            pingpong_msgs_per_s: if secs > 0.0 {
                2.0 * one_way_ns.len() as f64 / secs
            } else {
                0.0
            },
        }
    }
}

/// Result of a throughput (one-way stream) test.
#[derive(Clone, Debug, PartialEq)]
pub struct ThroughputStats {
    /// Messages in the timed part of the stream.
    pub msgs: u64,
    /// Time from the first timed send to the receiver's report that it has
    /// made the last one usable.
    pub elapsed: Duration,
}

impl ThroughputStats {
    /// Messages per second.
    pub fn msgs_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.msgs as f64 / s
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        let w = [1, 2, 3, 4, 1000];
        assert_eq!(percentile(&w, 50.0), 3);
        assert_eq!(percentile(&w, 99.0), 1000);
    }

    #[test]
    fn latency_stats_sort_and_rate() {
        let s = LatencyStats::from_samples(vec![30, 10, 20], Duration::from_micros(120));
        assert_eq!(s.samples, 3);
        assert_eq!(s.p50_ns, 20);
        assert_eq!(s.p99_ns, 30);
        assert!((s.pingpong_msgs_per_s - 50_000.0).abs() < 1e-6);
    }

    #[test]
    fn throughput_rate() {
        let t = ThroughputStats {
            msgs: 500,
            elapsed: Duration::from_millis(250),
        };
        assert!((t.msgs_per_s() - 2000.0).abs() < 1e-9);
    }
}
