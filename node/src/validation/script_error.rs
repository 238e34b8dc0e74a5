//! Which script error Core would report for an input that the consensus
//! library rejected.
//!
//! `libbitcoinconsensus` answers only "the script failed": its C API drops
//! the interpreter's `ScriptError`. Core 28's reject reason carries it
//! (`mandatory-script-verify-flag-failed (<ScriptErrorString>)`), so after a
//! failure [`diagnose`] works it out:
//!
//! 1. flag bisection with the library itself: an input that passes without
//!    DERSIG failed with "Non-canonical DER signature", without NULLDUMMY
//!    with the NULLDUMMY error, and a non-witness spend that passes without
//!    WITNESS carried an unexpected witness;
//! 2. for the standard templates (P2PK, P2PKH, P2SH-wrapped and native
//!    P2WPKH, P2WSH up to its script, P2TR key path and control block),
//!    Core's checks in Core's order: witness shape, hashes, element sizes,
//!    signature encoding. When all of them pass, the library's failure can
//!    only be the signature check, whose error Core knows (false result:
//!    `EVAL_FALSE`; Schnorr: `SCHNORR_SIG`).
//!
//! Anything else (a script-path spend, a non-standard script failing inside
//! its execution) is reported as [`ScriptError::Unknown`], Core's
//! "unknown error" string, rather than guessed.

use bitcoin::hashes::{hash160, sha256, Hash};
use btc_core::archive::TxRef;
use btc_core::script::{SpentOutputs, VerifyFlags};

use super::sigops::{is_p2sh, ops, witness_program};

/// Core's `MAX_SCRIPT_ELEMENT_SIZE`.
const MAX_ELEMENT: usize = 520;
use btc_core::script::MAX_SCRIPT_SIZE;

/// The interpreter errors that [`diagnose`] can tell apart (Core's
/// `ScriptError_t`), with Core's strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScriptError {
    /// `SCRIPT_ERR_UNKNOWN_ERROR`: failed, but not one of the cases
    /// [`diagnose`] recognizes.
    Unknown,
    EvalFalse,
    EqualVerify,
    ScriptSize,
    PushSize,
    InvalidStackOperation,
    SigDer,
    SigNullDummy,
    WitnessProgramWrongLength,
    WitnessProgramWitnessEmpty,
    WitnessProgramMismatch,
    WitnessMalleated,
    WitnessMalleatedP2sh,
    WitnessUnexpected,
    SchnorrSigSize,
    SchnorrSigHashtype,
    SchnorrSig,
    TaprootWrongControlSize,
}

impl ScriptError {
    /// Core's `ScriptErrorString`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScriptError::Unknown => "unknown error",
            ScriptError::EvalFalse => {
                "Script evaluated without error but finished with a false/empty top stack element"
            }
            ScriptError::EqualVerify => "Script failed an OP_EQUALVERIFY operation",
            ScriptError::ScriptSize => "Script is too big",
            ScriptError::PushSize => "Push value size limit exceeded",
            ScriptError::InvalidStackOperation => "Operation not valid with the current stack size",
            ScriptError::SigDer => "Non-canonical DER signature",
            ScriptError::SigNullDummy => "Dummy CHECKMULTISIG argument must be zero",
            ScriptError::WitnessProgramWrongLength => "Witness program has incorrect length",
            ScriptError::WitnessProgramWitnessEmpty => {
                "Witness program was passed an empty witness"
            }
            ScriptError::WitnessProgramMismatch => "Witness program hash mismatch",
            ScriptError::WitnessMalleated => "Witness requires empty scriptSig",
            ScriptError::WitnessMalleatedP2sh => "Witness requires only-redeemscript scriptSig",
            ScriptError::WitnessUnexpected => "Witness provided for non-witness script",
            ScriptError::SchnorrSigSize => "Invalid Schnorr signature size",
            ScriptError::SchnorrSigHashtype => "Invalid Schnorr signature hash type",
            ScriptError::SchnorrSig => "Invalid Schnorr signature",
            ScriptError::TaprootWrongControlSize => "Invalid Taproot control block size",
        }
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Core's `IsValidSignatureEncoding` (strict DER plus a hash type byte).
pub fn is_valid_der(sig: &[u8]) -> bool {
    let n = sig.len();
    if !(9..=73).contains(&n) || sig[0] != 0x30 || usize::from(sig[1]) != n - 3 {
        return false;
    }
    let len_r = usize::from(sig[3]);
    if 5 + len_r >= n {
        return false;
    }
    let len_s = usize::from(sig[5 + len_r]);
    if len_r + len_s + 7 != n || sig[2] != 0x02 || len_r == 0 || sig[4] & 0x80 != 0 {
        return false;
    }
    if len_r > 1 && sig[4] == 0 && sig[5] & 0x80 == 0 {
        return false;
    }
    if sig[len_r + 4] != 0x02 || len_s == 0 || sig[len_r + 6] & 0x80 != 0 {
        return false;
    }
    !(len_s > 1 && sig[len_r + 6] == 0 && sig[len_r + 7] & 0x80 == 0)
}

