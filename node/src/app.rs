//! The `bitcoin-node` program: options, logging, the node, the RPC server,
//! signals, and an orderly shutdown.

use std::sync::Arc;

use anyhow::{bail, Context};

use crate::chainstate::ChainstateOptions;
use crate::http::{HttpOptions, HttpServer};
use crate::log_line;
use crate::mempool::MempoolOptions;
use crate::node::{Node, NodeOptions};
use crate::params::ChainParams;
use btc_service::config::Config;
use btc_service::daemon::parse_btc;

/// Every option `bitcoin-node` knows (Core's names).
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
    "server",
    "dbcache",
    "par",
    "assumevalid",
    "reindex",
    "txindex",
    "maxmempool",
    "minrelaytxfee",
    "mempoolfullrbf",
    "datacarrier",
    "datacarriersize",
    "permitbaremultisig",
    "blockmaxweight",
    "blockmintxfee",
    "disablewallet",
    "wallet",
    "walletdir",
    "ipcbind",
    "fallbackfee",
    "help",
    "version",
    "daemon",
    "listen",
    "port",
    "bind",
    "connect",
    "addnode",
    "dnsseed",
    "fixedseeds",
    "persistmempool",
    "prune",
    "deprecatedrpc",
    "acceptnonstdtxn",
    "ipcconnect",
    "ipcallowremote",
    "ipcringbytes",
    "ipcfd",
];

/// Core's `-par`: 0 = all cores, negative = leave that many free.
pub fn script_threads(par: i64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    let n = if par <= 0 { cores + par } else { par };
    n.clamp(1, 15) as usize
}

/// The mempool's policy options (Core's `ApplyArgsManOptions`).
/// `-blockmaxweight` (4,000 to 4,000,000, as Core) and `-blockmintxfee`.
fn mining_options(cfg: &Config) -> anyhow::Result<crate::node::MiningOptions> {
    let mut o = crate::node::MiningOptions::default();
    let w = cfg.get_int("blockmaxweight", o.max_weight as i64)?;
    if !(4_000..=4_000_000).contains(&w) {
        bail!("Specified -blockmaxweight ({w}) exceeds consensus maximum block weight (4000000)");
    }
    o.max_weight = w as u64;
    if let Some(v) = cfg.get("blockmintxfee") {
        let sat = parse_btc(v)
            .ok_or_else(|| anyhow::anyhow!("Invalid amount for -blockmintxfee=<amount>: '{v}'"))?;
        o.min_fee_rate = crate::mempool::FeeRate::from_sat_per_kvb(sat);
    }
    Ok(o)
}

fn mempool_options(cfg: &Config) -> anyhow::Result<MempoolOptions> {
    let mut o = MempoolOptions::default();
    let max_mb = cfg.get_int("maxmempool", (o.max_size_bytes / 1_000_000) as i64)?;
    // Core: at least the descendant size limit 40 times over, in MB.
    let min_mb = (o.limits.descendant_size * 40).div_ceil(1_000_000) as i64;
    if max_mb < min_mb {
        bail!("-maxmempool must be at least {min_mb} MB");
    }
    o.max_size_bytes = max_mb as u64 * 1_000_000;
    if let Some(v) = cfg.get("minrelaytxfee") {
        let sat = parse_btc(v)
            .ok_or_else(|| anyhow::anyhow!("Invalid amount for -minrelaytxfee=<amount>: '{v}'"))?;
        o.min_relay_fee = crate::mempool::FeeRate::from_sat_per_kvb(sat);
    }
    o.permit_bare_multisig = cfg.get_bool("permitbaremultisig", o.permit_bare_multisig);
    o.datacarrier = cfg.get_bool("datacarrier", o.datacarrier);
    let size = cfg.get_int("datacarriersize", o.datacarrier_size as i64)?;
    o.datacarrier_size = usize::try_from(size).unwrap_or(0);
    o.full_rbf = cfg.get_bool("mempoolfullrbf", o.full_rbf);
    o.require_standard = !cfg.get_bool("acceptnonstdtxn", !o.require_standard);
    if !o.require_standard && cfg.chain() == bitcoin::Network::Bitcoin {
        bail!("acceptnonstdtxn is not currently supported for main chain");
    }
    Ok(o)
}

