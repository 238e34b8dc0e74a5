//! Standardness (Core 28's `policy/policy.cpp`): [`is_standard_tx`],
//! [`dust_threshold`], [`are_inputs_standard`], [`is_witness_standard`],
//! and the sigop cost and sigop-adjusted virtual size.

use bitcoin::{Transaction, TxOut};

use super::feerate::FeeRate;
use super::script::{self, TxoutType};
use crate::store::Coin;

/// Core's `TX_MAX_STANDARD_VERSION` (3: TRUC).
pub const TX_MAX_STANDARD_VERSION: i32 = 3;
/// Core's `MAX_STANDARD_TX_WEIGHT`.
pub const MAX_STANDARD_TX_WEIGHT: u64 = 400_000;
/// Core's `MIN_STANDARD_TX_NONWITNESS_SIZE`.
pub const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
/// Core's `MAX_STANDARD_SCRIPTSIG_SIZE`.
pub const MAX_STANDARD_SCRIPTSIG_SIZE: usize = 1650;
/// Core's `MAX_P2SH_SIGOPS`.
pub const MAX_P2SH_SIGOPS: u64 = 15;
/// Core's `MAX_STANDARD_TX_SIGOPS_COST` (a fifth of the block's).
pub const MAX_STANDARD_TX_SIGOPS_COST: i64 = 16_000;
/// Core's `MAX_STANDARD_P2WSH_SCRIPT_SIZE`.
pub const MAX_STANDARD_P2WSH_SCRIPT_SIZE: usize = 3600;
/// Core's `MAX_STANDARD_P2WSH_STACK_ITEMS`.
pub const MAX_STANDARD_P2WSH_STACK_ITEMS: usize = 100;
/// Core's `MAX_STANDARD_P2WSH_STACK_ITEM_SIZE`.
pub const MAX_STANDARD_P2WSH_STACK_ITEM_SIZE: usize = 80;
/// Core's `MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE`.
pub const MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE: usize = 80;
/// Core's `DEFAULT_BYTES_PER_SIGOP` (`-bytespersigop`).
pub const BYTES_PER_SIGOP: u64 = 20;
pub use crate::validation::sigops::WITNESS_SCALE_FACTOR;

/// The options `IsStandardTx` reads.
#[derive(Clone, Copy, Debug)]
pub struct StandardOptions {
    /// `-datacarriersize` when `-datacarrier` is on, `None` when it is off.
    pub max_datacarrier_bytes: Option<usize>,
    /// `-permitbaremultisig`.
    pub permit_bare_multisig: bool,
    /// `-dustrelayfee`.
    pub dust_relay_fee: FeeRate,
}

/// Core's `IsStandardTx`: `Err(reason)` with Core's reason.
pub fn is_standard_tx(tx: &Transaction, opts: &StandardOptions) -> Result<(), &'static str> {
    let version = tx.version.0;
    if !(1..=TX_MAX_STANDARD_VERSION).contains(&version) {
        return Err("version");
    }
    if tx.weight().to_wu() > MAX_STANDARD_TX_WEIGHT {
        return Err("tx-size");
    }
    for input in &tx.input {
        let sig = input.script_sig.as_bytes();
        if sig.len() > MAX_STANDARD_SCRIPTSIG_SIZE {
            return Err("scriptsig-size");
        }
        if !script::is_push_only(sig) {
            return Err("scriptsig-not-pushonly");
        }
    }
    let mut data_outputs = 0;
    for out in &tx.output {
        let spk = out.script_pubkey.as_bytes();
        let kind = script::solve(spk);
        let standard = match kind {
            TxoutType::NonStandard => false,
            TxoutType::Multisig { m, n } => (1..=3).contains(&n) && (1..=n).contains(&m),
            TxoutType::NullData => opts
                .max_datacarrier_bytes
                .is_some_and(|max| spk.len() <= max),
            _ => true,
        };
        if !standard {
            return Err("scriptpubkey");
        }
        match kind {
            TxoutType::NullData => data_outputs += 1,
            TxoutType::Multisig { .. } if !opts.permit_bare_multisig => {
                return Err("bare-multisig")
            }
            _ if is_dust(out, opts.dust_relay_fee) => return Err("dust"),
            _ => {}
        }
    }
    if data_outputs > 1 {
        return Err("multi-op-return");
    }
    Ok(())
}

