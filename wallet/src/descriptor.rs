//! The wallet's descriptors (Core's `WalletDescriptor` with its
//! `DescriptorScriptPubKeyMan` range): parsing with checksum checks, the
//! default BIP44/49/84/86 set, deriving scripts, and their strings in
//! Core's notation (hardened steps written `h`).

use std::sync::OnceLock;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::hex::DisplayHex;
use bitcoin::key::CompressedPublicKey;
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{Network, PublicKey, ScriptBuf, XOnlyPublicKey};
use btc_core::json::descriptor::{add_checksum, checksum};
use miniscript::descriptor::{
    DefiniteDescriptorKey, DescriptorPublicKey, KeyMap, ShInner, Wildcard,
};
use miniscript::Descriptor;

use crate::error::WalletError;
use crate::output_type::OutputType;

/// The process's secp256k1 context (signing and verification).
pub fn secp() -> &'static Secp256k1<All> {
    static SECP: OnceLock<Secp256k1<All>> = OnceLock::new();
    SECP.get_or_init(Secp256k1::new)
}

/// Why a descriptor string was refused, with Core's messages where Core
/// has one (`Missing checksum`, `Provided checksum ... does not match`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DescriptorError(pub String);

impl From<DescriptorError> for WalletError {
    fn from(e: DescriptorError) -> WalletError {
        WalletError::Descriptor(e.0)
    }
}

/// Core's `Parse(desc, keys, error, require_checksum)`: checks the
/// checksum (required or optional) and parses the descriptor, splitting
/// off any private keys. Returns the descriptor, its private keys and
/// whether hardened steps were written with an apostrophe.
pub fn parse(
    text: &str,
    require_checksum: bool,
) -> Result<(Descriptor<DescriptorPublicKey>, KeyMap, bool), DescriptorError> {
    let (body, given) = match text.split_once('#') {
        Some((body, sum)) => (body, Some(sum)),
        None => (text, None),
    };
    match given {
        None if require_checksum => return Err(DescriptorError("Missing checksum".into())),
        None => {}
        Some(sum) => {
            if sum.len() != 8 {
                return Err(DescriptorError(format!(
                    "Expected 8 character checksum, not {} characters",
                    sum.len()
                )));
            }
            let computed = checksum(body)
                .ok_or_else(|| DescriptorError("Invalid characters in payload".into()))?;
            if computed != sum {
                return Err(DescriptorError(format!(
                    "Provided checksum '{sum}' does not match computed checksum '{computed}'"
                )));
            }
        }
    }
    let (desc, keys) =
        Descriptor::parse_descriptor(secp(), body).map_err(|e| DescriptorError(e.to_string()))?;
    desc.sanity_check()
        .map_err(|e| DescriptorError(e.to_string()))?;
    Ok((desc, keys, body.contains('\'')))
}

/// Core's string for a descriptor (or private descriptor) written by
/// rust-miniscript: hardened steps as `h` unless `apostrophe`, and a fresh
/// checksum.
pub fn core_string(miniscript_text: &str, apostrophe: bool) -> String {
    let body = miniscript_text
        .split_once('#')
        .map(|(b, _)| b)
        .unwrap_or(miniscript_text);
    // rust-miniscript writes hardened steps as `'` (rust-bitcoin's
    // `ChildNumber` display); no other `'` occurs in a descriptor.
    let body = if apostrophe {
        body.to_owned()
    } else {
        body.replace('\'', "h")
    };
    add_checksum(&body)
}

/// The default descriptor string of Core's `SetupDescriptorGeneration`
/// for `master`: `wpkh(XPRV/84h/1h/0h/0/*)` and the like (coin type 0 on
/// mainnet, 1 elsewhere; branch 1 for change).
pub fn default_descriptor(
    master: &Xpriv,
    output_type: OutputType,
    internal: bool,
    network: Network,
) -> String {
    let coin = if network == Network::Bitcoin { 0 } else { 1 };
    let key = format!(
        "{master}/{}h/{coin}h/0h/{}/*",
        output_type.purpose(),
        u8::from(internal)
    );
    match output_type {
        OutputType::Legacy => format!("pkh({key})"),
        OutputType::P2shSegwit => format!("sh(wpkh({key}))"),
        OutputType::Bech32 => format!("wpkh({key})"),
        OutputType::Bech32m => format!("tr({key})"),
    }
}

/// The script shapes derived without rust-miniscript (one public child
/// derivation per script).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Pkh,
    ShWpkh,
    Wpkh,
    Tr,
}

/// A single-key ranged descriptor: its branch xpub, derived once.
#[derive(Debug, Clone)]
struct FastDerive {
    shape: Shape,
    branch: Xpub,
    /// Origin fingerprint and path up to the branch (for Core's inferred
    /// descriptor strings).
    origin: (Fingerprint, DerivationPath),
}

