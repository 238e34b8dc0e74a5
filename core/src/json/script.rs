//! Scripts as Core shows them: `asm` (`ScriptToAsmStr`), output types
//! (`Solver`, `GetTxnOutputType`), addresses (`ExtractDestination`), the
//! `scriptPubKey` object (`ScriptToUniv`) and `decodescript`.

use bitcoin::hashes::{hash160, sha256, Hash};
use bitcoin::hex::DisplayHex;
use bitcoin::{Address, Network, Script, ScriptHash, WPubkeyHash, WScriptHash};
use serde_json::{Map, Value};

use super::descriptor;
use super::params::{get_str, parse_hex_v, ParamError};

const OP_0: u8 = 0x00;
const OP_PUSHDATA1: u8 = 0x4c;
const OP_PUSHDATA2: u8 = 0x4d;
const OP_PUSHDATA4: u8 = 0x4e;
const OP_1: u8 = 0x51;
const OP_16: u8 = 0x60;
const OP_RETURN: u8 = 0x6a;
const OP_EQUAL: u8 = 0x87;
const OP_EQUALVERIFY: u8 = 0x88;
const OP_DUP: u8 = 0x76;
const OP_HASH160: u8 = 0xa9;
const OP_CHECKSIG: u8 = 0xac;
const OP_CHECKMULTISIG: u8 = 0xae;
const OP_CHECKSIGADD: u8 = 0xba;
const OP_INVALIDOPCODE: u8 = 0xff;
/// Core's `MAX_OPCODE` (`OP_NOP10`).
const MAX_OPCODE: u8 = 0xb9;
/// Core's `MAX_SCRIPT_ELEMENT_SIZE`.
const MAX_SCRIPT_ELEMENT_SIZE: usize = 520;
/// Core's `MAX_PUBKEYS_PER_MULTISIG`.
const MAX_PUBKEYS_PER_MULTISIG: i64 = 20;

/// One operation of a script: its opcode and, for a push, the data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op<'a> {
    pub opcode: u8,
    pub data: &'a [u8],
}

/// Core's `GetScriptOp`: the operation at `*pc`, advancing `*pc`, or `None`
/// at the end of the script or when a push runs past it.
pub(crate) fn get_op<'a>(script: &'a [u8], pc: &mut usize) -> Option<Op<'a>> {
    let rest = script.get(*pc..)?;
    let (&opcode, mut rest) = rest.split_first()?;
    *pc += 1;
    if opcode > OP_PUSHDATA4 {
        return Some(Op { opcode, data: &[] });
    }
    let size_len = match opcode {
        OP_PUSHDATA1 => 1,
        OP_PUSHDATA2 => 2,
        OP_PUSHDATA4 => 4,
        _ => 0,
    };
    let size = if size_len == 0 {
        usize::from(opcode)
    } else {
        let bytes = rest.get(..size_len)?;
        rest = &rest[size_len..];
        *pc += size_len;
        let mut le = [0u8; 4];
        le[..size_len].copy_from_slice(bytes);
        u32::from_le_bytes(le) as usize
    };
    let data = rest.get(..size)?;
    *pc += size;
    Some(Op { opcode, data })
}

/// Iterates over a script's operations; a failed parse ends the iteration
/// with `Err(())`.
pub(crate) fn ops(script: &[u8]) -> impl Iterator<Item = Result<Op<'_>, ()>> {
    let mut pc = 0;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || pc >= script.len() {
            return None;
        }
        match get_op(script, &mut pc) {
            Some(op) => Some(Ok(op)),
            None => {
                failed = true;
                Some(Err(()))
            }
        }
    })
}

/// Core's `CScript::HasValidOps`.
pub(crate) fn has_valid_ops(script: &[u8]) -> bool {
    ops(script).all(|op| {
        op.is_ok_and(|op| op.opcode <= MAX_OPCODE && op.data.len() <= MAX_SCRIPT_ELEMENT_SIZE)
    })
}

/// Core's `CScript::IsPushOnly` from `start`.
fn is_push_only(script: &[u8], start: usize) -> bool {
    ops(&script[start.min(script.len())..]).all(|op| op.is_ok_and(|op| op.opcode <= OP_16))
}

