//! Script inspection as Core's policy code does it, on raw script bytes:
//! `Solver` (output types) and the push-only evaluation that
//! `AreInputsStandard` uses to find a P2SH redeem script. The opcode walk,
//! `IsPushOnly`, `GetSigOpCount`, `IsPayToScriptHash` and
//! `IsWitnessProgram` are the consensus code's ([`crate::validation::sigops`]),
//! re-exported here.

pub use crate::validation::sigops::{
    is_p2sh, is_push_only, last_push, ops, sigop_count, witness_program, Op, Ops,
};

/// Opcodes used below.
pub const OP_0: u8 = 0x00;
pub const OP_PUSHDATA1: u8 = 0x4c;
pub const OP_PUSHDATA2: u8 = 0x4d;
pub const OP_PUSHDATA4: u8 = 0x4e;
pub const OP_1NEGATE: u8 = 0x4f;
pub const OP_RESERVED: u8 = 0x50;
pub const OP_1: u8 = 0x51;
pub const OP_16: u8 = 0x60;
pub const OP_RETURN: u8 = 0x6a;
pub const OP_DUP: u8 = 0x76;
pub const OP_EQUAL: u8 = 0x87;
pub const OP_EQUALVERIFY: u8 = 0x88;
pub const OP_HASH160: u8 = 0xa9;
pub const OP_CHECKSIG: u8 = 0xac;
pub const OP_CHECKSIGVERIFY: u8 = 0xad;
pub const OP_CHECKMULTISIG: u8 = 0xae;
pub const OP_CHECKMULTISIGVERIFY: u8 = 0xaf;

pub use btc_core::script::MAX_SCRIPT_SIZE;
/// Core's `MAX_SCRIPT_ELEMENT_SIZE`.
pub const MAX_SCRIPT_ELEMENT_SIZE: usize = 520;

/// `DecodeOP_N`.
fn decode_op_n(opcode: u8) -> u32 {
    if opcode == OP_0 {
        0
    } else {
        u32::from(opcode - (OP_1 - 1))
    }
}

/// Core's `IsPayToAnchor`: `OP_1 <0x4e73>`.
pub fn is_pay_to_anchor(script: &[u8]) -> bool {
    script == [OP_1, 0x02, 0x4e, 0x73]
}

pub use btc_core::script::is_unspendable;

/// Core's `Solver` output classes (`TxoutType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxoutType {
    NonStandard,
    PubKey,
    PubKeyHash,
    ScriptHash,
    /// Bare multisig, `m` of `n` keys.
    Multisig {
        m: u8,
        n: u8,
    },
    NullData,
    WitnessV0KeyHash,
    WitnessV0ScriptHash,
    WitnessV1Taproot,
    Anchor,
    WitnessUnknown,
}

/// `CPubKey::ValidSize`: the length matches the header byte.
fn valid_pubkey_size(data: &[u8]) -> bool {
    match data.first() {
        Some(2 | 3) => data.len() == 33,
        Some(4 | 6 | 7) => data.len() == 65,
        _ => false,
    }
}

/// Core's `Solver`, the type alone.
pub fn solve(script: &[u8]) -> TxoutType {
    if is_p2sh(script) {
        return TxoutType::ScriptHash;
    }
    if let Some((version, program)) = witness_program(script) {
        return match (version, program.len()) {
            (0, 20) => TxoutType::WitnessV0KeyHash,
            (0, 32) => TxoutType::WitnessV0ScriptHash,
            (1, 32) => TxoutType::WitnessV1Taproot,
            _ if is_pay_to_anchor(script) => TxoutType::Anchor,
            (0, _) => TxoutType::NonStandard,
            _ => TxoutType::WitnessUnknown,
        };
    }
    if script.first() == Some(&OP_RETURN) && is_push_only(&script[1..]) {
        return TxoutType::NullData;
    }
    if (script.len() == 35 || script.len() == 67)
        && usize::from(script[0]) == script.len() - 2
        && script[script.len() - 1] == OP_CHECKSIG
        && valid_pubkey_size(&script[1..script.len() - 1])
    {
        return TxoutType::PubKey;
    }
    if script.len() == 25
        && script[..3] == [OP_DUP, OP_HASH160, 0x14]
        && script[23..] == [OP_EQUALVERIFY, OP_CHECKSIG]
    {
        return TxoutType::PubKeyHash;
    }
    match_multisig(script).unwrap_or(TxoutType::NonStandard)
}

