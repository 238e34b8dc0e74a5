//! An in-memory node and wallets answering the RPC methods the screens
//! use, in Core's shapes and with Core's error codes, for the GUI's tests.
//! [`FakeNode`] is the test's handle: it changes the chain and wallets and
//! pushes the notifications a real node would, can be slow, and can
//! disappear like a killed node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use crossbeam_channel as cc;
use serde_json::{json, Map, Value};

use crate::amount::{self, COIN};
use crate::backend::{Backend, Connector, Notification, Notified};
use crate::error::BackendError;
use btc_core::rpc_codes as codes;

/// Core's COINBASE_MATURITY: a coinbase is spendable at depth 101.
const MATURITY: u32 = 100;
/// What every fake send pays.
pub const FAKE_FEE: i64 = 1410;

#[derive(Debug, Clone)]
struct FakeTx {
    txid: String,
    category: &'static str,
    /// Satoshis, negative for sends.
    amount: i64,
    fee: i64,
    address: String,
    label: String,
    /// Height of the block that confirmed it.
    height: Option<u32>,
    time: i64,
    coinbase: bool,
    replaceable: bool,
}

#[derive(Debug, Default)]
struct FakeWallet {
    passphrase: Option<String>,
    unlocked: bool,
    /// Address → label.
    addresses: BTreeMap<String, String>,
    txs: Vec<FakeTx>,
}

struct State {
    chain: String,
    height: u32,
    mempool: u64,
    started: Instant,
    loaded: Vec<String>,
    wallets: BTreeMap<String, FakeWallet>,
    counter: u64,
    alive: bool,
    subscribers: Vec<cc::Sender<Notified>>,
    /// Every call made, `(wallet, method)`, for tests to check.
    calls: Vec<(Option<String>, String)>,
    delay: Duration,
    /// How long a rescan takes (`loadwallet`, `rescanblockchain`...).
    rescan: Duration,
    /// Wallets being rescanned, since when.
    scanning: BTreeMap<String, Instant>,
    ipc_records: u64,
    ipc_info: bool,
}