/// Core's `GetOpName`.
pub fn op_name(opcode: u8) -> &'static str {
    const NAMES_0X61: [&str; 90] = [
        "OP_NOP",
        "OP_VER",
        "OP_IF",
        "OP_NOTIF",
        "OP_VERIF",
        "OP_VERNOTIF",
        "OP_ELSE",
        "OP_ENDIF",
        "OP_VERIFY",
        "OP_RETURN",
        "OP_TOALTSTACK",
        "OP_FROMALTSTACK",
        "OP_2DROP",
        "OP_2DUP",
        "OP_3DUP",
        "OP_2OVER",
        "OP_2ROT",
        "OP_2SWAP",
        "OP_IFDUP",
        "OP_DEPTH",
        "OP_DROP",
        "OP_DUP",
        "OP_NIP",
        "OP_OVER",
        "OP_PICK",
        "OP_ROLL",
        "OP_ROT",
        "OP_SWAP",
        "OP_TUCK",
        "OP_CAT",
        "OP_SUBSTR",
        "OP_LEFT",
        "OP_RIGHT",
        "OP_SIZE",
        "OP_INVERT",
        "OP_AND",
        "OP_OR",
        "OP_XOR",
        "OP_EQUAL",
        "OP_EQUALVERIFY",
        "OP_RESERVED1",
        "OP_RESERVED2",
        "OP_1ADD",
        "OP_1SUB",
        "OP_2MUL",
        "OP_2DIV",
        "OP_NEGATE",
        "OP_ABS",
        "OP_NOT",
        "OP_0NOTEQUAL",
        "OP_ADD",
        "OP_SUB",
        "OP_MUL",
        "OP_DIV",
        "OP_MOD",
        "OP_LSHIFT",
        "OP_RSHIFT",
        "OP_BOOLAND",
        "OP_BOOLOR",
        "OP_NUMEQUAL",
        "OP_NUMEQUALVERIFY",
        "OP_NUMNOTEQUAL",
        "OP_LESSTHAN",
        "OP_GREATERTHAN",
        "OP_LESSTHANOREQUAL",
        "OP_GREATERTHANOREQUAL",
        "OP_MIN",
        "OP_MAX",
        "OP_WITHIN",
        "OP_RIPEMD160",
        "OP_SHA1",
        "OP_SHA256",
        "OP_HASH160",
        "OP_HASH256",
        "OP_CODESEPARATOR",
        "OP_CHECKSIG",
        "OP_CHECKSIGVERIFY",
        "OP_CHECKMULTISIG",
        "OP_CHECKMULTISIGVERIFY",
        "OP_NOP1",
        "OP_CHECKLOCKTIMEVERIFY",
        "OP_CHECKSEQUENCEVERIFY",
        "OP_NOP4",
        "OP_NOP5",
        "OP_NOP6",
        "OP_NOP7",
        "OP_NOP8",
        "OP_NOP9",
        "OP_NOP10",
        "OP_CHECKSIGADD",
    ];
    const SMALL: [&str; 16] = [
        "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    ];
    match opcode {
        OP_0 => "0",
        OP_PUSHDATA1 => "OP_PUSHDATA1",
        OP_PUSHDATA2 => "OP_PUSHDATA2",
        OP_PUSHDATA4 => "OP_PUSHDATA4",
        0x4f => "-1",
        0x50 => "OP_RESERVED",
        OP_1..=OP_16 => SMALL[usize::from(opcode - OP_1)],
        0x61..=OP_CHECKSIGADD => NAMES_0X61[usize::from(opcode - 0x61)],
        OP_INVALIDOPCODE => "OP_INVALIDOPCODE",
        _ => "OP_UNKNOWN",
    }
}

/// Core's `mapSigHashTypes`.
fn sighash_name(byte: u8) -> Option<&'static str> {
    Some(match byte {
        0x01 => "ALL",
        0x81 => "ALL|ANYONECANPAY",
        0x02 => "NONE",
        0x82 => "NONE|ANYONECANPAY",
        0x03 => "SINGLE",
        0x83 => "SINGLE|ANYONECANPAY",
        _ => return None,
    })
}

/// Core's `CScriptNum(vch, false).getint()` for at most 4 bytes.
fn script_num(data: &[u8]) -> i64 {
    let Some(&last) = data.last() else {
        return 0;
    };
    let mut value: i64 = 0;
    for (i, &byte) in data.iter().enumerate() {
        value |= i64::from(byte) << (8 * i);
    }
    if last & 0x80 != 0 {
        -(value & !(0x80i64 << (8 * (data.len() - 1))))
    } else {
        value
    }
}

