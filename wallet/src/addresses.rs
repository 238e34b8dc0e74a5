//! Handing out addresses (Core's `GetNewDestination`), labels, and
//! `getaddressinfo`.

use bitcoin::hex::DisplayHex;
use bitcoin::{Address, Network, ScriptBuf};
use serde_json::{Map, Value};

use miniscript::ForEachKey;

use crate::error::WalletError;
use crate::index::ScriptOrigin;
use crate::output_type::OutputType;
use crate::store::Batch;
use crate::wallet::Wallet;

/// Core's `DecodeDestination` + `IsValidDestination` for `network`.
pub fn parse_address(text: &str, network: Network) -> Option<Address> {
    text.parse::<Address<bitcoin::address::NetworkUnchecked>>()
        .ok()?
        .require_network(network)
        .ok()
}

impl Wallet {
    /// Whether the wallet can hand out addresses (Core's
    /// `CanGetAddresses`): some active descriptor of the branch.
    pub fn can_get_addresses(&self, internal: bool) -> bool {
        self.descriptors
            .values()
            .any(|d| d.active && d.internal == internal && d.is_range())
    }

    /// `getnewaddress`: the next receive address of type `ty` (the
    /// default type when `None`), with `label`. The descriptor's new next
    /// index and the label are on disk before the address is returned.
    pub fn get_new_address(
        &mut self,
        label: &str,
        ty: Option<OutputType>,
    ) -> Result<Address, WalletError> {
        let ty = ty.unwrap_or(self.options.default_address_type);
        let (script, _) = self.reserve(ty, false)?;
        let mut batch = Batch::default();
        self.labels.insert(script.clone(), label.to_owned());
        batch
            .labels
            .push((script.to_bytes(), Some(label.to_owned())));
        if let Some(origin) = self.scripts.get(script.as_bytes()) {
            self.persist_desc(origin.desc, &mut batch);
        }
        self.commit(&batch, true)?;
        self.address_of(&script)
    }

    /// `getrawchangeaddress`: the next change address of type `ty`.
    pub fn get_raw_change_address(
        &mut self,
        ty: Option<OutputType>,
    ) -> Result<Address, WalletError> {
        let ty = ty.unwrap_or(self.options.default_address_type);
        let (script, origin) = self.reserve(ty, true)?;
        let mut batch = Batch::default();
        self.persist_desc(origin.desc, &mut batch);
        self.commit(&batch, true)?;
        self.address_of(&script)
    }

    /// The address of a script on the wallet's network.
    pub fn address_of(&self, script: &ScriptBuf) -> Result<Address, WalletError> {
        Address::from_script(script, self.options.network)
            .map_err(|e| WalletError::Other(e.to_string()))
    }

    /// Takes the next index of the active `(ty, internal)` descriptor
    /// (topping up the keypool). The caller persists the descriptor.
    pub(crate) fn reserve(
        &mut self,
        ty: OutputType,
        internal: bool,
    ) -> Result<(ScriptBuf, ScriptOrigin), WalletError> {
        let (script, origin) = self.peek(ty, internal)?;
        if let Some(d) = self.descriptors.get_mut(&origin.desc) {
            d.next_index = origin.index + 1;
        }
        self.top_up(origin.desc)?;
        Ok((script, origin))
    }

    /// The next script of the active `(ty, internal)` descriptor, without
    /// taking it.
    pub(crate) fn peek(
        &mut self,
        ty: OutputType,
        internal: bool,
    ) -> Result<(ScriptBuf, ScriptOrigin), WalletError> {
        let id = self
            .active_descriptor(ty, internal)
            .map(|d| d.id)
            .ok_or_else(|| {
                WalletError::Other(format!("Error: No {} addresses available.", ty.name()))
            })?;
        self.top_up(id)?;
        let d = self
            .descriptors
            .get(&id)
            .ok_or_else(|| WalletError::Other("No addresses available".into()))?;
        if !d.is_range() || d.next_index >= d.range_end {
            return Err(WalletError::Other("No addresses available".into()));
        }
        let index = d.next_index;
        Ok((d.script_at(index)?, ScriptOrigin { desc: id, index }))
    }

