//! Arguments and `bitcoin.conf`, modelled on Bitcoin Core 28's `ArgsManager`.
//!
//! * Command line: `-name`, `-name=value`, `--name=value`, `-noname`
//!   (name=0), `-noname=0` (name=1, with a warning). Anything not starting
//!   with `-` and any name not in the caller's list is an error.
//! * Chain: `-regtest`, `-testnet`, `-testnet4`, `-signet` or `-chain=`;
//!   at most one.
//! * Data directory: `-datadir` (must exist), default `$HOME/.shmbtc`
//!   (created; deliberately not `~/.bitcoin`, the on-disk formats differ).
//! * Config file: `-conf` (relative to the data directory; must exist if
//!   given), default `<datadir>/bitcoin.conf` if present; see the `file` module for
//!   the syntax. Unknown names in the file are ignored with a warning, as
//!   Core does.
//! * Precedence: see [`Config::get`] and [`Config::get_all`].
//!
//! Deviations from Core, all deliberate: a bare `name` line in the file
//! means `name=1` (Core rejects it); network-only options (`-addnode`,
//! `-connect`, ...) set only in the top section on a test chain give a
//! warning (Core 28 refuses to start); a `bitcoin.conf` in the data
//! directory that is shadowed by another config file gives a warning (Core
//! refuses to start unless `-allowignoredconf`); `datadir=` in the config
//! file is honoured only in the top section and as an absolute path
//! (otherwise ignored with a warning); `-includeconf` is not supported.

mod args;
mod chain;
mod file;
mod settings;
mod value;

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use bitcoin::Network;

pub use chain::{chain_from_name, chain_name, default_rpc_port, net_dir_name};
pub use value::interpret_bool;

use settings::Settings;
use value::{parse_strict_int, Setting, Value};

/// Options every [`Config`] accepts, whatever the caller lists.
pub const BUILTIN_OPTIONS: &[&str] = &[
    "datadir", "conf", "chain", "regtest", "testnet", "testnet4", "signet",
];

/// Options that in the top section of the config file apply to main only
/// (Core's `NETWORK_ONLY` flag).
pub const NETWORK_ONLY_OPTIONS: &[&str] = &[
    "addnode", "bind", "connect", "port", "rpcbind", "rpcport", "wallet",
];

/// The default config file name inside the data directory.
pub const CONF_FILENAME: &str = "bitcoin.conf";

/// The default data directory name under `$HOME`.
pub const DEFAULT_DATADIR_NAME: &str = ".shmbtc";

/// Why arguments or the config file were rejected. The messages are Core's
/// where Core has one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An unknown option, or an option with a `section.` prefix, on the
    /// command line.
    #[error("Invalid parameter {0}")]
    InvalidParameter(String),
    /// A command-line argument not starting with `-`.
    #[error(
        "Command line contains unexpected token '{0}', see bitcoind -h for a list of options."
    )]
    UnexpectedToken(String),
    /// More than one chain selected.
    #[error("Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one.")]
    ConflictingChains,
    /// `-chain=` with an unknown name.
    #[error("Unknown chain {0}.")]
    UnknownChain(String),
    /// `-datadir` names something that is not a directory.
    #[error("Specified data directory \"{0}\" does not exist.")]
    DataDirNotFound(String),
    /// The config file could not be read or parsed.
    #[error("Error reading configuration file: {0}")]
    ConfFile(String),
    /// An option that must be an integer is not one.
    #[error("Invalid integer value for -{name}: \"{value}\"")]
    NotAnInteger {
        /// The option, without dash.
        name: String,
        /// The value given.
        value: String,
    },
    /// No `-datadir` and no `$HOME` to find the default.
    #[error("Cannot find the default data directory: $HOME is not set; use -datadir")]
    NoHome,
    /// A directory could not be created.
    #[error("Cannot create directory \"{}\": {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// Parsed arguments and config file, with the chain and data directory
/// resolved. Option names in accessors may be given with or without the
/// leading dash.
#[derive(Clone, Debug)]
pub struct Config {
    settings: Settings,
    chain: Network,
    datadir: PathBuf,
    conf_file: Option<PathBuf>,
    warnings: Vec<String>,
}

fn norm(name: &str) -> &str {
    name.strip_prefix('-').unwrap_or(name)
}

