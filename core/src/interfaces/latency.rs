//! Notification latency samples: publish time (the record's `time_ns`) to
//! the wallet having applied the record, kept for the last
//! [`KEEP`] notifications.

use serde_json::{json, Value};

/// Samples kept.
pub const KEEP: usize = 4096;

/// The last [`KEEP`] latencies, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<u64>,
    next: usize,
    count: u64,
}

impl Latencies {
    /// Records one notification published at `sent_ns` and handled now.
    pub fn record_since(&mut self, sent_ns: u64) {
        let now = super::event::now_ns();
        self.record_us(now.saturating_sub(sent_ns) / 1000);
    }

    /// Records one latency in microseconds.
    pub fn record_us(&mut self, us: u64) {
        if self.samples.len() < KEEP {
            self.samples.push(us);
        } else {
            self.samples[self.next] = us;
        }
        self.next = (self.next + 1) % KEEP;
        self.count += 1;
    }

    /// The `q` quantile (0..=1) of the samples kept, if any.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort_unstable();
        let i = ((s.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
        Some(s[i])
    }

    /// `{"count", "p50_us", "p99_us"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "count": self.count,
            "p50_us": self.quantile(0.5),
            "p99_us": self.quantile(0.99),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_the_kept_samples() {
        let mut l = Latencies::default();
        assert_eq!(l.quantile(0.5), None);
        for us in 1..=100 {
            l.record_us(us);
        }
        assert_eq!(l.quantile(0.5), Some(51));
        assert_eq!(l.quantile(0.99), Some(99));
        for _ in 0..KEEP {
            l.record_us(7);
        }
        assert_eq!(l.quantile(0.99), Some(7));
        assert_eq!(l.to_json()["count"], 100 + KEEP as u64);
    }
}