/// Core's `MatchMultisig`, for small-integer counts (the only ones that can
/// be standard: a pushed count is 17 or more).
fn match_multisig(script: &[u8]) -> Option<TxoutType> {
    if script.last() != Some(&OP_CHECKMULTISIG) {
        return None;
    }
    let mut it = ops(script);
    let first = it.next()?.ok()?;
    if !(OP_1..=OP_16).contains(&first.opcode) {
        return None;
    }
    let m = decode_op_n(first.opcode);
    let mut keys = 0u32;
    let mut next = it.next()?.ok()?;
    while valid_pubkey_size(next.data) && next.opcode <= OP_PUSHDATA4 {
        keys += 1;
        next = it.next()?.ok()?;
    }
    if !(OP_1..=OP_16).contains(&next.opcode) {
        return None;
    }
    let n = decode_op_n(next.opcode);
    if n < m || n != keys {
        return None;
    }
    // Exactly one operation (OP_CHECKMULTISIG) must remain.
    let last = it.next()?.ok()?;
    if last.opcode != OP_CHECKMULTISIG || it.next().is_some() {
        return None;
    }
    Some(TxoutType::Multisig {
        m: m as u8,
        n: n as u8,
    })
}

/// Evaluates a push-only script as `EvalScript` with no flags would,
/// returning the stack, or `None` where Core's evaluation fails (a
/// non-push, `OP_RESERVED`, a truncated or oversized push, an oversized
/// script).
pub fn eval_pushes(script: &[u8]) -> Option<Vec<Vec<u8>>> {
    if script.len() > MAX_SCRIPT_SIZE {
        return None;
    }
    let mut stack = Vec::new();
    for op in ops(script) {
        let op = op.ok()?;
        match op.opcode {
            0..=OP_PUSHDATA4 => {
                if op.data.len() > MAX_SCRIPT_ELEMENT_SIZE {
                    return None;
                }
                stack.push(op.data.to_vec());
            }
            OP_1NEGATE => stack.push(vec![0x81]),
            OP_1..=OP_16 => stack.push(vec![op.opcode - (OP_1 - 1)]),
            _ => return None,
        }
    }
    Some(stack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types() {
        let pkh = [
            &[OP_DUP, OP_HASH160, 0x14][..],
            &[0; 20],
            &[OP_EQUALVERIFY, OP_CHECKSIG],
        ]
        .concat();
        assert_eq!(solve(&pkh), TxoutType::PubKeyHash);
        let wpkh = [&[0, 0x14][..], &[1; 20]].concat();
        assert_eq!(solve(&wpkh), TxoutType::WitnessV0KeyHash);
        let wsh_bad = [&[0, 0x15][..], &[1; 21]].concat();
        assert_eq!(solve(&wsh_bad), TxoutType::NonStandard);
        assert_eq!(solve(&[OP_1, 0x02, 0x4e, 0x73]), TxoutType::Anchor);
        assert_eq!(solve(&[OP_RETURN, 0x01, 0x00]), TxoutType::NullData);
        assert_eq!(solve(&[OP_RETURN, OP_DUP]), TxoutType::NonStandard);
        let mut ms = vec![OP_1, 33];
        ms.extend([2; 33]);
        ms.extend([OP_1, OP_CHECKMULTISIG]);
        assert_eq!(solve(&ms), TxoutType::Multisig { m: 1, n: 1 });
        assert_eq!(sigop_count(&ms, true), 1);
        assert_eq!(sigop_count(&ms, false), 20);
        assert!(is_push_only(&[OP_0, OP_1NEGATE, OP_RESERVED, OP_16]));
        assert!(!is_push_only(&[0x05, 0x01]));
        assert_eq!(eval_pushes(&[OP_RESERVED]), None);
        assert_eq!(eval_pushes(&[OP_0, OP_16]), Some(vec![vec![], vec![16]]));
    }
}
