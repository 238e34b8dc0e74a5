//! The wallet's private keys, per descriptor, in clear or encrypted
//! (Core's `DescriptorScriptPubKeyMan` keys and crypted keys, and the
//! wallet's lock state).

use std::collections::HashMap;

use miniscript::descriptor::KeyMap;

use crate::crypto::{self, Key, MasterKeyRecord};
use crate::descriptor;
use crate::error::WalletError;
use crate::records::SecretRecord;

/// The additional data a sealed secret is bound to: its descriptor id.
fn aad(id: u32) -> [u8; 8] {
    let mut out = *b"desc\0\0\0\0";
    out[4..].copy_from_slice(&id.to_le_bytes());
    out
}

/// Private keys of the wallet's descriptors.
#[derive(Default)]
pub struct KeyStore {
    /// The encrypted master key: `Some` for an encrypted wallet.
    master: Option<MasterKeyRecord>,
    /// Sealed private descriptors (encrypted wallets).
    sealed: HashMap<u32, Vec<u8>>,
    /// Usable keys: always for an unencrypted wallet, while unlocked for
    /// an encrypted one.
    keys: HashMap<u32, KeyMap>,
    /// The master key and when it is forgotten (unix seconds).
    unlocked: Option<(Key, u64)>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("encrypted", &self.master.is_some())
            .field("descriptors", &self.keys.len().max(self.sealed.len()))
            .field("unlocked", &self.unlocked.is_some())
            .finish()
    }
}

fn parse_secret(text: &str) -> Result<KeyMap, WalletError> {
    let (_, keys, _) = descriptor::parse(text, false)?;
    Ok(keys)
}

impl KeyStore {
    /// Keys loaded from the file.
    pub fn load(
        master: Option<MasterKeyRecord>,
        secrets: Vec<(u32, SecretRecord)>,
    ) -> Result<KeyStore, WalletError> {
        let mut store = KeyStore {
            master,
            ..KeyStore::default()
        };
        for (id, rec) in secrets {
            match rec {
                SecretRecord::Plain(text) => {
                    store.keys.insert(id, parse_secret(&text)?);
                }
                SecretRecord::Sealed(bytes) => {
                    store.sealed.insert(id, bytes);
                }
            }
        }
        Ok(store)
    }

    /// Whether the wallet is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.master.is_some()
    }

    /// Whether keys are out of reach at `now` (an encrypted wallet whose
    /// unlock timed out is locked here).
    pub fn is_locked(&mut self, now: u64) -> bool {
        if self.master.is_none() {
            return false;
        }
        match self.unlocked {
            Some((_, until)) if now < until => false,
            Some(_) => {
                self.lock();
                true
            }
            None => true,
        }
    }

    /// Core's `unlocked_until`: 0 when locked.
    pub fn unlocked_until(&mut self, now: u64) -> u64 {
        if self.is_locked(now) {
            0
        } else {
            self.unlocked.map(|(_, t)| t).unwrap_or(0)
        }
    }

    /// Unlocks until `until` (unix seconds).
    pub fn unlock(&mut self, passphrase: &str, until: u64) -> Result<(), WalletError> {
        let record = self.master.as_ref().ok_or_else(|| {
            WalletError::WrongEncryptionState(
                "Error: running with an unencrypted wallet, but walletpassphrase was called."
                    .into(),
            )
        })?;
        let master =
            crypto::unlock_master_key(passphrase, record).ok_or(WalletError::WrongPassphrase)?;
        let mut keys = HashMap::new();
        for (id, sealed) in &self.sealed {
            let plain = crypto::open(&master, sealed, &aad(*id)).ok_or_else(|| {
                WalletError::Other(format!("Error: descriptor {id}'s keys do not decrypt"))
            })?;
            let text = String::from_utf8(plain)
                .map_err(|_| WalletError::Other("Error: corrupt encrypted key".into()))?;
            keys.insert(*id, parse_secret(&text)?);
        }
        self.keys = keys;
        self.unlocked = Some((master, until));
        Ok(())
    }

    /// Forgets the master key and the decrypted keys.
    pub fn lock(&mut self) {
        if self.master.is_some() {
            self.unlocked = None;
            self.keys.clear();
        }
    }

    /// The keys of every descriptor, or [`WalletError::Locked`].
    pub fn all(&mut self, now: u64) -> Result<&HashMap<u32, KeyMap>, WalletError> {
        if self.is_locked(now) {
            return Err(WalletError::Locked);
        }
        Ok(&self.keys)
    }

    /// Whether descriptor `id` has private keys (known even when locked).
    pub fn has_keys(&self, id: u32) -> bool {
        self.keys.get(&id).is_some_and(|k| !k.is_empty()) || self.sealed.contains_key(&id)
    }

    /// Adds descriptor `id`'s keys; returns the record to store. An
    /// encrypted wallet must be unlocked.
    pub fn add(
        &mut self,
        id: u32,
        keys: KeyMap,
        private_text: &str,
        now: u64,
    ) -> Result<SecretRecord, WalletError> {
        if self.master.is_some() {
            if self.is_locked(now) {
                return Err(WalletError::Locked);
            }
            let (master, _) = self.unlocked.ok_or(WalletError::Locked)?;
            let sealed = crypto::seal(&master, private_text.as_bytes(), &aad(id));
            self.sealed.insert(id, sealed.clone());
            self.keys.insert(id, keys);
            Ok(SecretRecord::Sealed(sealed))
        } else {
            self.keys.insert(id, keys);
            Ok(SecretRecord::Plain(private_text.to_owned()))
        }
    }

    /// Encrypts every key under a new master key wrapped by `passphrase`.
    /// `texts` are the private descriptor strings by id. Returns the
    /// master key record and the sealed records; the store is locked after.
    pub fn encrypt(
        &mut self,
        passphrase: &str,
        rounds: u32,
        texts: &HashMap<u32, String>,
    ) -> Result<(MasterKeyRecord, Vec<(u32, SecretRecord)>), WalletError> {
        if self.master.is_some() {
            return Err(WalletError::WrongEncryptionState(
                "Error: running with an encrypted wallet, but encryptwallet was called.".into(),
            ));
        }
        let (master, record) = crypto::new_master_key(passphrase, rounds);
        let mut out = Vec::new();
        let mut sealed = HashMap::new();
        for (id, text) in texts {
            let s = crypto::seal(&master, text.as_bytes(), &aad(*id));
            sealed.insert(*id, s.clone());
            out.push((*id, SecretRecord::Sealed(s)));
        }
        self.sealed = sealed;
        self.master = Some(record.clone());
        self.lock();
        Ok((record, out))
    }

    /// The master key under a new passphrase (Core's
    /// `walletpassphrasechange`).
    pub fn change_passphrase(
        &mut self,
        old: &str,
        new: &str,
        rounds: u32,
    ) -> Result<MasterKeyRecord, WalletError> {
        let record = self.master.as_ref().ok_or_else(|| {
            WalletError::WrongEncryptionState(
                "Error: running with an unencrypted wallet, but walletpassphrasechange was called."
                    .into(),
            )
        })?;
        let master = crypto::unlock_master_key(old, record).ok_or(WalletError::WrongPassphrase)?;
        let rec = crypto::rewrap_master_key(&master, new, rounds);
        self.master = Some(rec.clone());
        Ok(rec)
    }
}
