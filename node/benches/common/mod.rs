//! Helpers shared by the node's benchmarks: random coins with a realistic
//! script mix, CPU accounting from `/proc`, medians. Each bench uses part
//! of it.
#![allow(dead_code)]

use btc_node::store::Coin;
use rand::rngs::StdRng;
use rand::Rng;

/// An encoded coin: P2WPKH 50%, P2TR 20%, P2PKH 15%, P2SH 10%, bare
/// P2PK (uncompressed) 5%; amounts log-uniform from 1 sat to ~10 BTC.
pub fn random_coin(rng: &mut StdRng) -> Vec<u8> {
    let mut h = [0u8; 32];
    rng.fill(&mut h);
    let script = match rng.random_range(0..100) {
        0..50 => [&[0x00, 0x14][..], &h[..20]].concat(),
        50..70 => [&[0x51, 0x20][..], &h[..]].concat(),
        70..85 => [&[0x76, 0xa9, 0x14][..], &h[..20], &[0x88, 0xac]].concat(),
        85..95 => [&[0xa9, 0x14][..], &h[..20], &[0x87]].concat(),
        _ => [&[0x41][..], &h[..], &h[..], &[0xac]].concat(),
    };
    Coin {
        height: rng.random_range(800_000..900_000),
        coinbase: rng.random_range(0..100) == 0,
        amount: (1u64 << rng.random_range(0..30)) | rng.random_range(0..1024),
        script,
    }
    .encode()
}

/// Jiffies: (busy time of all CPUs, this process's user + system time).
pub fn cpu_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest: Vec<&str> = own[own.rfind(')')? + 2..].split(' ').collect();
    let mine = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some((total - idle, mine))
}

/// The median (NaN for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