/// The pushes of a push-only scriptSig, `Err` with Core's error when
/// evaluating it fails before the scriptPubKey runs, `None` when it isn't
/// push-only (its execution isn't modelled).
fn push_stack(script_sig: &[u8]) -> Option<Result<Vec<&[u8]>, ScriptError>> {
    if script_sig.len() > MAX_SCRIPT_SIZE {
        return Some(Err(ScriptError::ScriptSize));
    }
    let mut stack = Vec::new();
    for op in ops(script_sig) {
        let op = op.ok()?;
        match op.opcode {
            0x00..=0x4e => {
                if op.data.len() > MAX_ELEMENT {
                    return Some(Err(ScriptError::PushSize));
                }
                stack.push(op.data);
            }
            // OP_1NEGATE and OP_1..OP_16 push numbers; not modelled.
            _ => return None,
        }
    }
    Some(Ok(stack))
}

/// Core's `CastToBool`.
fn cast_to_bool(v: &[u8]) -> bool {
    match v.split_last() {
        None => false,
        Some((&last, rest)) => rest.iter().any(|&b| b != 0) || (last != 0 && last != 0x80),
    }
}

/// Core's checks of a CHECKSIG whose signature is `sig`, given that the
/// library failed: a bad encoding under DERSIG, else a false result.
fn checksig_failure(sig: &[u8], flags: VerifyFlags) -> ScriptError {
    if flags.contains(VerifyFlags::DERSIG) && !sig.is_empty() && !is_valid_der(sig) {
        ScriptError::SigDer
    } else {
        ScriptError::EvalFalse
    }
}

/// P2WPKH (native or wrapped) with `items`, given that the library failed.
fn p2wpkh(program: &[u8], items: &[&[u8]], flags: VerifyFlags) -> ScriptError {
    if items.len() != 2 {
        return ScriptError::WitnessProgramMismatch;
    }
    if items.iter().any(|i| i.len() > MAX_ELEMENT) {
        return ScriptError::PushSize;
    }
    if hash160::Hash::hash(items[1]).as_byte_array()[..] != *program {
        return ScriptError::EqualVerify;
    }
    checksig_failure(items[0], flags)
}

/// A witness program spend (native, or P2SH-wrapped when `p2sh`).
fn witness_spend(
    version: u8,
    program: &[u8],
    items: &[&[u8]],
    p2sh: bool,
    sighash_single_ok: bool,
    flags: VerifyFlags,
) -> ScriptError {
    match (version, program.len()) {
        (0, 20) => p2wpkh(program, items, flags),
        (0, 32) => {
            let Some((script, stack)) = items.split_last() else {
                return ScriptError::WitnessProgramWitnessEmpty;
            };
            if sha256::Hash::hash(script).as_byte_array()[..] != *program {
                return ScriptError::WitnessProgramMismatch;
            }
            if stack.iter().any(|i| i.len() > MAX_ELEMENT) {
                return ScriptError::PushSize;
            }
            if script.len() > MAX_SCRIPT_SIZE {
                return ScriptError::ScriptSize;
            }
            ScriptError::Unknown
        }
        (0, _) => ScriptError::WitnessProgramWrongLength,
        (1, 32) if !p2sh && flags.contains(VerifyFlags::TAPROOT) => {
            let mut stack = items;
            if stack.is_empty() {
                return ScriptError::WitnessProgramWitnessEmpty;
            }
            if stack.len() >= 2 && stack[stack.len() - 1].first() == Some(&0x50) {
                stack = &stack[..stack.len() - 1];
            }
            if let [sig] = stack {
                return match sig.len() {
                    64 => ScriptError::SchnorrSig,
                    65 => {
                        let t = sig[64];
                        let known = matches!(t, 0x01..=0x03 | 0x81..=0x83);
                        if !known || (t & 0x03 == 0x03 && !sighash_single_ok) {
                            ScriptError::SchnorrSigHashtype
                        } else {
                            ScriptError::SchnorrSig
                        }
                    }
                    _ => ScriptError::SchnorrSigSize,
                };
            }
            let control = stack[stack.len() - 1];
            if control.len() < 33
                || !(control.len() - 33).is_multiple_of(32)
                || control.len() > 33 + 128 * 32
            {
                return ScriptError::TaprootWrongControlSize;
            }
            ScriptError::Unknown
        }
        _ => ScriptError::Unknown,
    }
}

