//! Core's `GetBalance`: trusted, untrusted pending and immature amounts.

use bitcoin::Amount;

use crate::index::ScriptIndex;
use crate::ledger::Ledger;

/// The wallet's balances (Core's `Balance`, the `mine` part).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Confirmed (at least `min_depth`), or unconfirmed from the wallet
    /// itself and trusted (own change in the mempool).
    pub trusted: Amount,
    /// Unconfirmed, in the mempool, from others.
    pub untrusted_pending: Amount,
    /// Coinbase outputs not yet mature.
    pub immature: Amount,
}

/// Core's `GetBalance(wallet, min_depth)`: for each transaction, its
/// available credit counts as trusted when it is trusted and at least
/// `min_depth` deep, as untrusted pending when it is not trusted, in the
/// mempool and unconfirmed; immature coinbase credit is counted apart.
pub fn get_balance(
    ledger: &Ledger,
    scripts: &ScriptIndex,
    tip: Option<u32>,
    min_depth: i64,
) -> Balance {
    let mut b = Balance::default();
    for wtx in ledger.iter() {
        let trusted = ledger.is_trusted(wtx, scripts, tip);
        let depth = wtx.depth(tip);
        if trusted && depth >= min_depth {
            b.trusted += ledger.available_credit(wtx, scripts, tip);
        }
        if !trusted && depth == 0 && wtx.in_mempool() {
            b.untrusted_pending += ledger.available_credit(wtx, scripts, tip);
        }
        b.immature += ledger.immature_credit(wtx, scripts, tip);
    }
    b
}
