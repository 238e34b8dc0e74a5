//! The JSON-RPC HTTP transport, modelled on Bitcoin Core 28's
//! `httpserver.cpp` and `httprpc.cpp`.
//!
//! * HTTP/1.1 with keep-alive (HTTP/1.0 only with `Connection: keep-alive`),
//!   `Content-Length` or chunked bodies up to [`HttpOptions::max_body`]
//!   (413 before reading more), heads up to 8 KiB / 100 fields (431),
//!   `Expect: 100-continue`.
//! * Routing: `/` and `/wallet/<percent-encoded name>`, else 404; only
//!   POST (405); HTTP Basic authentication (401, after
//!   [`HttpOptions::auth_failure_delay`] for wrong credentials);
//!   `-rpcallowip` (403 and close; loopback always allowed).
//! * JSON-RPC as Core 28: legacy 1.0 replies `{"result","error","id"}` with
//!   HTTP 400/404/500 on errors; `"jsonrpc":"2.0"` replies carry one of
//!   result/error with HTTP 200, notifications get 204; batches get 200
//!   with an array. Parse errors of a single request keep Core's HTTP
//!   status mapping (400/500) in either version, as Core does.
//!
//! Threads: one acceptor (mio over all listeners), one thread per
//! connection (at most [`MAX_CONNECTIONS`]; they parse, authenticate and
//! wait, never run handlers), and [`HttpOptions::threads`] workers running
//! handler calls from a queue of [`HttpOptions::work_queue`] waiting
//! requests; a full queue is 503 "Work queue depth exceeded". Unlike Core,
//! authentication (and its 250 ms penalty) happens before queueing, so bad
//! passwords never occupy a worker.

mod allow;
mod auth;
pub mod codes;
mod conn;
mod cookie;
mod jsonrpc;
mod options;
mod response;
mod server;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

pub use allow::{canonical_ip, is_allowed, loopback_rules, AllowRule};
pub use auth::{decode_base64, hmac_hex, rpcauth_line, timing_resistant_equal, Auth, Credential};
pub use cookie::{Cookie, COOKIE_FILE, COOKIE_USER};
pub use options::{
    rpc_option_names, split_host_port, HttpOptions, AUTH_FAILURE_DELAY,
    DEFAULT_HTTP_SERVER_TIMEOUT, DEFAULT_HTTP_THREADS, DEFAULT_HTTP_WORKQUEUE, MAX_BODY_SIZE,
    RPC_OPTIONS,
};
pub use server::{HttpServer, MAX_CONNECTIONS};

use crate::config::ConfigError;

/// One JSON-RPC call as the handler sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RpcRequest {
    /// The method name.
    pub method: String,
    /// The parameters: an array or an object (absent or null is `[]`).
    pub params: serde_json::Value,
    /// `/` or `/wallet/<percent-decoded wallet name>`.
    pub path: String,
    /// The authenticated user (`__cookie__` for the cookie).
    pub user: String,
}

impl RpcRequest {
    /// The wallet name if the call came through `/wallet/<name>`.
    pub fn wallet_name(&self) -> Option<&str> {
        self.path.strip_prefix("/wallet/")
    }
}

/// A JSON-RPC error: a code from [`codes`] and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    /// The error code, e.g. [`codes::RPC_INVALID_PARAMETER`].
    pub code: i32,
    /// The message shown to the client.
    pub message: String,
}

impl RpcError {
    /// An error with this code and message.
    pub fn new(code: i32, message: &str) -> Self {
        RpcError {
            code,
            message: message.to_string(),
        }
    }
}

/// Runs JSON-RPC calls. Called from the worker threads, several at once.
/// A panic is caught and answered as [`codes::RPC_INTERNAL_ERROR`].
pub trait RpcHandler: Send + Sync + 'static {
    /// Executes one call.
    fn call(&self, req: &RpcRequest) -> Result<serde_json::Value, RpcError>;
}

impl<F> RpcHandler for F
where
    F: Fn(&RpcRequest) -> Result<serde_json::Value, RpcError> + Send + Sync + 'static,
{
    fn call(&self, req: &RpcRequest) -> Result<serde_json::Value, RpcError> {
        self(req)
    }
}

/// Why the server could not be configured or started. Messages are Core's
/// where it has one.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A bad `-rpcallowip` value.
    #[error("Invalid -rpcallowip subnet specification: {0}. Valid are a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0) or a network/CIDR (e.g. 1.2.3.4/24).")]
    InvalidAllowIp(String),
    /// A bad port in `-rpcport` or `-rpcbind`.
    #[error("Invalid port specified in {option}: '{value}'")]
    InvalidPort {
        /// The option.
        option: &'static str,
        /// The value.
        value: String,
    },
    /// A `-rpcbind` host that is neither an address nor resolvable.
    #[error("Cannot resolve -rpcbind address: '{0}'")]
    InvalidBind(String),
    /// A malformed `-rpcauth` value (kept for the caller, not displayed).
    #[error("Invalid -rpcauth argument.")]
    InvalidRpcAuth(String),
    /// The cookie file could not be written.
    #[error("Unable to write cookie authentication file {}: {source}", path.display())]
    Cookie {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A listening socket could not be opened.
    #[error("Binding RPC on address {addr} failed: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Nothing to listen on.
    #[error("Unable to bind any endpoint for RPC server")]
    NoBind,
    /// An option could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Threads or the poller could not be set up.
    #[error("Unable to start HTTP server: {0}")]
    Io(#[from] io::Error),
}
