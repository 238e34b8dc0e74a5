//! `generatetodescriptor`'s script: Core's `getScriptFromDescriptor`.
//!
//! The checksum is optional but checked when present, with Core's
//! messages. `addr(ADDR)` and `raw(HEX)` are parsed here (rust-miniscript
//! has neither), `combo(KEY)` picks P2WPKH for a compressed key and P2PKH
//! otherwise (Core's choice among combo's scripts), everything else goes
//! through rust-miniscript (`pk`, `pkh`, `wpkh`, `sh(...)`, `wsh(...)`,
//! `tr(...)`, multisig, with public or private keys, WIF or extended).
//! Ranged descriptors are refused as Core refuses them; a hardened step
//! after an xpub cannot be derived ("Cannot derive script without private
//! keys"). Parse errors other than Core's checksum and function-name
//! messages carry rust-miniscript's text.

use std::str::FromStr;

use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, Network, ScriptBuf};
use miniscript::descriptor::checksum::desc_checksum;
use miniscript::descriptor::ConversionError;
use miniscript::{Descriptor, DescriptorPublicKey, ForEachKey};

use super::MiningError;

/// Top-level descriptor functions Core knows.
const FUNCTIONS: [&str; 14] = [
    "sh",
    "wsh",
    "pk",
    "pkh",
    "wpkh",
    "combo",
    "multi",
    "sortedmulti",
    "multi_a",
    "sortedmulti_a",
    "tr",
    "addr",
    "raw",
    "rawtr",
];

fn err(message: impl Into<String>) -> MiningError {
    MiningError::Descriptor(message.into())
}

/// Splits off and checks the checksum (Core's `CheckChecksum` with
/// `require_checksum = false`).
fn strip_checksum(desc: &str) -> Result<&str, MiningError> {
    let mut parts = desc.split('#');
    let body = parts.next().unwrap_or("");
    let given = parts.next();
    if parts.next().is_some() {
        return Err(err("Multiple '#' symbols"));
    }
    if let Some(given) = given {
        if given.len() != 8 {
            return Err(err(format!(
                "Expected 8 character checksum, not {} characters",
                given.len()
            )));
        }
    }
    let computed = desc_checksum(body).map_err(|_| err("Invalid characters in payload"))?;
    if let Some(given) = given {
        if given != computed {
            return Err(err(format!(
                "Provided checksum '{given}' does not match computed checksum '{computed}'"
            )));
        }
    }
    Ok(body)
}

/// `NAME(ARGS)` at the top level.
fn function(body: &str) -> Option<(&str, &str)> {
    let open = body.find('(')?;
    let inner = body[open + 1..].strip_suffix(')')?;
    Some((&body[..open], inner))
}

/// The scriptPubKey `generatetodescriptor` pays to.
pub fn script_for_descriptor(desc: &str, network: Network) -> Result<ScriptBuf, MiningError> {
    let body = strip_checksum(desc)?;
    let (name, inner) = function(body).unwrap_or((body, ""));
    if !FUNCTIONS.contains(&name) {
        return Err(err(format!("'{body}' is not a valid descriptor function")));
    }
    match name {
        "addr" => {
            let address = Address::from_str(inner)
                .ok()
                .and_then(|a| a.require_network(network).ok())
                .ok_or_else(|| err("Address is not valid"))?;
            return Ok(address.script_pubkey());
        }
        "raw" => {
            let bytes = hex_decode(inner).ok_or_else(|| err("Raw script is not hex"))?;
            return Ok(ScriptBuf::from_bytes(bytes));
        }
        "combo" => {
            let pk = miniscript_script(&format!("pk({inner})"))?;
            // `<push key> OP_CHECKSIG`.
            let key = pk
                .as_bytes()
                .get(1..pk.len().saturating_sub(1))
                .unwrap_or(&[]);
            let key = bitcoin::PublicKey::from_slice(key)
                .map_err(|e| err(format!("key '{inner}' is not valid: {e}")))?;
            return Ok(if key.compressed {
                ScriptBuf::new_p2wpkh(
                    &key.wpubkey_hash()
                        .map_err(|e| err(format!("key '{inner}' is not valid: {e}")))?,
                )
            } else {
                ScriptBuf::new_p2pkh(&key.pubkey_hash())
            });
        }
        _ => {}
    }
    miniscript_script(body)
}

/// Parses with rust-miniscript and derives the script at index 0.
fn miniscript_script(body: &str) -> Result<ScriptBuf, MiningError> {
    let secp = Secp256k1::new();
    let (descriptor, _keys) = Descriptor::<DescriptorPublicKey>::parse_descriptor(&secp, body)
        .map_err(|e| err(e.to_string()))?;
    if descriptor.is_multipath() {
        return Err(MiningError::MultipathDescriptor);
    }
    if descriptor.has_wildcard() {
        return Err(MiningError::RangedDescriptor);
    }
    // rust-miniscript panics deriving an xpub with a hardened step (it
    // cannot without the private key): refuse first, as Core does.
    let hardened = descriptor.for_any_key(|key| match key {
        DescriptorPublicKey::XPub(x) => x.derivation_path.into_iter().any(|c| c.is_hardened()),
        _ => false,
    });
    if hardened {
        return Err(MiningError::NoPrivateKeys);
    }
    let definite = descriptor.at_derivation_index(0).map_err(|e| match e {
        ConversionError::HardenedChild => MiningError::NoPrivateKeys,
        other => err(other.to_string()),
    })?;
    Ok(definite.script_pubkey())
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
