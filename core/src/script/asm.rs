//! Bitcoin Core's script notation, as its test vectors write scripts
//! (`ParseScript` in Core's `core_read.cpp`):
//!
//! - an opcode by name, with or without `OP_` (`DUP`, `OP_CHECKSIG`);
//!   only OP_RESERVED and OP_NOP and above have names, as in Core;
//! - a decimal number in -0xFFFFFFFF..=0xFFFFFFFF, pushed minimally
//!   (`-1` and `1`..`16` as OP_1NEGATE and OP_1..OP_16, `0` as OP_0,
//!   anything else as a script number);
//! - `0x` and an even number of hex digits: raw bytes, inserted as they are
//!   (not pushed);
//! - `'text'`: the bytes between the quotes, pushed (no spaces inside).
//!
//! Words are separated by spaces, tabs or newlines.

use bitcoin::hex::FromHex;
use bitcoin::ScriptBuf;

/// A word that is not Core's script notation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AsmError {
    #[error("script parse error: decimal {0} is outside -0xFFFFFFFF..=0xFFFFFFFF")]
    NumberOutOfRange(String),
    #[error("script parse error: unknown opcode {0:?}")]
    UnknownWord(String),
}

/// Core's opcode names (`GetOpName`) for OP_RESERVED and OP_NOP..=OP_CHECKSIGADD.
const NAMES: &[(&str, u8)] = &[
    ("OP_RESERVED", 0x50),
    ("OP_NOP", 0x61),
    ("OP_VER", 0x62),
    ("OP_IF", 0x63),
    ("OP_NOTIF", 0x64),
    ("OP_VERIF", 0x65),
    ("OP_VERNOTIF", 0x66),
    ("OP_ELSE", 0x67),
    ("OP_ENDIF", 0x68),
    ("OP_VERIFY", 0x69),
    ("OP_RETURN", 0x6a),
    ("OP_TOALTSTACK", 0x6b),
    ("OP_FROMALTSTACK", 0x6c),
    ("OP_2DROP", 0x6d),
    ("OP_2DUP", 0x6e),
    ("OP_3DUP", 0x6f),
    ("OP_2OVER", 0x70),
    ("OP_2ROT", 0x71),
    ("OP_2SWAP", 0x72),
    ("OP_IFDUP", 0x73),
    ("OP_DEPTH", 0x74),
    ("OP_DROP", 0x75),
    ("OP_DUP", 0x76),
    ("OP_NIP", 0x77),
    ("OP_OVER", 0x78),
    ("OP_PICK", 0x79),
    ("OP_ROLL", 0x7a),
    ("OP_ROT", 0x7b),
    ("OP_SWAP", 0x7c),
    ("OP_TUCK", 0x7d),
    ("OP_CAT", 0x7e),
    ("OP_SUBSTR", 0x7f),
    ("OP_LEFT", 0x80),
    ("OP_RIGHT", 0x81),
    ("OP_SIZE", 0x82),
    ("OP_INVERT", 0x83),
    ("OP_AND", 0x84),
    ("OP_OR", 0x85),
    ("OP_XOR", 0x86),
    ("OP_EQUAL", 0x87),
    ("OP_EQUALVERIFY", 0x88),
    ("OP_RESERVED1", 0x89),
    ("OP_RESERVED2", 0x8a),
    ("OP_1ADD", 0x8b),
    ("OP_1SUB", 0x8c),
    ("OP_2MUL", 0x8d),
    ("OP_2DIV", 0x8e),
    ("OP_NEGATE", 0x8f),
    ("OP_ABS", 0x90),
    ("OP_NOT", 0x91),
    ("OP_0NOTEQUAL", 0x92),
    ("OP_ADD", 0x93),
    ("OP_SUB", 0x94),
    ("OP_MUL", 0x95),
    ("OP_DIV", 0x96),
    ("OP_MOD", 0x97),
    ("OP_LSHIFT", 0x98),
    ("OP_RSHIFT", 0x99),
    ("OP_BOOLAND", 0x9a),
    ("OP_BOOLOR", 0x9b),
    ("OP_NUMEQUAL", 0x9c),
    ("OP_NUMEQUALVERIFY", 0x9d),
    ("OP_NUMNOTEQUAL", 0x9e),
    ("OP_LESSTHAN", 0x9f),
    ("OP_GREATERTHAN", 0xa0),
    ("OP_LESSTHANOREQUAL", 0xa1),
    ("OP_GREATERTHANOREQUAL", 0xa2),
    ("OP_MIN", 0xa3),
    ("OP_MAX", 0xa4),
    ("OP_WITHIN", 0xa5),
    ("OP_RIPEMD160", 0xa6),
    ("OP_SHA1", 0xa7),
    ("OP_SHA256", 0xa8),
    ("OP_HASH160", 0xa9),
    ("OP_HASH256", 0xaa),
    ("OP_CODESEPARATOR", 0xab),
    ("OP_CHECKSIG", 0xac),
    ("OP_CHECKSIGVERIFY", 0xad),
    ("OP_CHECKMULTISIG", 0xae),
    ("OP_CHECKMULTISIGVERIFY", 0xaf),
    ("OP_NOP1", 0xb0),
    ("OP_CHECKLOCKTIMEVERIFY", 0xb1),
    ("OP_CHECKSEQUENCEVERIFY", 0xb2),
    ("OP_NOP4", 0xb3),
    ("OP_NOP5", 0xb4),
    ("OP_NOP6", 0xb5),
    ("OP_NOP7", 0xb6),
    ("OP_NOP8", 0xb7),
    ("OP_NOP9", 0xb8),
    ("OP_NOP10", 0xb9),
    ("OP_CHECKSIGADD", 0xba),
];

