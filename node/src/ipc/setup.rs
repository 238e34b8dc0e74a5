//! `bitcoin-node`'s IPC at start: the notification rings, the wallet
//! child (unless `-disablewallet`), `-ipcbind` listeners, and the GUI that
//! spawned it (`-ipcfd`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use shm_ipc::{Address, Listener};

use super::{Hub, Origin, Publisher, Supervisor};
use crate::config::Config;
use crate::node::Node;

/// The IPC secret's file in the chain's data directory.
pub const IPC_COOKIE: &str = ".ipccookie";

/// How long start-up waits for the wallet child's first handshake.
const FIRST_SPAWN: Duration = Duration::from_secs(30);

/// Starts everything and attaches the hub to `node` as its wallets.
pub fn start(
    node: &Arc<Node>,
    cfg: &Config,
    net_dir: &Path,
    args: &[String],
) -> anyhow::Result<Arc<Hub>> {
    // -ipcringbytes (hidden, for tests): a small ring fills quickly.
    let ring = match cfg.get("ipcringbytes") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n.is_power_of_two() && n >= 4096 => Some(n),
            _ => bail!("-ipcringbytes={v}: a power of two, at least 4096"),
        },
    };
    let (publisher, _thread) =
        Publisher::start(ring).context("cannot create the notification rings")?;
    let chain = crate::config::chain_name(node.params.network);
    let supervisor = if cfg.get_bool("disablewallet", false) {
        None
    } else {
        let dir = crate::app::wallet_dir(cfg, net_dir)?;
        let exe = sibling_exe("bitcoin-wallet")?;
        let mut child_args = vec![
            format!("-chain={chain}"),
            format!("-walletdir={}", dir.display()),
            "-noconf".to_string(),
        ];
        if let Some(fee) = cfg.get("fallbackfee") {
            child_args.push(format!("-fallbackfee={fee}"));
        }
        if cfg.get_bool("printtoconsole", false) {
            child_args.push("-printtoconsole".into());
        }
        Some(Supervisor::new(exe, child_args))
    };
    let binds = cfg.get_all("ipcbind");
    let allow_remote = cfg.get_bool("ipcallowremote", false);
    let mut listeners = Vec::new();
    let mut need_secret = false;
    for b in &binds {
        let addr = Address::parse(b).with_context(|| format!("-ipcbind={b}"))?;
        if !addr.is_loopback() {
            if !allow_remote {
                bail!("-ipcbind={b} is not a unix socket or loopback address: add -ipcallowremote to accept remote processes (they authenticate with {IPC_COOKIE})");
            }
            need_secret = true;
        }
        listeners.push(addr);
    }
    let secret = if need_secret {
        Some(write_secret(&net_dir.join(IPC_COOKIE))?)
    } else {
        None
    };
    let hub = Hub::new(node, publisher.clone(), supervisor.clone(), secret);
    {
        let weak = Arc::downgrade(&hub);
        publisher.set_on_stuck(move |last| {
            if let Some(h) = weak.upgrade() {
                h.drop_laggards(last);
            }
        });
    }
    node.attach_wallets(hub.clone() as Arc<dyn crate::wallets::Wallets>);
    if let Some(s) = supervisor {
        for name in cfg.get_all("wallet") {
            s.set_loaded(&name, true);
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let h = hub.clone();
        let s2 = s.clone();
        std::thread::Builder::new()
            .name("wallet-supervisor".into())
            .spawn(move || {
                s2.run(&h, |ok| {
                    let _ = tx.try_send(ok);
                })
            })
            .context("cannot start the wallet supervisor")?;
        match rx.recv_timeout(FIRST_SPAWN) {
            Ok(true) => crate::log_line!("ipc: wallet process up"),
            Ok(false) | Err(_) => {
                crate::log_line!(
                    "Warning: the wallet process did not start; retrying in the background"
                )
            }
        }
    }
    for addr in listeners {
        let l = Listener::bind(&addr).with_context(|| format!("-ipcbind={addr}"))?;
        crate::log_line!("ipc: listening on {addr}");
        let origin = if addr.is_loopback() {
            Origin::Local
        } else {
            Origin::Remote
        };
        hub.listen(l, origin);
    }
    if let Some(conn) = shm_ipc::connection_from_args(args.iter(), Duration::from_secs(10)) {
        let conn = conn.context("-ipcfd: the spawning process's connection")?;
        hub.accept(
            conn,
            "the process that started this node".into(),
            Origin::Inherited,
            true,
        );
    }
    Ok(hub)
}

/// A program installed next to this one.
fn sibling_exe(name: &str) -> anyhow::Result<std::path::PathBuf> {
    let me = std::env::current_exe().context("cannot find this program's path")?;
    let path = me
        .parent()
        .map(|d| d.join(name))
        .context("this program has no directory")?;
    if !path.is_file() {
        bail!(
            "{} not found (needed for wallets; -disablewallet runs without)",
            path.display()
        );
    }
    Ok(path)
}

/// A new random secret, written 0600 to `path`.
fn write_secret(path: &Path) -> anyhow::Result<String> {
    use rand::TryRngCore;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut b = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut b)
        .map_err(|e| anyhow::anyhow!("no randomness for the IPC secret: {e}"))?;
    let secret: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    Ok(secret)
}
