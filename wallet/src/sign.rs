//! Signing through PSBTs: the wallet fills in what it knows about its
//! inputs (UTXOs, scripts, key origins, via rust-miniscript's
//! `update_input_with_descriptor`), signs with its keys (ECDSA with
//! low-R grinding as Core, BIP340 Schnorr for taproot key paths, sighashes
//! from `SighashCache`) and finalizes with rust-miniscript.

use std::collections::HashMap;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, Message, PublicKey, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{OutPoint, Transaction, TxOut, Witness};
use miniscript::descriptor::{DescriptorSecretKey, KeyMap};
use miniscript::psbt::PsbtExt;

use crate::descriptor::secp;
use crate::error::WalletError;
use crate::wallet::Wallet;

/// The private key behind `want` at `(fingerprint, path)` among `keys`.
fn find_secret(
    keys: &HashMap<u32, KeyMap>,
    fp: Fingerprint,
    path: &DerivationPath,
    want: impl Fn(&PublicKey) -> bool,
) -> Option<SecretKey> {
    for km in keys.values() {
        for sk in km.values() {
            match sk {
                DescriptorSecretKey::XPrv(x) => {
                    let (xfp, base) = match &x.origin {
                        Some((f, p)) => (*f, p.clone()),
                        None => (x.xkey.fingerprint(secp()), DerivationPath::master()),
                    };
                    if xfp != fp {
                        continue;
                    }
                    let full: &[ChildNumber] = path.as_ref();
                    let b: &[ChildNumber] = base.as_ref();
                    if !full.starts_with(b) {
                        continue;
                    }
                    let rest: DerivationPath = full[b.len()..].to_vec().into();
                    let Ok(d) = x.xkey.derive_priv(secp(), &rest) else {
                        continue;
                    };
                    if want(&d.private_key.public_key(secp())) {
                        return Some(d.private_key);
                    }
                }
                DescriptorSecretKey::Single(s) => {
                    if want(&s.key.inner.public_key(secp())) {
                        return Some(s.key.inner);
                    }
                }
                DescriptorSecretKey::MultiXPrv(_) => {}
            }
        }
    }
    None
}

impl Wallet {
    /// The output `outpoint` spends, from the wallet or `extra`.
    fn prevout(&self, outpoint: &OutPoint, extra: &[(OutPoint, TxOut)]) -> Option<TxOut> {
        self.ledger.output(outpoint).cloned().or_else(|| {
            extra
                .iter()
                .find(|(o, _)| o == outpoint)
                .map(|(_, t)| t.clone())
        })
    }

    /// Fills in the UTXOs, scripts and key origins of the wallet's inputs
    /// (and of inputs described by `extra`) and of its outputs.
    pub fn fill_psbt(&self, psbt: &mut Psbt, extra: &[(OutPoint, TxOut)]) {
        for i in 0..psbt.inputs.len() {
            let op = psbt.unsigned_tx.input[i].previous_output;
            if let Some(prev) = self.ledger.get(&op.txid) {
                if psbt.inputs[i].non_witness_utxo.is_none() {
                    psbt.inputs[i].non_witness_utxo = Some(prev.tx.clone());
                }
            }
            let Some(utxo) = self.prevout(&op, extra) else {
                continue;
            };
            if utxo.script_pubkey.witness_version().is_some()
                && psbt.inputs[i].witness_utxo.is_none()
            {
                psbt.inputs[i].witness_utxo = Some(utxo.clone());
            }
            if let Some(origin) = self.scripts.get(utxo.script_pubkey.as_bytes()) {
                if let Some(d) = self.descriptors.get(&origin.desc) {
                    if let Ok(definite) = d.definite(origin.index) {
                        let _ = psbt.update_input_with_descriptor(i, &definite);
                    }
                }
            }
        }
        for i in 0..psbt.outputs.len() {
            let script = psbt.unsigned_tx.output[i].script_pubkey.clone();
            if let Some(origin) = self.scripts.get(script.as_bytes()) {
                if let Some(d) = self.descriptors.get(&origin.desc) {
                    if let Ok(definite) = d.definite(origin.index) {
                        let _ = psbt.update_output_with_descriptor(i, &definite);
                    }
                }
            }
        }
    }