fn opcode(word: &str) -> Option<u8> {
    NAMES
        .iter()
        .find(|(name, _)| *name == word || name.strip_prefix("OP_") == Some(word))
        .map(|&(_, op)| op)
}

/// Parses Core's script notation into script bytes.
pub fn parse_asm(s: &str) -> Result<ScriptBuf, AsmError> {
    let mut out = Vec::new();
    for word in s.split([' ', '\t', '\n']).filter(|w| !w.is_empty()) {
        let digits = word.strip_prefix('-').unwrap_or(word);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = word
                .parse()
                .ok()
                .filter(|n: &i64| n.abs() <= 0xffff_ffff)
                .ok_or_else(|| AsmError::NumberOutOfRange(word.to_owned()))?;
            push_int(&mut out, n);
        } else if let Some(raw) = word
            .strip_prefix("0x")
            .and_then(|hex| Vec::<u8>::from_hex(hex).ok())
            .filter(|raw| !raw.is_empty())
        {
            out.extend_from_slice(&raw);
        } else if word.len() >= 2 && word.starts_with('\'') && word.ends_with('\'') {
            push_data(&mut out, &word.as_bytes()[1..word.len() - 1]);
        } else if let Some(op) = opcode(word) {
            out.push(op);
        } else {
            return Err(AsmError::UnknownWord(word.to_owned()));
        }
    }
    Ok(ScriptBuf::from_bytes(out))
}

/// Core's `CScript::push_int64`.
fn push_int(out: &mut Vec<u8>, n: i64) {
    match n {
        0 => out.push(0x00),
        -1 | 1..=16 => out.push((n + 0x50) as u8),
        _ => push_data(out, &script_num(n)),
    }
}

/// Core's `CScriptNum::serialize`: little-endian magnitude, sign in the top
/// bit of the last byte.
pub fn script_num(n: i64) -> Vec<u8> {
    let mut out = Vec::new();
    let negative = n < 0;
    let mut abs = n.unsigned_abs();
    while abs > 0 {
        out.push((abs & 0xff) as u8);
        abs >>= 8;
    }
    if let Some(last) = out.last_mut() {
        if *last & 0x80 != 0 {
            out.push(if negative { 0x80 } else { 0x00 });
        } else if negative {
            *last |= 0x80;
        }
    }
    out
}

/// Core's `CScript << std::vector<unsigned char>`: the smallest push opcode
/// for the length (never OP_1..OP_16 for one byte, unlike numbers).
pub fn push_data(out: &mut Vec<u8>, data: &[u8]) {
    let len = data.len();
    if len < 0x4c {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x4c, len as u8]);
    } else if len <= 0xffff {
        out.push(0x4d);
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.push(0x4e);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        parse_asm(s)
            .unwrap()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn notation() {
        assert_eq!(hex("0 1 16 -1"), "0051604f");
        assert_eq!(hex("17 -2 128 255 256"), "0111018202800002ff00020001");
        assert_eq!(hex("DUP OP_HASH160 0x14 0x0102"), "76a9140102");
        assert_eq!(hex("'ab' ''"), "02616200");
        assert_eq!(hex("  NOP \t\n CHECKSIGADD "), "61ba");
        assert_eq!(hex("4294967295"), "05ffffffff00");
        assert_eq!(hex("-4294967295"), "05ffffffff80");
        assert!(matches!(
            parse_asm("4294967296"),
            Err(AsmError::NumberOutOfRange(_))
        ));
        assert!(matches!(parse_asm("0x1"), Err(AsmError::UnknownWord(_))));
        assert!(matches!(parse_asm("OP_0"), Err(AsmError::UnknownWord(_))));
        assert!(matches!(parse_asm("NOP2"), Err(AsmError::UnknownWord(_))));
        assert!(matches!(parse_asm("0x"), Err(AsmError::UnknownWord(_))));
        let long = format!("'{}'", "a".repeat(300));
        assert_eq!(&hex(&long)[..6], "4d2c01");
    }
}
