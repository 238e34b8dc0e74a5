//! What the window knows about the node and the wallet: plain data, filled
//! from the node's JSON answers (Core's shapes) and read by the screens.
//! It survives a lost connection, so the window stays readable.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::amount;

fn u64_of(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

fn i64_of(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn f64_of(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

fn str_of(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// `getblockchaininfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainInfo {
    pub chain: String,
    pub blocks: u64,
    pub headers: u64,
    pub best_hash: String,
    /// 0..=1.
    pub progress: f64,
    pub ibd: bool,
}

impl ChainInfo {
    pub fn from_json(v: &Value) -> Option<ChainInfo> {
        Some(ChainInfo {
            chain: str_of(v, "chain")?,
            blocks: u64_of(v, "blocks")?,
            headers: u64_of(v, "headers").unwrap_or(0),
            best_hash: str_of(v, "bestblockhash").unwrap_or_default(),
            progress: f64_of(v, "verificationprogress")
                .unwrap_or(0.0)
                .clamp(0.0, 1.0),
            ibd: v
                .get("initialblockdownload")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// `getmempoolinfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MempoolInfo {
    pub size: u64,
    pub bytes: u64,
}

impl MempoolInfo {
    pub fn from_json(v: &Value) -> Option<MempoolInfo> {
        Some(MempoolInfo {
            size: u64_of(v, "size")?,
            bytes: u64_of(v, "bytes").unwrap_or(0),
        })
    }
}

/// `getnetworkinfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkInfo {
    pub subversion: String,
    pub connections: u64,
}

impl NetworkInfo {
    pub fn from_json(v: &Value) -> Option<NetworkInfo> {
        Some(NetworkInfo {
            subversion: str_of(v, "subversion").unwrap_or_default(),
            connections: u64_of(v, "connections").unwrap_or(0),
        })
    }
}

/// `getbalances`' `mine`, in satoshis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balances {
    pub trusted: i64,
    pub pending: i64,
    pub immature: i64,
}

impl Balances {
    pub fn from_json(v: &Value) -> Option<Balances> {
        let m = v.get("mine")?;
        Some(Balances {
            trusted: amount::from_json(m.get("trusted")?)?,
            pending: m
                .get("untrusted_pending")
                .and_then(amount::from_json)
                .unwrap_or(0),
            immature: m.get("immature").and_then(amount::from_json).unwrap_or(0),
        })
    }

    pub fn total(&self) -> i64 {
        self.trusted + self.pending + self.immature
    }
}

/// `getwalletinfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WalletInfo {
    pub name: String,
    /// Encrypted wallets report `unlocked_until` (0 = locked).
    pub unlocked_until: Option<u64>,
    pub private_keys: bool,
}

impl WalletInfo {
    pub fn from_json(v: &Value) -> Option<WalletInfo> {
        Some(WalletInfo {
            name: str_of(v, "walletname")?,
            unlocked_until: u64_of(v, "unlocked_until"),
            private_keys: v
                .get("private_keys_enabled")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        })
    }

    pub fn encrypted(&self) -> bool {
        self.unlocked_until.is_some()
    }

    /// Locked now (an encrypted wallet whose unlock time passed).
    pub fn locked(&self) -> bool {
        match self.unlocked_until {
            None => false,
            Some(0) => true,
            Some(t) => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                t <= now
            }
        }
    }
}

/// A wallet rescan under way: `getwalletinfo`'s `scanning` field
/// (`{"duration": s, "progress": 0..1}`, or `false` when not scanning).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanProgress {
    /// The wallet being rescanned (`""` is the default wallet).
    pub wallet: String,
    /// 0..=1.
    pub progress: f64,
    /// Seconds since the rescan started.
    pub duration_s: u64,
}

impl ScanProgress {
    /// The rescan a `getwalletinfo` answer reports, if any. `asked` names
    /// the wallet when the answer does not.
    pub fn from_wallet_info(asked: Option<&str>, v: &Value) -> Option<ScanProgress> {
        let s = v.get("scanning").filter(|s| s.is_object())?;
        Some(ScanProgress {
            wallet: str_of(v, "walletname")
                .or_else(|| asked.map(str::to_owned))
                .unwrap_or_default(),
            progress: f64_of(s, "progress")?.clamp(0.0, 1.0),
            duration_s: u64_of(s, "duration").unwrap_or(0),
        })
    }

    /// What the progress bar says.
    pub fn text(&self) -> String {
        let name = if self.wallet.is_empty() {
            "(default wallet)"
        } else {
            &self.wallet
        };
        format!(
            "Rescanning wallet {name}: {:.0}% ({} s)",
            (self.progress * 100.0).floor(),
            self.duration_s
        )
    }
}

/// One `listtransactions` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TxEntry {
    pub txid: String,
    /// `send`, `receive`, `generate`, `immature`, `orphan`.
    pub category: String,
    pub amount: i64,
    pub fee: Option<i64>,
    pub address: Option<String>,
    pub label: Option<String>,
    pub confirmations: i64,
    pub time: i64,
    pub vout: u64,
    pub abandoned: bool,
    pub replaceable: String,
}

