//! The ways a block or a transaction is invalid, with Bitcoin Core 28's
//! reject reasons ([`BlockError::reject_reason`], what `submitblock` and
//! the `invalidblock` logs show) and debug messages
//! ([`BlockError::debug_message`]), byte for byte.

use bitcoin::{Amount, OutPoint, Txid, Wtxid};

use super::script_error::ScriptError;

/// Why a transaction is invalid on its own (`CheckTransaction`) or with
/// the coins it spends (`CheckTxInputs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display(&self.reject_reason(), &self.debug_message()))]
pub enum TxError {
    /// No inputs.
    VinEmpty,
    /// No outputs.
    VoutEmpty,
    /// Serialized without witness, it weighs more than a block.
    Oversize,
    /// An output value is negative.
    VoutNegative,
    /// An output is worth more than 21 million bitcoin.
    VoutTooLarge,
    /// The outputs total more than 21 million bitcoin.
    TxoutTotalTooLarge,
    /// An outpoint is spent twice.
    InputsDuplicate,
    /// The coinbase scriptSig is not 2 to 100 bytes.
    CbLength,
    /// A non-coinbase input spends the null outpoint.
    PrevoutNull,
    /// An input's coin is not in the UTXO set.
    InputsMissingOrSpent,
    /// A coinbase output spent before 100 confirmations.
    PrematureSpendOfCoinbase { depth: i64 },
    /// A spent coin's value, or their sum, is outside 0..=21M BTC.
    InputValuesOutOfRange,
    /// The outputs are worth more than the inputs.
    InBelowOut { value_in: u64, value_out: u64 },
    /// The fee is outside 0..=21M BTC.
    FeeOutOfRange,
}

impl TxError {
    /// Core's reject reason.
    pub fn reject_reason(&self) -> String {
        match self {
            TxError::VinEmpty => "bad-txns-vin-empty",
            TxError::VoutEmpty => "bad-txns-vout-empty",
            TxError::Oversize => "bad-txns-oversize",
            TxError::VoutNegative => "bad-txns-vout-negative",
            TxError::VoutTooLarge => "bad-txns-vout-toolarge",
            TxError::TxoutTotalTooLarge => "bad-txns-txouttotal-toolarge",
            TxError::InputsDuplicate => "bad-txns-inputs-duplicate",
            TxError::CbLength => "bad-cb-length",
            TxError::PrevoutNull => "bad-txns-prevout-null",
            TxError::InputsMissingOrSpent => "bad-txns-inputs-missingorspent",
            TxError::PrematureSpendOfCoinbase { .. } => "bad-txns-premature-spend-of-coinbase",
            TxError::InputValuesOutOfRange => "bad-txns-inputvalues-outofrange",
            TxError::InBelowOut { .. } => "bad-txns-in-belowout",
            TxError::FeeOutOfRange => "bad-txns-fee-outofrange",
        }
        .to_owned()
    }

    /// Core's debug message (empty for most context-free failures).
    pub fn debug_message(&self) -> String {
        match self {
            TxError::InputsMissingOrSpent => "CheckTxInputs: inputs missing/spent".to_owned(),
            TxError::PrematureSpendOfCoinbase { depth } => {
                format!("tried to spend coinbase at depth {depth}")
            }
            TxError::InBelowOut {
                value_in,
                value_out,
            } => format!(
                "value in ({}) < value out ({})",
                format_money(*value_in as i64),
                format_money(*value_out as i64)
            ),
            _ => String::new(),
        }
    }
}