/// The fake node (shared by its backends and the test).
#[derive(Clone)]
pub struct FakeNode(Arc<Mutex<State>>);

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl FakeNode {
    /// A node on `chain` at height 0 with no wallet.
    pub fn new(chain: &str) -> FakeNode {
        FakeNode(Arc::new(Mutex::new(State {
            chain: chain.into(),
            height: 0,
            mempool: 0,
            started: Instant::now(),
            loaded: Vec::new(),
            wallets: BTreeMap::new(),
            counter: 0,
            alive: true,
            subscribers: Vec::new(),
            calls: Vec::new(),
            delay: Duration::ZERO,
            rescan: Duration::ZERO,
            scanning: BTreeMap::new(),
            ipc_records: 0,
            ipc_info: true,
        })))
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a wallet on "disk", loaded or not, optionally encrypted.
    pub fn add_wallet(&self, name: &str, passphrase: Option<&str>, loaded: bool) {
        let mut s = self.st();
        s.wallets.insert(
            name.into(),
            FakeWallet {
                passphrase: passphrase.map(str::to_owned),
                ..FakeWallet::default()
            },
        );
        if loaded {
            s.loaded.push(name.into());
        }
    }

    /// A new address of `wallet` (as `getnewaddress` would give).
    pub fn new_address(&self, wallet: &str, label: &str) -> String {
        let mut s = self.st();
        new_address(&mut s, wallet, label)
    }

    /// Mines `n` blocks paying `to` (an address of a wallet or not), and
    /// notifies like the node: tip, then the wallets concerned.
    pub fn mine(&self, n: u32, to: &str) {
        let mut s = self.st();
        let mut touched: Vec<String> = Vec::new();
        for _ in 0..n {
            s.height += 1;
            let h = s.height;
            // Everything in the mempool confirms.
            for (name, w) in s.wallets.iter_mut() {
                for t in w.txs.iter_mut().filter(|t| t.height.is_none()) {
                    t.height = Some(h);
                    if !touched.contains(name) {
                        touched.push(name.clone());
                    }
                }
            }
            s.mempool = 0;
            let txid = fake_hash(&mut s);
            if let Some(name) = owner(&s, to) {
                let label = s.wallets[&name].addresses[to].clone();
                if let Some(w) = s.wallets.get_mut(&name) {
                    w.txs.push(FakeTx {
                        txid,
                        category: "generate",
                        amount: 50 * COIN,
                        fee: 0,
                        address: to.into(),
                        label,
                        height: Some(h),
                        time: now(),
                        coinbase: true,
                        replaceable: false,
                    });
                }
                if !touched.contains(&name) {
                    touched.push(name);
                }
            }
        }
        let (h, hash) = (s.height, tip_hash(s.height));
        s.ipc_records += u64::from(n) * 2;
        notify(
            &mut s,
            Notification::Block {
                height: h,
                connected: true,
            },
        );
        notify(&mut s, Notification::Tip { height: h, hash });
        for w in touched {
            notify(&mut s, Notification::WalletChanged { wallet: w });
        }
    }

    /// An unconfirmed payment from outside to `to`.
    pub fn receive(&self, to: &str, sats: i64) {
        let mut s = self.st();
        let Some(name) = owner(&s, to) else { return };
        let txid = fake_hash(&mut s);
        let w = s.wallets.get_mut(&name).expect("owner");
        let label = w.addresses[to].clone();
        w.txs.push(FakeTx {
            txid,
            category: "receive",
            amount: sats,
            fee: 0,
            address: to.into(),
            label,
            height: None,
            time: now(),
            coinbase: false,
            replaceable: false,
        });
        s.mempool += 1;
        s.ipc_records += 2;
        notify(&mut s, Notification::Mempool);
        notify(&mut s, Notification::WalletChanged { wallet: name });
    }

    /// The node vanishes (killed): calls fail, subscribers hear it once.
    pub fn disappear(&self) {
        let mut s = self.st();
        s.alive = false;
        for tx in s.subscribers.drain(..) {
            let _ = tx.send(
                Notification::Disconnected {
                    reason: "the node exited".into(),
                }
                .into(),
            );
        }
    }

    /// The node is back (restarted).
    pub fn revive(&self) {
        self.st().alive = true;
    }

    pub fn is_alive(&self) -> bool {
        self.st().alive
    }

    /// Every call so far: `(wallet, method)`.
    pub fn calls(&self) -> Vec<(Option<String>, String)> {
        self.st().calls.clone()
    }

    /// Makes every call take this long (slow node).
    pub fn set_delay(&self, d: Duration) {
        self.st().delay = d;
    }

    /// Makes calls that rescan (`loadwallet`, `rescanblockchain`,
    /// `importdescriptors`) take this long, with `getwalletinfo`
    /// reporting their progress in `scanning` meanwhile, as Core does.
    pub fn set_rescan(&self, d: Duration) {
        self.st().rescan = d;
    }

    /// Whether the node knows `getipcinfo`.
    pub fn set_ipc_info(&self, on: bool) {
        self.st().ipc_info = on;
    }

    pub fn balance(&self, wallet: &str) -> (i64, i64, i64) {
        let s = self.st();
        balances(&s, &s.wallets[wallet])
    }

    /// Whether the wallet is encrypted and unlocked.
    pub fn unlocked(&self, wallet: &str) -> bool {
        self.st().wallets[wallet].unlocked
    }

    /// A backend on this node (what connecting gives); `owns`: the GUI
    /// started the node (closing stops it).
    pub fn backend(&self, owns: bool) -> Arc<FakeBackend> {
        let (tx, rx) = cc::unbounded();
        self.st().subscribers.push(tx);
        Arc::new(FakeBackend {
            node: self.clone(),
            rx,
            closed: Mutex::new(false),
            owns,
        })
    }

    /// A connector that "starts" this node (reviving it if it was gone).
    pub fn connector(&self) -> Arc<FakeConnector> {
        Arc::new(FakeConnector {
            node: self.clone(),
            fail: Mutex::new(None),
            spawns: true,
        })
    }

    /// A connector that attaches to this node (`-ipcconnect`): closing
    /// leaves it running.
    pub fn attach_connector(&self) -> Arc<FakeConnector> {
        Arc::new(FakeConnector {
            node: self.clone(),
            fail: Mutex::new(None),
            spawns: false,
        })
    }
}

fn fake_hash(s: &mut State) -> String {
    s.counter += 1;
    let h = bitcoin::hashes::sha256d::Hash::hash(&s.counter.to_le_bytes());
    h.to_string()
}

fn tip_hash(height: u32) -> String {
    if height == 0 {
        // Regtest genesis.
        return "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206".into();
    }
    bitcoin::hashes::sha256d::Hash::hash(&height.to_be_bytes()).to_string()
}

fn new_address(s: &mut State, wallet: &str, label: &str) -> String {
    s.counter += 1;
    let net = crate::address::network_of(&s.chain).unwrap_or(bitcoin::Network::Regtest);
    let script = bitcoin::ScriptBuf::from_bytes(s.counter.to_le_bytes().to_vec());
    let addr = bitcoin::Address::p2wsh(&script, net).to_string();
    if let Some(w) = s.wallets.get_mut(wallet) {
        w.addresses.insert(addr.clone(), label.into());
    }
    addr
}

fn owner(s: &State, addr: &str) -> Option<String> {
    s.wallets
        .iter()
        .find(|(_, w)| w.addresses.contains_key(addr))
        .map(|(n, _)| n.clone())
}

fn notify(s: &mut State, n: Notification) {
    s.subscribers.retain(|tx| {
        tx.send(Notified {
            what: n.clone(),
            latency_us: Some(42),
        })
        .is_ok()
    });
}

fn confirmations(s: &State, t: &FakeTx) -> i64 {
    t.height.map_or(0, |h| i64::from(s.height - h + 1))
}

/// (trusted, pending, immature).
fn balances(s: &State, w: &FakeWallet) -> (i64, i64, i64) {
    let (mut trusted, mut pending, mut immature) = (0, 0, 0);
    for t in &w.txs {
        let c = confirmations(s, t);
        if t.category == "send" {
            trusted += t.amount - t.fee;
        } else if t.coinbase {
            if c > i64::from(MATURITY) {
                trusted += t.amount;
            } else {
                immature += t.amount;
            }
        } else if c > 0 {
            trusted += t.amount;
        } else {
            pending += t.amount;
        }
    }
    (trusted, pending, immature)
}

fn err(code: i32, msg: &str) -> BackendError {
    BackendError::remote(i64::from(code), msg)
}

fn arg<'a>(p: &'a Value, i: usize, name: &str) -> Option<&'a Value> {
    match p {
        Value::Array(a) => a.get(i),
        Value::Object(o) => o.get(name),
        _ => None,
    }
    .filter(|v| !v.is_null())
}

