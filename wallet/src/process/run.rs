//! The `bitcoin-wallet` program.
//!
//! Spawned by `bitcoin-node` (`-ipcfd=N`, with `-walletdir`), or started
//! on its own with `-ipcconnect=unix:PATH|tcp:HOST:PORT`, and then with
//! its own data directory, `-wallet=NAME` (created when missing) and,
//! with `-server`, its own JSON-RPC server with Core's authentication.
//!
//! When the node goes away the process exits, or with `-ipcreconnect`
//! waits for the node and connects again (catching up from its last
//! block).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use btc_core::interfaces::calls::{decode, encode};
use btc_core::interfaces::{
    method, EventRecord, Hello, HelloReply, Role, RpcRequest, EVENTS_CHANNEL, PROTOCOL_VERSION,
};
use btc_service::config::Config;
use btc_service::http::{HttpOptions, HttpServer, RpcError};
use btc_service::log_line;
use shm_ipc::{Address, Connection, Trust};

use super::{RemoteChain, WalletService};
use crate::{WalletManager, WalletOptions};

/// Every option `bitcoin-wallet` knows.
pub const KNOWN_OPTIONS: &[&str] = &[
    "datadir",
    "conf",
    "regtest",
    "testnet",
    "testnet4",
    "signet",
    "chain",
    "printtoconsole",
    "debug",
    "debuglogfile",
    "walletdir",
    "wallet",
    "fallbackfee",
    "ipcfd",
    "ipcconnect",
    "ipccookiefile",
    "ipcreconnect",
    "server",
    "rpcbind",
    "rpcport",
    "rpcallowip",
    "rpcuser",
    "rpcpassword",
    "rpcauth",
    "rpcworkqueue",
    "rpcthreads",
    "rpcservertimeout",
    "rpccookiefile",
    "help",
];

