//! [`WalletManager`]: the loaded wallets of one wallet directory, each in
//! `<walletdir>/<name>/`, with Core 28's `createwallet`, `loadwallet`,
//! `unloadwallet` and `listwallets`, and routing of wallet RPCs (Core's
//! `/wallet/<name>` endpoint rules).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::chain::Chain;
use crate::error::{codes, RpcError, WalletError};
use crate::rpc::params::{Params, Spec, Ty};
use crate::store::WALLET_FILE;
use crate::wallet::{CreateOptions, Wallet, WalletOptions};

/// The loaded wallets.
pub struct WalletManager {
    dir: PathBuf,
    options: WalletOptions,
    wallets: BTreeMap<String, Wallet>,
}

const CREATE: Spec = Spec {
    args: &[
        ("wallet_name", Ty::Str),
        ("disable_private_keys", Ty::Bool),
        ("blank", Ty::Bool),
        ("passphrase", Ty::Str),
        ("avoid_reuse", Ty::Bool),
        ("descriptors", Ty::Bool),
        ("load_on_startup", Ty::Bool),
        ("external_signer", Ty::Bool),
    ],
    required: 1,
    usage: "createwallet \"wallet_name\" ( disable_private_keys blank \"passphrase\" avoid_reuse descriptors load_on_startup external_signer )",
};

const LOAD: Spec = Spec {
    args: &[("filename", Ty::Str), ("load_on_startup", Ty::Bool)],
    required: 1,
    usage: "loadwallet \"filename\" ( load_on_startup )",
};

const UNLOAD: Spec = Spec {
    args: &[("wallet_name", Ty::Str), ("load_on_startup", Ty::Bool)],
    required: 0,
    usage: "unloadwallet ( \"wallet_name\" load_on_startup )",
};

const LIST: Spec = Spec {
    args: &[],
    required: 0,
    usage: "listwallets",
};

fn open_err(e: WalletError) -> RpcError {
    RpcError::new(codes::RPC_WALLET_ERROR, e.to_string())
}

impl WalletManager {
    /// A manager for `walletdir` (created if missing) with the node's
    /// wallet options.
    pub fn new(walletdir: &Path, options: WalletOptions) -> WalletManager {
        WalletManager {
            dir: walletdir.to_owned(),
            options,
            wallets: BTreeMap::new(),
        }
    }

    fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether a wallet `name` exists on disk (loaded or not).
    pub fn exists(&self, name: &str) -> bool {
        self.path_of(name).join(WALLET_FILE).is_file()
    }

    /// The loaded wallet `name`.
    pub fn wallet(&mut self, name: &str) -> Option<&mut Wallet> {
        self.wallets.get_mut(name)
    }

    /// Every loaded wallet (to hand each a block or a mempool event).
    pub fn wallets_mut(&mut self) -> impl Iterator<Item = &mut Wallet> {
        self.wallets.values_mut()
    }

    /// Names of the loaded wallets, sorted.
    pub fn names(&self) -> Vec<String> {
        self.wallets.keys().cloned().collect()
    }

    /// Runs a manager method (`createwallet`, `loadwallet`,
    /// `unloadwallet`, `listwallets`) or a wallet method on the wallet
    /// named by the endpoint (`wallet`: `/wallet/<name>`), with Core's
    /// rules when none is named.
    pub fn call(
        &mut self,
        wallet: Option<&str>,
        method: &str,
        params: &Value,
        chain: &dyn Chain,
    ) -> Result<Value, RpcError> {
        match method {
            "createwallet" => return self.createwallet(&Params::new(params, &CREATE)?, chain),
            "loadwallet" => return self.loadwallet(&Params::new(params, &LOAD)?, chain),
            "unloadwallet" => return self.unloadwallet(wallet, &Params::new(params, &UNLOAD)?),
            "listwallets" => {
                Params::new(params, &LIST)?;
                return Ok(Value::Array(
                    self.wallets
                        .keys()
                        .map(|k| Value::from(k.clone()))
                        .collect(),
                ));
            }
            _ => {}
        }
        let w = self.route(wallet)?;
        crate::rpc::call(w, method, params, chain)
    }

    /// Core's `GetWalletForJSONRPCRequest`.
    fn route(&mut self, name: Option<&str>) -> Result<&mut Wallet, RpcError> {
        match name {
            Some(n) => self.wallets.get_mut(n).ok_or_else(|| {
                RpcError::new(
                    codes::RPC_WALLET_NOT_FOUND,
                    "Requested wallet does not exist or is not loaded",
                )
            }),
            None => match self.wallets.len() {
                0 => Err(RpcError::new(
                    codes::RPC_WALLET_NOT_FOUND,
                    "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)",
                )),
                1 => Ok(self.wallets.values_mut().next().ok_or_else(|| {
                    RpcError::new(codes::RPC_WALLET_NOT_FOUND, "No wallet is loaded.")
                })?),
                _ => Err(RpcError::new(
                    codes::RPC_WALLET_NOT_SPECIFIED,
                    "Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).",
                )),
            },
        }
    }

