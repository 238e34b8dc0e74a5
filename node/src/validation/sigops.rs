//! Signature operation counting, as Core's `GetSigOpCount`,
//! `GetLegacySigOpCount`, `GetP2SHSigOpCount`, `CountWitnessSigOps` and
//! `GetTransactionSigOpCost`, over scripts borrowed from the archive.
//!
//! The opcode walk is Core's `GetScriptOp` (its early stop on a truncated
//! push included) rather than rust-bitcoin's `count_sigops`, which keeps the
//! last small-integer opcode across a CHECKSIG where Core doesn't.

use btc_core::archive::TxRef;
use btc_core::script::VerifyFlags;

use crate::store::Coin;

/// Core's `MAX_BLOCK_SIGOPS_COST`.
pub const MAX_BLOCK_SIGOPS_COST: u64 = 80_000;
/// Core's `WITNESS_SCALE_FACTOR`.
pub const WITNESS_SCALE_FACTOR: u64 = 4;

const OP_0: u8 = 0x00;
const OP_PUSHDATA1: u8 = 0x4c;
const OP_PUSHDATA2: u8 = 0x4d;
const OP_PUSHDATA4: u8 = 0x4e;
pub(crate) const OP_1: u8 = 0x51;
pub(crate) const OP_16: u8 = 0x60;
const OP_CHECKSIG: u8 = 0xac;
const OP_CHECKSIGVERIFY: u8 = 0xad;
const OP_CHECKMULTISIG: u8 = 0xae;
const OP_CHECKMULTISIGVERIFY: u8 = 0xaf;
const OP_HASH160: u8 = 0xa9;
const OP_EQUAL: u8 = 0x87;

/// One opcode of a script and the data it pushes (empty for non-pushes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op<'a> {
    pub opcode: u8,
    pub data: &'a [u8],
}

/// Walks a script like Core's `GetOp`: yields opcodes until the end, or
/// `Err(())` once on a push that runs past the end, then stops.
#[derive(Debug, Clone)]
pub struct Ops<'a> {
    script: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The opcodes of `script`.
pub fn ops(script: &[u8]) -> Ops<'_> {
    Ops {
        script,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Ops<'a> {
    type Item = Result<Op<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.script.len() {
            return None;
        }
        let s = self.script;
        let opcode = s[self.pos];
        self.pos += 1;
        if opcode > OP_PUSHDATA4 {
            return Some(Ok(Op { opcode, data: &[] }));
        }
        let rest = s.len() - self.pos;
        let (width, size) = match opcode {
            OP_PUSHDATA1 if rest >= 1 => (1, usize::from(s[self.pos])),
            OP_PUSHDATA2 if rest >= 2 => (
                2,
                usize::from(u16::from_le_bytes([s[self.pos], s[self.pos + 1]])),
            ),
            OP_PUSHDATA4 if rest >= 4 => {
                let b = [
                    s[self.pos],
                    s[self.pos + 1],
                    s[self.pos + 2],
                    s[self.pos + 3],
                ];
                (4, u32::from_le_bytes(b) as usize)
            }
            OP_PUSHDATA1 | OP_PUSHDATA2 | OP_PUSHDATA4 => {
                self.failed = true;
                return Some(Err(()));
            }
            n => (0, usize::from(n)),
        };
        self.pos += width;
        if s.len() - self.pos < size {
            self.failed = true;
            return Some(Err(()));
        }
        let data = &s[self.pos..self.pos + size];
        self.pos += size;
        Some(Ok(Op { opcode, data }))
    }
}

/// Core's `CScript::GetSigOpCount(fAccurate)`.
pub fn sigop_count(script: &[u8], accurate: bool) -> u64 {
    let mut n = 0;
    let mut last = 0xff; // OP_INVALIDOPCODE
    for op in ops(script) {
        let Ok(op) = op else { break };
        match op.opcode {
            OP_CHECKSIG | OP_CHECKSIGVERIFY => n += 1,
            OP_CHECKMULTISIG | OP_CHECKMULTISIGVERIFY => {
                n += if accurate && (OP_1..=OP_16).contains(&last) {
                    u64::from(last - OP_1 + 1)
                } else {
                    20
                };
            }
            _ => {}
        }
        last = op.opcode;
    }
    n
}

/// Core's `IsPayToScriptHash`.
pub fn is_p2sh(script: &[u8]) -> bool {
    script.len() == 23 && script[0] == OP_HASH160 && script[1] == 0x14 && script[22] == OP_EQUAL
}

/// Core's `IsWitnessProgram`: the version and program.
pub fn witness_program(script: &[u8]) -> Option<(u8, &[u8])> {
    if !(4..=42).contains(&script.len()) {
        return None;
    }
    let version = match script[0] {
        OP_0 => 0,
        v @ OP_1..=OP_16 => v - OP_1 + 1,
        _ => return None,
    };
    (usize::from(script[1]) + 2 == script.len()).then(|| (version, &script[2..]))
}

