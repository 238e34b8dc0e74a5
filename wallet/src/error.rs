//! Errors: [`WalletError`] for the library, [`RpcError`] (Core's
//! `{code, message}`) for the RPC layer, and Core's wallet error codes.

use thiserror::Error;

/// Bitcoin Core's `RPCErrorCode` values (shared with the node).
pub mod codes {
    pub use btc_core::rpc_codes::*;
}

/// Core's message for a locked wallet (-13).
pub const MSG_UNLOCK_NEEDED: &str =
    "Error: Please enter the wallet passphrase with walletpassphrase first.";
/// Core's message for a wrong passphrase (-14).
pub const MSG_PASSPHRASE_INCORRECT: &str = "Error: The wallet passphrase entered was incorrect.";

/// An RPC error as Core returns it: `{"code": code, "message": message}`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    /// Core's `RPCErrorCode`.
    pub code: i32,
    /// Core's message.
    pub message: String,
}

impl RpcError {
    /// An error with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// The JSON-RPC error object `{"code": .., "message": ..}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("code".into(), self.code.into());
        map.insert("message".into(), self.message.clone().into());
        serde_json::Value::Object(map)
    }
}

impl From<btc_core::json::ParamError> for RpcError {
    fn from(e: btc_core::json::ParamError) -> RpcError {
        RpcError::new(e.code, e.message)
    }
}

/// Errors of the storage layer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// redb failed.
    #[error("redb: {0}")]
    Redb(#[from] redb::Error),
    /// A filesystem operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be decoded: the file holds something this code
    /// did not write.
    #[error("corrupt wallet database: {0}")]
    Corrupt(String),
}

macro_rules! from_redb {
    ($($t:ident),*) => {$(
        impl From<redb::$t> for StoreError {
            fn from(e: redb::$t) -> Self {
                StoreError::Redb(e.into())
            }
        }
    )*};
}
from_redb!(
    DatabaseError,
    TransactionError,
    TableError,
    StorageError,
    CommitError,
    SetDurabilityError
);

/// Errors of the wallet library.
#[derive(Debug, Error)]
pub enum WalletError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The wallet is encrypted and locked (Core's -13).
    #[error("{MSG_UNLOCK_NEEDED}")]
    Locked,
    /// Wrong passphrase (Core's -14).
    #[error("{MSG_PASSPHRASE_INCORRECT}")]
    WrongPassphrase,
    /// The operation needs an encrypted wallet, or an unencrypted one (-15).
    #[error("{0}")]
    WrongEncryptionState(String),
    /// The wallet has no private keys.
    #[error("{0}")]
    NoPrivateKeys(String),
    /// Not enough funds (-6).
    #[error("{0}")]
    InsufficientFunds(String),
    /// A descriptor could not be parsed or used.
    #[error("{0}")]
    Descriptor(String),
    /// Anything else, with Core's message (-4).
    #[error("{0}")]
    Other(String),
}

impl From<WalletError> for RpcError {
    fn from(e: WalletError) -> RpcError {
        use codes::*;
        let code = match &e {
            WalletError::Store(_) => RPC_WALLET_ERROR,
            WalletError::Locked => RPC_WALLET_UNLOCK_NEEDED,
            WalletError::WrongPassphrase => RPC_WALLET_PASSPHRASE_INCORRECT,
            WalletError::WrongEncryptionState(_) => RPC_WALLET_WRONG_ENC_STATE,
            WalletError::NoPrivateKeys(_) => RPC_WALLET_ERROR,
            WalletError::InsufficientFunds(_) => RPC_WALLET_INSUFFICIENT_FUNDS,
            WalletError::Descriptor(_) => RPC_INVALID_ADDRESS_OR_KEY,
            WalletError::Other(_) => RPC_WALLET_ERROR,
        };
        RpcError::new(code, e.to_string())
    }
}
