//! Core 28's `getblockstats`.

use std::collections::BTreeSet;

use bitcoin::{Block, BlockHash, TxOut, VarInt};
use serde_json::{Map, Value};

use super::amount::MAX_MONEY;
use super::params::{ParamError, RPC_INTERNAL_ERROR, RPC_INVALID_PARAMETER};
use super::tx::SpentOutput;

/// Core's `PER_UTXO_OVERHEAD`: outpoint (36) + height/coinbase (4) + a bool.
const PER_UTXO_OVERHEAD: i64 = 41;
/// Core's `MAX_BLOCK_SERIALIZED_SIZE`.
const MAX_BLOCK_SERIALIZED_SIZE: i64 = 4_000_000;
/// Core's `WITNESS_SCALE_FACTOR`.
const WITNESS_SCALE_FACTOR: i64 = 4;
/// Core's `NUM_GETBLOCKSTATS_PERCENTILES`.
const NUM_PERCENTILES: usize = 5;

/// The two mainnet blocks whose coinbases repeat earlier ones (BIP30):
/// height and hash.
const BIP30_REPEATS: [(i32, &str); 2] = [
    (
        91842,
        "00000000000a4d0a398161ffc163c503763b1f4360639393e0e4c8e300e0caec",
    ),
    (
        91880,
        "00000000000743f190a18c5577a3c2d2a1f610ae9601ac046a38084ccb7cd721",
    ),
];

/// Everything `getblockstats` needs besides the selection.
#[derive(Debug, Clone, Copy)]
pub struct BlockStatsInput<'a> {
    /// The block.
    pub block: &'a Block,
    /// Undo data: per transaction the outputs its inputs spend, in input
    /// order; empty for the coinbase.
    pub spent: &'a [Vec<SpentOutput>],
    /// The block's height.
    pub height: i32,
    /// The block's median time past.
    pub median_time: i64,
    /// The block subsidy in satoshis (Core's `GetBlockSubsidy`).
    pub subsidy: i64,
}

/// Core's `CalculateTruncatedMedian`: the middle value, or the mean of the
/// two middle values rounded toward zero; 0 for no values.
pub fn truncated_median(values: &mut [i64]) -> i64 {
    let size = values.len();
    if size == 0 {
        return 0;
    }
    values.sort_unstable();
    if size.is_multiple_of(2) {
        (values[size / 2 - 1] + values[size / 2]) / 2
    } else {
        values[size / 2]
    }
}

/// Core's `CalculatePercentilesByWeight`: the feerates at the 10th, 25th,
/// 50th, 75th and 90th percentile of weight, from (feerate, weight) pairs
/// sorted ascending.
pub fn percentiles_by_weight(scores: &mut [(i64, i64)], total_weight: i64) -> [i64; 5] {
    let mut result = [0i64; NUM_PERCENTILES];
    if scores.is_empty() {
        return result;
    }
    scores.sort_unstable();
    let total = total_weight as f64;
    let weights = [
        total / 10.0,
        total / 4.0,
        total / 2.0,
        (total * 3.0) / 4.0,
        (total * 9.0) / 10.0,
    ];
    let mut next = 0;
    let mut cumulative: i64 = 0;
    for &(feerate, weight) in scores.iter() {
        cumulative += weight;
        while next < NUM_PERCENTILES && cumulative as f64 >= weights[next] {
            result[next] = feerate;
            next += 1;
        }
    }
    let last = scores[scores.len() - 1].0;
    for slot in result.iter_mut().skip(next) {
        *slot = last;
    }
    result
}

/// Core's `GetSerializeSize(CTxOut)`.
fn output_size(out: &TxOut) -> i64 {
    let len = out.script_pubkey.len();
    (8 + VarInt::from(len).size() + len) as i64
}

/// Core's `CScript::IsUnspendable`.
fn unspendable(out: &TxOut) -> bool {
    let script = out.script_pubkey.as_bytes();
    script.first() == Some(&0x6a) || script.len() > 10_000
}

fn is_bip30_repeat(height: i32, hash: &BlockHash) -> bool {
    BIP30_REPEATS
        .iter()
        .any(|(h, hex)| *h == height && hash.to_string() == *hex)
}