/// Why a block is invalid: each variant is one of Core's reject reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display(&self.reject_reason(), &self.debug_message()))]
pub enum BlockError {
    /// The hash doesn't meet the target, or the target is invalid.
    HighHash,
    /// `nBits` is not what retargeting requires.
    BadDiffBits,
    /// Timestamp not after the median time past.
    TimeTooOld,
    /// BIP94: a retarget block more than 10 minutes before its parent.
    TimeTimewarpAttack,
    /// Timestamp more than 2 hours after the (adjusted) time.
    TimeTooNew,
    /// Version below what BIP34/66/65 require at this height.
    BadVersion(i32),
    /// The header's merkle root isn't the transactions'.
    BadTxnMrklRoot,
    /// The transaction list is mutated (CVE-2012-2459).
    TxnsDuplicate,
    /// No transactions, or too many, or too large without witness.
    BadBlkLength,
    /// The first transaction is not a coinbase.
    CbMissing,
    /// A transaction after the first is a coinbase.
    CbMultiple,
    /// A transaction failed `CheckTransaction`.
    CheckTransaction { txid: Txid, error: TxError },
    /// Legacy sigops over the limit (`CheckBlock`).
    BlkSigopsLegacy,
    /// Sigop cost over the limit (`ConnectBlock`).
    BlkSigops,
    /// A transaction isn't final (lock time vs height and MTP).
    TxnsNonFinal,
    /// A transaction's BIP68 relative lock times aren't met.
    TxnsNonFinalBip68 { txid: Txid },
    /// The coinbase doesn't start with the height (BIP34).
    CbHeight,
    /// The coinbase witness isn't a single 32-byte reserved value.
    WitnessNonceSize,
    /// The witness commitment doesn't match the wtxids.
    WitnessMerkleMatch,
    /// Witness data without a witness commitment.
    UnexpectedWitness,
    /// Heavier than 4M weight units.
    BlkWeight,
    /// A transaction failed `CheckTxInputs`.
    TxInputs { txid: Txid, error: TxError },
    /// The fees add up to more than 21 million bitcoin.
    AccumulatedFeeOutOfRange,
    /// The coinbase claims more than subsidy plus fees.
    CbAmount { actual: Amount, limit: Amount },
    /// A transaction overwrites an unspent output (BIP30).
    Bip30,
    /// An input's script failed under the block's flags.
    Script {
        /// Position of the transaction in the block.
        tx: usize,
        input: usize,
        txid: Txid,
        wtxid: Wtxid,
        prevout: OutPoint,
        error: ScriptError,
    },
}

impl BlockError {
    /// Core's reject reason, e.g. `bad-txnmrklroot` or
    /// `mandatory-script-verify-flag-failed (Invalid Schnorr signature)`.
    pub fn reject_reason(&self) -> String {
        let s = match self {
            BlockError::HighHash => "high-hash",
            BlockError::BadDiffBits => "bad-diffbits",
            BlockError::TimeTooOld => "time-too-old",
            BlockError::TimeTimewarpAttack => "time-timewarp-attack",
            BlockError::TimeTooNew => "time-too-new",
            BlockError::BadVersion(v) => return format!("bad-version(0x{:08x})", *v as u32),
            BlockError::BadTxnMrklRoot => "bad-txnmrklroot",
            BlockError::TxnsDuplicate => "bad-txns-duplicate",
            BlockError::BadBlkLength => "bad-blk-length",
            BlockError::CbMissing => "bad-cb-missing",
            BlockError::CbMultiple => "bad-cb-multiple",
            BlockError::CheckTransaction { error, .. } | BlockError::TxInputs { error, .. } => {
                return error.reject_reason()
            }
            BlockError::BlkSigopsLegacy | BlockError::BlkSigops => "bad-blk-sigops",
            BlockError::TxnsNonFinal | BlockError::TxnsNonFinalBip68 { .. } => "bad-txns-nonfinal",
            BlockError::CbHeight => "bad-cb-height",
            BlockError::WitnessNonceSize => "bad-witness-nonce-size",
            BlockError::WitnessMerkleMatch => "bad-witness-merkle-match",
            BlockError::UnexpectedWitness => "unexpected-witness",
            BlockError::BlkWeight => "bad-blk-weight",
            BlockError::AccumulatedFeeOutOfRange => "bad-txns-accumulated-fee-outofrange",
            BlockError::CbAmount { .. } => "bad-cb-amount",
            BlockError::Bip30 => "bad-txns-BIP30",
            BlockError::Script { error, .. } => {
                return format!("mandatory-script-verify-flag-failed ({})", error.as_str())
            }
        };
        s.to_owned()
    }

