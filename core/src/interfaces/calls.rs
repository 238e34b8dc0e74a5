//! Calls on the control channel: method numbers and their JSON payloads.
//!
//! Calls are rare (a wallet RPC, a broadcast, a fork lookup at load), so
//! their payloads are JSON: easy to check, easy to log. Blocks never go
//! through a call over shared memory: a rescan asks for the
//! [`BlockLocations`] of a range of heights and maps the block files the
//! node hands over as read-only descriptors. Only over TCP, where no
//! descriptor can pass, does [`method::BLOCK_ARCHIVE`] send a block's
//! archive through the stream.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Method numbers of `shm_ipc::Connection::call`.
pub mod method {
    /// Both ways, first: [`super::Hello`] → [`super::HelloReply`].
    pub const HELLO: u32 = 1;

    // Wallet → node: Core's `interfaces::Chain`.
    /// `()` → `Option<(height, hash)>` of the tip.
    pub const TIP: u32 = 10;
    /// `height` → `Option<hash>` on the active chain.
    pub const BLOCK_HASH: u32 = 11;
    /// [`super::Locator`] → `Option<(height, hash)>`.
    pub const FIND_LOCATOR_FORK: u32 = 12;
    /// `time` → `Option<height>` of the first block with at least that time.
    pub const FIND_FIRST_BLOCK_WITH_TIME: u32 = 13;
    /// `conf_target` → `Option<sat/kwu>`.
    pub const ESTIMATE_FEE: u32 = 14;
    /// `()` → sat/kwu below which the mempool refuses transactions.
    pub const MIN_FEE: u32 = 15;
    /// [`super::BroadcastRequest`] → txid, or the reject reason as error.
    pub const BROADCAST: u32 = 16;
    /// tx hex → `()`, or the reject reason as error.
    pub const MEMPOOL_ACCEPT_TEST: u32 = 17;
    /// [`super::BlockRange`] → [`super::BlockLocations`]; descriptors of
    /// block files not handed over before arrive first (tag = file number).
    pub const BLOCK_LOCATIONS: u32 = 18;
    /// `height` → the block's archive, raw bytes (TCP only).
    pub const BLOCK_ARCHIVE: u32 = 19;

    /// Wallet → node: wallet `name` (a JSON string) changed, for GUIs.
    pub const WALLET_CHANGED: u32 = 20;

    // Node → wallet process.
    /// [`super::RpcRequest`] → [`super::RpcReply`].
    pub const WALLET_RPC: u32 = 30;

    // GUI → node (and through it to the wallets).
    /// [`super::RpcRequest`] → [`super::RpcReply`].
    pub const NODE_RPC: u32 = 40;
}

/// Who is at the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Node,
    Wallet,
    Gui,
}

/// The first call on a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub role: Role,
    /// `main`, `test`, `testnet4`, `signet` or `regtest` (Core's names).
    pub chain: String,
    /// The node's IPC secret (`<datadir>/<chain>/.ipccookie`), needed on a
    /// TCP bind other than loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
}

/// The answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloReply {
    pub version: u32,
    pub role: Role,
    pub chain: String,
    /// Whether the wallet may read block files through descriptors
    /// (false over TCP).
    pub block_files: bool,
}

/// A block locator (newest first), hashes in RPC hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locator(pub Vec<String>);

/// Most hashes a locator may carry (a hostile wallet can't make the node
/// look up millions).
pub const MAX_LOCATOR: usize = 512;

/// [`method::BROADCAST`]'s request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastRequest {
    pub tx_hex: String,
    /// Highest absolute fee, in satoshis.
    pub max_fee_sat: u64,
}

/// Heights `from..=to` of the active chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRange {
    pub from: u32,
    pub to: u32,
}

/// Most locations one [`method::BLOCK_LOCATIONS`] call returns.
pub const MAX_LOCATIONS: u32 = 10_000;

/// Where a block's archive lies in the node's block files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockLocation {
    pub height: u32,
    /// Block file number (the descriptor's tag).
    pub file: u32,
    /// Byte offset of the archive in the file (a multiple of 16).
    pub offset: u64,
    pub len: u64,
}

/// The answer to [`method::BLOCK_LOCATIONS`]: the blocks found, in height
/// order (possibly fewer than asked; ask again from the next height).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BlockLocations {
    pub blocks: Vec<BlockLocation>,
}

/// A JSON-RPC call forwarded between processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcRequest {
    /// The `/wallet/<name>` endpoint's name, if any.
    pub wallet: Option<String>,
    pub method: String,
    pub params: Value,
    /// Node → wallet: the notification sequence number the wallet must have
    /// applied before answering (Core's `BlockUntilSyncedToCurrentChain`).
    pub sync_seq: Option<u64>,
}

/// A JSON-RPC error: Core's code and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteError {
    pub code: i64,
    pub message: String,
}

/// The answer to an [`RpcRequest`]: exactly one of the two is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcReply {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<RemoteError>,
}

impl RpcReply {
    pub fn ok(result: Value) -> RpcReply {
        RpcReply {
            result: Some(result),
            error: None,
        }
    }

    pub fn err(code: i64, message: impl Into<String>) -> RpcReply {
        RpcReply {
            result: None,
            error: Some(RemoteError {
                code,
                message: message.into(),
            }),
        }
    }
}

/// Largest call payload a process accepts from a peer.
pub const MAX_CALL_BYTES: usize = 32 << 20;

/// Encodes a payload.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Decodes a peer's payload; the error says what was wrong with it.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, String> {
    if bytes.len() > MAX_CALL_BYTES {
        return Err(format!("payload of {} bytes is too large", bytes.len()));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("malformed payload: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_garbage_is_an_error() {
        let r = RpcRequest {
            wallet: Some("w".into()),
            method: "getbalance".into(),
            params: serde_json::json!([]),
            sync_seq: Some(5),
        };
        assert_eq!(decode::<RpcRequest>(&encode(&r)).unwrap(), r);
        let h = Hello {
            version: 1,
            role: Role::Wallet,
            chain: "regtest".into(),
            auth: None,
        };
        assert_eq!(decode::<Hello>(&encode(&h)).unwrap(), h);
        assert!(decode::<Hello>(b"\xff\x00").is_err());
        assert!(decode::<RpcRequest>(b"{\"method\":1}").is_err());
        let e = RpcReply::err(-18, "gone");
        let back: RpcReply = decode(&encode(&e)).unwrap();
        assert_eq!(back.error.unwrap().code, -18);
    }
}
