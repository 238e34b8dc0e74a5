//! What `ConnectBlock` checks once the chainstate has looked up the coins
//! a block spends: inputs, relative lock times, sigop cost, the coinbase
//! amount, then the scripts. Also the assumevalid decision.

use std::time::{Duration, Instant};

use bitcoin::Amount;
use btc_core::script::VerifyFlags;
use btc_core::ArchivedBlockArchive;

use super::error::BlockError;
use super::locks::{calculate_sequence_locks, evaluate_sequence_locks};
use super::pow::{block_proof_equivalent_time, U256};
use super::script_pool::ScriptPool;
use super::sigops::{transaction_sigop_cost, MAX_BLOCK_SIGOPS_COST};
use super::tx::{check_tx_inputs, money_range};
use crate::params::ChainParams;
use crate::store::Coin;

/// The chain context of a block being connected.
pub struct ConnectContext<'a> {
    /// The block's height.
    pub height: u32,
    /// Median time past of its parent.
    pub prev_mtp: i64,
    /// Median time past of the block at a height of this chain (below
    /// `height`), for time-based relative lock times.
    pub mtp_at: &'a dyn Fn(u32) -> i64,
    pub params: &'a ChainParams,
    /// Run the scripts (false below assumevalid: see [`scripts_required`]).
    pub verify_scripts: bool,
    /// The block's script flags ([`ChainParams::script_flags`]).
    pub flags: VerifyFlags,
}

/// What connecting the block found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectStats {
    /// Sum of the fees of its transactions.
    pub fees: Amount,
    /// Total sigop cost.
    pub sigop_cost: u64,
    /// Inputs, the coinbase's included (Core's `nInputs`).
    pub inputs: usize,
    /// Input scripts run (0 when scripts were skipped).
    pub script_checks: usize,
    /// Wall time spent running them on the pool (zero when skipped): what
    /// the `connect_chain` benchmark compares with the whole connection.
    pub script_time: Duration,
}

/// Core's `ConnectBlock` checks after the UTXO lookups, for a block that
/// passed `check_block` and `contextual_check_block`. `spent[t]` holds the
/// coins transaction `t` spends, in input order (`spent[0]`, the
/// coinbase's, empty); a shorter list means some coin is missing or spent.
///
/// Per transaction in block order: `CheckTxInputs` (maturity, values,
/// fee), the accumulated fees' range, BIP68 sequence locks (with CSV), and
/// the running sigop cost. Then the coinbase against subsidy plus fees, and
/// last the scripts on `pool` (when `ctx.verify_scripts`).
///
/// Core queues the script checks while it walks the transactions and
/// reports them after the coinbase check when it has script threads, but
/// inline when it has none (`-par=1`): with several failures in one block,
/// Core's reason depends on `-par`. Here it is always the former.
///
/// BIP30 needs the UTXO set: see [`check_bip30`](super::block::check_bip30).
pub fn connect_block_checks(
    block: &ArchivedBlockArchive,
    spent: &[Vec<Coin>],
    ctx: &ConnectContext<'_>,
    pool: &ScriptPool,
) -> Result<ConnectStats, BlockError> {
    let csv = ctx.params.csv_active(ctx.height);
    let mut fees: u64 = 0;
    let mut sigop_cost: u64 = 0;
    let mut inputs = 0;
    for (t, tx) in block.txs().enumerate() {
        inputs += tx.input_count();
        let coins = spent.get(t).map_or(&[][..], Vec::as_slice);
        if !tx.is_coinbase() {
            let fee =
                check_tx_inputs(&tx, coins, ctx.height).map_err(|error| BlockError::TxInputs {
                    txid: tx.txid(),
                    error,
                })?;
            fees = fees.saturating_add(fee.to_sat());
            if !money_range(fees) {
                return Err(BlockError::AccumulatedFeeOutOfRange);
            }
            if csv {
                let height = |i: usize| coins.get(i).map_or(0, |c| c.height);
                let locks = calculate_sequence_locks(&tx, height, ctx.mtp_at);
                if !evaluate_sequence_locks(locks, ctx.height, ctx.prev_mtp) {
                    return Err(BlockError::TxnsNonFinalBip68 { txid: tx.txid() });
                }
            }
        }
        sigop_cost += transaction_sigop_cost(&tx, coins, ctx.flags);
        if sigop_cost > MAX_BLOCK_SIGOPS_COST {
            return Err(BlockError::BlkSigops);
        }
    }
    let limit = ctx.params.block_subsidy(ctx.height).to_sat() + fees;
    let actual = block.tx(0).map_or(0, |cb| {
        cb.outputs()
            .fold(0u64, |sum, o| sum.saturating_add(o.value().to_sat()))
    });
    if actual > limit {
        return Err(BlockError::CbAmount {
            actual: Amount::from_sat(actual),
            limit: Amount::from_sat(limit),
        });
    }
    let mut script_checks = 0;
    let mut script_time = Duration::ZERO;
    if ctx.verify_scripts {
        let start = Instant::now();
        let run = pool.run(block, spent, ctx.flags);
        script_time = start.elapsed();
        if let Some(failure) = run.failure {
            return Err(failure.to_block_error(block));
        }
        script_checks = run.checked;
    }
    Ok(ConnectStats {
        fees: Amount::from_sat(fees),
        sigop_cost,
        inputs,
        script_checks,
        script_time,
    })
}

/// What the assumevalid decision depends on (Core's `ConnectBlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssumeValid {
    /// An assumevalid hash is configured and that block is in the header
    /// tree.
    pub assumevalid_known: bool,
    /// The block is an ancestor of (or is) the assumevalid block.
    pub is_ancestor_of_assumevalid: bool,
    /// The block is an ancestor of (or is) the best header.
    pub is_ancestor_of_best_header: bool,
    /// Chain work of the block being connected.
    pub block_chain_work: U256,
    /// Chain work of the best header.
    pub best_header_chain_work: U256,
    /// `nBits` of the best header.
    pub best_header_bits: u32,
    /// `-minimumchainwork`.
    pub minimum_chain_work: U256,
}

/// Two weeks: Core skips scripts only for blocks at least this much
/// equivalent work below the best header.
pub const ASSUMEVALID_MIN_DEPTH_SECONDS: i64 = 60 * 60 * 24 * 7 * 2;

/// Whether the block's scripts must be run (Core's `fScriptChecks`): they
/// may be skipped only for a block on the assumevalid chain and the best
/// header's chain, with the best header at least the minimum chain work,
/// and the block more than two weeks of work (at the best header's
/// difficulty) below the best header.
pub fn scripts_required(av: &AssumeValid, params: &ChainParams) -> bool {
    if !(av.assumevalid_known
        && av.is_ancestor_of_assumevalid
        && av.is_ancestor_of_best_header
        && av.best_header_chain_work >= av.minimum_chain_work)
    {
        return true;
    }
    block_proof_equivalent_time(
        av.best_header_chain_work,
        av.block_chain_work,
        av.best_header_bits,
        params,
    ) <= ASSUMEVALID_MIN_DEPTH_SECONDS
}