    /// Core's debug message for the failure.
    pub fn debug_message(&self) -> String {
        match self {
            BlockError::HighHash => "proof of work failed".into(),
            BlockError::BadDiffBits => "incorrect proof of work".into(),
            BlockError::TimeTooOld => "block's timestamp is too early".into(),
            BlockError::TimeTimewarpAttack => {
                "block's timestamp is too early on diff adjustment block".into()
            }
            BlockError::TimeTooNew => "block timestamp too far in the future".into(),
            BlockError::BadVersion(v) => format!("rejected nVersion=0x{:08x} block", *v as u32),
            BlockError::BadTxnMrklRoot => "hashMerkleRoot mismatch".into(),
            BlockError::TxnsDuplicate => "duplicate transaction".into(),
            BlockError::BadBlkLength => "size limits failed".into(),
            BlockError::CbMissing => "first tx is not coinbase".into(),
            BlockError::CbMultiple => "more than one coinbase".into(),
            BlockError::CheckTransaction { txid, error } => format!(
                "Transaction check failed (tx hash {txid}) {}",
                error.debug_message()
            ),
            BlockError::BlkSigopsLegacy => "out-of-bounds SigOpCount".into(),
            BlockError::BlkSigops => "too many sigops".into(),
            BlockError::TxnsNonFinal => "non-final transaction".into(),
            BlockError::TxnsNonFinalBip68 { txid } => {
                format!("contains a non-BIP68-final transaction {txid}")
            }
            BlockError::CbHeight => "block height mismatch in coinbase".into(),
            BlockError::WitnessNonceSize => {
                "CheckWitnessMalleation : invalid witness reserved value size".into()
            }
            BlockError::WitnessMerkleMatch => {
                "CheckWitnessMalleation : witness merkle commitment mismatch".into()
            }
            BlockError::UnexpectedWitness => {
                "CheckWitnessMalleation : unexpected witness data found".into()
            }
            BlockError::BlkWeight => "ContextualCheckBlock : weight limit failed".into(),
            BlockError::TxInputs { txid, error } => {
                format!("{} in transaction {txid}", error.debug_message())
            }
            BlockError::AccumulatedFeeOutOfRange => {
                "accumulated fee in the block out of range".into()
            }
            BlockError::CbAmount { actual, limit } => format!(
                "coinbase pays too much (actual={} vs limit={})",
                actual.to_sat(),
                limit.to_sat()
            ),
            BlockError::Bip30 => "tried to overwrite transaction".into(),
            BlockError::Script {
                input,
                txid,
                wtxid,
                prevout,
                ..
            } => format!(
                "input {input} of {txid} (wtxid {wtxid}), spending {}:{}",
                prevout.txid, prevout.vout
            ),
        }
    }
}

/// Core's `ValidationState::ToString`: the reason, then the debug message
/// after a comma when there is one.
fn display(reason: &str, debug: &str) -> String {
    if debug.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}, {debug}")
    }
}

/// Core's `FormatMoney`: bitcoin with at least two and at most eight
/// decimals, e.g. `0.0001`, `50.00`.
pub fn format_money(sat: i64) -> String {
    let abs = sat.unsigned_abs();
    let mut s = format!("{}.{:08}", abs / 100_000_000, abs % 100_000_000);
    while s.ends_with('0') && s.len() - s.find('.').unwrap_or(0) > 3 {
        s.pop();
    }
    if sat < 0 {
        s.insert(0, '-');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money() {
        assert_eq!(format_money(0), "0.00");
        assert_eq!(format_money(100_000_000), "1.00");
        assert_eq!(format_money(10_000), "0.0001");
        assert_eq!(format_money(123_456_789), "1.23456789");
        assert_eq!(format_money(-150_000_000), "-1.50");
    }

    #[test]
    fn version_formats_as_unsigned_hex() {
        assert_eq!(
            BlockError::BadVersion(1).reject_reason(),
            "bad-version(0x00000001)"
        );
        assert_eq!(
            BlockError::BadVersion(-1).reject_reason(),
            "bad-version(0xffffffff)"
        );
    }
}