/// Core's `GetDustThreshold`: the value below which spending the output
/// would cost more than a third of it at `dust_relay_fee` (Core's formula:
/// the output's size plus a 148-byte input, or 67 vbytes for a witness
/// program).
pub fn dust_threshold(out: &TxOut, dust_relay_fee: FeeRate) -> i64 {
    let spk = out.script_pubkey.as_bytes();
    if script::is_unspendable(spk) {
        return 0;
    }
    let len = spk.len() as u64;
    let mut size = 8 + bitcoin::VarInt(len).size() as u64 + len;
    if script::witness_program(spk).is_some() {
        size += 32 + 4 + 1 + 107 / WITNESS_SCALE_FACTOR + 4;
    } else {
        size += 32 + 4 + 1 + 107 + 4;
    }
    dust_relay_fee.fee(size)
}

/// Core's `IsDust`.
pub fn is_dust(out: &TxOut, dust_relay_fee: FeeRate) -> bool {
    (out.value.to_sat() as i64) < dust_threshold(out, dust_relay_fee)
}

/// The redeem script a P2SH scriptSig pushes last (`None` where Core's
/// evaluation fails or leaves an empty stack).
fn redeem_script(script_sig: &[u8]) -> Option<Vec<u8>> {
    script::eval_pushes(script_sig)?.pop()
}

/// Core's `AreInputsStandard`; `spent[i]` is the coin input `i` spends.
pub fn are_inputs_standard(tx: &Transaction, spent: &[Coin]) -> bool {
    tx.input
        .iter()
        .zip(spent)
        .all(|(input, coin)| match script::solve(&coin.script) {
            TxoutType::NonStandard | TxoutType::WitnessUnknown => false,
            TxoutType::ScriptHash => redeem_script(input.script_sig.as_bytes())
                .is_some_and(|redeem| script::sigop_count(&redeem, true) <= MAX_P2SH_SIGOPS),
            _ => true,
        })
}

/// Core's `IsWitnessStandard`.
pub fn is_witness_standard(tx: &Transaction, spent: &[Coin]) -> bool {
    for (input, coin) in tx.input.iter().zip(spent) {
        let witness = &input.witness;
        if witness.is_empty() {
            continue;
        }
        if script::is_pay_to_anchor(&coin.script) {
            return false;
        }
        let mut prev = coin.script.clone();
        let mut p2sh = false;
        if script::is_p2sh(&prev) {
            match redeem_script(input.script_sig.as_bytes()) {
                Some(redeem) => prev = redeem,
                None => return false,
            }
            p2sh = true;
        }
        let Some((version, program)) = script::witness_program(&prev) else {
            return false;
        };
        let stack: Vec<&[u8]> = witness.iter().collect();
        if version == 0 && program.len() == 32 {
            let (script, items) = match stack.split_last() {
                Some(split) => split,
                None => return false,
            };
            if script.len() > MAX_STANDARD_P2WSH_SCRIPT_SIZE
                || items.len() > MAX_STANDARD_P2WSH_STACK_ITEMS
                || items
                    .iter()
                    .any(|i| i.len() > MAX_STANDARD_P2WSH_STACK_ITEM_SIZE)
            {
                return false;
            }
        }
        if version == 1 && program.len() == 32 && !p2sh {
            let mut stack = &stack[..];
            if stack.len() >= 2 && stack.last().is_some_and(|a| a.first() == Some(&0x50)) {
                // An annex: non-standard while it has no meaning.
                return false;
            }
            if stack.len() >= 2 {
                let control = stack[stack.len() - 1];
                stack = &stack[..stack.len() - 2];
                let Some(&leaf) = control.first() else {
                    return false;
                };
                if leaf & 0xfe == 0xc0
                    && stack
                        .iter()
                        .any(|i| i.len() > MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE)
                {
                    return false;
                }
            } else if stack.is_empty() {
                return false;
            }
        }
    }
    true
}