    /// Core 28's `getaddressinfo` object for `address`.
    pub fn address_info(&self, address: &Address) -> Value {
        let script = address.script_pubkey();
        let origin = self.scripts.get(script.as_bytes());
        let desc = origin.and_then(|o| self.descriptors.get(&o.desc));
        let mut ret = Map::new();
        ret.insert("address".into(), address.to_string().into());
        ret.insert(
            "scriptPubKey".into(),
            script.as_bytes().to_lower_hex_string().into(),
        );
        ret.insert("ismine".into(), origin.is_some().into());
        ret.insert("solvable".into(), origin.is_some().into());
        if let (Some(o), Some(d)) = (origin, desc) {
            ret.insert(
                "desc".into(),
                d.inferred_string(o.index, self.options.network).into(),
            );
            ret.insert("parent_desc".into(), d.public_string().into());
        }
        ret.insert("iswatchonly".into(), false.into());
        let pubkey = origin.and_then(|o| self.pubkey_of(o));
        let witness = script.witness_version();
        if script.is_p2sh() {
            ret.insert("isscript".into(), true.into());
            ret.insert("iswitness".into(), false.into());
            if let (Some(pk), true) = (pubkey, origin.is_some()) {
                let inner =
                    ScriptBuf::new_p2wpkh(&bitcoin::key::CompressedPublicKey(pk).wpubkey_hash());
                ret.insert("script".into(), "witness_v0_keyhash".into());
                ret.insert("hex".into(), inner.as_bytes().to_lower_hex_string().into());
                ret.insert("pubkey".into(), pk.serialize().to_lower_hex_string().into());
                let mut sub = Map::new();
                sub.insert("isscript".into(), false.into());
                sub.insert("iswitness".into(), true.into());
                sub.insert("witness_version".into(), 0.into());
                sub.insert(
                    "witness_program".into(),
                    inner.as_bytes()[2..].to_lower_hex_string().into(),
                );
                sub.insert("pubkey".into(), pk.serialize().to_lower_hex_string().into());
                sub.insert("iscompressed".into(), true.into());
                if let Ok(a) = Address::from_script(&inner, self.options.network) {
                    sub.insert("address".into(), a.to_string().into());
                }
                sub.insert(
                    "scriptPubKey".into(),
                    inner.as_bytes().to_lower_hex_string().into(),
                );
                ret.insert("embedded".into(), Value::Object(sub));
            }
        } else if let Some(v) = witness {
            ret.insert(
                "isscript".into(),
                (script.is_p2wsh() || script.is_p2tr()).into(),
            );
            ret.insert("iswitness".into(), true.into());
            ret.insert("witness_version".into(), v.to_num().into());
            ret.insert(
                "witness_program".into(),
                script.as_bytes()[2..].to_lower_hex_string().into(),
            );
            if script.is_p2wpkh() {
                if let Some(pk) = pubkey {
                    ret.insert("pubkey".into(), pk.serialize().to_lower_hex_string().into());
                    ret.insert("iscompressed".into(), true.into());
                }
            }
        } else {
            ret.insert("isscript".into(), false.into());
            ret.insert("iswitness".into(), false.into());
            if let Some(pk) = pubkey {
                ret.insert("pubkey".into(), pk.serialize().to_lower_hex_string().into());
                ret.insert("iscompressed".into(), true.into());
            }
        }
        ret.insert("ischange".into(), self.is_change(&script).into());
        if let (Some(o), Some(d)) = (origin, desc) {
            ret.insert("timestamp".into(), d.timestamp.into());
            if let Some((fp, path)) = self.key_origin(o) {
                ret.insert("hdkeypath".into(), path.into());
                ret.insert("hdseedid".into(), "0".repeat(40).into());
                ret.insert("hdmasterfingerprint".into(), fp.into());
            }
        }
        let labels: Vec<Value> = self
            .labels
            .get(&script)
            .map(|l| vec![Value::from(l.clone())])
            .unwrap_or_default();
        ret.insert("labels".into(), Value::Array(labels));
        Value::Object(ret)
    }

    /// The single public key behind a wallet script (single-key
    /// descriptors).
    pub(crate) fn pubkey_of(&self, origin: ScriptOrigin) -> Option<bitcoin::secp256k1::PublicKey> {
        let d = self.descriptors.get(&origin.desc)?;
        let definite = d.definite(origin.index).ok()?;
        let mut found = None;
        definite.for_each_key(|k| {
            if found.is_none() {
                found = k.derive_public_key(crate::descriptor::secp()).ok();
            }
            true
        });
        found.map(|pk| pk.inner)
    }

    /// `(fingerprint hex, "m/84h/1h/0h/0/5")` of a single-key script.
    pub(crate) fn key_origin(&self, origin: ScriptOrigin) -> Option<(String, String)> {
        let d = self.descriptors.get(&origin.desc)?;
        let definite = d.definite(origin.index).ok()?;
        let mut out = None;
        definite.for_each_key(|k| {
            if out.is_none() {
                let fp = k.master_fingerprint();
                if let Some(path) = k.full_derivation_path() {
                    let mut s = String::from("m");
                    for c in path.into_iter() {
                        match c {
                            bitcoin::bip32::ChildNumber::Normal { index } => {
                                s.push_str(&format!("/{index}"))
                            }
                            bitcoin::bip32::ChildNumber::Hardened { index } => {
                                s.push_str(&format!("/{index}h"))
                            }
                        }
                    }
                    out = Some((fp.to_string(), s));
                }
            }
            true
        });
        out
    }
}
