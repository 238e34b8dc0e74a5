//! Core's RPC parameter helpers (`ParseHashV`, `ParseHexV`, `DecodeHexTx`,
//! `DecodeHexBlk`, `DecodeHexBlockHeader`) and the error they throw.

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::{Block, Transaction};
use serde_json::Value;

use super::decode;

pub use crate::rpc_codes::{
    RPC_DESERIALIZATION_ERROR, RPC_INTERNAL_ERROR, RPC_INVALID_PARAMETER, RPC_TYPE_ERROR,
};

/// An RPC error as Core returns it: `{"code": code, "message": message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct ParamError {
    /// Core's `RPCErrorCode`.
    pub code: i32,
    /// Core's message, word for word.
    pub message: String,
}

impl ParamError {
    /// An error with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ParamError {
            code,
            message: message.into(),
        }
    }

    /// The JSON-RPC error object `{"code": .., "message": ..}`.
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("code".into(), Value::from(self.code));
        map.insert("message".into(), Value::from(self.message.clone()));
        Value::Object(map)
    }
}

/// UniValue's name of a JSON type, as in its type errors.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// UniValue's `get_str()`: the string, or Core's type error (-3,
/// "JSON value of type number is not of expected type string").
pub(crate) fn get_str(value: &Value) -> Result<&str, ParamError> {
    value.as_str().ok_or_else(|| {
        ParamError::new(
            RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type string",
                type_name(value)
            ),
        )
    })
}

/// Core's `IsHex`: non-empty, even length, hex digits only (either case).
pub fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Decodes a string for which [`is_hex`] holds.
fn hex_bytes(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect()
}

fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

/// Core's `ParseHashV`: a 64-digit hex string (display order, either case)
/// as a hash. Errors (-8): "NAME must be of length 64 (not N, for 'X')",
/// "NAME must be hexadecimal string (not 'X')"; a non-string is UniValue's
/// type error (-3).
pub fn parse_hash_v<H: Hash<Bytes = [u8; 32]>>(value: &Value, name: &str) -> Result<H, ParamError> {
    let text = get_str(value)?;
    if text.len() != 64 {
        return Err(ParamError::new(
            RPC_INVALID_PARAMETER,
            format!(
                "{name} must be of length 64 (not {}, for '{text}')",
                text.len()
            ),
        ));
    }
    if !is_hex(text) {
        return Err(ParamError::new(
            RPC_INVALID_PARAMETER,
            format!("{name} must be hexadecimal string (not '{text}')"),
        ));
    }
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&hex_bytes(text));
    bytes.reverse();
    Ok(H::from_byte_array(bytes))
}

/// Core's `ParseHexV`: a non-empty, even-length hex string as bytes. Error
/// (-8): "NAME must be hexadecimal string (not 'X')", where X is empty for
/// a value that is not a string.
pub fn parse_hex_v(value: &Value, name: &str) -> Result<Vec<u8>, ParamError> {
    let text = value.as_str().unwrap_or("");
    if !is_hex(text) {
        return Err(ParamError::new(
            RPC_INVALID_PARAMETER,
            format!("{name} must be hexadecimal string (not '{text}')"),
        ));
    }
    Ok(hex_bytes(text))
}

/// Core's `DecodeHexTx` as `decoderawtransaction`, `sendrawtransaction` etc.
/// use it: `try_no_witness` allows the legacy serialization, `try_witness`
/// the extended (BIP144) one; when both decode the whole string, the one
/// whose scripts pass Core's sanity check wins, the extended one if both
/// or neither do. Error (-22): "TX decode failed". A non-string is
/// UniValue's type error (-3).
pub fn decode_hex_tx(
    value: &Value,
    try_no_witness: bool,
    try_witness: bool,
) -> Result<Transaction, ParamError> {
    let failed = || ParamError::new(RPC_DESERIALIZATION_ERROR, "TX decode failed");
    let text = get_str(value)?;
    if !is_hex(text) {
        return Err(failed());
    }
    decode::transaction(&hex_bytes(text), try_no_witness, try_witness).ok_or_else(failed)
}

/// Core's `DecodeHexBlk` (`submitblock`): hex, then a block with witness
/// serialization. Like Core, bytes after the block are ignored. Error
/// (-22): "Block decode failed".
pub fn decode_hex_block(value: &Value) -> Result<Block, ParamError> {
    let failed = || ParamError::new(RPC_DESERIALIZATION_ERROR, "Block decode failed");
    let text = get_str(value)?;
    if !is_hex(text) {
        return Err(failed());
    }
    decode::block(&hex_bytes(text)).ok_or_else(failed)
}

/// Core's `DecodeHexBlockHeader` (`submitheader`): hex, then an 80-byte
/// header (bytes after it are ignored). Error (-22): "Block header decode
/// failed".
pub fn decode_hex_block_header(value: &Value) -> Result<Header, ParamError> {
    let failed = || ParamError::new(RPC_DESERIALIZATION_ERROR, "Block header decode failed");
    let text = get_str(value)?;
    if !is_hex(text) {
        return Err(failed());
    }
    let bytes = hex_bytes(text);
    bitcoin::consensus::deserialize_partial::<Header>(&bytes)
        .map(|(header, _)| header)
        .map_err(|_| failed())
}
