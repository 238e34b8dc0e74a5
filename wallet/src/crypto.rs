//! Passphrase encryption of the wallet's private keys.
//!
//! As Bitcoin Core: a random 32-byte master key encrypts every secret; the
//! master key itself is stored encrypted under a key derived from the
//! passphrase. The derivation is Core's (`BytesToKeySHA512AES`: SHA-512 of
//! passphrase and an 8-byte salt, iterated; the round count calibrated to
//! about 100 ms, at least 25,000). The cipher differs: AES-256-GCM
//! (authenticated) instead of Core's AES-256-CBC, so a wrong passphrase or
//! a tampered record is detected by the tag rather than by checking a
//! decrypted key against its public key. Each encryption has its own random
//! 96-bit nonce, stored before the ciphertext.

use std::time::Instant;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use bitcoin::hashes::{sha512, Hash, HashEngine};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// Core's minimum round count (`CMasterKey`'s default).
pub const MIN_ROUNDS: u32 = 25_000;
/// Calibration target: Core aims at 100 ms of derivation.
const TARGET_MS: f64 = 100.0;
const NONCE_LEN: usize = 12;

/// How a passphrase becomes a key: Core's salt and round count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Random salt.
    pub salt: [u8; 8],
    /// SHA-512 iterations.
    pub rounds: u32,
}

/// The master key, encrypted under the passphrase's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterKeyRecord {
    /// Derivation parameters.
    pub kdf: KdfParams,
    /// `nonce || ciphertext || tag` of the 32-byte master key.
    pub sealed: Vec<u8>,
}

/// A 32-byte symmetric key.
pub type Key = [u8; 32];

/// Core's `BytesToKeySHA512AES` key part: SHA-512(passphrase || salt),
/// then `rounds - 1` more SHA-512s; the first 32 bytes.
pub fn derive_key(passphrase: &[u8], params: &KdfParams) -> Key {
    let mut engine = sha512::Hash::engine();
    engine.input(passphrase);
    engine.input(&params.salt);
    let mut buf = sha512::Hash::from_engine(engine).to_byte_array();
    for _ in 1..params.rounds.max(1) {
        buf = sha512::Hash::hash(&buf).to_byte_array();
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&buf[..32]);
    key
}

/// Core's calibration: time 25,000 rounds and scale to about 100 ms, at
/// least [`MIN_ROUNDS`]. `min_rounds` raises the floor... or lowers it for
/// tests that must not spend 100 ms per unlock.
pub fn calibrate(min_rounds: u32) -> u32 {
    let probe = KdfParams {
        salt: [0; 8],
        rounds: MIN_ROUNDS,
    };
    let start = Instant::now();
    derive_key(b"calibration", &probe);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let scaled = if ms > 0.0 {
        (f64::from(MIN_ROUNDS) * TARGET_MS / ms) as u32
    } else {
        MIN_ROUNDS
    };
    scaled.max(min_rounds)
}

/// Random bytes from the OS-seeded thread generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// Encrypts `plain` under `key`; `aad` is authenticated, not encrypted
/// (the record's database key, so records can't be swapped).
pub fn seal(key: &Key, plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(&(*key).into());
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
    let nonce = Nonce::from(nonce_bytes);
    // Encryption of an in-memory message under a valid key cannot fail
    // (the only error is a message longer than GCM's 64 GiB limit).
    let ct = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ct);
    out
}

/// Decrypts what [`seal`] wrote; `None` when the key is wrong or the bytes
/// were altered.
pub fn open(key: &Key, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce_bytes, ct) = sealed.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce_bytes);
    let cipher = Aes256Gcm::new(&(*key).into());
    cipher
        .decrypt(&Nonce::from(n), Payload { msg: ct, aad })
        .ok()
}

/// A new master key and its record under `passphrase`.
pub fn new_master_key(passphrase: &str, rounds: u32) -> (Key, MasterKeyRecord) {
    let master: Key = random_bytes();
    let kdf = KdfParams {
        salt: random_bytes(),
        rounds,
    };
    let kek = derive_key(passphrase.as_bytes(), &kdf);
    let sealed = seal(&kek, &master, b"mkey");
    (master, MasterKeyRecord { kdf, sealed })
}

/// The master key, if `passphrase` is right.
pub fn unlock_master_key(passphrase: &str, record: &MasterKeyRecord) -> Option<Key> {
    let kek = derive_key(passphrase.as_bytes(), &record.kdf);
    let plain = open(&kek, &record.sealed, b"mkey")?;
    plain.try_into().ok()
}

/// The same master key under a new passphrase.
pub fn rewrap_master_key(master: &Key, passphrase: &str, rounds: u32) -> MasterKeyRecord {
    let kdf = KdfParams {
        salt: random_bytes(),
        rounds,
    };
    let kek = derive_key(passphrase.as_bytes(), &kdf);
    MasterKeyRecord {
        kdf,
        sealed: seal(&kek, master, b"mkey"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let (master, rec) = new_master_key("pass", 1000);
        assert_eq!(unlock_master_key("pass", &rec), Some(master));
        assert_eq!(unlock_master_key("wrong", &rec), None);
        let sealed = seal(&master, b"secret", b"d1");
        assert_eq!(
            open(&master, &sealed, b"d1").as_deref(),
            Some(&b"secret"[..])
        );
        assert_eq!(open(&master, &sealed, b"d2"), None);
        let mut bad = sealed.clone();
        bad[15] ^= 1;
        assert_eq!(open(&master, &bad, b"d1"), None);
        assert_eq!(open(&master, &[1, 2], b"d1"), None);
    }
}