/// Core 28's `getblockstats` for `selected` statistics (all when `None` or
/// empty): an object with avgfee, avgfeerate, avgtxsize, blockhash,
/// feerate_percentiles, height, ins, maxfee, maxfeerate, maxtxsize,
/// medianfee, mediantime, mediantxsize, minfee, minfeerate, mintxsize, outs,
/// subsidy, swtotal_size, swtotal_weight, swtxs, time, total_out,
/// total_size, total_weight, totalfee, txs, utxo_increase, utxo_size_inc,
/// utxo_increase_actual and utxo_size_inc_actual in that order, or, for a
/// selection, those keys in sorted order. Like Core, only what the
/// selection needs is computed, so a selected value can differ from the
/// full answer's where Core's does.
///
/// Errors: "Invalid selected statistic 'X'" (-8) for the first unknown name
/// in sorted order; undo data that does not match the block (-32603).
pub fn block_stats(
    input: &BlockStatsInput<'_>,
    selected: Option<&[String]>,
) -> Result<Value, ParamError> {
    let block = input.block;
    let undo_mismatch =
        || ParamError::new(RPC_INTERNAL_ERROR, "Undo data does not match the block");
    if input.spent.len() != block.txdata.len() {
        return Err(undo_mismatch());
    }
    let stats: BTreeSet<&str> = selected
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    let has = |keys: &[&str]| keys.iter().any(|k| stats.contains(k));
    let do_all = stats.is_empty();
    let do_mediantxsize = do_all || has(&["mediantxsize"]);
    let do_medianfee = do_all || has(&["medianfee"]);
    let do_feerate_percentiles = do_all || has(&["feerate_percentiles"]);
    let loop_inputs = do_all
        || do_medianfee
        || do_feerate_percentiles
        || has(&[
            "utxo_increase",
            "utxo_increase_actual",
            "utxo_size_inc",
            "utxo_size_inc_actual",
            "totalfee",
            "avgfee",
            "avgfeerate",
            "minfee",
            "maxfee",
            "minfeerate",
            "maxfeerate",
        ]);
    let loop_outputs = do_all || loop_inputs || has(&["total_out"]);
    let do_calculate_size = do_mediantxsize
        || has(&[
            "total_size",
            "avgtxsize",
            "mintxsize",
            "maxtxsize",
            "swtotal_size",
        ]);
    let do_calculate_weight = do_all
        || has(&[
            "total_weight",
            "avgfeerate",
            "swtotal_weight",
            "feerate_percentiles",
            "minfeerate",
            "maxfeerate",
        ]);
    let do_calculate_sw = do_all || has(&["swtxs", "swtotal_size", "swtotal_weight"]);

    let hash = block.block_hash();
    let bip30_repeat = is_bip30_repeat(input.height, &hash);

    let mut maxfee: i64 = 0;
    let mut maxfeerate: i64 = 0;
    let mut minfee: i64 = MAX_MONEY;
    let mut minfeerate: i64 = MAX_MONEY;
    let mut total_out: i64 = 0;
    let mut totalfee: i64 = 0;
    let mut inputs: i64 = 0;
    let mut maxtxsize: i64 = 0;
    let mut mintxsize: i64 = MAX_BLOCK_SERIALIZED_SIZE;
    let mut outputs: i64 = 0;
    let mut swtotal_size: i64 = 0;
    let mut swtotal_weight: i64 = 0;
    let mut swtxs: i64 = 0;
    let mut total_size: i64 = 0;
    let mut total_weight: i64 = 0;
    let mut utxos: i64 = 0;
    let mut utxo_size_inc: i64 = 0;
    let mut utxo_size_inc_actual: i64 = 0;
    let mut fee_array = Vec::new();
    let mut feerate_array = Vec::new();
    let mut txsize_array = Vec::new();

    for (tx, spent) in block.txdata.iter().zip(input.spent) {
        outputs += tx.output.len() as i64;
        let coinbase = tx.is_coinbase();
        let mut tx_total_out: i64 = 0;
        if loop_outputs {
            for out in &tx.output {
                tx_total_out = tx_total_out.saturating_add(out.value.to_sat() as i64);
                let out_size = output_size(out) + PER_UTXO_OVERHEAD;
                utxo_size_inc += out_size;
                // The genesis block and the repeated BIP30 coinbases don't
                // change the UTXO set; unspendable outputs never enter it.
                if input.height == 0 || (bip30_repeat && coinbase) || unspendable(out) {
                    continue;
                }
                utxos += 1;
                utxo_size_inc_actual += out_size;
            }
        }
        if coinbase {
            continue;
        }
        inputs += tx.input.len() as i64;
        total_out = total_out.saturating_add(tx_total_out);

        let mut tx_size: i64 = 0;
        if do_calculate_size {
            tx_size = tx.total_size() as i64;
            if do_mediantxsize {
                txsize_array.push(tx_size);
            }
            maxtxsize = maxtxsize.max(tx_size);
            mintxsize = mintxsize.min(tx_size);
            total_size += tx_size;
        }
        let mut weight: i64 = 0;
        if do_calculate_weight {
            weight = tx.weight().to_wu() as i64;
            total_weight += weight;
        }
        if do_calculate_sw && tx.input.iter().any(|i| !i.witness.is_empty()) {
            swtxs += 1;
            swtotal_size += tx_size;
            swtotal_weight += weight;
        }
        if loop_inputs {
            if spent.len() != tx.input.len() {
                return Err(undo_mismatch());
            }
            let mut tx_total_in: i64 = 0;
            for prev in spent {
                tx_total_in = tx_total_in.saturating_add(prev.value);
                let len = prev.script_pubkey.len();
                let prevout_size = (8 + VarInt::from(len).size() + len) as i64 + PER_UTXO_OVERHEAD;
                utxo_size_inc -= prevout_size;
                utxo_size_inc_actual -= prevout_size;
            }
            let txfee = tx_total_in.saturating_sub(tx_total_out);
            if !(0..=MAX_MONEY).contains(&txfee) {
                return Err(ParamError::new(
                    RPC_INTERNAL_ERROR,
                    format!(
                        "Fee {txfee} of transaction {} is out of range",
                        tx.compute_txid()
                    ),
                ));
            }
            if do_medianfee {
                fee_array.push(txfee);
            }
            maxfee = maxfee.max(txfee);
            minfee = minfee.min(txfee);
            totalfee += txfee;
            let feerate = if weight != 0 {
                txfee * WITNESS_SCALE_FACTOR / weight
            } else {
                0
            };
            if do_feerate_percentiles {
                feerate_array.push((feerate, weight));
            }
            maxfeerate = maxfeerate.max(feerate);
            minfeerate = minfeerate.min(feerate);
        }
    }

    let percentiles = percentiles_by_weight(&mut feerate_array, total_weight);
    let txs = block.txdata.len() as i64;
    let per_tx = |total: i64| if txs > 1 { total / (txs - 1) } else { 0 };

    let mut all = Map::new();
    let mut put = |key: &str, value: Value| {
        all.insert(key.to_owned(), value);
    };
    put("avgfee", per_tx(totalfee).into());
    put(
        "avgfeerate",
        if total_weight != 0 {
            (totalfee * WITNESS_SCALE_FACTOR / total_weight).into()
        } else {
            0.into()
        },
    );
    put("avgtxsize", per_tx(total_size).into());
    put("blockhash", hash.to_string().into());
    put(
        "feerate_percentiles",
        Value::Array(percentiles.iter().map(|&p| p.into()).collect()),
    );
    put("height", input.height.into());
    put("ins", inputs.into());
    put("maxfee", maxfee.into());
    put("maxfeerate", maxfeerate.into());
    put("maxtxsize", maxtxsize.into());
    put("medianfee", truncated_median(&mut fee_array).into());
    put("mediantime", input.median_time.into());
    put("mediantxsize", truncated_median(&mut txsize_array).into());
    put(
        "minfee",
        if minfee == MAX_MONEY { 0 } else { minfee }.into(),
    );
    put(
        "minfeerate",
        if minfeerate == MAX_MONEY {
            0
        } else {
            minfeerate
        }
        .into(),
    );
    put(
        "mintxsize",
        if mintxsize == MAX_BLOCK_SERIALIZED_SIZE {
            0
        } else {
            mintxsize
        }
        .into(),
    );
    put("outs", outputs.into());
    put("subsidy", input.subsidy.into());
    put("swtotal_size", swtotal_size.into());
    put("swtotal_weight", swtotal_weight.into());
    put("swtxs", swtxs.into());
    put("time", block.header.time.into());
    put("total_out", total_out.into());
    put("total_size", total_size.into());
    put("total_weight", total_weight.into());
    put("totalfee", totalfee.into());
    put("txs", txs.into());
    put("utxo_increase", (outputs - inputs).into());
    put("utxo_size_inc", utxo_size_inc.into());
    put("utxo_increase_actual", (utxos - inputs).into());
    put("utxo_size_inc_actual", utxo_size_inc_actual.into());

    if do_all {
        return Ok(Value::Object(all));
    }
    let mut ret = Map::new();
    for stat in stats {
        let value = all.get(stat).ok_or_else(|| {
            ParamError::new(
                RPC_INVALID_PARAMETER,
                format!("Invalid selected statistic '{stat}'"),
            )
        })?;
        ret.insert(stat.to_owned(), value.clone());
    }
    Ok(Value::Object(ret))
}