fn str_arg<'a>(p: &'a Value, i: usize, name: &str) -> Option<&'a str> {
    arg(p, i, name).and_then(Value::as_str)
}

const NO_WALLET: &str = "Requested wallet does not exist or is not loaded";

impl State {
    fn wallet_name(&self, wallet: Option<&str>) -> Result<String, BackendError> {
        match wallet {
            Some(w) if self.loaded.iter().any(|l| l == w) => Ok(w.into()),
            Some(_) => Err(err(codes::RPC_WALLET_NOT_FOUND, NO_WALLET)),
            None => match self.loaded.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(err(
                    codes::RPC_WALLET_NOT_FOUND,
                    "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)",
                )),
                _ => Err(err(
                    codes::RPC_WALLET_NOT_SPECIFIED,
                    "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).",
                )),
            },
        }
    }

    fn call(
        &mut self,
        wallet: Option<&str>,
        method: &str,
        p: &Value,
    ) -> Result<Value, BackendError> {
        Ok(match method {
            "getblockchaininfo" => json!({
                "chain": self.chain, "blocks": self.height, "headers": self.height,
                "bestblockhash": tip_hash(self.height), "verificationprogress": 1.0,
                "initialblockdownload": false, "pruned": false,
            }),
            "getblockcount" => json!(self.height),
            "getbestblockhash" => json!(tip_hash(self.height)),
            "getnetworkinfo" => json!({
                "version": 10000, "subversion": "/FakeNode:0.1.0/", "connections": 0,
                "networkactive": true,
            }),
            "getmempoolinfo" => {
                json!({"loaded": true, "size": self.mempool, "bytes": self.mempool * 141})
            }
            "uptime" => json!(self.started.elapsed().as_secs()),
            "getipcinfo" if self.ipc_info => {
                self.ipc_records += 1;
                json!({"rings": [
                    {"name": "events", "records": self.ipc_records, "bytes": self.ipc_records * 300,
                     "occupancy": 4096, "capacity": 64u64 << 20, "subscribers": 1,
                     "notify_p50_us": 12.0, "notify_p99_us": 40.0},
                    {"name": "ui", "records": self.ipc_records, "bytes": self.ipc_records * 64,
                     "occupancy": 512, "capacity": 1u64 << 20, "subscribers": 1,
                     "notify_p50_us": 15.0, "notify_p99_us": 55.0},
                ]})
            }
            "help" => json!("== Fake ==\ngetblockchaininfo\ngetbalances\n..."),
            "stop" => {
                self.alive = false;
                for tx in self.subscribers.drain(..) {
                    let _ = tx.send(
                        Notification::Disconnected {
                            reason: "the node stopped".into(),
                        }
                        .into(),
                    );
                }
                json!("Bitcoin Core stopping")
            }
            "getwalletinfo"
                if wallet.is_some_and(|w| {
                    self.scanning.contains_key(w) && !self.loaded.iter().any(|l| l == w)
                }) =>
            {
                // Core answers for a wallet a rescan holds, even one still
                // loading, with the rescan's progress.
                let name = wallet.unwrap_or("");
                json!({ "walletname": name, "scanning": self.scanning_json(name) })
            }
            "listwallets" => json!(self.loaded),
            "listwalletdir" => {
                let w: Vec<Value> = self.wallets.keys().map(|n| json!({"name": n})).collect();
                json!({"wallets": w})
            }
            "createwallet" => {
                let name = str_arg(p, 0, "wallet_name").unwrap_or("").to_string();
                if self.wallets.contains_key(&name) {
                    return Err(err(
                        codes::RPC_WALLET_ERROR,
                        &format!("Wallet file verification failed. Failed to create database path '{name}'. Database already exists."),
                    ));
                }
                let pass = str_arg(p, 3, "passphrase").filter(|s| !s.is_empty());
                self.wallets.insert(
                    name.clone(),
                    FakeWallet {
                        passphrase: pass.map(str::to_owned),
                        ..FakeWallet::default()
                    },
                );
                self.loaded.push(name.clone());
                json!({"name": name})
            }
            "loadwallet" => {
                let name = str_arg(p, 0, "filename").unwrap_or("").to_string();
                if !self.wallets.contains_key(&name) {
                    return Err(err(
                        codes::RPC_WALLET_NOT_FOUND,
                        &format!("Wallet file verification failed. Failed to load database path '{name}'. Path does not exist."),
                    ));
                }
                if self.loaded.contains(&name) {
                    return Err(err(
                        codes::RPC_WALLET_ALREADY_LOADED,
                        &format!("Wallet \"{name}\" is already loaded."),
                    ));
                }
                self.loaded.push(name.clone());
                json!({"name": name})
            }
            "unloadwallet" => {
                let name = match str_arg(p, 0, "wallet_name") {
                    Some(n) => n.to_string(),
                    None => self.wallet_name(wallet)?,
                };
                if !self.loaded.contains(&name) {
                    return Err(err(codes::RPC_WALLET_NOT_FOUND, NO_WALLET));
                }
                self.loaded.retain(|l| *l != name);
                json!({})
            }
            _ => return self.wallet_call(wallet, method, p),
        })
    }

    /// Core's `scanning` field for wallet `name`.
    fn scanning_json(&self, name: &str) -> Value {
        match self.scanning.get(name) {
            Some(t) => {
                let total = self.rescan.as_secs_f64().max(1e-3);
                let p = (t.elapsed().as_secs_f64() / total).min(1.0);
                json!({"duration": t.elapsed().as_secs(), "progress": (p * 1e4).round() / 1e4})
            }
            None => json!(false),
        }
    }

    fn wallet_call(
        &mut self,
        wallet: Option<&str>,
        method: &str,
        p: &Value,
    ) -> Result<Value, BackendError> {
        const WALLET_METHODS: &[&str] = &[
            "getwalletinfo",
            "getbalances",
            "getbalance",
            "listtransactions",
            "gettransaction",
            "getnewaddress",
            "setlabel",
            "walletpassphrase",
            "walletlock",
            "walletcreatefundedpsbt",
            "send",
            "sendtoaddress",
            "generatetoaddress",
            "rescanblockchain",
        ];
        if !WALLET_METHODS.contains(&method) {
            return Err(err(codes::RPC_METHOD_NOT_FOUND, "Method not found"));
        }
        if method == "generatetoaddress" {
            return Err(err(codes::RPC_MISC_ERROR, "use FakeNode::mine"));
        }
        let name = self.wallet_name(wallet)?;
        let height = self.height;
        let (trusted, pending, immature) = balances(self, &self.wallets[&name]);
        let txs: Vec<Value> = self.wallets[&name]
            .txs
            .iter()
            .map(|t| tx_json(self, t))
            .collect();
        let scanning = self.scanning_json(&name);
        let w = self.wallets.get_mut(&name).expect("loaded wallets exist");
        Ok(match method {
            "getwalletinfo" => {
                let mut o = Map::new();
                o.insert("walletname".into(), json!(name));
                o.insert("walletversion".into(), json!(169900));
                o.insert("balance".into(), amount::to_json(trusted));
                o.insert("unconfirmed_balance".into(), amount::to_json(pending));
                o.insert("immature_balance".into(), amount::to_json(immature));
                o.insert("txcount".into(), json!(w.txs.len()));
                if w.passphrase.is_some() {
                    let until = if w.unlocked { now() + 60 } else { 0 };
                    o.insert("unlocked_until".into(), json!(until));
                }
                o.insert("private_keys_enabled".into(), json!(true));
                o.insert("descriptors".into(), json!(true));
                o.insert("scanning".into(), scanning);
                Value::Object(o)
            }
            "rescanblockchain" => json!({"start_height": 0, "stop_height": height}),
            "getbalances" => json!({
                "mine": {
                    "trusted": amount::to_json(trusted),
                    "untrusted_pending": amount::to_json(pending),
                    "immature": amount::to_json(immature),
                },
                "lastprocessedblock": {"hash": tip_hash(height), "height": height},
            }),
            "getbalance" => amount::to_json(trusted),
            "listtransactions" => {
                let count = arg(p, 1, "count").and_then(Value::as_u64).unwrap_or(10) as usize;
                let skip = txs.len().saturating_sub(count);
                Value::Array(txs[skip..].to_vec())
            }
            "gettransaction" => {
                let id = str_arg(p, 0, "txid").unwrap_or("");
                let Some(t) = txs.iter().find(|t| t["txid"] == id) else {
                    return Err(err(
                        codes::RPC_INVALID_ADDRESS_OR_KEY,
                        "Invalid or non-wallet transaction id",
                    ));
                };
                let mut o = t.as_object().cloned().unwrap_or_default();
                o.insert("details".into(), json!([t]));
                o.insert("hex".into(), json!("0200000000"));
                Value::Object(o)
            }
            "walletpassphrase" => {
                let Some(pass) = &w.passphrase else {
                    return Err(err(
                        codes::RPC_WALLET_WRONG_ENC_STATE,
                        "Error: running with an unencrypted wallet, but walletpassphrase was called.",
                    ));
                };
                if str_arg(p, 0, "passphrase") != Some(pass.as_str()) {
                    return Err(err(
                        codes::RPC_WALLET_PASSPHRASE_INCORRECT,
                        "Error: The wallet passphrase entered was incorrect.",
                    ));
                }
                w.unlocked = true;
                Value::Null
            }
            "walletlock" => {
                if w.passphrase.is_none() {
                    return Err(err(
                        codes::RPC_WALLET_WRONG_ENC_STATE,
                        "Error: running with an unencrypted wallet, but walletlock was called.",
                    ));
                }
                w.unlocked = false;
                Value::Null
            }
            "getnewaddress" => {
                let label = str_arg(p, 0, "label").unwrap_or("").to_string();
                let a = new_address(self, &name, &label);
                json!(a)
            }
            "setlabel" => {
                let (a, l) = (
                    str_arg(p, 0, "address").unwrap_or(""),
                    str_arg(p, 1, "label").unwrap_or(""),
                );
                match w.addresses.get_mut(a) {
                    Some(x) => *x = l.into(),
                    None => {
                        return Err(err(
                            codes::RPC_INVALID_ADDRESS_OR_KEY,
                            "Invalid Bitcoin address",
                        ))
                    }
                }
                Value::Null
            }
            "walletcreatefundedpsbt" | "send" | "sendtoaddress" => {
                let sending = method != "walletcreatefundedpsbt";
                if sending && w.passphrase.is_some() && !w.unlocked {
                    return Err(err(
                        codes::RPC_WALLET_UNLOCK_NEEDED,
                        "Error: Please enter the wallet passphrase with walletpassphrase first.",
                    ));
                }
                let (to, sats, opts) = self.parse_outputs(method, p)?;
                let sffo = opts
                    .get("subtract_fee_from_outputs")
                    .or_else(|| opts.get("subtractFeeFromOutputs"))
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
                    || (method == "sendtoaddress"
                        && arg(p, 4, "subtractfeefromamount") == Some(&json!(true)));
                let replaceable = opts
                    .get("replaceable")
                    .and_then(Value::as_bool)
                    .unwrap_or(true);
                let need = if sffo { sats } else { sats + FAKE_FEE };
                if sats <= 0 {
                    return Err(err(codes::RPC_TYPE_ERROR, "Invalid amount for send"));
                }
                if need > trusted {
                    let code = if sending {
                        codes::RPC_WALLET_INSUFFICIENT_FUNDS
                    } else {
                        codes::RPC_WALLET_ERROR
                    };
                    return Err(err(code, "Insufficient funds"));
                }
                if !sending {
                    return Ok(
                        json!({"psbt": "cHNidP8BAAoCAAAAAAAAAAAAAAAA", "fee": amount::to_json(FAKE_FEE), "changepos": 1}),
                    );
                }
                let txid = fake_hash(self);
                let paid = if sffo { sats - FAKE_FEE } else { sats };
                let w = self.wallets.get_mut(&name).expect("loaded");
                let label = w.addresses.get(&to).cloned().unwrap_or_default();
                w.txs.push(FakeTx {
                    txid: txid.clone(),
                    category: "send",
                    amount: -paid,
                    fee: FAKE_FEE,
                    address: to.clone(),
                    label,
                    height: None,
                    time: now(),
                    coinbase: false,
                    replaceable,
                });
                self.mempool += 1;
                let mut changed = vec![name.clone()];
                if let Some(other) = owner(self, &to) {
                    let ow = self.wallets.get_mut(&other).expect("owner");
                    let label = ow.addresses[&to].clone();
                    ow.txs.push(FakeTx {
                        txid: txid.clone(),
                        category: "receive",
                        amount: paid,
                        fee: 0,
                        address: to,
                        label,
                        height: None,
                        time: now(),
                        coinbase: false,
                        replaceable,
                    });
                    if other != name {
                        changed.push(other);
                    }
                }
                self.ipc_records += 2;
                notify(self, Notification::Mempool);
                for c in changed {
                    notify(self, Notification::WalletChanged { wallet: c });
                }
                if method == "sendtoaddress" {
                    json!(txid)
                } else {
                    json!({"txid": txid, "complete": true})
                }
            }
            _ => return Err(err(codes::RPC_METHOD_NOT_FOUND, "Method not found")),
        })
    }

    /// The single `address: amount` output of a send, and its options.
    fn parse_outputs(
        &self,
        method: &str,
        p: &Value,
    ) -> Result<(String, i64, Map<String, Value>), BackendError> {
        let (addr, amt, opts) = if method == "sendtoaddress" {
            (
                str_arg(p, 0, "address").unwrap_or("").to_string(),
                arg(p, 1, "amount").cloned().unwrap_or(Value::Null),
                Map::new(),
            )
        } else {
            let outs = arg(p, if method == "send" { 0 } else { 1 }, "outputs")
                .cloned()
                .unwrap_or(Value::Null);
            let first = match &outs {
                Value::Array(a) => a.first().and_then(Value::as_object).cloned(),
                Value::Object(o) => Some(o.clone()),
                _ => None,
            }
            .unwrap_or_default();
            let (a, v) = first
                .into_iter()
                .next()
                .unwrap_or((String::new(), Value::Null));
            let opts = arg(p, if method == "send" { 4 } else { 3 }, "options")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            (a, v, opts)
        };
        if crate::address::validate(&addr, &self.chain).is_err() {
            return Err(err(
                codes::RPC_INVALID_ADDRESS_OR_KEY,
                &format!("Invalid Bitcoin address: {addr}"),
            ));
        }
        let sats =
            amount::from_json(&amt).ok_or_else(|| err(codes::RPC_TYPE_ERROR, "Invalid amount"))?;
        Ok((addr, sats, opts))
    }
}