/// Core's `IsValidSignatureEncoding` (BIP66 strict DER plus a hash type).
fn is_valid_signature_encoding(sig: &[u8]) -> bool {
    let len = sig.len();
    if !(9..=73).contains(&len) || sig[0] != 0x30 || usize::from(sig[1]) != len - 3 {
        return false;
    }
    let len_r = usize::from(sig[3]);
    if 5 + len_r >= len {
        return false;
    }
    let len_s = usize::from(sig[5 + len_r]);
    if len_r + len_s + 7 != len {
        return false;
    }
    if sig[2] != 0x02 || len_r == 0 || sig[4] & 0x80 != 0 {
        return false;
    }
    if len_r > 1 && sig[4] == 0x00 && sig[5] & 0x80 == 0 {
        return false;
    }
    if sig[len_r + 4] != 0x02 || len_s == 0 || sig[len_r + 6] & 0x80 != 0 {
        return false;
    }
    !(len_s > 1 && sig[len_r + 6] == 0x00 && sig[len_r + 7] & 0x80 == 0)
}

/// Core's `CheckSignatureEncoding` with `SCRIPT_VERIFY_STRICTENC`, for data
/// of more than 4 bytes: strict DER and a defined hash type.
fn is_strict_signature(sig: &[u8]) -> bool {
    let Some(&hash_type) = sig.last() else {
        return true;
    };
    let base = hash_type & !0x80;
    is_valid_signature_encoding(sig) && (0x01..=0x03).contains(&base)
}

/// Core's `ScriptToAsmStr`: pushes of up to 4 bytes as numbers, longer ones
/// as hex, other opcodes by name, `[error]` where parsing fails. With
/// `attempt_sighash_decode` (scriptSigs), a push that is a strictly encoded
/// signature shows its hash type as `[ALL]` etc. instead of its last byte,
/// unless the script starts with `OP_RETURN`.
pub fn script_to_asm(script: &Script, attempt_sighash_decode: bool) -> String {
    let bytes = script.as_bytes();
    let decode_sighash = attempt_sighash_decode && !crate::script::is_unspendable(bytes);
    let mut out = String::new();
    for op in ops(bytes) {
        if !out.is_empty() {
            out.push(' ');
        }
        let Ok(op) = op else {
            out.push_str("[error]");
            break;
        };
        if op.opcode > OP_PUSHDATA4 {
            out.push_str(op_name(op.opcode));
        } else if op.data.len() <= 4 {
            out.push_str(&script_num(op.data).to_string());
        } else if decode_sighash && is_strict_signature(op.data) {
            let (last, sig) = op.data.split_last().unwrap_or((&0, op.data));
            match sighash_name(*last) {
                Some(name) => {
                    out.push_str(&sig.to_lower_hex_string());
                    out.push('[');
                    out.push_str(name);
                    out.push(']');
                }
                None => out.push_str(&op.data.to_lower_hex_string()),
            }
        } else {
            out.push_str(&op.data.to_lower_hex_string());
        }
    }
    out
}

/// Core's `TxoutType`: what `Solver` finds a script to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxoutType {
    /// Anything else.
    NonStandard,
    /// `<pubkey> OP_CHECKSIG`.
    PubKey,
    /// P2PKH.
    PubKeyHash,
    /// P2SH.
    ScriptHash,
    /// Bare `m <keys> n OP_CHECKMULTISIG`.
    Multisig,
    /// `OP_RETURN` followed by pushes only.
    NullData,
    /// P2WPKH.
    WitnessV0KeyHash,
    /// P2WSH.
    WitnessV0ScriptHash,
    /// P2TR.
    WitnessV1Taproot,
    /// Pay-to-anchor (`OP_1 <4e73>`).
    Anchor,
    /// A witness program of another version.
    WitnessUnknown,
}