/// How long to wait for the node at connect and for its ring offer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `bitcoin-wallet` with `args` (without the program name).
pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    let spawned = args
        .iter()
        .any(|a| a.starts_with("-ipcfd=") || a.starts_with("--ipcfd="));
    let Some(parsed) = btc_service::daemon::parse("bitcoin-wallet", args.clone(), KNOWN_OPTIONS)?
    else {
        return Ok(());
    };
    let cfg = &parsed.cfg;
    // Spawned: everything lives in the wallet directory the node named (a
    // sandbox gives us that directory and nothing of the node's).
    // On our own: our data directory, as a node's.
    let (walletdir, home) = if spawned {
        let dir = cfg
            .get_path("walletdir")
            .map(|d| cfg.abs_path(&d, false))
            .context("a spawned bitcoin-wallet needs -walletdir")?;
        (dir.clone(), dir)
    } else {
        let net_dir = cfg.net_dir()?;
        let dir = match cfg.get_path("walletdir") {
            Some(d) => cfg.abs_path(&d, false),
            None => net_dir.join("wallets"),
        };
        (dir, net_dir)
    };
    std::fs::create_dir_all(&walletdir)
        .with_context(|| format!("cannot create {}", walletdir.display()))?;
    let _lock = btc_service::daemon::lock_dir("bitcoin-wallet", &walletdir)?;
    parsed.open_log("bitcoin-wallet", &home)?;
    let fallback = match cfg.get("fallbackfee") {
        None => None,
        Some(v) => Some(
            btc_service::daemon::parse_btc(v)
                .with_context(|| format!("Invalid amount for -fallbackfee=<amount>: '{v}'"))?
                as u64,
        ),
    };
    let options = WalletOptions::with_fallback_fee(cfg.chain(), fallback);
    let chain_name = btc_service::config::chain_name(cfg.chain()).to_string();
    let auth = read_secret(cfg)?;
    let signals = parsed.signals;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if signals.wait() {
                log_line!("Received a termination signal");
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    let reconnect = cfg.get_bool("ipcreconnect", false);
    let mut server: Option<HttpServer> = None;
    let mut handler: Option<Arc<Handler>> = None;
    let mut cookie = None;
    let mut first = true;
    let mut reload: Vec<String> = Vec::new();
    loop {
        let conn = if spawned {
            match shm_ipc::connection_from_args(args.iter(), CONNECT_TIMEOUT) {
                Some(c) => c.context("-ipcfd")?,
                None => bail!("bad -ipcfd"),
            }
        } else {
            let Some(addr) = cfg.get("ipcconnect") else {
                bail!("bitcoin-wallet needs -ipcconnect=unix:PATH|tcp:HOST:PORT (or to be started by bitcoin-node)");
            };
            let addr = Address::parse(addr).with_context(|| format!("-ipcconnect={addr}"))?;
            match connect_retrying(&addr, first && !reconnect, &stop) {
                Some(c) => c?,
                None => break,
            }
        };
        let (service, rx) =
            start_session(conn, &walletdir, options.clone(), &chain_name, auth.clone())?;
        // Records are applied from now on; wallets loaded below catch up
        // by reading the chain, and skip what they already have.
        let follow = {
            let s = service.clone();
            std::thread::spawn(move || s.follow(rx))
        };
        let serve = {
            let s = service.clone();
            std::thread::spawn(move || s.serve_node())
        };
        if first {
            for name in cfg.get_all("wallet") {
                service
                    .load(&name, !spawned)
                    .map_err(|e| anyhow::anyhow!(e))?;
            }
        } else {
            // Back after the node went away: the wallets of the last
            // session, which catch up from their locators.
            for name in &reload {
                if let Err(e) = service.load(name, false) {
                    log_line!("Reloading wallet {name}: {e}");
                }
            }
        }
        if !spawned && cfg.get_bool("server", false) {
            if server.is_none() {
                let (opts, c, warnings) = HttpOptions::from_config(cfg)?;
                for w in warnings {
                    log_line!("Warning: {w}");
                }
                let h = Arc::new(Handler::default());
                let s = HttpServer::start(opts, h.clone())?;
                for a in s.local_addrs() {
                    log_line!("RPC listening on {a}");
                }
                server = Some(s);
                handler = Some(h);
                cookie = c;
            }
            if let Some(h) = &handler {
                h.set(service.clone());
            }
        }
        first = false;
        log_line!("Connected to the node; following its chain");
        // Until the node goes away or we are told to stop.
        while service.chain().conn().is_alive() && !stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let node_gone = !service.chain().conn().is_alive();
        reload = service.wallet_names();
        service.chain().conn().shutdown();
        let _ = follow.join();
        let _ = serve.join();
        if let Some(h) = &handler {
            h.clear();
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        if node_gone {
            log_line!("The node went away");
        }
        if spawned || !reconnect {
            break;
        }
        log_line!("Waiting for the node (-ipcreconnect)");
    }
    if let Some(s) = server {
        s.stop();
    }
    drop(cookie);
    log_line!("Shutdown: done");
    Ok(())
}

/// Connects, says hello, subscribes to the notifications: a service ready
/// to load wallets.
fn start_session(
    conn: Connection,
    walletdir: &Path,
    options: WalletOptions,
    chain_name: &str,
    auth: Option<String>,
) -> anyhow::Result<(Arc<WalletService>, shm_ipc::Receiver<EventRecord>)> {
    let hello = Hello {
        version: PROTOCOL_VERSION,
        role: Role::Wallet,
        chain: chain_name.to_string(),
        auth,
    };
    let reply = conn
        .call(method::HELLO, &encode(&hello), Some(CONNECT_TIMEOUT))
        .map_err(|e| anyhow::anyhow!("the node refused us: {e}"))?;
    let reply: HelloReply = decode(&reply).map_err(|e| anyhow::anyhow!(e))?;
    let chain = RemoteChain::new(conn, reply.block_files);
    let manager = WalletManager::new(walletdir, options);
    // The subscription starts before any wallet reads the chain, so
    // nothing published after those reads is missed.
    let rx: shm_ipc::Receiver<EventRecord> = chain
        .conn()
        .subscribe(EVENTS_CHANNEL, trust(), CONNECT_TIMEOUT)
        .context("subscribing to the node's notifications")?;
    let service = WalletService::new(manager, chain, rx.start_seq());
    Ok((service, rx))
}

/// The node's ring is read in place, without a private copy: the wallet
/// trusts its node, as Core's wallet does.
fn trust() -> Trust {
    // SAFETY: the producer is the node this wallet was started by or told
    // to connect to, running this build: it writes only `EventRecord`s
    // through rkyv (shm-ipc's `Trust::trusted` contract). The receiver does
    // not check the records' structure; on top of that promise, the block
    // archive in a record's body is validated (`ArchivedEventSchema::block`)
    // before any of it is read.
    unsafe { Trust::trusted() }
}

/// `-server`'s handler: the current session's service (none while the
/// node is away: wallet calls then fail with -18).
#[derive(Default)]
struct Handler {
    service: std::sync::Mutex<Option<Arc<WalletService>>>,
}

impl Handler {
    fn set(&self, s: Arc<WalletService>) {
        *self.service.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }
    fn clear(&self) {
        *self.service.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl btc_service::http::RpcHandler for Handler {
    fn call(&self, req: &btc_service::http::RpcRequest) -> Result<serde_json::Value, RpcError> {
        let s = self
            .service
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| RpcError {
                code: btc_core::rpc_codes::RPC_WALLET_NOT_FOUND,
                message: "The node is not connected".into(),
            })?;
        let reply = s.rpc(RpcRequest {
            wallet: req.wallet_name().map(str::to_owned),
            method: req.method.clone(),
            params: req.params.clone(),
            sync_seq: None,
        });
        match (reply.result, reply.error) {
            (_, Some(e)) => Err(RpcError {
                code: i32::try_from(e.code).unwrap_or(btc_core::rpc_codes::RPC_MISC_ERROR),
                message: e.message,
            }),
            (Some(v), None) => Ok(v),
            (None, None) => Ok(serde_json::Value::Null),
        }
    }
}

/// Connects to `addr`; with `once`, fails at the first refusal, else keeps
/// trying (every half second) until it works or we are stopped (`None`).
fn connect_retrying(
    addr: &Address,
    once: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> Option<anyhow::Result<Connection>> {
    let started = Instant::now();
    loop {
        match addr.connect(CONNECT_TIMEOUT) {
            Ok(c) => return Some(Ok(c)),
            Err(e) if once && started.elapsed() > CONNECT_TIMEOUT => {
                return Some(Err(anyhow::anyhow!(
                    "cannot connect to the node at {addr}: {e}"
                )))
            }
            Err(_) => {}
        }
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `-ipccookiefile`: the node's IPC secret, for a remote node.
fn read_secret(cfg: &Config) -> anyhow::Result<Option<String>> {
    match cfg.get_path("ipccookiefile") {
        None => Ok(None),
        Some(p) => {
            let p: PathBuf = cfg.abs_path(&p, false);
            let s = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read -ipccookiefile {}", p.display()))?;
            Ok(Some(s.trim().to_string()))
        }
    }
}