impl FastDerive {
    fn new(desc: &Descriptor<DescriptorPublicKey>) -> Option<FastDerive> {
        let (shape, key) = match desc {
            Descriptor::Pkh(p) => (Shape::Pkh, p.as_inner()),
            Descriptor::Wpkh(w) => (Shape::Wpkh, w.as_inner()),
            Descriptor::Sh(sh) => match sh.as_inner() {
                ShInner::Wpkh(w) => (Shape::ShWpkh, w.as_inner()),
                _ => return None,
            },
            Descriptor::Tr(tr) if tr.tap_tree().is_none() => (Shape::Tr, tr.internal_key()),
            _ => return None,
        };
        let DescriptorPublicKey::XPub(x) = key else {
            return None;
        };
        if x.wildcard != Wildcard::Unhardened
            || x.derivation_path.into_iter().any(|c| c.is_hardened())
        {
            return None;
        }
        let branch = x.xkey.derive_pub(secp(), &x.derivation_path).ok()?;
        let (fp, base) = match &x.origin {
            Some((fp, path)) => (*fp, path.clone()),
            None => (x.xkey.fingerprint(), DerivationPath::master()),
        };
        let path: DerivationPath = base
            .into_iter()
            .chain(&x.derivation_path)
            .copied()
            .collect();
        Some(FastDerive {
            shape,
            branch,
            origin: (fp, path),
        })
    }

    fn key(&self, index: u32) -> Option<bitcoin::secp256k1::PublicKey> {
        let child = ChildNumber::from_normal_idx(index).ok()?;
        Some(self.branch.ckd_pub(secp(), child).ok()?.public_key)
    }

    fn script(&self, index: u32) -> Option<ScriptBuf> {
        let pk = self.key(index)?;
        Some(match self.shape {
            Shape::Pkh => ScriptBuf::new_p2pkh(&PublicKey::new(pk).pubkey_hash()),
            Shape::Wpkh => ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash()),
            Shape::ShWpkh => {
                let redeem = ScriptBuf::new_p2wpkh(&CompressedPublicKey(pk).wpubkey_hash());
                ScriptBuf::new_p2sh(&redeem.script_hash())
            }
            Shape::Tr => ScriptBuf::new_p2tr(secp(), XOnlyPublicKey::from(pk), None),
        })
    }

    /// Core's inferred descriptor of the script at `index`:
    /// `wpkh([fp/84h/1h/0h/0/5]02..)`, with checksum.
    fn inferred(&self, index: u32) -> Option<String> {
        let pk = self.key(index)?;
        let mut path = format!("{}", self.origin.0);
        for c in self.origin.1.into_iter() {
            path.push_str(&format!("/{}", child_string(*c)));
        }
        path.push_str(&format!("/{index}"));
        let body = match self.shape {
            Shape::Pkh => format!("pkh([{path}]{})", pk.serialize().to_lower_hex_string()),
            Shape::Wpkh => format!("wpkh([{path}]{})", pk.serialize().to_lower_hex_string()),
            Shape::ShWpkh => format!("sh(wpkh([{path}]{}))", pk.serialize().to_lower_hex_string()),
            Shape::Tr => format!(
                "tr([{path}]{})",
                XOnlyPublicKey::from(pk).serialize().to_lower_hex_string()
            ),
        };
        Some(add_checksum(&body))
    }
}

fn child_string(c: ChildNumber) -> String {
    match c {
        ChildNumber::Normal { index } => index.to_string(),
        ChildNumber::Hardened { index } => format!("{index}h"),
    }
}

/// One descriptor of the wallet and its range.
#[derive(Debug, Clone)]
pub struct WalletDescriptor {
    /// Id in this wallet (stable, the database key).
    pub id: u32,
    /// The public descriptor.
    pub desc: Descriptor<DescriptorPublicKey>,
    /// Creation time (unix seconds): where a rescan must start.
    pub timestamp: u64,
    /// First derived index.
    pub range_start: u32,
    /// One past the last derived index (scripts `range_start..range_end`
    /// are in the wallet's script set).
    pub range_end: u32,
    /// The next index to hand out.
    pub next_index: u32,
    /// Whether it is active (hands out addresses of its type).
    pub active: bool,
    /// Whether it is a change (internal) descriptor.
    pub internal: bool,
    /// Whether hardened steps were written `'` (kept on output, as Core).
    pub apostrophe: bool,
    fast: Option<FastDerive>,
}

