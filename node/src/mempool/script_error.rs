//! The text inside Core's `mandatory-script-verify-flag-failed (...)`.
//!
//! The consensus library says only that a script failed (`ERR_SCRIPT`),
//! not why, so [`describe_failure`] reproduces Core's `ScriptErrorString`
//! for the common single-key spends (P2PKH, P2WPKH, P2SH-P2WPKH, taproot
//! key path) by inspecting the spend, and falls back to Core's
//! "false/empty top stack element" text for everything else. Core runs the
//! policy flags first (NULLFAIL, LOW_S, ...) and reports their error, which
//! is why a wrong ECDSA signature reads "Signature must be zero for failed
//! CHECK(MULTI)SIG operation".

use bitcoin::hashes::{hash160, Hash};
use bitcoin::TxIn;

use super::script;

const EVAL_FALSE: &str =
    "Script evaluated without error but finished with a false/empty top stack element";
const EQUALVERIFY: &str = "Script failed an OP_EQUALVERIFY operation";
const NULLFAIL: &str = "Signature must be zero for failed CHECK(MULTI)SIG operation";
const SCHNORR_SIG: &str = "Invalid Schnorr signature";
const SCHNORR_SIG_SIZE: &str = "Invalid Schnorr signature size";
const WITNESS_MISMATCH: &str = "Witness program hash mismatch";
const WITNESS_EMPTY: &str = "Witness program was passed an empty witness";
const WITNESS_UNEXPECTED: &str = "Witness provided for non-witness script";

/// Core's script error text for a failed spend of `spk` by `input`
/// (best effort, see the module documentation).
pub fn describe_failure(input: &TxIn, spk: &[u8]) -> &'static str {
    let witness: Vec<&[u8]> = input.witness.iter().collect();
    let sig_pushes = script::eval_pushes(input.script_sig.as_bytes());
    let mut program_script = spk.to_vec();
    if script::is_p2sh(spk) {
        match sig_pushes.as_ref().and_then(|s| s.last()) {
            Some(redeem) if script::witness_program(redeem).is_some() => {
                program_script = redeem.clone()
            }
            _ => return EVAL_FALSE,
        }
    }
    match script::witness_program(&program_script) {
        Some((0, program)) if program.len() == 20 => {
            if witness.is_empty() {
                return WITNESS_EMPTY;
            }
            if witness.len() != 2 {
                return WITNESS_MISMATCH;
            }
            single_key(witness[0], witness[1], program)
        }
        Some((1, _)) if !script::is_p2sh(spk) => {
            let mut stack = &witness[..];
            if stack.len() >= 2 && stack.last().is_some_and(|a| a.first() == Some(&0x50)) {
                stack = &stack[..stack.len() - 1];
            }
            match stack {
                [] => WITNESS_EMPTY,
                [sig] if sig.len() == 64 || sig.len() == 65 => SCHNORR_SIG,
                [_] => SCHNORR_SIG_SIZE,
                _ => EVAL_FALSE,
            }
        }
        Some(_) => EVAL_FALSE,
        None => {
            if !witness.is_empty() {
                return WITNESS_UNEXPECTED;
            }
            match (script::solve(spk), sig_pushes.as_deref()) {
                (script::TxoutType::PubKeyHash, Some([sig, pubkey])) => {
                    single_key(sig, pubkey, &spk[3..23])
                }
                (script::TxoutType::PubKey, Some([sig])) if !sig.is_empty() => NULLFAIL,
                _ => EVAL_FALSE,
            }
        }
    }
}

/// `DUP HASH160 <hash> EQUALVERIFY CHECKSIG` run on `[sig, pubkey]`.
fn single_key(sig: &[u8], pubkey: &[u8], hash: &[u8]) -> &'static str {
    if hash160::Hash::hash(pubkey).as_byte_array()[..] != *hash {
        EQUALVERIFY
    } else if sig.is_empty() {
        EVAL_FALSE
    } else {
        NULLFAIL
    }
}