    fn createwallet(&mut self, p: &Params, chain: &dyn Chain) -> Result<Value, RpcError> {
        let name = p.str(0).unwrap_or_default().to_owned();
        if p.bool(5) == Some(false) {
            return Err(RpcError::new(
                codes::RPC_WALLET_ERROR,
                "Compiled without bdb support (required for legacy wallets)",
            ));
        }
        if p.bool(7) == Some(true) {
            return Err(RpcError::new(
                codes::RPC_WALLET_ERROR,
                "Compiled without external signing support (required for external signing)",
            ));
        }
        let mut warnings = Vec::new();
        let passphrase = p.str(3).map(str::to_owned);
        if passphrase.as_deref() == Some("") {
            warnings.push(Value::from(
                "Empty string given as passphrase, wallet will not be encrypted.",
            ));
        }
        let path = self.path_of(&name);
        if path.join(WALLET_FILE).exists() {
            return Err(RpcError::new(
                codes::RPC_WALLET_ALREADY_EXISTS,
                format!(
                    "Wallet file verification failed. Failed to create database path '{}'. Database already exists.",
                    path.display()
                ),
            ));
        }
        let create = CreateOptions {
            disable_private_keys: p.bool(1).unwrap_or(false),
            blank: p.bool(2).unwrap_or(false),
            passphrase,
            avoid_reuse: p.bool(4).unwrap_or(false),
            master_key: None,
        };
        let mut wallet =
            Wallet::create(&path, &name, self.options.clone(), create).map_err(open_err)?;
        wallet.set_last_processed(chain)?;
        self.wallets.insert(name.clone(), wallet);
        let mut o = Map::new();
        o.insert("name".into(), name.into());
        if !warnings.is_empty() {
            o.insert("warnings".into(), Value::Array(warnings));
        }
        Ok(Value::Object(o))
    }

    fn loadwallet(&mut self, p: &Params, chain: &dyn Chain) -> Result<Value, RpcError> {
        let name = p.str(0).unwrap_or_default().to_owned();
        if self.wallets.contains_key(&name) {
            return Err(RpcError::new(
                codes::RPC_WALLET_ALREADY_LOADED,
                format!("Wallet \"{name}\" is already loaded."),
            ));
        }
        let path = self.path_of(&name);
        if !path.join(WALLET_FILE).is_file() {
            return Err(RpcError::new(
                codes::RPC_WALLET_NOT_FOUND,
                format!(
                    "Wallet file verification failed. Failed to load database path '{}'. Path does not exist.",
                    path.display()
                ),
            ));
        }
        let mut wallet = Wallet::open(&path, &name, self.options.clone()).map_err(|e| match e {
            WalletError::Store(crate::error::StoreError::Redb(redb::Error::DatabaseAlreadyOpen)) => {
                RpcError::new(
                    codes::RPC_WALLET_ALREADY_LOADED,
                    format!(
                        "Wallet file verification failed. Refusing to load database. Data file '{}' is already loaded.",
                        path.join(WALLET_FILE).display()
                    ),
                )
            }
            other => open_err(other),
        })?;
        wallet.attach_chain(chain)?;
        self.wallets.insert(name.clone(), wallet);
        let mut o = Map::new();
        o.insert("name".into(), name.into());
        Ok(Value::Object(o))
    }

    fn unloadwallet(&mut self, endpoint: Option<&str>, p: &Params) -> Result<Value, RpcError> {
        let name =
            match (endpoint, p.str(0)) {
                (Some(e), Some(n)) if e != n => {
                    return Err(RpcError::new(
                        codes::RPC_INVALID_PARAMETER,
                        "RPC endpoint wallet and wallet_name parameter specify different wallets",
                    ))
                }
                (Some(e), _) => e.to_owned(),
                (None, Some(n)) => n.to_owned(),
                (None, None) => return Err(RpcError::new(
                    codes::RPC_WALLET_NOT_SPECIFIED,
                    "Either the RPC endpoint wallet or the wallet name parameter must be provided",
                )),
            };
        if self.wallets.remove(&name).is_none() {
            return Err(RpcError::new(
                codes::RPC_WALLET_NOT_FOUND,
                "Requested wallet does not exist or is not loaded",
            ));
        }
        Ok(Value::Object(Map::new()))
    }
}
