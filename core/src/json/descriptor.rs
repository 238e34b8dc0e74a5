//! Core's `InferDescriptor` for the `desc` field of script objects, and
//! descriptor checksums (`DescriptorChecksum`).
//!
//! With the empty key provider Core uses for RPC output, a top-level script
//! infers to `pk(KEY)` (a bare key that is not hybrid), `multi(k,KEYS)`
//! (bare multisig with no hybrid key), `rawtr(XONLY)` (a taproot output
//! whose key is on the curve), `addr(ADDRESS)` (other scripts with an
//! address) or `raw(HEX)`. `decodescript` also knows the script behind its
//! own P2WSH form, which infers to `wsh(pk(..))` / `wsh(multi(..))` for
//! compressed keys or `wsh(MINISCRIPT)` for a sane Miniscript; other
//! witness scripts give `addr(..)`.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::hex::DisplayHex;
use bitcoin::{Network, Script, XOnlyPublicKey};
use miniscript::{Miniscript, Segwitv0, Terminal};

use super::script::{address, is_valid_non_hybrid, solve, TxoutType};

/// Core's `InferDescriptor(script, provider)->ToString()`: the descriptor
/// with its checksum. `witness_script` is the one script the provider
/// knows (for a P2WSH `script`), if any.
pub fn infer(script: &Script, network: Network, witness_script: Option<&Script>) -> String {
    add_checksum(&infer_top(script, network, witness_script))
}

/// `InferScript` in the top-level context.
fn infer_top(script: &Script, network: Network, witness_script: Option<&Script>) -> String {
    let solution = solve(script);
    let data = &solution.data;
    match solution.kind {
        TxoutType::PubKey if is_valid_non_hybrid(&data[0]) => {
            return format!("pk({})", data[0].to_lower_hex_string());
        }
        TxoutType::Multisig => {
            if let Some(desc) = multi(data, false) {
                return desc;
            }
        }
        TxoutType::WitnessV0ScriptHash => {
            if let Some(inner) = witness_script {
                let hash = sha256::Hash::hash(inner.as_bytes());
                if hash.as_byte_array()[..] == data[0][..] {
                    if let Some(sub) = infer_p2wsh(inner) {
                        return format!("wsh({sub})");
                    }
                }
            }
        }
        TxoutType::WitnessV1Taproot if XOnlyPublicKey::from_slice(&data[0]).is_ok() => {
            return format!("rawtr({})", data[0].to_lower_hex_string());
        }
        _ => {}
    }
    match address(script, solution.kind, network) {
        Some(address) => format!("addr({address})"),
        None => format!("raw({})", script.as_bytes().to_lower_hex_string()),
    }
}

/// `InferScript` in the P2WSH context with a provider that knows no keys:
/// `pk` and `multi` of compressed keys, else a sane Miniscript (parsed by
/// rust-miniscript, written with Core's syntax: `pk`, `and_n`, `t:`, `l:`,
/// `u:` sugar).
fn infer_p2wsh(script: &Script) -> Option<String> {
    let solution = solve(script);
    match solution.kind {
        TxoutType::PubKey if compressed(&solution.data[0]) => {
            return Some(format!("pk({})", solution.data[0].to_lower_hex_string()));
        }
        TxoutType::Multisig => {
            if let Some(desc) = multi(&solution.data, true) {
                return Some(desc);
            }
        }
        _ => {}
    }
    let ms = Miniscript::<bitcoin::PublicKey, Segwitv0>::parse(script).ok()?;
    // Core's KeyParser knows a key behind a hash only from the signing
    // provider, which is empty here: scripts with `pk_h` are not inferred.
    let by_hash = ms
        .iter()
        .any(|node| matches!(node.node, Terminal::PkH(_) | Terminal::RawPkH(_)));
    (!by_hash).then(|| ms.to_string())
}

/// A key Core's `InferPubkey` accepts in a segwit context.
fn compressed(key: &[u8]) -> bool {
    is_valid_non_hybrid(key) && key.len() == 33
}

/// `multi(k,KEY,...)` from `Solver`'s multisig data, if every key is
/// accepted (compressed only in segwit).
fn multi(data: &[Vec<u8>], segwit: bool) -> Option<String> {
    let required = data.first()?.first()?;
    let keys = data.get(1..data.len().saturating_sub(1))?;
    let ok = keys
        .iter()
        .all(|k| is_valid_non_hybrid(k) && (!segwit || k.len() == 33));
    if !ok {
        return None;
    }
    let keys: Vec<String> = keys.iter().map(|k| k.to_lower_hex_string()).collect();
    Some(format!("multi({required},{})", keys.join(",")))
}

/// The descriptor with `#` and its checksum appended.
pub fn add_checksum(descriptor: &str) -> String {
    match checksum(descriptor) {
        Some(sum) => format!("{descriptor}#{sum}"),
        None => descriptor.to_owned(),
    }
}

/// Core's `DescriptorChecksum`: 8 characters, or `None` if the descriptor
/// has a character outside the descriptor character set.
pub fn checksum(descriptor: &str) -> Option<String> {
    const INPUT_CHARSET: &[u8] = b"0123456789()[],'/*abcdefgh@:$%{}\
IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~\
ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
    const CHECKSUM_CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

    let mut c: u64 = 1;
    let mut cls: u64 = 0;
    let mut clscount = 0;
    for ch in descriptor.bytes() {
        let pos = INPUT_CHARSET.iter().position(|&x| x == ch)? as u64;
        c = poly_mod(c, pos & 31);
        cls = cls * 3 + (pos >> 5);
        clscount += 1;
        if clscount == 3 {
            c = poly_mod(c, cls);
            cls = 0;
            clscount = 0;
        }
    }
    if clscount > 0 {
        c = poly_mod(c, cls);
    }
    for _ in 0..8 {
        c = poly_mod(c, 0);
    }
    c ^= 1;
    Some(
        (0..8)
            .map(|j| char::from(CHECKSUM_CHARSET[((c >> (5 * (7 - j))) & 31) as usize]))
            .collect(),
    )
}

/// Core's `PolyMod` for descriptor checksums.
fn poly_mod(c: u64, val: u64) -> u64 {
    let c0 = c >> 35;
    let mut c = ((c & 0x7_ffff_ffff) << 5) ^ val;
    if c0 & 1 != 0 {
        c ^= 0xf5_dee5_1989;
    }
    if c0 & 2 != 0 {
        c ^= 0xa9_fdca_3312;
    }
    if c0 & 4 != 0 {
        c ^= 0x1b_ab10_e32d;
    }
    if c0 & 8 != 0 {
        c ^= 0x37_06b1_677a;
    }
    if c0 & 16 != 0 {
        c ^= 0x64_4d62_6ffd;
    }
    c
}