impl TxoutType {
    /// Core's `GetTxnOutputType` name.
    pub fn name(self) -> &'static str {
        match self {
            TxoutType::NonStandard => "nonstandard",
            TxoutType::PubKey => "pubkey",
            TxoutType::PubKeyHash => "pubkeyhash",
            TxoutType::ScriptHash => "scripthash",
            TxoutType::Multisig => "multisig",
            TxoutType::NullData => "nulldata",
            TxoutType::WitnessV0KeyHash => "witness_v0_keyhash",
            TxoutType::WitnessV0ScriptHash => "witness_v0_scripthash",
            TxoutType::WitnessV1Taproot => "witness_v1_taproot",
            TxoutType::Anchor => "anchor",
            TxoutType::WitnessUnknown => "witness_unknown",
        }
    }
}

/// What `Solver` returns: the type and its data (`vSolutionsRet`): the key,
/// hash or program; for multisig `[m]`, the keys, `[n]`; for an unknown
/// witness program `[version]`, the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    /// The script's type.
    pub kind: TxoutType,
    /// Core's `vSolutionsRet`.
    pub data: Vec<Vec<u8>>,
}

/// Core's `CPubKey::ValidSize`: the length the first byte announces.
fn pubkey_valid_size(key: &[u8]) -> bool {
    match key.first() {
        Some(2 | 3) => key.len() == 33,
        Some(4 | 6 | 7) => key.len() == 65,
        _ => false,
    }
}

/// Core's `IsWitnessProgram`: the version and program.
fn witness_program(script: &[u8]) -> Option<(u8, &[u8])> {
    if !(4..=42).contains(&script.len()) {
        return None;
    }
    let version = match script[0] {
        OP_0 => 0,
        op @ OP_1..=OP_16 => op - OP_1 + 1,
        _ => return None,
    };
    (usize::from(script[1]) + 2 == script.len()).then(|| (version, &script[2..]))
}

/// Core's `CheckMinimalPush`.
fn minimal_push(data: &[u8], opcode: u8) -> bool {
    match data.len() {
        0 => opcode == OP_0,
        1 if (1..=16).contains(&data[0]) || data[0] == 0x81 => false,
        n @ 1..=75 => usize::from(opcode) == n,
        76..=255 => opcode == OP_PUSHDATA1,
        256..=65535 => opcode == OP_PUSHDATA2,
        _ => true,
    }
}

/// Core's `GetScriptNumber`: `OP_1`..`OP_16` or a minimal push of a minimal
/// number, within `min..=max`.
fn script_number(op: Op<'_>, min: i64, max: i64) -> Option<i64> {
    let n = if (OP_1..=OP_16).contains(&op.opcode) {
        i64::from(op.opcode - OP_1 + 1)
    } else if op.opcode > OP_0 && op.opcode <= OP_PUSHDATA4 {
        if !minimal_push(op.data, op.opcode) || op.data.len() > 4 {
            return None;
        }
        if let Some(&last) = op.data.last() {
            if last & 0x7f == 0 && (op.data.len() <= 1 || op.data[op.data.len() - 2] & 0x80 == 0) {
                return None; // non-minimally encoded number
            }
        }
        script_num(op.data)
    } else {
        return None;
    };
    (min..=max).contains(&n).then_some(n)
}

/// Core's `MatchMultisig`: `m`, the keys.
fn match_multisig(script: &[u8]) -> Option<(i64, Vec<Vec<u8>>)> {
    if script.last() != Some(&OP_CHECKMULTISIG) {
        return None;
    }
    let mut pc = 0;
    let first = get_op(script, &mut pc)?;
    let required = script_number(first, 1, MAX_PUBKEYS_PER_MULTISIG)?;
    let mut keys = Vec::new();
    let last = loop {
        match get_op(script, &mut pc) {
            Some(op) if pubkey_valid_size(op.data) => keys.push(op.data.to_vec()),
            Some(op) => break op,
            None => {
                break Op {
                    opcode: OP_INVALIDOPCODE,
                    data: &[],
                }
            }
        }
    };
    let count = script_number(last, required, MAX_PUBKEYS_PER_MULTISIG)?;
    (keys.len() as i64 == count && pc + 1 == script.len()).then_some((required, keys))
}