impl WalletDescriptor {
    /// A descriptor record; `range_end` is where derivation stands.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u32,
        desc: Descriptor<DescriptorPublicKey>,
        timestamp: u64,
        range_start: u32,
        range_end: u32,
        next_index: u32,
        active: bool,
        internal: bool,
        apostrophe: bool,
    ) -> WalletDescriptor {
        let fast = FastDerive::new(&desc);
        WalletDescriptor {
            id,
            desc,
            timestamp,
            range_start,
            range_end,
            next_index,
            active,
            internal,
            apostrophe,
            fast,
        }
    }

    /// Whether it has a wildcard (`/*`).
    pub fn is_range(&self) -> bool {
        self.desc.has_wildcard()
    }

    /// Core's `GetOutputType`.
    pub fn output_type(&self) -> Option<OutputType> {
        match &self.desc {
            Descriptor::Pkh(_) => Some(OutputType::Legacy),
            Descriptor::Wpkh(_) | Descriptor::Wsh(_) => Some(OutputType::Bech32),
            Descriptor::Sh(sh) => match sh.as_inner() {
                ShInner::Wpkh(_) | ShInner::Wsh(_) => Some(OutputType::P2shSegwit),
                _ => Some(OutputType::Legacy),
            },
            Descriptor::Tr(_) => Some(OutputType::Bech32m),
            Descriptor::Bare(_) => None,
        }
    }

    /// The scriptPubKey at `index` (any index for a descriptor without
    /// wildcard gives its one script).
    pub fn script_at(&self, index: u32) -> Result<ScriptBuf, WalletError> {
        if let Some(script) = self.fast.as_ref().and_then(|f| f.script(index)) {
            return Ok(script);
        }
        let definite = self.definite(index)?;
        Ok(definite.script_pubkey())
    }

    /// The descriptor at `index`, every key definite.
    pub fn definite(&self, index: u32) -> Result<Descriptor<DefiniteDescriptorKey>, WalletError> {
        self.desc
            .at_derivation_index(index)
            .map_err(|e| WalletError::Descriptor(e.to_string()))
    }

    /// Core's `desc` of a script this descriptor derived: the inferred
    /// descriptor with key origins (`wpkh([fp/84h/1h/0h/0/5]02..)#..`).
    pub fn inferred_string(&self, index: u32, network: Network) -> String {
        if let Some(s) = self.fast.as_ref().and_then(|f| f.inferred(index)) {
            return s;
        }
        match self.definite(index) {
            Ok(d) => core_string(&d.to_string(), self.apostrophe),
            Err(_) => self
                .script_at(index)
                .map(|s| btc_core::json::descriptor::infer(&s, network, None))
                .unwrap_or_default(),
        }
    }

    /// The public descriptor in Core's notation, with checksum.
    pub fn public_string(&self) -> String {
        core_string(&self.desc.to_string(), self.apostrophe)
    }

    /// The descriptor with its private keys, with checksum.
    pub fn private_string(&self, keys: &KeyMap) -> String {
        core_string(&self.desc.to_string_with_secret(keys), self.apostrophe)
    }

    /// The scripts `from..to` with their indexes.
    pub fn derive_range(&self, from: u32, to: u32) -> Result<Vec<(u32, ScriptBuf)>, WalletError> {
        if !self.is_range() {
            return Ok(vec![(0, self.script_at(0)?)]);
        }
        (from..to).map(|i| Ok((i, self.script_at(i)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn fast_derivation_matches_miniscript() {
        let master = Xpriv::from_str("tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCRUcMRvmDUjyEmNUWwx8UbK").unwrap();
        for ty in OutputType::ALL {
            let text = default_descriptor(&master, ty, false, Network::Regtest);
            let (desc, keys, apos) = parse(&text, false).unwrap();
            assert!(!apos);
            assert_eq!(keys.len(), 1);
            let wd = WalletDescriptor::new(0, desc.clone(), 0, 0, 0, 0, true, false, false);
            assert!(wd.fast.is_some());
            for i in [0u32, 1, 77] {
                let slow = desc.at_derivation_index(i).unwrap().script_pubkey();
                assert_eq!(wd.script_at(i).unwrap(), slow, "{ty:?} {i}");
            }
            assert!(wd.public_string().contains("h/1h/0h]tpub"));
            assert!(wd.private_string(&keys).starts_with(match ty {
                OutputType::Legacy => "pkh(tprv",
                OutputType::P2shSegwit => "sh(wpkh(tprv",
                OutputType::Bech32 => "wpkh(tprv",
                OutputType::Bech32m => "tr(tprv",
            }));
        }
    }

    #[test]
    fn checksums() {
        let d = "wpkh(02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9)";
        assert_eq!(parse(d, true).unwrap_err().0, "Missing checksum");
        let good = add_checksum(d);
        assert!(parse(&good, true).is_ok());
        let mut bad = good.clone();
        let last = bad.pop().unwrap();
        bad.push(if last == 'q' { 'p' } else { 'q' });
        assert!(parse(&bad, true)
            .unwrap_err()
            .0
            .starts_with("Provided checksum"));
    }
}