/// `-walletdir`, or `<net_dir>/wallets`; created if missing.
pub fn wallet_dir(cfg: &Config, net_dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = match cfg.get_path("walletdir") {
        Some(d) => cfg.abs_path(&d, false),
        None => net_dir.join("wallets"),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the wallet directory {}", dir.display()))?;
    Ok(dir)
}

/// `-fallbackfee` in sat/kvB.
pub fn fallback_fee(cfg: &Config) -> anyhow::Result<Option<u64>> {
    match cfg.get("fallbackfee") {
        None => Ok(None),
        Some(v) => Ok(Some(
            parse_btc(v)
                .ok_or_else(|| anyhow::anyhow!("Invalid amount for -fallbackfee=<amount>: '{v}'"))?
                as u64,
        )),
    }
}

/// The node's wallets, and the thread applying their events if they are
/// in this process.
type WalletsAndThread = (
    Arc<dyn crate::wallets::Wallets>,
    Option<std::thread::JoinHandle<()>>,
);

/// Which program is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `bitcoin-node`: no wallet in this process (the wallet process is
    /// not wired up yet, so it runs as with `-disablewallet`).
    Node,
    /// `bitcoind`: the node with its wallets in one process.
    Bitcoind,
}

/// Runs `bitcoin-node` with `args` (without the program name) until it is
/// stopped by RPC or a signal.
pub fn run(args: Vec<String>) -> anyhow::Result<()> {
    run_program(Program::Node, args)
}

/// Runs `program` with `args` until it is stopped by RPC or a signal.
pub fn run_program(program: Program, args: Vec<String>) -> anyhow::Result<()> {
    let name = match program {
        Program::Node => "bitcoin-node",
        Program::Bitcoind => "bitcoind",
    };
    let args_for_ipc = args.clone();
    let Some(daemon) = btc_service::daemon::start(name, args, KNOWN_OPTIONS)? else {
        return Ok(());
    };
    let cfg = &daemon.cfg;
    let net_dir = &daemon.net_dir;
    let signals = daemon.signals;
    let params = ChainParams::for_network(cfg.chain());
    let dbcache_mib = cfg.get_int("dbcache", 450)?;
    if dbcache_mib < 4 {
        bail!("-dbcache must be at least 4 MiB");
    }
    let assumevalid = match cfg.get("assumevalid") {
        None => None,
        Some("0") => None,
        Some(h) => Some(
            h.parse()
                .with_context(|| format!("-assumevalid={h} is not a block hash"))?,
        ),
    };
    let opts = NodeOptions {
        net_dir: net_dir.clone(),
        params,
        chainstate: ChainstateOptions {
            dbcache_bytes: (dbcache_mib as usize) << 20,
            assumevalid,
            script_threads: script_threads(cfg.get_int("par", 0)?),
            reindex: cfg.get_bool("reindex", false),
            txindex: cfg.get_bool("txindex", false),
            ..ChainstateOptions::default()
        },
        mempool: mempool_options(cfg)?,
        mining: mining_options(cfg)?,
    };
    let node = Node::open(opts).context("cannot open the chainstate")?;
    let mut hub = None;
    let wallets: Option<WalletsAndThread> = match program {
        Program::Bitcoind if !cfg.get_bool("disablewallet", false) => {
            let dir = wallet_dir(cfg, net_dir)?;
            let w = crate::wallets::LocalWallets::new(
                &dir,
                crate::wallets::LocalWallets::options(node.params.network, fallback_fee(cfg)?),
            );
            node.attach_wallets(w.clone() as Arc<dyn crate::wallets::Wallets>);
            let thread = w.start(node.clone());
            w.load_at_start(&node, &cfg.get_all("wallet"))
                .map_err(|e| anyhow::anyhow!(e))?;
            log_line!("Wallets in {}", dir.display());
            Some((w, Some(thread)))
        }
        Program::Bitcoind => None,
        Program::Node => {
            let h = crate::ipc::start(&node, cfg, net_dir, &args_for_ipc)?;
            hub = Some(h.clone());
            Some((h as Arc<dyn crate::wallets::Wallets>, None))
        }
    };
    {
        let st = node.lock();
        log_line!(
            "Chain tip: height {} {}",
            st.chain.height(),
            st.chain.tree().get(st.chain.tip()).hash
        );
    }
    let (http_opts, cookie, warnings) = HttpOptions::from_config(cfg)?;
    for w in warnings {
        log_line!("Warning: {w}");
    }
    let handler = Arc::new(crate::rpc::Dispatcher::new(node.clone()));
    if let Some(hub) = &hub {
        hub.set_rpc_handler(handler.clone());
    }
    let server = HttpServer::start(http_opts, handler)?;
    for a in server.local_addrs() {
        log_line!("RPC listening on {a}");
    }
    let watcher = {
        let node = node.clone();
        std::thread::spawn(move || {
            if signals.wait() {
                log_line!("Received a termination signal");
                node.request_stop();
            }
        })
    };
    node.wait_for_stop();
    log_line!("Shutdown: stopping RPC");
    server.stop();
    if let Some((w, thread)) = wallets {
        log_line!("Shutdown: stopping the wallets");
        w.stop();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
    log_line!("Shutdown: flushing the chainstate");
    node.flush()?;
    drop(cookie);
    drop(watcher);
    log_line!("Shutdown: done");
    Ok(())
}