impl TxEntry {
    pub fn from_json(v: &Value) -> Option<TxEntry> {
        Some(TxEntry {
            txid: str_of(v, "txid")?,
            category: str_of(v, "category")?,
            amount: amount::from_json(v.get("amount")?)?,
            fee: v.get("fee").and_then(amount::from_json),
            address: str_of(v, "address"),
            label: str_of(v, "label").filter(|l| !l.is_empty()),
            confirmations: i64_of(v, "confirmations").unwrap_or(0),
            time: i64_of(v, "time").unwrap_or(0),
            vout: u64_of(v, "vout").unwrap_or(0),
            abandoned: v.get("abandoned").and_then(Value::as_bool).unwrap_or(false),
            replaceable: str_of(v, "bip125-replaceable").unwrap_or_default(),
        })
    }

    /// The type column, in bitcoin-qt's words.
    pub fn kind(&self) -> &'static str {
        match self.category.as_str() {
            "send" => "Sent to",
            "receive" => "Received with",
            "generate" | "immature" => "Mined",
            "orphan" => "Orphan",
            _ => "Other",
        }
    }

    /// The status, in bitcoin-qt's words.
    pub fn status(&self) -> String {
        match (self.abandoned, self.confirmations, self.category.as_str()) {
            (true, _, _) => "Abandoned".into(),
            (_, c, _) if c < 0 => format!("Conflicted ({} confirmations)", -c),
            (_, 0, _) => "Unconfirmed".into(),
            (_, c, "immature") => format!("Immature ({c} confirmations)"),
            (_, c, _) if c < 6 => format!("Confirming ({c} of 6 confirmations)"),
            (_, c, _) => format!("Confirmed ({c} confirmations)"),
        }
    }
}

/// Parses a `listtransactions` answer (oldest first), dropping what can't
/// be read.
pub fn transactions_from_json(v: &Value) -> Vec<TxEntry> {
    v.as_array()
        .map(|a| a.iter().filter_map(TxEntry::from_json).collect())
        .unwrap_or_default()
}

/// One ring of `getipcinfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RingStats {
    pub name: String,
    pub records: Option<u64>,
    pub bytes: Option<u64>,
    pub occupancy: Option<u64>,
    pub capacity: Option<u64>,
    pub subscribers: Option<u64>,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
}

impl RingStats {
    pub fn from_json(v: &Value) -> Option<RingStats> {
        Some(RingStats {
            name: str_of(v, "name")?,
            records: u64_of(v, "records"),
            bytes: u64_of(v, "bytes"),
            occupancy: u64_of(v, "occupancy"),
            capacity: u64_of(v, "capacity"),
            subscribers: u64_of(v, "subscribers"),
            p50_us: f64_of(v, "notify_p50_us"),
            p99_us: f64_of(v, "notify_p99_us"),
        })
    }

    /// Occupancy in percent of the capacity.
    pub fn occupancy_pct(&self) -> Option<f64> {
        match (self.occupancy, self.capacity) {
            (Some(o), Some(c)) if c > 0 => Some(o as f64 * 100.0 / c as f64),
            _ => None,
        }
    }
}

/// A point of a ring's plot.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RingSample {
    /// Seconds since the window opened.
    pub t: f64,
    pub records_per_s: f64,
    pub bytes_per_s: f64,
    pub occupancy_pct: f64,
    pub p99_us: f64,
}

