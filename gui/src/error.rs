//! The library's one error type: what can go wrong between the GUI and
//! the node.

/// Why a call to the node did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The node answered with a JSON-RPC error (Core's code and message).
    #[error("{message} (code {code})")]
    Remote { code: i64, message: String },
    /// The node is gone (exited, crashed, or the connection broke).
    #[error("the node is not reachable: {0}")]
    Disconnected(String),
    /// The node did not answer in time.
    #[error("the node did not answer in time")]
    Timeout,
    /// The node answered with something that is not the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Starting or reaching the node failed.
    #[error("{0}")]
    Start(String),
}

impl BackendError {
    /// Core's error code, if the node sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            BackendError::Remote { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the node answered with this code (one of
    /// `btc_core::rpc_codes`).
    pub fn is(&self, code: i32) -> bool {
        self.code() == Some(i64::from(code))
    }

    /// Whether the connection can't be used any more.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, BackendError::Disconnected(_))
    }

    /// The message alone (without the code), as the GUI shows it.
    pub fn message(&self) -> String {
        match self {
            BackendError::Remote { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    pub fn remote(code: i64, message: impl Into<String>) -> BackendError {
        BackendError::Remote {
            code,
            message: message.into(),
        }
    }
}