fn tx_json(s: &State, t: &FakeTx) -> Value {
    let c = confirmations(s, t);
    let category = if t.coinbase && c <= i64::from(MATURITY) {
        "immature"
    } else {
        t.category
    };
    let mut o = Map::new();
    o.insert("address".into(), json!(t.address));
    o.insert("category".into(), json!(category));
    o.insert("amount".into(), amount::to_json(t.amount));
    if !t.label.is_empty() {
        o.insert("label".into(), json!(t.label));
    }
    o.insert("vout".into(), json!(0));
    if t.category == "send" {
        o.insert("fee".into(), amount::to_json(-t.fee));
        o.insert("abandoned".into(), json!(false));
    }
    o.insert("confirmations".into(), json!(c));
    if t.coinbase {
        o.insert("generated".into(), json!(true));
    }
    if let Some(h) = t.height {
        o.insert("blockhash".into(), json!(tip_hash(h)));
        o.insert("blockheight".into(), json!(h));
    }
    o.insert("txid".into(), json!(t.txid));
    o.insert("time".into(), json!(t.time));
    o.insert("timereceived".into(), json!(t.time));
    let rbf = if c == 0 && t.replaceable {
        "yes"
    } else if c == 0 {
        "no"
    } else {
        "unknown"
    };
    o.insert("bip125-replaceable".into(), json!(rbf));
    Value::Object(o)
}