    /// Signs every input of `psbt` the wallet has keys for. Fails with
    /// [`WalletError::Locked`] when encrypted and locked. Returns how many
    /// inputs got a signature.
    #[allow(clippy::needless_range_loop)]
    pub fn sign_psbt(&mut self, psbt: &mut Psbt) -> Result<usize, WalletError> {
        let keys = self.keymaps()?.clone();
        let tx = psbt.unsigned_tx.clone();
        let utxos: Vec<Option<TxOut>> = psbt
            .inputs
            .iter()
            .zip(&tx.input)
            .map(|(inp, txin)| {
                inp.witness_utxo.clone().or_else(|| {
                    inp.non_witness_utxo
                        .as_ref()
                        .and_then(|t| t.output.get(txin.previous_output.vout as usize).cloned())
                })
            })
            .collect();
        let all: Option<Vec<TxOut>> = utxos.iter().cloned().collect();
        let mut cache = SighashCache::new(&tx);
        let mut signed = 0;
        for i in 0..psbt.inputs.len() {
            let Some(utxo) = utxos[i].clone() else {
                continue;
            };
            let input = &mut psbt.inputs[i];
            if input.final_script_sig.is_some() || input.final_script_witness.is_some() {
                continue;
            }
            let spk = utxo.script_pubkey.clone();
            if spk.is_p2tr() {
                let (Some(internal), Some(all)) = (input.tap_internal_key, all.as_ref()) else {
                    continue;
                };
                let Some((_, (fp, path))) = input.tap_key_origins.get(&internal).cloned() else {
                    continue;
                };
                let Some(sk) =
                    find_secret(&keys, fp, &path, |pk| pk.x_only_public_key().0 == internal)
                else {
                    continue;
                };
                let ty = match input.sighash_type {
                    Some(t) => t.taproot_hash_ty().unwrap_or(TapSighashType::Default),
                    None => TapSighashType::Default,
                };
                let Ok(hash) = cache.taproot_key_spend_signature_hash(i, &Prevouts::All(all), ty)
                else {
                    continue;
                };
                let keypair = Keypair::from_secret_key(secp(), &sk);
                let tweaked =
                    bitcoin::key::TapTweak::tap_tweak(keypair, secp(), input.tap_merkle_root);
                let msg = Message::from_digest(hash.to_byte_array());
                let aux: [u8; 32] = crate::crypto::random_bytes();
                let sig = secp().sign_schnorr_with_aux_rand(&msg, &tweaked.to_keypair(), &aux);
                input.tap_key_sig = Some(bitcoin::taproot::Signature {
                    signature: sig,
                    sighash_type: ty,
                });
                signed += 1;
                continue;
            }
            let ty = match input.sighash_type {
                Some(t) => t.ecdsa_hash_ty().unwrap_or(EcdsaSighashType::All),
                None => EcdsaSighashType::All,
            };
            let derivations: Vec<_> = input
                .bip32_derivation
                .iter()
                .map(|(pk, (fp, path))| (*pk, *fp, path.clone()))
                .collect();
            let mut any = false;
            for (pk, fp, path) in derivations {
                if input
                    .partial_sigs
                    .contains_key(&bitcoin::PublicKey::new(pk))
                {
                    continue;
                }
                let Some(sk) = find_secret(&keys, fp, &path, |p| *p == pk) else {
                    continue;
                };
                let hash = if let Some(ws) = &input.witness_script {
                    cache
                        .p2wsh_signature_hash(i, ws, utxo.value, ty)
                        .map(|h| h.to_byte_array())
                        .ok()
                } else if spk.is_p2wpkh() {
                    cache
                        .p2wpkh_signature_hash(i, &spk, utxo.value, ty)
                        .map(|h| h.to_byte_array())
                        .ok()
                } else if let Some(rs) = input.redeem_script.as_ref().filter(|r| r.is_p2wpkh()) {
                    cache
                        .p2wpkh_signature_hash(i, rs, utxo.value, ty)
                        .map(|h| h.to_byte_array())
                        .ok()
                } else {
                    let code = input.redeem_script.clone().unwrap_or_else(|| spk.clone());
                    cache
                        .legacy_signature_hash(i, &code, ty.to_u32())
                        .map(|h| h.to_byte_array())
                        .ok()
                };
                let Some(hash) = hash else { continue };
                let msg = Message::from_digest(hash);
                let sig = secp().sign_ecdsa_low_r(&msg, &sk);
                input.partial_sigs.insert(
                    bitcoin::PublicKey::new(pk),
                    bitcoin::ecdsa::Signature {
                        signature: sig,
                        sighash_type: ty,
                    },
                );
                any = true;
            }
            if any {
                signed += 1;
            }
        }
        Ok(signed)
    }

    /// Finalizes what can be finalized; returns whether every input is.
    pub fn finalize_psbt(psbt: &mut Psbt) -> bool {
        for i in 0..psbt.inputs.len() {
            let inp = &psbt.inputs[i];
            if inp.final_script_sig.is_some() || inp.final_script_witness.is_some() {
                continue;
            }
            let _ = psbt.finalize_inp_mut(secp(), i);
        }
        psbt.inputs
            .iter()
            .all(|i| i.final_script_sig.is_some() || i.final_script_witness.is_some())
    }

    /// The transaction of a PSBT with whatever inputs are final.
    pub fn psbt_transaction(psbt: &Psbt) -> Transaction {
        let mut tx = psbt.unsigned_tx.clone();
        for (txin, inp) in tx.input.iter_mut().zip(&psbt.inputs) {
            if let Some(s) = &inp.final_script_sig {
                txin.script_sig = s.clone();
            }
            if let Some(w) = &inp.final_script_witness {
                txin.witness = w.clone();
            }
        }
        tx
    }

    /// Core's `SignTransaction`: signs the inputs of `tx` the wallet can
    /// (spending its outputs or those in `extra`), keeping the others as
    /// they are. Returns the transaction and whether it is complete.
    pub fn sign_transaction(
        &mut self,
        tx: &Transaction,
        extra: &[(OutPoint, TxOut)],
    ) -> Result<(Transaction, bool), WalletError> {
        let mut unsigned = tx.clone();
        for i in &mut unsigned.input {
            i.script_sig = bitcoin::ScriptBuf::new();
            i.witness = Witness::new();
        }
        let mut psbt =
            Psbt::from_unsigned_tx(unsigned).map_err(|e| WalletError::Other(e.to_string()))?;
        self.fill_psbt(&mut psbt, extra);
        self.sign_psbt(&mut psbt)?;
        Self::finalize_psbt(&mut psbt);
        let mut out = tx.clone();
        let mut complete = true;
        for (i, inp) in psbt.inputs.iter().enumerate() {
            if inp.final_script_sig.is_some() || inp.final_script_witness.is_some() {
                out.input[i].script_sig = inp.final_script_sig.clone().unwrap_or_default();
                out.input[i].witness = inp.final_script_witness.clone().unwrap_or_default();
            } else if out.input[i].script_sig.is_empty() && out.input[i].witness.is_empty() {
                complete = false;
            }
        }
        Ok((out, complete))
    }
}
