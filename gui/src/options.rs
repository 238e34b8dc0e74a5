//! Command-line options, read like the node reads its own (`-name=value`,
//! `-name`, `--name`, `-noname`). The GUI keeps `-datadir`, the chain
//! options, `-wallet` and `-ipcconnect` for itself and hands every other
//! option to the node it spawns, as bitcoin-qt does with bitcoind's.

use std::path::{Path, PathBuf};

/// What went wrong with the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("Command line contains unexpected token '{0}', see bitcoin-gui -help for a list of options.")]
    UnexpectedToken(String),
    #[error("Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one.")]
    ConflictingChains,
    #[error("Unknown chain {0}.")]
    UnknownChain(String),
    #[error("-{0} needs a value")]
    MissingValue(String),
    #[error("-ipccookiefile is the secret of a node attached to with -ipcconnect; a node this GUI starts needs none")]
    CookieWithoutConnect,
}

/// The parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub datadir: Option<PathBuf>,
    /// Core's chain name; `None` when no option chose one.
    pub chain: Option<String>,
    /// Wallets to open (`-wallet=NAME`, repeatable); the first is shown.
    pub wallets: Vec<String>,
    /// `-ipcconnect=unix:PATH|tcp:HOST:PORT`: attach instead of spawning.
    pub ipcconnect: Option<String>,
    /// `-ipccookiefile=PATH`: the attached node's IPC secret (its
    /// `<datadir>/<chain>/.ipccookie`), for a node bound beyond loopback
    /// with `-ipcallowremote`.
    pub ipccookiefile: Option<PathBuf>,
    /// Where to find `bitcoin-node` (`-node=PATH`; default: next to this
    /// executable).
    pub node_path: Option<PathBuf>,
    /// Arguments for the spawned node, in order (includes `-datadir`,
    /// the chain and `-wallet` again, which the node needs too).
    pub node_args: Vec<String>,
    pub help: bool,
    pub version: bool,
}

/// Core's chain names.
pub const CHAINS: [&str; 5] = ["main", "test", "testnet4", "signet", "regtest"];

/// `-name=value` split into (name, value); `--x` and `-x` alike.
fn split(arg: &str) -> Option<(String, Option<String>)> {
    let a = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    if a.is_empty() {
        return None;
    }
    Some(match a.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (a.to_string(), None),
    })
}

/// Core's InterpretBool for `-regtest`, `-regtest=0`, `-noregtest`.
fn truthy(v: &Option<String>) -> bool {
    match v.as_deref() {
        None | Some("") => true,
        Some(s) => s.parse::<i64>().map(|n| n != 0).unwrap_or(false),
    }
}

impl Options {
    /// Parses the arguments after the program name.
    pub fn parse<I, S>(args: I) -> Result<Options, OptionsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut o = Options::default();
        let mut chains: Vec<String> = Vec::new();
        for arg in args {
            let arg = arg.as_ref();
            let Some((key, value)) = split(arg) else {
                return Err(OptionsError::UnexpectedToken(arg.to_string()));
            };
            let need = |v: &Option<String>| {
                v.clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| OptionsError::MissingValue(key.clone()))
            };
            let mut pass_on = true;
            match key.as_str() {
                "datadir" => o.datadir = Some(PathBuf::from(need(&value)?)),
                "regtest" | "testnet" | "testnet4" | "signet" if truthy(&value) => {
                    chains.push(if key == "testnet" {
                        "test".into()
                    } else {
                        key.clone()
                    })
                }
                "chain" => {
                    let c = need(&value)?;
                    if !CHAINS.contains(&c.as_str()) {
                        return Err(OptionsError::UnknownChain(c));
                    }
                    chains.push(c);
                }
                "wallet" => o.wallets.push(value.clone().unwrap_or_default()),
                "nowallet" => o.wallets.clear(),
                "ipcconnect" => {
                    o.ipcconnect = Some(need(&value)?);
                    pass_on = false;
                }
                "ipccookiefile" => {
                    o.ipccookiefile = Some(PathBuf::from(need(&value)?));
                    pass_on = false;
                }
                "node" => {
                    o.node_path = Some(PathBuf::from(need(&value)?));
                    pass_on = false;
                }
                "ipcfd" => pass_on = false,
                "help" | "h" | "?" => {
                    o.help = true;
                    pass_on = false;
                }
                "version" => {
                    o.version = true;
                    pass_on = false;
                }
                _ => {}
            }
            if pass_on {
                o.node_args.push(arg.to_string());
            }
        }
        if chains.len() > 1 {
            return Err(OptionsError::ConflictingChains);
        }
        if o.ipccookiefile.is_some() && o.ipcconnect.is_none() {
            return Err(OptionsError::CookieWithoutConnect);
        }
        o.chain = chains.pop();
        if o.chain.is_none() {
            o.chain = o.datadir_conf().as_deref().and_then(chain_from_conf);
        }
        Ok(o)
    }

    /// The chain to announce to the node (`main` unless chosen).
    pub fn chain_name(&self) -> &str {
        self.chain.as_deref().unwrap_or("main")
    }

    /// `-ipccookiefile`, a relative path taken from `-datadir` (when
    /// given) as the wallet process does.
    pub fn cookie_file(&self) -> Option<PathBuf> {
        let p = self.ipccookiefile.as_ref()?;
        Some(match &self.datadir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p.clone(),
        })
    }

    /// The `bitcoin.conf` of `-datadir`, if one is there.
    fn datadir_conf(&self) -> Option<PathBuf> {
        let p = self.datadir.as_ref()?.join("bitcoin.conf");
        p.exists().then_some(p)
    }
}