/// Core's `IsPushOnly`.
pub fn is_push_only(script: &[u8]) -> bool {
    ops(script).all(|op| op.is_ok_and(|op| op.opcode <= OP_16))
}

/// The data of the last push of a push-only script (empty if the last op
/// is OP_0..OP_16 or the script is empty); `None` if not push-only.
pub fn last_push(script: &[u8]) -> Option<&[u8]> {
    let mut data: &[u8] = &[];
    for op in ops(script) {
        let op = op.ok()?;
        if op.opcode > OP_16 {
            return None;
        }
        data = op.data;
    }
    Some(data)
}

/// Core's `GetLegacySigOpCount`: inaccurate counts of every scriptSig and
/// scriptPubKey of the transaction.
pub fn legacy_sigop_count(tx: &TxRef<'_>) -> u64 {
    let ins: u64 = tx
        .inputs()
        .map(|i| sigop_count(i.script_sig().as_bytes(), false))
        .sum();
    let outs: u64 = tx
        .outputs()
        .map(|o| sigop_count(o.script_bytes(), false))
        .sum();
    ins + outs
}

/// Core's `CScript::GetSigOpCount(scriptSig)` for a P2SH scriptPubKey: the
/// accurate count of the redeem script (the scriptSig's last push).
fn p2sh_sigops(script_sig: &[u8]) -> u64 {
    last_push(script_sig).map_or(0, |redeem| sigop_count(redeem, true))
}

fn witness_sigops(version: u8, program: &[u8], last_item: Option<&[u8]>) -> u64 {
    match (version, program.len(), last_item) {
        (0, 20, _) => 1,
        (0, 32, Some(script)) => sigop_count(script, true),
        _ => 0,
    }
}

/// Core's `CountWitnessSigOps` for one input.
fn count_witness_sigops(script_sig: &[u8], spk: &[u8], last_item: Option<&[u8]>) -> u64 {
    if let Some((v, program)) = witness_program(spk) {
        return witness_sigops(v, program, last_item);
    }
    if is_p2sh(spk) && is_push_only(script_sig) {
        if let Some((v, program)) = last_push(script_sig).and_then(witness_program) {
            return witness_sigops(v, program, last_item);
        }
    }
    0
}

/// Core's `GetTransactionSigOpCost`: legacy sigops times 4, plus P2SH
/// sigops times 4 (with P2SH), plus witness sigops (with WITNESS). `spent`
/// holds the coin of each input (ignored for a coinbase).
pub fn transaction_sigop_cost(tx: &TxRef<'_>, spent: &[Coin], flags: VerifyFlags) -> u64 {
    let mut cost = legacy_sigop_count(tx) * WITNESS_SCALE_FACTOR;
    if tx.is_coinbase() {
        return cost;
    }
    for (input, coin) in tx.inputs().zip(spent) {
        let script_sig = input.script_sig().as_bytes();
        if flags.contains(VerifyFlags::P2SH) && is_p2sh(&coin.script) {
            cost += p2sh_sigops(script_sig) * WITNESS_SCALE_FACTOR;
        }
        if flags.contains(VerifyFlags::WITNESS) {
            let last = input.witness().last();
            cost += count_witness_sigops(script_sig, &coin.script, last);
        }
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_core() {
        // OP_2 <pk> <pk> OP_2 CHECKMULTISIG: accurate 2, legacy 20.
        let mut ms = vec![0x52, 33];
        ms.extend([2u8; 33]);
        ms.push(33);
        ms.extend([3u8; 33]);
        ms.extend([0x52, OP_CHECKMULTISIG]);
        assert_eq!(sigop_count(&ms, true), 2);
        assert_eq!(sigop_count(&ms, false), 20);
        // A CHECKSIG between the number and CHECKMULTISIG resets it.
        assert_eq!(
            sigop_count(&[0x52, OP_CHECKSIG, OP_CHECKMULTISIG], true),
            21
        );
        // A truncated push stops the count.
        assert_eq!(sigop_count(&[OP_CHECKSIG, 0x05, 1, OP_CHECKSIG], true), 1);
        assert_eq!(sigop_count(&[OP_CHECKSIG, OP_PUSHDATA2, 1], true), 1);
    }

    #[test]
    fn templates() {
        let mut p2sh = vec![OP_HASH160, 0x14];
        p2sh.extend([0; 20]);
        p2sh.push(OP_EQUAL);
        assert!(is_p2sh(&p2sh));
        let mut wpkh = vec![0, 20];
        wpkh.extend([1; 20]);
        assert_eq!(witness_program(&wpkh), Some((0, &[1u8; 20][..])));
        assert_eq!(witness_program(&p2sh), None);
        assert_eq!(last_push(&[0x01, 7, 0x52]), Some(&[][..]));
        assert_eq!(last_push(&[0x52, 0x01, 7]), Some(&[7u8][..]));
        assert_eq!(last_push(&[OP_CHECKSIG]), None);
        assert!(is_push_only(&[]));
        assert!(!is_push_only(&[0x01]));
    }
}