/// Points kept per ring.
pub const HISTORY: usize = 240;

/// A ring's recent samples, and the counters of the last answer (for rates).
#[derive(Debug, Clone, Default)]
pub struct RingHistory {
    pub samples: VecDeque<RingSample>,
    last: Option<(f64, u64, u64)>,
}

impl RingHistory {
    fn add(&mut self, t: f64, r: &RingStats) {
        let records = r.records.unwrap_or(0);
        let bytes = r.bytes.unwrap_or(0);
        let (rps, bps) = match self.last {
            Some((t0, r0, b0)) if t > t0 && records >= r0 && bytes >= b0 => (
                (records - r0) as f64 / (t - t0),
                (bytes - b0) as f64 / (t - t0),
            ),
            _ => (0.0, 0.0),
        };
        self.last = Some((t, records, bytes));
        self.samples.push_back(RingSample {
            t,
            records_per_s: rps,
            bytes_per_s: bps,
            occupancy_pct: r.occupancy_pct().unwrap_or(0.0),
            p99_us: r.p99_us.unwrap_or(0.0),
        });
        while self.samples.len() > HISTORY {
            self.samples.pop_front();
        }
    }
}

/// The connection as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Starting or reaching the node (with what it is doing).
    Connecting(String),
    Connected,
    /// The node went away (why); data shown is as of then.
    Lost(String),
    /// Starting failed (why).
    Failed(String),
    /// Closing: stopping a spawned node or disconnecting.
    ShuttingDown(String),
    /// Closed; the window goes away.
    Closed,
}

/// Everything the screens show.
#[derive(Debug, Clone)]
pub struct Model {
    pub phase: Phase,
    pub opened: Instant,
    /// The node's chain (from the handshake, then `getblockchaininfo`).
    pub chain_name: String,
    pub chain: Option<ChainInfo>,
    pub mempool: Option<MempoolInfo>,
    pub network: Option<NetworkInfo>,
    /// Seconds up, and when that was read.
    pub uptime: Option<(u64, Instant)>,
    pub rings: Vec<RingStats>,
    /// Whether the node answered `getipcinfo` at all.
    pub ipc_supported: Option<bool>,
    pub ring_history: BTreeMap<String, RingHistory>,
    /// Notification latency seen by the GUI itself (publish → receive), µs.
    pub gui_latency_us: VecDeque<u64>,
    pub notifications: u64,
    /// Loaded wallets (`listwallets`).
    pub wallets: Vec<String>,
    /// Wallets on disk, when the node can tell (`listwalletdir`).
    pub wallet_dir: Option<Vec<String>>,
    /// The wallet shown.
    pub wallet: Option<String>,
    pub wallet_info: Option<WalletInfo>,
    pub balances: Option<Balances>,
    pub txs: Vec<TxEntry>,
    /// A rescan under way, while a call that may rescan runs.
    pub scan: Option<ScanProgress>,
    /// When the last update from the node arrived.
    pub updated: Option<SystemTime>,
}

impl Model {
    pub fn new(chain_name: &str) -> Model {
        Model {
            phase: Phase::Connecting("Starting…".into()),
            opened: Instant::now(),
            chain_name: chain_name.to_string(),
            chain: None,
            mempool: None,
            network: None,
            uptime: None,
            rings: Vec::new(),
            ipc_supported: None,
            ring_history: BTreeMap::new(),
            gui_latency_us: VecDeque::new(),
            notifications: 0,
            wallets: Vec::new(),
            wallet_dir: None,
            wallet: None,
            wallet_info: None,
            balances: None,
            txs: Vec::new(),
            scan: None,
            updated: None,
        }
    }

    pub fn connected(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// Forgets the shown wallet's data (another wallet is chosen).
    pub fn clear_wallet(&mut self) {
        self.wallet_info = None;
        self.balances = None;
        self.txs.clear();
    }

    /// Takes a `getipcinfo` answer: the table and a point on each plot.
    pub fn set_ipc(&mut self, v: &Value) {
        let rings: Vec<RingStats> = v
            .get("rings")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(RingStats::from_json).collect())
            .unwrap_or_default();
        let t = self.opened.elapsed().as_secs_f64();
        for r in &rings {
            self.ring_history
                .entry(r.name.clone())
                .or_default()
                .add(t, r);
        }
        self.rings = rings;
        self.ipc_supported = Some(true);
    }