impl Config {
    /// Parses the process arguments (without argv\[0\]) and the config
    /// file. `known` lists the accepted option names (with or without
    /// dash); [`BUILTIN_OPTIONS`] are always accepted. The default data
    /// directory is `$HOME/.shmbtc`, created if missing.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        known: &[&str],
    ) -> Result<Config, ConfigError> {
        Self::parse_inner(args, known, None)
    }

    /// [`Config::parse`] with another default data directory (used when
    /// no `-datadir` is given; created if missing).
    pub fn parse_with_default_datadir(
        args: impl IntoIterator<Item = String>,
        known: &[&str],
        default_datadir: &Path,
    ) -> Result<Config, ConfigError> {
        Self::parse_inner(args, known, Some(default_datadir.to_path_buf()))
    }

    fn parse_inner(
        args: impl IntoIterator<Item = String>,
        known: &[&str],
        default_datadir: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        let known: HashSet<String> = known
            .iter()
            .chain(BUILTIN_OPTIONS)
            .map(|s| norm(s).to_string())
            .collect();
        let (command_line, warnings) = args::parse_command_line(args, &known)?;
        let mut cfg = Config {
            settings: Settings {
                command_line,
                file: Default::default(),
            },
            chain: Network::Bitcoin,
            datadir: PathBuf::new(),
            conf_file: None,
            warnings,
        };

        // Data directory from the command line.
        let (datadir, datadir_is_default) = match cfg.raw_path_arg("datadir") {
            Some(raw) => (existing_dir(&raw)?, false),
            None => match default_datadir {
                Some(d) => (d, true),
                None => (home_datadir()?, true),
            },
        };
        cfg.datadir = datadir;

        // Config file.
        let conf_explicit = cfg.settings.command_line.contains_key("conf");
        let conf_path = if cfg.is_negated("conf") {
            None
        } else {
            let name = match cfg.get("conf") {
                Some(s) if !s.is_empty() => s.to_string(),
                _ => CONF_FILENAME.to_string(),
            };
            Some(cfg.datadir.join(name))
        };
        if let Some(path) = &conf_path {
            if let Some(text) = read_conf(path, conf_explicit)? {
                cfg.load_conf_text(&text, path, &known)?;
                cfg.conf_file = Some(path.clone());
            }
        }

        cfg.chain = cfg.select_chain()?;
        cfg.apply_conf_datadir(conf_path.as_deref())?;
        cfg.section_warnings();

        if datadir_is_default && !cfg.datadir.exists() {
            std::fs::create_dir_all(&cfg.datadir).map_err(|source| ConfigError::CreateDir {
                path: cfg.datadir.clone(),
                source,
            })?;
        }
        Ok(cfg)
    }

    /// `-name` as a path string: `None` if negated or empty.
    fn raw_path_arg(&self, name: &str) -> Option<String> {
        match self.setting(name)? {
            Setting::Str(s) if !s.is_empty() => Some(s.to_string()),
            _ => None,
        }
    }

    fn load_conf_text(
        &mut self,
        text: &str,
        path: &Path,
        known: &HashSet<String>,
    ) -> Result<(), ConfigError> {
        let parsed = file::parse_conf(text).map_err(ConfigError::ConfFile)?;
        for line in parsed.lines {
            let key = args::interpret_key(&line.name, known);
            if key.name == "conf" {
                return Err(ConfigError::ConfFile(
                    "conf cannot be set in the configuration file; use includeconf= if you want to include additional config files".into(),
                ));
            }
            if !known.contains(&key.name) {
                if key.name == "includeconf" {
                    self.warnings.push(format!(
                        "-includeconf is not supported; \"{}\" was not read",
                        line.value
                    ));
                } else {
                    self.warnings.push(format!(
                        "Ignoring unknown configuration value {}",
                        line.name
                    ));
                }
                continue;
            }
            let (value, warning) = args::interpret_value(&key, Some(&line.value));
            self.warnings.extend(warning);
            self.settings
                .file
                .entry(key.section.unwrap_or_default())
                .or_default()
                .entry(key.name)
                .or_default()
                .push(value);
        }
        for s in parsed.sections {
            if !chain::SECTIONS.contains(&s.name.as_str()) {
                self.warnings.push(format!(
                    "{}:{} Section [{}] is not recognized.",
                    path.display(),
                    s.line,
                    s.name
                ));
            }
        }
        Ok(())
    }

    /// Core's `GetChainArg`.
    fn select_chain(&self) -> Result<Network, ConfigError> {
        let net = |name: &str| {
            self.settings
                .get("", name, false, true)
                .is_some_and(Setting::as_bool)
        };
        let flags = [
            (net("regtest"), Network::Regtest),
            (net("signet"), Network::Signet),
            (net("testnet"), Network::Testnet),
            (net("testnet4"), Network::Testnet4),
        ];
        let chain_arg = self
            .settings
            .get("", "chain", false, false)
            .map(Setting::as_str);
        let count = flags.iter().filter(|f| f.0).count() + usize::from(chain_arg.is_some());
        if count > 1 {
            return Err(ConfigError::ConflictingChains);
        }
        if let Some(name) = chain_arg {
            return chain_from_name(name).ok_or_else(|| ConfigError::UnknownChain(name.into()));
        }
        Ok(flags.iter().find(|f| f.0).map_or(Network::Bitcoin, |f| f.1))
    }

    /// `datadir=` in the config file, the simple cases only.
    fn apply_conf_datadir(&mut self, orig_conf: Option<&Path>) -> Result<(), ConfigError> {
        let orig_datadir = self.datadir.clone();
        let sections: Vec<String> = self.settings.file.keys().cloned().collect();
        for section in sections.iter().filter(|s| !s.is_empty()) {
            if let Some(m) = self.settings.file.get_mut(section) {
                if m.remove("datadir").is_some() {
                    self.warnings.push(format!(
                        "datadir in the [{section}] section of the configuration file is ignored; set it in the top section or with -datadir"
                    ));
                }
            }
        }
        if !self.settings.command_line.contains_key("datadir") {
            if let Some(raw) = self.raw_path_arg("datadir") {
                let path = PathBuf::from(&raw);
                if !path.is_absolute() {
                    self.warnings.push(format!(
                        "datadir=\"{raw}\" in the configuration file is not an absolute path; ignored"
                    ));
                    if let Some(top) = self.settings.file.get_mut("") {
                        top.remove("datadir");
                    }
                } else if !path.is_dir() {
                    return Err(ConfigError::ConfFile(format!(
                        "specified data directory \"{raw}\" does not exist."
                    )));
                } else {
                    self.datadir = path;
                }
            }
        }
        // Core: a bitcoin.conf in the data directory that is not the file
        // in use is an error unless -allowignoredconf; here a warning.
        let base_conf = self.datadir.join(CONF_FILENAME);
        if let Some(orig) = orig_conf {
            if base_conf.is_file() && !same_file(orig, &base_conf) {
                let source = match self.get_cmdline_str("conf") {
                    Some(c) => format!("command line argument \"-conf={c}\""),
                    None => format!("data directory \"{}\"", orig_datadir.display()),
                };
                self.warnings.push(format!(
                    "Data directory \"{}\" contains a \"{CONF_FILENAME}\" file which is ignored, because a different configuration file \"{}\" from {source} is being used instead.",
                    self.datadir.display(),
                    orig.display()
                ));
            }
        }
        Ok(())
    }

    fn get_cmdline_str(&self, name: &str) -> Option<&str> {
        match self.settings.command_line.get(name)?.last()? {
            Value::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// Core's `GetUnsuitableSectionOnlyArgs`, as warnings.
    fn section_warnings(&mut self) {
        if self.chain == Network::Bitcoin {
            return;
        }
        let section = chain_name(self.chain);
        let mut names: Vec<&str> = NETWORK_ONLY_OPTIONS.to_vec();
        names.sort_unstable();
        for name in names {
            if self.settings.only_in_default_section(section, name) {
                self.warnings.push(format!(
                    "Config setting for -{name} only applied on {section} network when in [{section}] section."
                ));
            }
        }
    }

    fn use_default_section(&self, name: &str) -> bool {
        self.chain == Network::Bitcoin || !NETWORK_ONLY_OPTIONS.contains(&name)
    }

    fn setting(&self, name: &str) -> Option<Setting<'_>> {
        let name = norm(name);
        self.settings.get(
            chain_name(self.chain),
            name,
            !self.use_default_section(name),
            false,
        )
    }

    /// The selected chain.
    pub fn chain(&self) -> Network {
        self.chain
    }

    /// The selected chain's name as Core spells it ("main", "test", ...).
    pub fn chain_name(&self) -> &'static str {
        chain_name(self.chain)
    }

    /// The chain's default `-rpcport`.
    pub fn default_rpc_port(&self) -> u16 {
        default_rpc_port(self.chain)
    }

    /// The chain's subdirectory name ("" for main).
    pub fn net_dir_name(&self) -> &'static str {
        net_dir_name(self.chain)
    }

    /// The data directory (absolute).
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The chain's directory inside the data directory, created if missing.
    pub fn net_dir(&self) -> Result<PathBuf, ConfigError> {
        let dir = self.net_dir_path();
        std::fs::create_dir_all(&dir).map_err(|source| ConfigError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    fn net_dir_path(&self) -> PathBuf {
        match self.net_dir_name() {
            "" => self.datadir.clone(),
            name => self.datadir.join(name),
        }
    }

    /// Core's `AbsPathForConfigVal`: an absolute path as is, a relative one
    /// joined to the chain directory (`net_specific`) or the data directory.
    pub fn abs_path(&self, path: &Path, net_specific: bool) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else if net_specific {
            self.net_dir_path().join(path)
        } else {
            self.datadir.join(path)
        }
    }

    /// The config file that was read, if any.
    pub fn conf_file(&self) -> Option<&Path> {
        self.conf_file.as_deref()
    }

    /// The single value of an option: the last command-line value, else
    /// the first value in the chain's section, else the first value in the
    /// top section (skipped for network-only options on chains other than
    /// main). A negated option reads "0".
    pub fn get(&self, name: &str) -> Option<&str> {
        self.setting(name).map(Setting::as_str)
    }

    /// Every value of a multi-valued option: command line, then the chain's
    /// section, then the top section, with Core's negation rules.
    pub fn get_all(&self, name: &str) -> Vec<String> {
        let name = norm(name);
        self.settings
            .get_list(
                chain_name(self.chain),
                name,
                !self.use_default_section(name),
            )
            .into_iter()
            .map(|s| s.as_str().to_string())
            .collect()
    }

    /// A boolean option (Core's `InterpretBool`: `-name` is true, `-noname`
    /// false, otherwise the value read as an integer, non-numbers false).
    pub fn get_bool(&self, name: &str, default: bool) -> bool {
        self.setting(name).map_or(default, Setting::as_bool)
    }

    /// An integer option; a value that is not an integer is an error
    /// (Core silently reads it as 0). `-noname` is 0.
    pub fn get_int(&self, name: &str, default: i64) -> Result<i64, ConfigError> {
        match self.setting(name) {
            None => Ok(default),
            Some(Setting::Bool(b)) => Ok(i64::from(b)),
            Some(Setting::Str(s)) => parse_strict_int(s).ok_or_else(|| ConfigError::NotAnInteger {
                name: norm(name).to_string(),
                value: s.to_string(),
            }),
        }
    }

    /// A path option as Core's `GetPathArg`: `None` if unset, empty or
    /// negated; trailing slashes removed; not made absolute.
    pub fn get_path(&self, name: &str) -> Option<PathBuf> {
        let raw = self.raw_path_arg(name)?;
        let trimmed = raw.trim_end_matches('/');
        Some(PathBuf::from(if trimmed.is_empty() {
            "/"
        } else {
            trimmed
        }))
    }

    /// True if the option has a value or is negated.
    pub fn is_set(&self, name: &str) -> bool {
        self.setting(name).is_some()
    }

    /// True if the option is negated (`-noname`).
    pub fn is_negated(&self, name: &str) -> bool {
        self.setting(name) == Some(Setting::Bool(false))
    }

    /// Warnings collected while parsing (double negatives, unknown names in
    /// the config file, unrecognised sections, network-only options in the
    /// top section, ignored config files).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Help text in Core's layout: each `(option, description)` as the
    /// option indented by 2 and the description wrapped at 79 columns and
    /// indented by 7.
    pub fn help_text(options: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for (opt, help) in options {
            out.push_str("  ");
            if !opt.starts_with('-') {
                out.push('-');
            }
            out.push_str(opt);
            out.push('\n');
            let mut line = String::new();
            for word in help.split_whitespace() {
                if !line.is_empty() && 7 + line.len() + 1 + word.len() > 79 {
                    out.push_str(&format!("       {line}\n"));
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(word);
            }
            if !line.is_empty() {
                out.push_str(&format!("       {line}\n"));
            }
            out.push('\n');
        }
        out
    }
}

fn existing_dir(raw: &str) -> Result<PathBuf, ConfigError> {
    let path = std::path::absolute(raw).map_err(|_| ConfigError::DataDirNotFound(raw.into()))?;
    if path.is_dir() {
        Ok(path)
    } else {
        Err(ConfigError::DataDirNotFound(raw.into()))
    }
}

fn home_datadir() -> Result<PathBuf, ConfigError> {
    match std::env::var_os("HOME") {
        Some(h) if !h.is_empty() => Ok(PathBuf::from(h).join(DEFAULT_DATADIR_NAME)),
        _ => Err(ConfigError::NoHome),
    }
}

/// Reads the config file; `None` if the default one does not exist.
fn read_conf(path: &Path, explicit: bool) -> Result<Option<String>, ConfigError> {
    if path.is_dir() {
        return Err(ConfigError::ConfFile(format!(
            "Config file \"{}\" is a directory.",
            path.display()
        )));
    }
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            ConfigError::ConfFile(format!(
                "config file \"{}\" is not valid UTF-8.",
                path.display()
            ))
        }),
        Err(_) if explicit => Err(ConfigError::ConfFile(format!(
            "specified config file \"{}\" could not be opened.",
            path.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::ConfFile(format!(
            "config file \"{}\" could not be read: {e}",
            path.display()
        ))),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
