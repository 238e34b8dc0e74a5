//! Building the wallet's transactions (Core's `CreateTransaction`): fee
//! rate, available coins, coin selection, change, RBF signalling,
//! anti-fee-sniping locktime, signing, and committing (recording and
//! broadcasting).

use bitcoin::absolute::LockTime;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::chain::Chain;
use crate::coinselect::{self, Candidate};
use crate::error::WalletError;
use crate::index::ScriptOrigin;
use crate::output_type::OutputType;
use crate::store::Batch;
use crate::tx::TxState;
use crate::wallet::{now, Wallet};

/// A fee rate in satoshis per 1000 virtual bytes (Core's `CFeeRate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeeRateKvb(pub u64);

impl FeeRateKvb {
    /// From rust-bitcoin's rate (sat per 1000 weight units).
    pub fn from_fee_rate(r: bitcoin::FeeRate) -> FeeRateKvb {
        FeeRateKvb(r.to_sat_per_kwu().saturating_mul(4))
    }

    /// Core's `GetFee`: the fee for `vsize` virtual bytes, rounded up.
    pub fn fee(self, vsize: u64) -> i64 {
        let f = (u128::from(self.0) * u128::from(vsize)).div_ceil(1000);
        i64::try_from(f).unwrap_or(i64::MAX)
    }

    /// The fee for `weight` weight units (vsize rounded up).
    pub fn fee_wu(self, weight: u64) -> i64 {
        self.fee(weight.div_ceil(4))
    }

    /// Core's `ToString(FeeEstimateMode::SAT_VB)`: `1.000 sat/vB`.
    pub fn sat_vb_string(self) -> String {
        format!("{}.{:03} sat/vB", self.0 / 1000, self.0 % 1000)
    }

    /// Core's default `ToString`: `0.00001000 BTC/kvB`.
    pub fn btc_kvb_string(self) -> String {
        format!(
            "{}.{:08} BTC/kvB",
            self.0 / 100_000_000,
            self.0 % 100_000_000
        )
    }
}

/// One payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Where to.
    pub script: ScriptBuf,
    /// How much.
    pub amount: Amount,
    /// Whether the fee is taken from this output.
    pub subtract_fee: bool,
}

/// Core's `CCoinControl`: how to build a transaction.
#[derive(Debug, Clone, Default)]
pub struct CoinControl {
    /// Explicit fee rate.
    pub fee_rate: Option<FeeRateKvb>,
    /// Confirmation target for the estimate.
    pub conf_target: Option<u32>,
    /// BIP125 signalling (the wallet's default when `None`).
    pub replaceable: Option<bool>,
    /// Change type (Core 28's rule when `None`).
    pub change_type: Option<OutputType>,
    /// Change to this script instead of a new change address.
    pub change_script: Option<ScriptBuf>,
    /// Position of the change output (random when `None`).
    pub change_position: Option<usize>,
    /// Inputs that must be used.
    pub inputs: Vec<OutPoint>,
    /// Whether more inputs may be added to `inputs`.
    pub add_inputs: bool,
    /// Include unconfirmed coins from others.
    pub include_unsafe: bool,
    /// Explicit locktime (anti-fee-sniping when `None`).
    pub lock_time: Option<u32>,
    /// Extra outputs already in a transaction being funded (kept first).
    pub existing_outputs: Vec<TxOut>,
    /// Transaction version.
    pub version: Option<i32>,
}

/// A coin the wallet can spend.
#[derive(Debug, Clone)]
pub struct Coin {
    /// Where.
    pub outpoint: OutPoint,
    /// What.
    pub txout: TxOut,
    /// Confirmations.
    pub depth: i64,
    /// Core's `safe`: confirmed, or trusted unconfirmed.
    pub safe: bool,
    /// Where the script comes from.
    pub origin: ScriptOrigin,
    /// Whether it is a coinbase output.
    pub coinbase: bool,
}

/// A built transaction.
#[derive(Debug, Clone)]
pub struct CreatedTx {
    /// The transaction (signed when asked).
    pub tx: Transaction,
    /// Its fee.
    pub fee: Amount,
    /// Position of the change output.
    pub change_pos: Option<usize>,
    /// The fee rate used.
    pub fee_rate: FeeRateKvb,
    /// Whether signing completed every input.
    pub complete: bool,
}

/// Core's `DEFAULT_MAX_DEPTH`.
pub const MAX_DEPTH: i64 = 9_999_999;

/// Weight of an output with `script`.
fn output_weight(script: &ScriptBuf) -> u64 {
    let len = script.len() as u64;
    (8 + compact_size_len(len) + len) * 4
}