    /// Notes a notification's latency as the GUI measured it.
    pub fn note_latency(&mut self, us: Option<u64>) {
        self.notifications += 1;
        if let Some(us) = us {
            self.gui_latency_us.push_back(us);
            while self.gui_latency_us.len() > 1000 {
                self.gui_latency_us.pop_front();
            }
        }
    }

    /// Percentile `p` (0..=100) of the GUI-side latency, µs.
    pub fn gui_latency_pct(&self, p: f64) -> Option<u64> {
        if self.gui_latency_us.is_empty() {
            return None;
        }
        let mut v: Vec<u64> = self.gui_latency_us.iter().copied().collect();
        v.sort_unstable();
        let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v.get(i).copied()
    }

    /// The node's uptime now (extrapolated from the last answer).
    pub fn uptime_now(&self) -> Option<Duration> {
        self.uptime
            .map(|(s, at)| Duration::from_secs(s) + at.elapsed())
    }
}

/// `1d 2h 3m 4s` style.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {h}h {m}m {sec}s")
    } else if h > 0 {
        format!("{h}h {m}m {sec}s")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Local time of a UNIX timestamp, `YYYY-MM-DD HH:MM` (UTC: no time zone
/// database is linked).
pub fn format_time(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs / 60 % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_cores_shapes() {
        let b = Balances::from_json(
            &json!({"mine": {"trusted": 1.5, "untrusted_pending": 0.25, "immature": 50.0}}),
        )
        .unwrap();
        assert_eq!(
            b,
            Balances {
                trusted: 150_000_000,
                pending: 25_000_000,
                immature: 5_000_000_000
            }
        );
        let t = TxEntry::from_json(&json!({"txid": "ab", "category": "send", "amount": -0.1, "fee": -0.0000141, "confirmations": 2, "time": 0, "address": "x", "label": ""})).unwrap();
        assert_eq!(t.fee, Some(-1410));
        assert_eq!(t.label, None);
        assert_eq!(t.status(), "Confirming (2 of 6 confirmations)");
        let w = WalletInfo::from_json(&json!({"walletname": "w", "unlocked_until": 0})).unwrap();
        assert!(w.encrypted() && w.locked());
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(format_duration(Duration::from_secs(3723)), "1h 2m 3s");
    }

    #[test]
    fn reads_a_rescans_progress_from_getwalletinfo() {
        let p = ScanProgress::from_wallet_info(
            Some("asked"),
            &json!({"walletname": "bob", "scanning": {"duration": 3, "progress": 0.4271}}),
        )
        .unwrap();
        assert_eq!(p.wallet, "bob");
        assert_eq!(p.duration_s, 3);
        assert_eq!(p.text(), "Rescanning wallet bob: 42% (3 s)");
        // Core's "not scanning", and answers without the field.
        assert_eq!(
            ScanProgress::from_wallet_info(None, &json!({"walletname": "bob", "scanning": false})),
            None
        );
        assert_eq!(ScanProgress::from_wallet_info(None, &json!({})), None);
        // Out-of-range progress is clamped; the asked name stands in.
        let p = ScanProgress::from_wallet_info(Some(""), &json!({"scanning": {"progress": 7}}))
            .unwrap();
        assert_eq!(p.progress, 1.0);
        assert_eq!(p.text(), "Rescanning wallet (default wallet): 100% (0 s)");
    }

    #[test]
    fn ipc_info_makes_rates_and_tolerates_missing_fields() {
        let mut m = Model::new("regtest");
        m.set_ipc(&json!({"rings": [{"name": "ui", "records": 10, "bytes": 100, "occupancy": 256, "capacity": 1024}]}));
        std::thread::sleep(Duration::from_millis(20));
        m.set_ipc(
            &json!({"rings": [{"name": "ui", "records": 20, "bytes": 300}, {"nameless": 1}]}),
        );
        assert_eq!(m.rings.len(), 1);
        let h = &m.ring_history["ui"].samples;
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].occupancy_pct, 25.0);
        assert!(h[1].records_per_s > 0.0);
        m.set_ipc(&json!({}));
        assert!(m.rings.is_empty());
    }
}