/// Core's `Solver`.
pub fn solve(script: &Script) -> Solution {
    let s = script.as_bytes();
    let solution = |kind, data| Solution { kind, data };
    if s.len() == 23 && s[0] == OP_HASH160 && s[1] == 0x14 && s[22] == OP_EQUAL {
        return solution(TxoutType::ScriptHash, vec![s[2..22].to_vec()]);
    }
    if let Some((version, program)) = witness_program(s) {
        return match (version, program.len()) {
            (0, 20) => solution(TxoutType::WitnessV0KeyHash, vec![program.to_vec()]),
            (0, 32) => solution(TxoutType::WitnessV0ScriptHash, vec![program.to_vec()]),
            (1, 32) => solution(TxoutType::WitnessV1Taproot, vec![program.to_vec()]),
            (1, _) if program == [0x4e, 0x73] => solution(TxoutType::Anchor, vec![]),
            (0, _) => solution(TxoutType::NonStandard, vec![]),
            _ => solution(
                TxoutType::WitnessUnknown,
                vec![vec![version], program.to_vec()],
            ),
        };
    }
    if s.first() == Some(&OP_RETURN) && is_push_only(s, 1) {
        return solution(TxoutType::NullData, vec![]);
    }
    if (s.len() == 67 && s[0] == 65 || s.len() == 35 && s[0] == 33)
        && s.last() == Some(&OP_CHECKSIG)
        && pubkey_valid_size(&s[1..s.len() - 1])
    {
        return solution(TxoutType::PubKey, vec![s[1..s.len() - 1].to_vec()]);
    }
    if s.len() == 25
        && s[0] == OP_DUP
        && s[1] == OP_HASH160
        && s[2] == 20
        && s[23] == OP_EQUALVERIFY
        && s[24] == OP_CHECKSIG
    {
        return solution(TxoutType::PubKeyHash, vec![s[3..23].to_vec()]);
    }
    if let Some((required, keys)) = match_multisig(s) {
        let count = keys.len() as u8;
        let mut data = vec![vec![required as u8]];
        data.extend(keys);
        data.push(vec![count]);
        return solution(TxoutType::Multisig, data);
    }
    solution(TxoutType::NonStandard, vec![])
}

/// Core's output type name of a script (`Solver` + `GetTxnOutputType`):
/// nonstandard, pubkey, pubkeyhash, scripthash, multisig, nulldata,
/// witness_v0_keyhash, witness_v0_scripthash, witness_v1_taproot, anchor or
/// witness_unknown.
pub fn script_type(script: &Script) -> &'static str {
    solve(script).kind.name()
}

/// Core's `ExtractDestination` + `EncodeDestination`: the address of the
/// types that have one (not pubkey, multisig, nulldata, nonstandard).
pub(crate) fn address(script: &Script, kind: TxoutType, network: Network) -> Option<String> {
    match kind {
        TxoutType::PubKeyHash
        | TxoutType::ScriptHash
        | TxoutType::WitnessV0KeyHash
        | TxoutType::WitnessV0ScriptHash
        | TxoutType::WitnessV1Taproot
        | TxoutType::Anchor
        | TxoutType::WitnessUnknown => Address::from_script(script, network)
            .ok()
            .map(|a| a.to_string()),
        _ => None,
    }
}

/// Core 28's `ScriptToUniv`: `{asm, desc, hex, address, type}` in that
/// order. `desc` (the inferred descriptor with checksum) and `address`
/// (when the script has one) come with `include_address`; `hex` with
/// `include_hex`.
pub fn script_pubkey_to_json(
    script: &Script,
    include_hex: bool,
    include_address: bool,
    network: Network,
) -> Value {
    script_object(script, include_hex, include_address, network, None)
}

/// `ScriptToUniv` with a known witness script for P2WSH inference.
fn script_object(
    script: &Script,
    include_hex: bool,
    include_address: bool,
    network: Network,
    witness_script: Option<&Script>,
) -> Value {
    let solution = solve(script);
    let mut out = Map::new();
    out.insert("asm".into(), script_to_asm(script, false).into());
    if include_address {
        let desc = descriptor::infer(script, network, witness_script);
        out.insert("desc".into(), desc.into());
    }
    if include_hex {
        out.insert("hex".into(), script.as_bytes().to_lower_hex_string().into());
    }
    if include_address {
        if let Some(address) = address(script, solution.kind, network) {
            out.insert("address".into(), address.into());
        }
    }
    out.insert("type".into(), solution.kind.name().into());
    Value::Object(out)
}

