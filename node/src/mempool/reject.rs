//! Why a transaction was not accepted: [`MempoolReject`] carries Core's
//! reject reason and debug text, and maps to Core's RPC results.

use std::fmt;

/// The class of a rejection (Core's `TxValidationResult`, grouped by how
/// the RPC layer reports it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectKind {
    /// Breaks a consensus rule (`TX_CONSENSUS`).
    Invalid,
    /// An input is neither in the UTXO set nor in the mempool
    /// (`TX_MISSING_INPUTS`).
    MissingInputs,
    /// The transaction is already confirmed (`txn-already-known`: its
    /// outputs are in the UTXO set).
    AlreadyKnown,
    /// Already in the mempool, or conflicts with it in a way no replacement
    /// rule can resolve (`TX_CONFLICT`).
    Conflict,
    /// Standardness and mempool policy (`TX_NOT_STANDARD`,
    /// `TX_MEMPOOL_POLICY`, `TX_PREMATURE_SPEND`, `TX_INPUTS_NOT_STANDARD`,
    /// `TX_WITNESS_MUTATED`).
    Policy,
    /// Fee too low for relay, the mempool or a replacement
    /// (`TX_RECONSIDERABLE` and the min relay fee check).
    Fee,
    /// The fee exceeds the caller's maximum fee rate (sendrawtransaction's
    /// `maxfeerate`; testmempoolaccept's `max-fee-exceeded`).
    MaxFee,
}

/// A rejected transaction: Core's reason (`state.GetRejectReason()`) and
/// debug message (`state.GetDebugMessage()`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct MempoolReject {
    pub kind: RejectKind,
    /// Core's exact reject reason, e.g. `min relay fee not met`.
    pub reason: String,
    /// Core's debug message, e.g. `0 < 110`.
    pub debug: Option<String>,
}

/// Core's `RPC_TRANSACTION_ERROR` (`RPC_VERIFY_ERROR`).
pub const RPC_VERIFY_ERROR: i32 = -25;
/// Core's `RPC_TRANSACTION_REJECTED` (`RPC_VERIFY_REJECTED`).
pub const RPC_VERIFY_REJECTED: i32 = -26;
/// Core's `RPC_TRANSACTION_ALREADY_IN_CHAIN`.
pub const RPC_VERIFY_ALREADY_IN_CHAIN: i32 = -27;

impl MempoolReject {
    /// A rejection without debug text.
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> MempoolReject {
        MempoolReject {
            kind,
            reason: reason.into(),
            debug: None,
        }
    }

    /// A rejection with Core's debug text.
    pub fn with_debug(
        kind: RejectKind,
        reason: impl Into<String>,
        debug: impl Into<String>,
    ) -> MempoolReject {
        MempoolReject {
            kind,
            reason: reason.into(),
            debug: Some(debug.into()),
        }
    }

    /// Core's `TxValidationState::ToString()`: `reason, debug` (or the
    /// reason alone).
    pub fn state_string(&self) -> String {
        match &self.debug {
            Some(d) if !d.is_empty() => format!("{}, {}", self.reason, d),
            _ => self.reason.clone(),
        }
    }

    /// The JSON-RPC error code `sendrawtransaction` answers with: -25 for
    /// missing inputs and an exceeded fee, -27 for a confirmed transaction,
    /// -26 otherwise.
    pub fn rpc_code(&self) -> i32 {
        match self.kind {
            RejectKind::MissingInputs | RejectKind::MaxFee => RPC_VERIFY_ERROR,
            RejectKind::AlreadyKnown => RPC_VERIFY_ALREADY_IN_CHAIN,
            _ => RPC_VERIFY_REJECTED,
        }
    }

    /// The JSON-RPC error message `sendrawtransaction` answers with.
    ///
    /// Note that Core's `sendrawtransaction` does not fail for a transaction
    /// whose txid is already in the mempool (it re-announces it and returns
    /// the txid): the RPC layer checks [`Mempool::get`](super::Mempool::get)
    /// first.
    pub fn rpc_message(&self) -> String {
        match self.kind {
            RejectKind::AlreadyKnown => "Transaction already in block chain".into(),
            RejectKind::MaxFee => {
                "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)".into()
            }
            _ => self.state_string(),
        }
    }

    /// The `reject-reason` of `testmempoolaccept`.
    pub fn test_accept_reason(&self) -> &str {
        match self.kind {
            RejectKind::MissingInputs => "missing-inputs",
            RejectKind::MaxFee => "max-fee-exceeded",
            _ => &self.reason,
        }
    }
}

impl fmt::Display for MempoolReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.state_string())
    }
}

/// Shorthands for the rejections built in this module's siblings.
pub(crate) fn invalid(reason: &str) -> MempoolReject {
    MempoolReject::new(RejectKind::Invalid, reason)
}

pub(crate) fn policy(reason: &str) -> MempoolReject {
    MempoolReject::new(RejectKind::Policy, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_mapping() {
        let r = MempoolReject::with_debug(RejectKind::Fee, "min relay fee not met", "0 < 110");
        assert_eq!(r.rpc_code(), -26);
        assert_eq!(r.rpc_message(), "min relay fee not met, 0 < 110");
        assert_eq!(r.test_accept_reason(), "min relay fee not met");
        let m = MempoolReject::new(RejectKind::MissingInputs, "bad-txns-inputs-missingorspent");
        assert_eq!(m.rpc_code(), -25);
        assert_eq!(m.rpc_message(), "bad-txns-inputs-missingorspent");
        assert_eq!(m.test_accept_reason(), "missing-inputs");
        let k = MempoolReject::new(RejectKind::AlreadyKnown, "txn-already-known");
        assert_eq!(k.rpc_code(), -27);
        assert_eq!(k.rpc_message(), "Transaction already in block chain");
    }
}
