//! The history's keys: a pool of key pairs that own everything that is not
//! the wallet's (so every input can carry a real signature), and the
//! wallet's BIP84 descriptor with its derived scripts.

use anyhow::{Context, Result};
use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv, Xpub};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::key::{Keypair, TapTweak, TweakedKeypair};
use bitcoin::secp256k1::{All, PublicKey, Secp256k1, SecretKey};
use bitcoin::{CompressedPublicKey, NetworkKind, ScriptBuf};

/// The script types of the history's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    P2wpkh = 0,
    P2tr = 1,
    P2pkh = 2,
}

impl Kind {
    /// A random kind with a mainnet-like mix: 55% P2WPKH, 25% P2TR, 20%
    /// P2PKH.
    pub fn pick(r: u64) -> Kind {
        match r % 100 {
            0..=54 => Kind::P2wpkh,
            55..=79 => Kind::P2tr,
            _ => Kind::P2pkh,
        }
    }

    /// Virtual size (x4) of an input spending this kind, with the largest
    /// ECDSA signature (72 bytes of DER and the sighash byte): what the fee
    /// is computed from, so the real fee rate is at least the nominal one.
    pub fn input_vbytes_x4(self) -> u64 {
        match self {
            // outpoint 36 + empty scriptSig 1 + sequence 4 = 41 (x4), witness
            // count 1 + sig 1+73 + key 1+33 = 109.
            Kind::P2wpkh => 41 * 4 + 109,
            // witness count 1 + sig 1+64.
            Kind::P2tr => 41 * 4 + 66,
            // scriptSig 1 + 1+73 + 1+33 = 109 bytes, so 40 + 109 = 149.
            Kind::P2pkh => 149 * 4,
        }
    }

    /// Virtual size (x4) of an output of this kind.
    pub fn output_vbytes_x4(self) -> u64 {
        4 * match self {
            Kind::P2wpkh => 31,
            Kind::P2tr => 43,
            Kind::P2pkh => 34,
        }
    }
}

/// One key of the pool, with its three output scripts.
pub struct PoolKey {
    pub secret: SecretKey,
    pub public: PublicKey,
    /// The BIP86 key-path tweaked pair (for P2TR spends).
    pub tweaked: TweakedKeypair,
    pub p2wpkh: ScriptBuf,
    pub p2tr: ScriptBuf,
    pub p2pkh: ScriptBuf,
}

impl PoolKey {
    /// The output script of `kind` for this key.
    pub fn script(&self, kind: Kind) -> &ScriptBuf {
        match kind {
            Kind::P2wpkh => &self.p2wpkh,
            Kind::P2tr => &self.p2tr,
            Kind::P2pkh => &self.p2pkh,
        }
    }
}

/// `count` key pairs derived from `seed` (SHA256 of a tag, the seed and the
/// index; the rare hash that is not a valid key is skipped).
pub fn pool_keys(secp: &Secp256k1<All>, seed: u64, count: usize) -> Vec<PoolKey> {
    let mut keys = Vec::with_capacity(count);
    let mut n: u64 = 0;
    while keys.len() < count {
        let mut pre = b"system-bench pool key".to_vec();
        pre.extend_from_slice(&seed.to_le_bytes());
        pre.extend_from_slice(&n.to_le_bytes());
        n += 1;
        let Ok(secret) = SecretKey::from_slice(sha256::Hash::hash(&pre).as_byte_array()) else {
            continue;
        };
        let public = PublicKey::from_secret_key(secp, &secret);
        let cpk = CompressedPublicKey(public);
        let keypair = Keypair::from_secret_key(secp, &secret);
        let (xonly, _) = keypair.x_only_public_key();
        keys.push(PoolKey {
            secret,
            public,
            tweaked: keypair.tap_tweak(secp, None),
            p2wpkh: ScriptBuf::new_p2wpkh(&cpk.wpubkey_hash()),
            p2tr: ScriptBuf::new_p2tr(secp, xonly, None),
            p2pkh: ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::hash(&cpk.to_bytes())),
        });
    }
    keys
}

/// The wallet: `wpkh(tprv/84h/1h/0h/0/*)` from a master key derived from
/// the seed, and the P2WPKH scripts of its first indexes.
pub struct WalletKeys {
    /// The descriptor with its checksum (`wpkh(...)#xxxxxxxx`).
    pub descriptor: String,
    /// The script of index `i` at `scripts[i]`.
    pub scripts: Vec<ScriptBuf>,
}

/// Derives the wallet's descriptor and its first `count` scripts.
pub fn wallet_keys(secp: &Secp256k1<All>, seed: u64, count: usize) -> Result<WalletKeys> {
    let mut pre = b"system-bench wallet".to_vec();
    pre.extend_from_slice(&seed.to_le_bytes());
    let master = Xpriv::new_master(NetworkKind::Test, sha256::Hash::hash(&pre).as_byte_array())
        .context("wallet master key")?;
    let path: DerivationPath = "m/84h/1h/0h/0".parse().context("derivation path")?;
    let branch = Xpub::from_priv(secp, &master.derive_priv(secp, &path)?);
    let scripts = (0..count as u32)
        .map(|i| {
            let key = branch.derive_pub(secp, &[ChildNumber::Normal { index: i }])?;
            Ok(ScriptBuf::new_p2wpkh(&key.to_pub().wpubkey_hash()))
        })
        .collect::<Result<Vec<_>>>()?;
    let body = format!("wpkh({master}/84h/1h/0h/0/*)");
    let checksum = miniscript::descriptor::checksum::desc_checksum(&body)
        .map_err(|e| anyhow::anyhow!("descriptor checksum: {e}"))?;
    Ok(WalletKeys {
        descriptor: format!("{body}#{checksum}"),
        scripts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_scripts_match_the_descriptor() {
        use miniscript::descriptor::{Descriptor, DescriptorPublicKey};
        let secp = Secp256k1::new();
        let w = wallet_keys(&secp, 42, 5).unwrap();
        let (desc, _) =
            Descriptor::<DescriptorPublicKey>::parse_descriptor(&secp, &w.descriptor).unwrap();
        for (i, s) in w.scripts.iter().enumerate() {
            let d = desc.at_derivation_index(i as u32).unwrap();
            assert_eq!(&d.script_pubkey(), s, "index {i}");
        }
        assert!(w.descriptor.starts_with("wpkh(tprv"));
    }

    #[test]
    fn pool_keys_are_deterministic() {
        let secp = Secp256k1::new();
        let a = pool_keys(&secp, 1, 3);
        let b = pool_keys(&secp, 1, 3);
        assert_eq!(a[2].p2tr, b[2].p2tr);
        assert_ne!(a[0].p2wpkh, a[1].p2wpkh);
    }
}