/// Weight of a transaction with inputs and outputs of these total weights.
fn tx_weight(inputs: u64, n_in: usize, outputs: u64, n_out: usize, segwit: bool) -> u64 {
    (8 + compact_size_len(n_in as u64) + compact_size_len(n_out as u64)) * 4
        + inputs
        + outputs
        + if segwit { 2 } else { 0 }
}

fn compact_size_len(n: u64) -> u64 {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

fn err(msg: impl Into<String>) -> WalletError {
    WalletError::InsufficientFunds(msg.into())
}

impl Wallet {
    /// Core's `AvailableCoins`: unspent wallet outputs, mature, not locked,
    /// with `min_depth..=max_depth` confirmations; unconfirmed ones only
    /// when trusted (own change in the mempool) unless `include_unsafe`.
    pub fn available_coins(
        &self,
        min_depth: i64,
        max_depth: i64,
        include_unsafe: bool,
    ) -> Vec<Coin> {
        let tip = self.last_block.map(|b| b.height);
        let mut out = Vec::new();
        for w in self.ledger.iter() {
            if w.is_immature(tip) {
                continue;
            }
            let depth = w.depth(tip);
            if depth < 0 || depth < min_depth || depth > max_depth {
                continue;
            }
            let safe = self.ledger.is_trusted(w, &self.scripts, tip);
            if depth == 0 && !safe && !include_unsafe {
                continue;
            }
            if depth == 0 && !w.in_mempool() {
                continue;
            }
            for (n, o) in w.tx.output.iter().enumerate() {
                let op = OutPoint::new(w.txid, n as u32);
                let Some(origin) = self.scripts.get(o.script_pubkey.as_bytes()) else {
                    continue;
                };
                if self.ledger.is_spent(&op, tip) || self.locked_coins.contains(&op) {
                    continue;
                }
                out.push(Coin {
                    outpoint: op,
                    txout: o.clone(),
                    depth,
                    safe,
                    origin,
                    coinbase: w.is_coinbase(),
                });
            }
        }
        out.sort_by_key(|c| (c.outpoint.txid, c.outpoint.vout));
        out
    }

    /// Locks or unlocks a coin for spending (`lockunspent`, in memory as
    /// Core's non-persistent locks).
    pub fn lock_coin(&mut self, outpoint: OutPoint, lock: bool) {
        if lock {
            self.locked_coins.insert(outpoint);
        } else {
            self.locked_coins.remove(&outpoint);
        }
    }

    /// The locked coins.
    pub fn locked_coins(&self) -> Vec<OutPoint> {
        let mut v: Vec<OutPoint> = self.locked_coins.iter().copied().collect();
        v.sort();
        v
    }

    /// Core's `GetMinimumFeeRate`: the explicit rate, else `-paytxfee`,
    /// else the chain's estimate for the target, else `-fallbackfee`
    /// (error when disabled); never below `-mintxfee` or the node's
    /// minimum. An explicit rate below the minimum is an error.
    pub fn fee_rate(&self, cc: &CoinControl, chain: &dyn Chain) -> Result<FeeRateKvb, WalletError> {
        let floor = FeeRateKvb::from_fee_rate(self.options.min_tx_fee)
            .max(FeeRateKvb::from_fee_rate(chain.min_fee()));
        if let Some(r) = cc.fee_rate {
            let relay = FeeRateKvb::from_fee_rate(chain.min_fee());
            if r < relay {
                return Err(err(format!(
                    "Fee rate ({}) is lower than the minimum fee rate setting ({})",
                    r.sat_vb_string(),
                    relay.sat_vb_string()
                )));
            }
            return Ok(r);
        }
        if let Some(p) = self.options.pay_tx_fee {
            return Ok(FeeRateKvb::from_fee_rate(p).max(floor));
        }
        let target = cc.conf_target.unwrap_or(self.options.confirm_target);
        let rate = match chain.estimate_fee(target) {
            Some(r) => FeeRateKvb::from_fee_rate(r),
            None => match self.options.fallback_fee {
                Some(f) => FeeRateKvb::from_fee_rate(f),
                None => {
                    return Err(err(
                        "Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable -fallbackfee.",
                    ))
                }
            },
        };
        Ok(rate.max(floor))
    }

    /// Core 28's `TransactionChangeType`.
    pub fn change_type(&self, cc: &CoinControl, recipients: &[Recipient]) -> OutputType {
        if let Some(t) = cc.change_type.or(self.options.change_type) {
            return t;
        }
        let default = self.options.default_address_type;
        if default == OutputType::Legacy {
            return OutputType::Legacy;
        }
        let types: Vec<Option<OutputType>> = recipients
            .iter()
            .map(|r| OutputType::of_script(&r.script))
            .collect();
        let any_tr = types.contains(&Some(OutputType::Bech32m));
        let any_wpkh = recipients.iter().any(|r| r.script.is_p2wpkh());
        if any_tr && self.active_descriptor(OutputType::Bech32m, true).is_some() {
            return OutputType::Bech32m;
        }
        if any_wpkh && self.active_descriptor(OutputType::Bech32, true).is_some() {
            return OutputType::Bech32;
        }
        default
    }

    /// Weight an input spending `coin` adds once signed (outpoint,
    /// sequence, scriptSig and witness at their largest).
    pub(crate) fn input_weight(&self, origin: ScriptOrigin) -> u64 {
        let satisfy = self
            .descriptors
            .get(&origin.desc)
            .and_then(|d| d.definite(origin.index).ok())
            .and_then(|d| d.max_weight_to_satisfy().ok())
            .map(|w| w.to_wu())
            .unwrap_or(4 * 107);
        // Outpoint, sequence, the scriptSig's length byte, and the witness
        // item count (miniscript's bound is over `TxIn::default()`).
        (32 + 4 + 4 + 1) * 4 + 1 + satisfy
    }

    /// Core's anti-fee-sniping locktime: the last block's height when the
    /// tip is recent (younger than 8 hours), sometimes up to 100 blocks
    /// less; 0 otherwise.
    fn anti_fee_sniping(&self) -> u32 {
        let Some(last) = self.last_block else {
            return 0;
        };
        if now().saturating_sub(u64::from(last.time)) > 8 * 60 * 60 {
            return 0;
        }
        let mut rng = rand::rng();
        let mut h = last.height;
        if rng.random_range(0..10) == 0 {
            h = h.saturating_sub(rng.random_range(0..100));
        }
        h
    }

    /// Core's `CreateTransaction`: selects coins for `recipients`, adds
    /// change to the internal branch, and signs when `sign` (the wallet
    /// must then be unlocked). Fails with Core's messages ("Insufficient
    /// funds", "Transaction amount too small", ...).
    pub fn create_transaction(
        &mut self,
        recipients: &[Recipient],
        cc: &CoinControl,
        chain: &dyn Chain,
        sign: bool,
    ) -> Result<CreatedTx, WalletError> {
        if recipients.is_empty() && cc.existing_outputs.is_empty() {
            return Err(err("Transaction must have at least one recipient"));
        }
        let fee_rate = self.fee_rate(cc, chain)?;
        let discard = FeeRateKvb::from_fee_rate(self.options.discard_fee);
        let long_term = FeeRateKvb(10_000);
        let sffo = recipients.iter().filter(|r| r.subtract_fee).count();
        let recipients_sum: i64 = recipients.iter().map(|r| r.amount.to_sat() as i64).sum();

        // Change script (not taken until the transaction is committed).
        let (change_script, change_origin) = match &cc.change_script {
            Some(s) => (s.clone(), self.scripts.get(s.as_bytes())),
            None => {
                let ty = self.change_type(cc, recipients);
                let (s, o) = self.peek(ty, true)?;
                (s, Some(o))
            }
        };
        let change_weight = output_weight(&change_script);
        let change_fee = fee_rate.fee_wu(change_weight);
        let change_spend_fee = change_origin
            .map(|o| discard.fee_wu(self.input_weight(o)))
            .unwrap_or(discard.fee(68));
        let cost_of_change = change_fee + change_spend_fee;

        // The transaction without inputs.
        let n_out = recipients.len() + cc.existing_outputs.len();
        let outs_weight: u64 = recipients
            .iter()
            .map(|r| output_weight(&r.script))
            .chain(
                cc.existing_outputs
                    .iter()
                    .map(|o| output_weight(&o.script_pubkey)),
            )
            .sum();
        let base_weight = tx_weight(0, 1, outs_weight, n_out + 1, true);
        let existing_sum: i64 = cc
            .existing_outputs
            .iter()
            .map(|o| o.value.to_sat() as i64)
            .sum();

        // Preset inputs.
        let tip = self.last_block.map(|b| b.height);
        let mut preset: Vec<(OutPoint, TxOut, u64)> = Vec::new();
        for op in &cc.inputs {
            let txout = self.ledger.output(op).cloned().ok_or_else(|| {
                WalletError::Other(format!(
                    "Unable to find UTXO for external input {}:{}",
                    op.txid, op.vout
                ))
            })?;
            let origin = self
                .scripts
                .get(txout.script_pubkey.as_bytes())
                .ok_or_else(|| WalletError::Other("Not solvable pre-selected input".into()))?;
            if self.ledger.is_spent(op, tip) {
                return Err(err("Insufficient funds"));
            }
            let w = self.input_weight(origin);
            preset.push((*op, txout, w));
        }
        let preset_value: i64 = preset.iter().map(|p| p.1.value.to_sat() as i64).sum();
        let preset_fee: i64 = preset.iter().map(|p| fee_rate.fee_wu(p.2)).sum();

        let not_input_fee = fee_rate.fee_wu(base_weight);
        let use_effective = sffo == 0;
        let target = recipients_sum + existing_sum + if use_effective { not_input_fee } else { 0 }
            - if use_effective {
                preset_value - preset_fee
            } else {
                preset_value
            };

        let mut chosen: Vec<(OutPoint, TxOut, u64)> = preset.clone();
        if target > 0 || (preset.is_empty() && recipients_sum + existing_sum > 0) {
            if !cc.inputs.is_empty() && !cc.add_inputs {
                return Err(err("Insufficient funds"));
            }
            let mut picked = None;
            // Confirmed coins first, then trusted unconfirmed, then (when
            // asked) unsafe ones.
            for (min_depth, unsafe_ok) in [(1, false), (0, false), (0, cc.include_unsafe)] {
                let coins: Vec<Coin> = self
                    .available_coins(min_depth, MAX_DEPTH, unsafe_ok)
                    .into_iter()
                    .filter(|c| !cc.inputs.contains(&c.outpoint))
                    .collect();
                let cands: Vec<Candidate> = coins
                    .iter()
                    .map(|c| {
                        let w = self.input_weight(c.origin);
                        Candidate {
                            value: c.txout.value.to_sat() as i64,
                            fee: fee_rate.fee_wu(w),
                            long_term_fee: long_term.fee_wu(w),
                        }
                    })
                    .collect();
                let mut rng = rand::rng();
                // With fees taken from the outputs an exact match needs no
                // room for a change output.
                let room = if use_effective { change_fee } else { 0 };
                if let Some(sel) = coinselect::select(
                    &mut rng,
                    &cands,
                    target.max(1),
                    cost_of_change,
                    room,
                    use_effective,
                ) {
                    picked = Some(
                        sel.inputs
                            .iter()
                            .map(|&i| {
                                let c = &coins[i];
                                (c.outpoint, c.txout.clone(), self.input_weight(c.origin))
                            })
                            .collect::<Vec<_>>(),
                    );
                    break;
                }
            }
            match picked {
                Some(p) => chosen.extend(p),
                None => return Err(err("Insufficient funds")),
            }
        }

        // Build: inputs in random order, recipients in order, change.
        let mut rng = rand::rng();
        chosen[preset.len()..].shuffle(&mut rng);
        let rbf = cc.replaceable.unwrap_or(self.options.wallet_rbf);
        let sequence = if rbf {
            Sequence::ENABLE_RBF_NO_LOCKTIME
        } else {
            Sequence::ENABLE_LOCKTIME_NO_RBF
        };
        let lock_time = cc.lock_time.unwrap_or_else(|| self.anti_fee_sniping());
        let in_value: i64 = chosen.iter().map(|c| c.1.value.to_sat() as i64).sum();
        let in_weight: u64 = chosen.iter().map(|c| c.2).sum();
        let segwit = chosen.iter().any(|c| !c.1.script_pubkey.is_p2pkh());
        let weight_no_change = tx_weight(in_weight, chosen.len(), outs_weight, n_out, segwit);
        let weight_change = tx_weight(
            in_weight,
            chosen.len(),
            outs_weight + change_weight,
            n_out + 1,
            segwit,
        );
        let fee_no_change = fee_rate.fee_wu(weight_no_change);
        let fee_with_change = fee_rate.fee_wu(weight_change);

        let mut outputs: Vec<TxOut> = cc.existing_outputs.clone();
        let first_recipient = outputs.len();
        for r in recipients {
            outputs.push(TxOut {
                value: r.amount,
                script_pubkey: r.script.clone(),
            });
        }
        let out_sum = recipients_sum + existing_sum;
        let dust = change_script.minimal_non_dust().to_sat() as i64;
        let min_change = dust.max(change_spend_fee + 1);
        let (mut fee, mut change) = if sffo == 0 {
            let change = in_value - out_sum - fee_with_change;
            if change >= min_change {
                (fee_with_change, change)
            } else {
                (in_value - out_sum, 0)
            }
        } else {
            let change = in_value - out_sum;
            if change >= min_change {
                (fee_with_change, change)
            } else {
                (fee_no_change, 0)
            }
        };
        if sffo == 0 && fee < fee_no_change {
            return Err(err("Insufficient funds"));
        }
        if sffo > 0 {
            // Take the fee from the marked outputs, evenly, the first one
            // paying the remainder.
            if change == 0 {
                // Everything not sent is fee already; the rest comes from outputs.
                fee = fee.max(in_value - out_sum);
            }
            let to_take = fee - if change == 0 { in_value - out_sum } else { 0 };
            let share = to_take / sffo as i64;
            let rem = to_take % sffo as i64;
            let mut first = true;
            for (i, r) in recipients.iter().enumerate() {
                if !r.subtract_fee {
                    continue;
                }
                let o = &mut outputs[first_recipient + i];
                let mut take = share;
                if first {
                    take += rem;
                    first = false;
                }
                let v = o.value.to_sat() as i64 - take;
                if v < o.script_pubkey.minimal_non_dust().to_sat() as i64 {
                    return Err(err(if v < 0 {
                        "The transaction amount is too small to pay the fee"
                    } else {
                        "The transaction amount is too small to send after the fee has been deducted"
                    }));
                }
                o.value = Amount::from_sat(v as u64);
            }
            if change > 0 {
                change = in_value - out_sum + to_take - fee;
            }
        } else {
            for (i, r) in recipients.iter().enumerate() {
                let o = &outputs[first_recipient + i];
                if !o.script_pubkey.is_op_return()
                    && r.amount.to_sat() < o.script_pubkey.minimal_non_dust().to_sat()
                {
                    return Err(err("Transaction amount too small"));
                }
            }
        }
        let mut change_pos = None;
        if change > 0 {
            let pos = match cc.change_position {
                Some(p) if p <= outputs.len() => p,
                Some(_) => {
                    return Err(WalletError::Other("Change index out of bounds".into()));
                }
                None => rng.random_range(first_recipient..=outputs.len()),
            };
            outputs.insert(
                pos,
                TxOut {
                    value: Amount::from_sat(change as u64),
                    script_pubkey: change_script.clone(),
                },
            );
            change_pos = Some(pos);
        }
        if fee > self.options.max_tx_fee.to_sat() as i64 {
            return Err(err(
                "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
            ));
        }
        let tx = Transaction {
            version: Version(cc.version.unwrap_or(2)),
            lock_time: LockTime::from_consensus(lock_time),
            input: chosen
                .iter()
                .map(|c| TxIn {
                    previous_output: c.0,
                    script_sig: ScriptBuf::new(),
                    sequence,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        let mut created = CreatedTx {
            tx,
            fee: Amount::from_sat(fee.max(0) as u64),
            change_pos,
            fee_rate,
            complete: false,
        };
        if sign {
            let (signed, complete) = self.sign_transaction(&created.tx, &[])?;
            created.tx = signed;
            created.complete = complete;
        }
        Ok(created)
    }

    /// Core's `CommitTransaction`: records `tx` as the wallet's own (its
    /// change index taken), durably, then broadcasts it through the node.
    /// Like Core, a transaction the mempool refuses stays in the wallet
    /// (inactive) and the error is returned alongside.
    pub fn commit_transaction(
        &mut self,
        tx: Transaction,
        comment: Option<String>,
        comment_to: Option<String>,
        chain: &dyn Chain,
    ) -> Result<(Txid, Option<String>), WalletError> {
        let txid = tx.compute_txid();
        let mut batch = Batch::default();
        self.add_or_update(
            tx.clone(),
            TxState::Inactive { abandoned: false },
            None,
            &mut batch,
        );
        if let Some(w) = self.ledger.get_mut(&txid) {
            w.comment = comment;
            w.comment_to = comment_to;
        }
        for (n, o) in tx.output.iter().enumerate() {
            if let Some(origin) = self.scripts.get(o.script_pubkey.as_bytes()) {
                self.outpoints.insert(OutPoint::new(txid, n as u32));
                self.mark_used(origin, &mut batch)?;
            }
        }
        self.persist_tx(&txid, &mut batch);
        self.commit(&batch, true)?;
        let reject = match chain.broadcast(&tx, self.options.max_tx_fee) {
            Ok(_) => {
                let mut batch = Batch::default();
                if let Some(w) = self.ledger.get_mut(&txid) {
                    if !matches!(w.state, TxState::Confirmed { .. }) {
                        w.state = TxState::InMempool;
                    }
                }
                self.persist_tx(&txid, &mut batch);
                self.commit(&batch, true)?;
                None
            }
            Err(reason) => Some(reason),
        };
        Ok((txid, reject))
    }
}