/// The chain a config file's top section selects (`regtest=1`,
/// `chain=signet`...), so the GUI announces the chain the node will run.
pub fn chain_from_conf(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut found = None;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            break; // Only the top section chooses the chain.
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), Some(v.trim().to_string()));
        match k {
            "regtest" | "testnet4" | "signet" if truthy(&v) => found = Some(k.to_string()),
            "testnet" if truthy(&v) => found = Some("test".to_string()),
            "chain" => found = v.filter(|c| CHAINS.contains(&c.as_str())),
            _ => {}
        }
    }
    found
}

pub const HELP: &str = "\
Usage: bitcoin-gui [options]

Starts bitcoin-node (found next to this program) and shows its wallet, or
attaches to a running node with -ipcconnect.

Options:
  -datadir=<dir>         Data directory (passed to the node)
  -regtest, -testnet, -testnet4, -signet, -chain=<name>
                         Chain to use (passed to the node)
  -wallet=<name>         Wallet to open (repeatable; passed to the node)
  -ipcconnect=<address>  Attach to a running node at unix:PATH or
                         tcp:HOST:PORT instead of starting one; closing the
                         window leaves that node running
  -ipccookiefile=<file>  With -ipcconnect to a node bound beyond loopback
                         (-ipcallowremote): its IPC secret, the node's
                         <datadir>/<chain>/.ipccookie (a relative path is
                         taken from -datadir)
  -node=<path>           bitcoin-node to start (default: next to bitcoin-gui)
  -help                  This help
  -version               Version

Every other option (e.g. -rpcport, -ipcbind, -fallbackfee) is passed on to
the node the GUI starts.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_its_own_options_and_passes_the_rest_on() {
        let o = Options::parse([
            "-regtest",
            "-datadir=/tmp/x",
            "-wallet=alice",
            "--rpcport=18555",
            "-ipcbind=unix:/tmp/n.sock",
        ])
        .unwrap();
        assert_eq!(o.chain.as_deref(), Some("regtest"));
        assert_eq!(o.datadir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(o.wallets, vec!["alice".to_string()]);
        assert_eq!(o.ipcconnect, None);
        assert_eq!(
            o.node_args,
            vec![
                "-regtest",
                "-datadir=/tmp/x",
                "-wallet=alice",
                "--rpcport=18555",
                "-ipcbind=unix:/tmp/n.sock"
            ]
        );
        let a = Options::parse([
            "-ipcconnect=unix:/tmp/n.sock",
            "-chain=signet",
            "-ipccookiefile=/tmp/n/.ipccookie",
        ])
        .unwrap();
        assert_eq!(a.ipcconnect.as_deref(), Some("unix:/tmp/n.sock"));
        assert_eq!(
            a.ipccookiefile,
            Some(PathBuf::from("/tmp/n/.ipccookie")),
            "kept by the GUI, not passed on"
        );
        assert_eq!(a.cookie_file(), Some(PathBuf::from("/tmp/n/.ipccookie")));
        let r = Options::parse([
            "-ipcconnect=tcp:10.0.0.2:8000",
            "-datadir=/data",
            "-ipccookiefile=regtest/.ipccookie",
        ])
        .unwrap();
        assert_eq!(
            r.cookie_file(),
            Some(PathBuf::from("/data/regtest/.ipccookie")),
            "relative to -datadir"
        );
        assert_eq!(a.chain_name(), "signet");
        assert_eq!(a.node_args, vec!["-chain=signet"]);
        assert_eq!(
            Options::parse(Vec::<String>::new()).unwrap().chain_name(),
            "main"
        );
        assert!(Options::parse(["-regtest=0"]).unwrap().chain.is_none());
    }

    #[test]
    fn refuses_bad_command_lines() {
        assert_eq!(
            Options::parse(["-regtest", "-testnet"]),
            Err(OptionsError::ConflictingChains)
        );
        assert_eq!(
            Options::parse(["-chain=moon"]),
            Err(OptionsError::UnknownChain("moon".into()))
        );
        assert_eq!(
            Options::parse(["stray"]),
            Err(OptionsError::UnexpectedToken("stray".into()))
        );
        assert_eq!(
            Options::parse(["-ipcconnect"]),
            Err(OptionsError::MissingValue("ipcconnect".into()))
        );
        assert_eq!(
            Options::parse(["-ipccookiefile="]),
            Err(OptionsError::MissingValue("ipccookiefile".into()))
        );
        assert_eq!(
            Options::parse(["-ipccookiefile=/tmp/c"]),
            Err(OptionsError::CookieWithoutConnect)
        );
    }

    #[test]
    fn reads_the_chain_from_the_datadirs_config() {
        let dir = std::env::temp_dir().join(format!("gui-opts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bitcoin.conf"),
            "# c\nregtest=1\n[regtest]\nrpcport=1\n",
        )
        .unwrap();
        let o = Options::parse([format!("-datadir={}", dir.display())]).unwrap();
        assert_eq!(o.chain.as_deref(), Some("regtest"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
