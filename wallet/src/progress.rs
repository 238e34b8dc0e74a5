//! Rescan progress, readable while the rescan holds the wallet: Core's
//! `getwalletinfo` `scanning` field, and a progress line on a terminal.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, TryLockError};

use crate::{Chain, RpcError, WalletManager};
use std::time::Instant;

struct Scan {
    started: Instant,
    progress: f64,
    printed: f64,
}

static SCANS: Mutex<BTreeMap<String, Scan>> = Mutex::new(BTreeMap::new());

fn scans() -> std::sync::MutexGuard<'static, BTreeMap<String, Scan>> {
    SCANS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A rescan of wallet `name` in progress; ends when dropped.
pub struct ScanGuard(String);

/// Marks wallet `name` as scanning.
pub fn begin(name: &str) -> ScanGuard {
    scans().insert(
        name.to_owned(),
        Scan {
            started: Instant::now(),
            progress: 0.0,
            printed: -1.0,
        },
    );
    ScanGuard(name.to_owned())
}

impl ScanGuard {
    /// Sets the progress (0..=1); on a terminal, prints it every percent.
    pub fn update(&self, progress: f64) {
        let mut s = scans();
        let Some(scan) = s.get_mut(&self.0) else {
            return;
        };
        scan.progress = progress.clamp(0.0, 1.0);
        if scan.progress - scan.printed >= 0.01 && std::io::stderr().is_terminal() {
            scan.printed = scan.progress;
            let _ = write!(
                std::io::stderr(),
                "\rRescanning wallet {}: {:3.0}%",
                self.0,
                scan.progress * 100.0
            );
        }
    }
}

impl Drop for ScanGuard {
    fn drop(&mut self) {
        if let Some(scan) = scans().remove(&self.0) {
            if scan.printed >= 0.0 && std::io::stderr().is_terminal() {
                let _ = writeln!(std::io::stderr(), "\rRescanning wallet {}: done", self.0);
            }
        }
    }
}

/// Core's `scanning` value for wallet `name`: `{"duration": s,
/// "progress": p}` while it rescans, else `false`.
pub fn scanning(name: &str) -> serde_json::Value {
    match scans().get(name) {
        Some(s) => serde_json::json!({
            "duration": s.started.elapsed().as_secs(),
            "progress": (s.progress * 1e4).round() / 1e4,
        }),
        None => false.into(),
    }
}

/// Whether wallet `name` is rescanning.
pub fn is_scanning(name: &str) -> bool {
    scans().contains_key(name)
}

/// Runs a wallet RPC on `manager`, as [`WalletManager::call`]; a
/// `getwalletinfo` for a wallet that a rescan holds is answered from
/// `info` (with the rescan's progress) instead of waiting for the rescan.
pub fn call(
    manager: &Mutex<WalletManager>,
    info: &InfoCache,
    wallet: Option<&str>,
    method: &str,
    params: &serde_json::Value,
    chain: &dyn Chain,
) -> Result<serde_json::Value, RpcError> {
    let is_info = method == "getwalletinfo";
    let mut m = match manager.try_lock() {
        Ok(m) => m,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => {
            if let Some(v) = is_info.then(|| info.while_scanning(wallet)).flatten() {
                return Ok(v);
            }
            manager.lock().unwrap_or_else(|e| e.into_inner())
        }
    };
    let r = m.call(wallet, method, params, chain);
    if let (true, Ok(v)) = (is_info, &r) {
        if let Some(name) = v.get("walletname").and_then(serde_json::Value::as_str) {
            info.remember(name, v);
        }
    }
    r
}

/// The last `getwalletinfo` answer of each wallet, to answer one while the
/// wallet is held by a rescan (with the rescan's progress in `scanning`)
/// instead of waiting for the rescan to end.
#[derive(Default)]
pub struct InfoCache(Mutex<BTreeMap<String, serde_json::Value>>);

impl InfoCache {
    /// Remembers wallet `name`'s answer.
    pub fn remember(&self, name: &str, info: &serde_json::Value) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), info.clone());
    }

    /// The answer for the wallet named `wallet` (or the only one
    /// scanning), if it is rescanning now.
    pub fn while_scanning(&self, wallet: Option<&str>) -> Option<serde_json::Value> {
        let name = match wallet {
            Some(n) => n.to_owned(),
            None => {
                let s = scans();
                let mut names = s.keys();
                match (names.next(), names.next()) {
                    (Some(n), None) => n.clone(),
                    _ => return None,
                }
            }
        };
        if !is_scanning(&name) {
            return None;
        }
        let mut info = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({ "walletname": name }));
        info["scanning"] = scanning(&name);
        Some(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_shows_while_its_guard_lives() {
        assert_eq!(scanning("p-test"), serde_json::Value::Bool(false));
        let g = begin("p-test");
        g.update(0.25);
        assert!(is_scanning("p-test"));
        assert_eq!(scanning("p-test")["progress"], 0.25);
        let cache = InfoCache::default();
        cache.remember(
            "p-test",
            &serde_json::json!({"walletname": "p-test", "scanning": false}),
        );
        let v = cache.while_scanning(Some("p-test")).unwrap();
        assert_eq!(v["scanning"]["progress"], 0.25);
        assert!(cache.while_scanning(Some("other")).is_none());
        drop(g);
        assert!(!is_scanning("p-test"));
        assert!(cache.while_scanning(Some("p-test")).is_none());
    }
}