/// Core's `IsOpSuccess` (BIP342).
fn is_op_success(opcode: u8) -> bool {
    matches!(opcode, 80 | 98 | 126..=129 | 131..=134 | 137..=138 | 141..=142 | 149..=153 | 187..=254)
}

/// Core 28's `decodescript` result: `{asm, desc, address?, type, p2sh?,
/// segwit?}` where `p2sh` is the P2SH address wrapping the script and
/// `segwit` (`{asm, desc, hex, address, type, p2sh-segwit}`) the P2WPKH
/// (for pubkey and pubkeyhash scripts) or P2WSH equivalent, each only when
/// Core gives it: no wrapping of nulldata, P2SH, witness programs, anchors,
/// scripts with undefined opcodes, `OP_CHECKSIGADD` or `OP_SUCCESSx`, or
/// that start with `OP_RETURN`; no segwit form for witness programs or for
/// keys that are not compressed.
pub fn decode_script(script: &Script, network: Network) -> Value {
    let mut out = match script_object(script, false, true, network, None) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let solution = solve(script);
    let bytes = script.as_bytes();
    let can_wrap = matches!(
        solution.kind,
        TxoutType::Multisig
            | TxoutType::NonStandard
            | TxoutType::PubKey
            | TxoutType::PubKeyHash
            | TxoutType::WitnessV0KeyHash
            | TxoutType::WitnessV0ScriptHash
    ) && has_valid_ops(bytes)
        && !crate::script::is_unspendable(bytes)
        && ops(bytes)
            .all(|op| op.is_ok_and(|op| op.opcode != OP_CHECKSIGADD && !is_op_success(op.opcode)));
    if !can_wrap {
        return Value::Object(out);
    }
    let p2sh = Address::p2sh_from_hash(ScriptHash::hash(bytes), network);
    out.insert("p2sh".into(), p2sh.to_string().into());
    let can_wrap_p2wsh = match solution.kind {
        TxoutType::Multisig | TxoutType::PubKey => solution
            .data
            .iter()
            .all(|item| item.len() == 1 || (pubkey_valid_size(item) && item.len() == 33)),
        TxoutType::NonStandard | TxoutType::PubKeyHash => true,
        _ => false,
    };
    if !can_wrap_p2wsh {
        return Value::Object(out);
    }
    let key_hash =
        |key: &[u8]| WPubkeyHash::from_byte_array(hash160::Hash::hash(key).to_byte_array());
    let (segwit, witness_script) = match (solution.kind, solution.data.first()) {
        (TxoutType::PubKey, Some(key)) => (bitcoin::ScriptBuf::new_p2wpkh(&key_hash(key)), None),
        (TxoutType::PubKeyHash, Some(hash)) if hash.len() == 20 => {
            let mut h = [0u8; 20];
            h.copy_from_slice(hash);
            (
                bitcoin::ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(h)),
                None,
            )
        }
        _ => {
            let hash = WScriptHash::from_byte_array(sha256::Hash::hash(bytes).to_byte_array());
            (bitcoin::ScriptBuf::new_p2wsh(&hash), Some(script))
        }
    };
    let mut segwit_json = match script_object(&segwit, true, true, network, witness_script) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let p2sh_segwit = Address::p2sh_from_hash(ScriptHash::hash(segwit.as_bytes()), network);
    segwit_json.insert("p2sh-segwit".into(), p2sh_segwit.to_string().into());
    out.insert("segwit".into(), Value::Object(segwit_json));
    Value::Object(out)
}

/// The `decodescript` RPC on its hex argument: like Core, an empty string is
/// the empty script, anything else goes through `ParseHexV` (-8, "argument
/// must be hexadecimal string (not 'X')"); a non-string is UniValue's type
/// error (-3).
pub fn decode_script_hex(value: &Value, network: Network) -> Result<Value, ParamError> {
    let bytes = if get_str(value)?.is_empty() {
        Vec::new()
    } else {
        parse_hex_v(value, "argument")?
    };
    Ok(decode_script(
        &bitcoin::ScriptBuf::from_bytes(bytes),
        network,
    ))
}

/// Core's `CPubKey::IsValidNonHybrid`: a 33-byte key starting 02/03 or a
/// 65-byte key starting 04 (no check that it is on the curve).
pub(crate) fn is_valid_non_hybrid(key: &[u8]) -> bool {
    pubkey_valid_size(key) && matches!(key[0], 2..=4)
}