/// The error Core would report for input `input` of `tx`, which the
/// consensus library rejected under `flags`. `spent` are the outputs all
/// inputs spend (as given to the library).
pub fn diagnose(
    tx: &TxRef<'_>,
    input: usize,
    spent: &SpentOutputs<'_>,
    spk: &[u8],
    flags: VerifyFlags,
) -> ScriptError {
    let passes = |f: VerifyFlags| spent.verify(tx.bytes(), input, f).is_ok();
    if flags.contains(VerifyFlags::DERSIG) && passes(flags - VerifyFlags::DERSIG) {
        return ScriptError::SigDer;
    }
    if flags.contains(VerifyFlags::NULLDUMMY) && passes(flags - VerifyFlags::NULLDUMMY) {
        return ScriptError::SigNullDummy;
    }
    let Some(txin) = tx.input(input) else {
        return ScriptError::Unknown;
    };
    let script_sig = txin.script_sig().as_bytes();
    let items: Vec<&[u8]> = txin.witness().collect();
    let witness = flags.contains(VerifyFlags::WITNESS);
    let sighash_single_ok = input < tx.output_count();

    // Native witness program.
    if let (true, Some((version, program))) = (witness, witness_program(spk)) {
        if !cast_to_bool(&spk[2..]) {
            return ScriptError::EvalFalse;
        }
        if !script_sig.is_empty() {
            return match push_stack(script_sig) {
                Some(Ok(_)) => ScriptError::WitnessMalleated,
                Some(Err(e)) => e,
                None => ScriptError::Unknown,
            };
        }
        return witness_spend(version, program, &items, false, sighash_single_ok, flags);
    }

    let stack = match push_stack(script_sig) {
        Some(Ok(stack)) => stack,
        Some(Err(e)) => return e,
        None => return ScriptError::Unknown,
    };

    // P2SH, possibly wrapping a witness program.
    if flags.contains(VerifyFlags::P2SH) && is_p2sh(spk) {
        let Some(&redeem) = stack.last() else {
            return ScriptError::InvalidStackOperation;
        };
        if hash160::Hash::hash(redeem).as_byte_array()[..] != spk[2..22] {
            return ScriptError::EvalFalse;
        }
        if let (true, Some((version, program))) = (witness, witness_program(redeem)) {
            let canonical =
                script_sig.len() == redeem.len() + 1 && usize::from(script_sig[0]) == redeem.len();
            if !canonical {
                return ScriptError::WitnessMalleatedP2sh;
            }
            return witness_spend(version, program, &items, true, sighash_single_ok, flags);
        }
        return unexpected_witness(flags, &items, &passes).unwrap_or(ScriptError::Unknown);
    }

    // P2PKH: DUP HASH160 <20> EQUALVERIFY CHECKSIG.
    if spk.len() == 25 && spk[..3] == [0x76, 0xa9, 0x14] && spk[23..] == [0x88, 0xac] {
        let Some(&pubkey) = stack.last() else {
            return ScriptError::InvalidStackOperation;
        };
        if hash160::Hash::hash(pubkey).as_byte_array()[..] != spk[3..23] {
            return ScriptError::EqualVerify;
        }
        if stack.len() < 2 {
            return ScriptError::InvalidStackOperation;
        }
        return unexpected_witness(flags, &items, &passes)
            .unwrap_or_else(|| checksig_failure(stack[stack.len() - 2], flags));
    }

    // P2PK: <33 or 65 bytes> CHECKSIG.
    let pk_len = spk.first().map_or(0, |&b| usize::from(b));
    if (pk_len == 33 || pk_len == 65) && spk.len() == pk_len + 2 && spk[pk_len + 1] == 0xac {
        let Some(&sig) = stack.last() else {
            return ScriptError::InvalidStackOperation;
        };
        return unexpected_witness(flags, &items, &passes)
            .unwrap_or_else(|| checksig_failure(sig, flags));
    }
    unexpected_witness(flags, &items, &passes).unwrap_or(ScriptError::Unknown)
}

/// A non-witness spend with a witness that passes without WITNESS failed
/// only because of the witness (Core checks that after the scripts ran).
fn unexpected_witness(
    flags: VerifyFlags,
    items: &[&[u8]],
    passes: &dyn Fn(VerifyFlags) -> bool,
) -> Option<ScriptError> {
    let witness = flags.contains(VerifyFlags::WITNESS);
    (witness && !items.is_empty() && passes(flags - VerifyFlags::WITNESS - VerifyFlags::TAPROOT))
        .then_some(ScriptError::WitnessUnexpected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der() {
        // A minimal valid encoding: r = 1, s = 1, hash type 1.
        let sig = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01];
        assert!(is_valid_der(&sig));
        let mut bad = sig;
        bad[4] = 0x81; // negative r
        assert!(!is_valid_der(&bad));
        assert!(!is_valid_der(&sig[..8]));
    }

    #[test]
    fn bools() {
        assert!(!cast_to_bool(&[]));
        assert!(!cast_to_bool(&[0, 0, 0x80]));
        assert!(cast_to_bool(&[0, 1, 0x80]));
        assert!(cast_to_bool(&[1]));
    }
}
