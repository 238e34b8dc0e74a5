//! The wallet's transactions and who spends what (Core's `mapWallet` and
//! `mapTxSpends`), with Core's cached-amount rules: trusted, credit, debit,
//! spent.

use std::collections::{HashMap, HashSet};

use bitcoin::{Amount, OutPoint, TxOut, Txid};

use crate::index::ScriptIndex;
use crate::tx::{TxState, WalletTx};

/// The wallet's transactions.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    txs: HashMap<Txid, WalletTx>,
    spends: HashMap<OutPoint, Vec<Txid>>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Adds or replaces a transaction.
    pub fn insert(&mut self, wtx: WalletTx) {
        let txid = wtx.txid;
        if !self.txs.contains_key(&txid) && !wtx.tx.is_coinbase() {
            for input in &wtx.tx.input {
                let list = self.spends.entry(input.previous_output).or_default();
                if !list.contains(&txid) {
                    list.push(txid);
                }
            }
        }
        self.txs.insert(txid, wtx);
    }

    /// A transaction by txid.
    pub fn get(&self, txid: &Txid) -> Option<&WalletTx> {
        self.txs.get(txid)
    }

    /// A transaction by txid, to change its state.
    pub fn get_mut(&mut self, txid: &Txid) -> Option<&mut WalletTx> {
        self.txs.get_mut(txid)
    }

    /// Whether the wallet has the transaction.
    pub fn contains(&self, txid: &Txid) -> bool {
        self.txs.contains_key(txid)
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Every transaction, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &WalletTx> {
        self.txs.values()
    }

    /// Every transaction by order of arrival.
    pub fn ordered(&self) -> Vec<&WalletTx> {
        let mut v: Vec<&WalletTx> = self.txs.values().collect();
        v.sort_by_key(|w| (w.order, w.txid));
        v
    }

    /// The wallet transactions spending `outpoint`.
    pub fn spenders(&self, outpoint: &OutPoint) -> &[Txid] {
        self.spends.get(outpoint).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The output `outpoint` if the wallet has its transaction.
    pub fn output(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.txs
            .get(&outpoint.txid)
            .and_then(|w| w.tx.output.get(outpoint.vout as usize))
    }

    /// Core's `IsSpent`: some wallet transaction that is neither abandoned
    /// nor conflicted with a block spends it.
    pub fn is_spent(&self, outpoint: &OutPoint, tip: Option<u32>) -> bool {
        self.spenders(outpoint).iter().any(|txid| {
            self.txs
                .get(txid)
                .is_some_and(|w| !w.is_abandoned() && w.depth(tip) >= 0)
        })
    }

    /// Core's `IsFromMe`: an input spends a wallet output.
    pub fn is_from_me(&self, wtx: &WalletTx, scripts: &ScriptIndex) -> bool {
        wtx.tx.input.iter().any(|i| {
            self.output(&i.previous_output)
                .is_some_and(|o| scripts.contains(o.script_pubkey.as_bytes()))
        })
    }

    /// Core's `GetDebit`: the value of the wallet outputs it spends.
    pub fn debit(&self, wtx: &WalletTx, scripts: &ScriptIndex) -> Amount {
        wtx.tx
            .input
            .iter()
            .filter_map(|i| self.output(&i.previous_output))
            .filter(|o| scripts.contains(o.script_pubkey.as_bytes()))
            .map(|o| o.value)
            .sum()
    }

    /// Whether every input spends a wallet output (known to the wallet).
    pub fn all_inputs_mine(&self, wtx: &WalletTx, scripts: &ScriptIndex) -> bool {
        !wtx.tx.is_coinbase()
            && wtx.tx.input.iter().all(|i| {
                self.output(&i.previous_output)
                    .is_some_and(|o| scripts.contains(o.script_pubkey.as_bytes()))
            })
    }

    /// The fee of a transaction whose inputs are all known, else `None`.
    pub fn fee(&self, wtx: &WalletTx) -> Option<Amount> {
        if wtx.tx.is_coinbase() {
            return None;
        }
        let mut total = Amount::ZERO;
        for i in &wtx.tx.input {
            total += self.output(&i.previous_output)?.value;
        }
        let out: Amount = wtx.tx.output.iter().map(|o| o.value).sum();
        total.checked_sub(out)
    }

    /// Core's `CachedTxIsTrusted`: confirmed, or an unconfirmed transaction
    /// from the wallet that is in the mempool and whose inputs all come
    /// from trusted wallet transactions.
    pub fn is_trusted(&self, wtx: &WalletTx, scripts: &ScriptIndex, tip: Option<u32>) -> bool {
        let mut seen = HashSet::new();
        self.is_trusted_inner(wtx, scripts, tip, &mut seen)
    }

    fn is_trusted_inner(
        &self,
        wtx: &WalletTx,
        scripts: &ScriptIndex,
        tip: Option<u32>,
        trusted: &mut HashSet<Txid>,
    ) -> bool {
        let depth = wtx.depth(tip);
        if depth >= 1 {
            return true;
        }
        if depth < 0 || !self.is_from_me(wtx, scripts) || !wtx.in_mempool() {
            return false;
        }
        for input in &wtx.tx.input {
            let Some(parent) = self.txs.get(&input.previous_output.txid) else {
                return false;
            };
            let Some(out) = parent.tx.output.get(input.previous_output.vout as usize) else {
                return false;
            };
            if !scripts.contains(out.script_pubkey.as_bytes()) {
                return false;
            }
            if trusted.contains(&parent.txid) {
                continue;
            }
            if !self.is_trusted_inner(parent, scripts, tip, trusted) {
                return false;
            }
            trusted.insert(parent.txid);
        }
        true
    }

    /// The wallet's unspent outputs of `wtx` that count as available
    /// (Core's `CachedTxGetAvailableCredit`: nothing for an immature
    /// coinbase).
    pub fn available_credit(
        &self,
        wtx: &WalletTx,
        scripts: &ScriptIndex,
        tip: Option<u32>,
    ) -> Amount {
        if wtx.is_immature(tip) {
            return Amount::ZERO;
        }
        wtx.tx
            .output
            .iter()
            .enumerate()
            .filter(|(_, o)| scripts.contains(o.script_pubkey.as_bytes()))
            .filter(|(n, _)| !self.is_spent(&OutPoint::new(wtx.txid, *n as u32), tip))
            .map(|(_, o)| o.value)
            .sum()
    }

    /// Core's `CachedTxGetImmatureCredit`: all wallet outputs of an
    /// immature coinbase in the main chain.
    pub fn immature_credit(
        &self,
        wtx: &WalletTx,
        scripts: &ScriptIndex,
        tip: Option<u32>,
    ) -> Amount {
        if !wtx.is_immature(tip) || wtx.depth(tip) <= 0 {
            return Amount::ZERO;
        }
        self.credit(wtx, scripts)
    }

    /// Core's `GetCredit`: the value of all outputs paying the wallet.
    pub fn credit(&self, wtx: &WalletTx, scripts: &ScriptIndex) -> Amount {
        wtx.tx
            .output
            .iter()
            .filter(|o| scripts.contains(o.script_pubkey.as_bytes()))
            .map(|o| o.value)
            .sum()
    }

    /// The wallet transactions that spend outputs of `txid`, recursively
    /// (not including `txid`).
    pub fn descendants(&self, txid: Txid) -> Vec<Txid> {
        let mut out = Vec::new();
        let mut todo = vec![txid];
        let mut seen = HashSet::new();
        seen.insert(txid);
        while let Some(t) = todo.pop() {
            let Some(w) = self.txs.get(&t) else { continue };
            for n in 0..w.tx.output.len() {
                for s in self.spenders(&OutPoint::new(t, n as u32)) {
                    if seen.insert(*s) {
                        out.push(*s);
                        todo.push(*s);
                    }
                }
            }
        }
        out
    }

    /// Transactions conflicted with blocks at or above `height`.
    pub fn conflicted_from(&self, height: u32) -> Vec<Txid> {
        self.txs
            .values()
            .filter(|w| matches!(w.state, TxState::Conflicted { height: h, .. } if h >= height))
            .map(|w| w.txid)
            .collect()
    }

    /// Core's `walletconflicts`: other wallet transactions spending any of
    /// the same outputs.
    pub fn conflicts(&self, wtx: &WalletTx) -> Vec<Txid> {
        let mut out = Vec::new();
        if wtx.tx.is_coinbase() {
            return out;
        }
        for i in &wtx.tx.input {
            for s in self.spenders(&i.previous_output) {
                if *s != wtx.txid && !out.contains(s) {
                    out.push(*s);
                }
            }
        }
        out
    }
}
