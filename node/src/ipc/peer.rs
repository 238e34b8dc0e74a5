//! A process connected to the node: a wallet process (spawned or started
//! on its own) or a GUI, after its handshake.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use btc_core::interfaces::calls::{decode, encode};
use btc_core::interfaces::{
    method, Hello, HelloReply, RemoteError, Role, RpcReply, RpcRequest, PROTOCOL_VERSION,
};
use serde_json::Value;
use shm_ipc::Connection;

/// How long a new connection has to say hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected process.
pub struct Peer {
    pub conn: Connection,
    pub role: Role,
    /// For logs: how it came (`spawned wallet`, `unix:/path`, ...).
    pub label: String,
    /// Wallets it has loaded (as it last said).
    wallets: Mutex<Vec<String>>,
    /// Block files it has descriptors of.
    files: Mutex<HashSet<u32>>,
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("no hello: {0}")]
    NoHello(String),
    #[error("{0}")]
    Refused(String),
}

impl Peer {
    /// Waits for the peer's hello and answers it. `auth`: the secret the
    /// peer must present, if any.
    pub fn handshake(
        conn: Connection,
        label: String,
        chain: &str,
        auth: Option<&str>,
    ) -> Result<Peer, HandshakeError> {
        let req = conn
            .requests()
            .recv_timeout(HELLO_TIMEOUT)
            .map_err(|e| HandshakeError::NoHello(e.to_string()))?;
        if req.method != method::HELLO {
            let _ = req.reply(Err("say hello first"));
            return Err(HandshakeError::Refused("first call was not a hello".into()));
        }
        let hello: Hello = match decode(&req.payload) {
            Ok(h) => h,
            Err(e) => {
                let _ = req.reply(Err(&e));
                return Err(HandshakeError::Refused(e));
            }
        };
        let refuse = |why: String| HandshakeError::Refused(why);
        let why = if hello.version != PROTOCOL_VERSION {
            Some(format!(
                "protocol version {} (this node speaks {PROTOCOL_VERSION})",
                hello.version
            ))
        } else if hello.chain != chain {
            Some(format!("chain {} (this node runs {chain})", hello.chain))
        } else if hello.role == Role::Node {
            Some("a node can't connect to a node".into())
        } else if let Some(secret) = auth {
            (!constant_time_eq(
                hello.auth.as_deref().unwrap_or("").as_bytes(),
                secret.as_bytes(),
            ))
            .then(|| "wrong or missing IPC secret".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            let _ = req.reply(Err(&why));
            return Err(refuse(why));
        }
        let reply = HelloReply {
            version: PROTOCOL_VERSION,
            role: Role::Node,
            chain: chain.to_string(),
            block_files: conn.is_shared_memory(),
        };
        req.reply(Ok(&encode(&reply)))
            .map_err(|e| HandshakeError::NoHello(e.to_string()))?;
        Ok(Peer {
            conn,
            role: hello.role,
            label,
            wallets: Mutex::new(Vec::new()),
            files: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the peer has block file `n`'s descriptor.
    pub fn has_file(&self, n: u32) -> bool {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&n)
    }

    /// Records that the peer has block file `n`'s descriptor.
    pub fn sent_file(&self, n: u32) {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(n);
    }

    /// The wallets it has loaded.
    pub fn wallets(&self) -> Vec<String> {
        self.wallets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether it has wallet `name` loaded.
    pub fn has_wallet(&self, name: &str) -> bool {
        self.wallets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|w| w == name)
    }

    /// Forwards a wallet RPC; `sync_seq` as in [`RpcRequest`].
    pub fn rpc(
        &self,
        wallet: Option<&str>,
        method_name: &str,
        params: &Value,
        sync_seq: Option<u64>,
    ) -> Result<Value, RemoteError> {
        self.rpc_timeout(wallet, method_name, params, sync_seq, None)
    }

    /// [`Peer::rpc`] that gives up after `timeout`.
    pub fn rpc_timeout(
        &self,
        wallet: Option<&str>,
        method_name: &str,
        params: &Value,
        sync_seq: Option<u64>,
        timeout: Option<Duration>,
    ) -> Result<Value, RemoteError> {
        let req = RpcRequest {
            wallet: wallet.map(str::to_owned),
            method: method_name.to_owned(),
            params: params.clone(),
            sync_seq,
        };
        let unavailable = |e: String| RemoteError {
            code: btc_core::rpc_codes::RPC_WALLET_NOT_FOUND as i64,
            message: format!("Wallet process unavailable ({e}); it is being restarted"),
        };
        let bytes = self
            .conn
            .call(method::WALLET_RPC, &encode(&req), timeout)
            .map_err(|e| unavailable(e.to_string()))?;
        let reply: RpcReply = decode(&bytes).map_err(unavailable)?;
        match (reply.result, reply.error) {
            (_, Some(e)) => Err(e),
            (Some(v), None) => Ok(v),
            (None, None) => Ok(Value::Null),
        }
    }

    /// Asks the peer which wallets it has loaded and remembers them.
    pub fn refresh_wallets(&self) {
        if self.role != Role::Wallet {
            return;
        }
        if let Ok(Value::Array(names)) = self.rpc(None, "listwallets", &Value::Array(vec![]), None)
        {
            let names = names
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            *self.wallets.lock().unwrap_or_else(|e| e.into_inner()) = names;
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