/// A connection to a [`FakeNode`].
pub struct FakeBackend {
    node: FakeNode,
    rx: cc::Receiver<Notified>,
    closed: Mutex<bool>,
    owns: bool,
}

impl FakeBackend {
    /// A call that rescans: the wallet is marked as scanning for the
    /// node's rescan time, without holding the node (other calls, like
    /// `getwalletinfo`, are answered meanwhile).
    fn rescan(&self, wallet: Option<&str>, method: &str, params: &Value) {
        let Some(target) = crate::worker::scan_target(wallet, method, params) else {
            return;
        };
        let (name, time) = {
            let mut s = self.node.st();
            let name = match target {
                Some(n) => n,
                None => match s.wallet_name(None) {
                    Ok(n) => n,
                    Err(_) => return,
                },
            };
            if s.rescan.is_zero() || !s.wallets.contains_key(&name) {
                return;
            }
            s.scanning.insert(name.clone(), Instant::now());
            (name, s.rescan)
        };
        std::thread::sleep(time);
        self.node.st().scanning.remove(&name);
    }
}

impl Backend for FakeBackend {
    fn rpc(
        &self,
        wallet: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, BackendError> {
        let delay = {
            let mut s = self.node.st();
            if !s.alive || *self.closed.lock().unwrap_or_else(|p| p.into_inner()) {
                return Err(BackendError::Disconnected("the node exited".into()));
            }
            s.calls
                .push((wallet.map(str::to_owned), method.to_string()));
            s.delay
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        self.rescan(wallet, method, &params);
        let mut s = self.node.st();
        if !s.alive {
            return Err(BackendError::Disconnected("the node exited".into()));
        }
        s.call(wallet, method, &params)
    }

    fn notifications(&self) -> cc::Receiver<Notified> {
        self.rx.clone()
    }

    fn is_connected(&self) -> bool {
        self.node.is_alive() && !*self.closed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn chain(&self) -> String {
        self.node.st().chain.clone()
    }

    fn owns_node(&self) -> bool {
        self.owns
    }

    fn close(&self, progress: &dyn Fn(&str)) {
        let mut closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        if *closed {
            return;
        }
        *closed = true;
        if self.owns && self.node.is_alive() {
            progress("Stopping the node…");
            let mut s = self.node.st();
            s.calls.push((None, "stop".into()));
            let _ = s.call(None, "stop", &json!([]));
        }
    }
}

/// Connects to a [`FakeNode`], reviving it if it was gone (a restart).
pub struct FakeConnector {
    node: FakeNode,
    fail: Mutex<Option<String>>,
    spawns: bool,
}

impl FakeConnector {
    /// Makes the next connects fail with `why` (`None`: succeed again).
    pub fn fail_with(&self, why: Option<&str>) {
        *self.fail.lock().unwrap_or_else(|p| p.into_inner()) = why.map(str::to_owned);
    }
}

impl Connector for FakeConnector {
    fn connect(&self, progress: &dyn Fn(&str)) -> Result<Arc<dyn Backend>, BackendError> {
        progress("Starting the fake node…");
        if let Some(why) = self.fail.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(BackendError::Start(why));
        }
        if self.spawns {
            self.node.revive();
        } else if !self.node.is_alive() {
            return Err(BackendError::Start("cannot reach the node".into()));
        }
        Ok(self.node.backend(self.spawns))
    }

    fn spawns(&self) -> bool {
        self.spawns
    }

    fn describe(&self) -> String {
        "fake node".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<Value, BackendError>) -> Option<i64> {
        r.err().and_then(|e| e.code())
    }

    #[test]
    fn answers_with_cores_error_codes() {
        let node = FakeNode::new("regtest");
        node.add_wallet("w", Some("pw"), true);
        let a = node.new_address("w", "");
        node.mine(101, &a);
        let b = node.backend(true);
        let send = |addr: &str, amt: &str| {
            b.rpc(
                Some("w"),
                "send",
                json!([[{ addr: serde_json::from_str::<Value>(amt).unwrap() }]]),
            )
        };
        assert_eq!(
            code(b.rpc(Some("nope"), "getbalances", json!([]))),
            Some(-18)
        );
        assert_eq!(code(send(&a, "1")), Some(-13), "locked");
        assert_eq!(
            code(b.rpc(Some("w"), "walletpassphrase", json!(["bad", 10]))),
            Some(-14)
        );
        b.rpc(Some("w"), "walletpassphrase", json!(["pw", 10]))
            .unwrap();
        assert_eq!(code(send("bcrt1qnope", "1")), Some(-5));
        assert_eq!(code(send(&a, "51")), Some(-6));
        assert_eq!(code(b.rpc(None, "nosuch", json!([]))), Some(-32601));
        let r = send(&a, "1").unwrap();
        assert_eq!(r["complete"], json!(true));
        assert_eq!(
            node.balance("w"),
            (49 * COIN - FAKE_FEE, COIN, 100 * 50 * COIN)
        );
    }

    #[test]
    fn notifies_and_disappears() {
        let node = FakeNode::new("regtest");
        node.add_wallet("w", None, true);
        let b = node.backend(true);
        let rx = b.notifications();
        let a = node.new_address("w", "");
        node.mine(1, &a);
        let got: Vec<Notification> = rx.try_iter().map(|n| n.what).collect();
        assert!(
            got.contains(&Notification::WalletChanged { wallet: "w".into() }),
            "{got:?}"
        );
        node.disappear();
        assert!(matches!(
            rx.recv().unwrap().what,
            Notification::Disconnected { .. }
        ));
        assert!(b
            .rpc(None, "getblockcount", json!([]))
            .unwrap_err()
            .is_disconnect());
        assert!(!b.is_connected());
    }
}