/// Core's `WitnessSigOps`.
fn witness_sigops(version: u8, program: &[u8], witness: &bitcoin::Witness) -> u64 {
    if version == 0 {
        if program.len() == 20 {
            return 1;
        }
        if program.len() == 32 {
            if let Some(script) = witness.last() {
                return script::sigop_count(script, true);
            }
        }
    }
    0
}

/// Core's `GetTransactionSigOpCost` with the standard flags (P2SH and
/// WITNESS on); `spent[i]` is the coin input `i` spends.
pub fn sigop_cost(tx: &Transaction, spent: &[Coin]) -> i64 {
    let legacy: u64 = tx
        .input
        .iter()
        .map(|i| script::sigop_count(i.script_sig.as_bytes(), false))
        .chain(
            tx.output
                .iter()
                .map(|o| script::sigop_count(o.script_pubkey.as_bytes(), false)),
        )
        .fold(0u64, u64::saturating_add);
    let mut cost = sigops_i64(legacy) * WITNESS_SCALE_FACTOR as i64;
    if tx.is_coinbase() {
        return cost;
    }
    for (input, coin) in tx.input.iter().zip(spent) {
        let sig = input.script_sig.as_bytes();
        if script::is_p2sh(&coin.script) {
            let p2sh = script::last_push(sig).map_or(0, |redeem| script::sigop_count(redeem, true));
            cost += sigops_i64(p2sh) * WITNESS_SCALE_FACTOR as i64;
        }
        let witness_ops = if let Some((v, p)) = script::witness_program(&coin.script) {
            witness_sigops(v, p, &input.witness)
        } else if script::is_p2sh(&coin.script) && script::is_push_only(sig) {
            match script::last_push(sig).and_then(script::witness_program) {
                Some((v, p)) => witness_sigops(v, p, &input.witness),
                None => 0,
            }
        } else {
            0
        };
        cost += sigops_i64(witness_ops);
    }
    cost
}

/// A sigop count as the signed cost Core keeps (counts are far below
/// `i64::MAX`: at most 20 per byte of script).
fn sigops_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Core's `GetVirtualTransactionSize(weight, sigop_cost, bytes_per_sigop)`.
pub fn virtual_size(weight: u64, sigop_cost: i64) -> u64 {
    let sigop_weight = u64::try_from(sigop_cost)
        .unwrap_or(0)
        .saturating_mul(BYTES_PER_SIGOP);
    weight.max(sigop_weight).div_ceil(WITNESS_SCALE_FACTOR)
}

/// Whether a transaction signals BIP125 replaceability itself.
pub fn signals_rbf(tx: &Transaction) -> bool {
    tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{Amount, ScriptBuf};

    fn out(sat: u64, spk: Vec<u8>) -> TxOut {
        TxOut {
            value: Amount::from_sat(sat),
            script_pubkey: ScriptBuf::from_bytes(spk),
        }
    }

    #[test]
    fn dust_values() {
        let fee = FeeRate::from_sat_per_kvb(3000);
        let wpkh = [&[0, 0x14][..], &[1; 20]].concat();
        assert_eq!(dust_threshold(&out(0, wpkh), fee), 294);
        let pkh = [&[0x76, 0xa9, 0x14][..], &[0; 20], &[0x88, 0xac]].concat();
        assert_eq!(dust_threshold(&out(0, pkh), fee), 546);
        let tr = [&[0x51, 0x20][..], &[1; 32]].concat();
        assert_eq!(dust_threshold(&out(0, tr), fee), 330);
        assert_eq!(dust_threshold(&out(0, vec![0x6a]), fee), 0);
    }

    #[test]
    fn vsize() {
        assert_eq!(virtual_size(561, 0), 141);
        assert_eq!(virtual_size(400, 80), 400);
    }
}
