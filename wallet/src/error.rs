//! Errors: [`WalletError`] for the library, [`RpcError`] (Core's
//! `{code, message}`) for the RPC layer, and Core's wallet error codes.

use thiserror::Error;

/// Bitcoin Core's `RPCErrorCode` values the wallet uses.
pub mod codes {
    /// Standard JSON-RPC 2.0: invalid request object.
    pub const RPC_INVALID_REQUEST: i32 = -32600;
    /// Standard JSON-RPC 2.0: method not found.
    pub const RPC_METHOD_NOT_FOUND: i32 = -32601;
    /// Standard JSON-RPC 2.0: internal error.
    pub const RPC_INTERNAL_ERROR: i32 = -32603;
    /// `std::exception` thrown in command handling (also usage errors).
    pub const RPC_MISC_ERROR: i32 = -1;
    /// Unexpected type was passed as parameter.
    pub const RPC_TYPE_ERROR: i32 = -3;
    /// Invalid address or key.
    pub const RPC_INVALID_ADDRESS_OR_KEY: i32 = -5;
    /// Invalid, missing or duplicate parameter.
    pub const RPC_INVALID_PARAMETER: i32 = -8;
    /// Database error.
    pub const RPC_DATABASE_ERROR: i32 = -20;
    /// Error parsing or validating structure in raw format.
    pub const RPC_DESERIALIZATION_ERROR: i32 = -22;
    /// General error during transaction or block submission.
    pub const RPC_VERIFY_ERROR: i32 = -25;
    /// Transaction or block was rejected by network rules.
    pub const RPC_VERIFY_REJECTED: i32 = -26;
    /// Transaction already in chain.
    pub const RPC_VERIFY_ALREADY_IN_CHAIN: i32 = -27;
    /// Unspecified problem with wallet (key not found etc.).
    pub const RPC_WALLET_ERROR: i32 = -4;
    /// Not enough funds in wallet or account.
    pub const RPC_WALLET_INSUFFICIENT_FUNDS: i32 = -6;
    /// Invalid label name.
    pub const RPC_WALLET_INVALID_LABEL_NAME: i32 = -11;
    /// Keypool ran out, call keypoolrefill first.
    pub const RPC_WALLET_KEYPOOL_RAN_OUT: i32 = -12;
    /// Enter the wallet passphrase with walletpassphrase first.
    pub const RPC_WALLET_UNLOCK_NEEDED: i32 = -13;
    /// The wallet passphrase entered was incorrect.
    pub const RPC_WALLET_PASSPHRASE_INCORRECT: i32 = -14;
    /// Command given in wrong wallet encryption state.
    pub const RPC_WALLET_WRONG_ENC_STATE: i32 = -15;
    /// Failed to encrypt the wallet.
    pub const RPC_WALLET_ENCRYPTION_FAILED: i32 = -16;
    /// Wallet is already unlocked.
    pub const RPC_WALLET_ALREADY_UNLOCKED: i32 = -17;
    /// Invalid wallet specified.
    pub const RPC_WALLET_NOT_FOUND: i32 = -18;
    /// No wallet specified (error when there are multiple wallets loaded).
    pub const RPC_WALLET_NOT_SPECIFIED: i32 = -19;
    /// This same wallet is already loaded.
    pub const RPC_WALLET_ALREADY_LOADED: i32 = -35;
    /// There is already a wallet with the same name.
    pub const RPC_WALLET_ALREADY_EXISTS: i32 = -36;
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
