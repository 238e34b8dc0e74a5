//! Coin selection as Core 28 does it: Branch and Bound (a changeless
//! exact match within the cost of change), Knapsack (Core's stochastic
//! subset approximation) and Single Random Draw, and the result with the
//! least waste wins.
//!
//! Values are in satoshis; "effective" values are an input's value less
//! the fee to spend it at the transaction's fee rate.

use rand::seq::SliceRandom;
use rand::Rng;

/// Core's `TOTAL_TRIES` for BnB.
const BNB_TRIES: usize = 100_000;
/// Core's `CHANGE_LOWER`: SRD adds this much to its target.
pub const CHANGE_LOWER: i64 = 50_000;
/// Knapsack's minimum change (Core's `m_min_change_target` lower bound).
pub const MIN_CHANGE: i64 = CHANGE_LOWER;

/// A spendable output, as selection sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its value.
    pub value: i64,
    /// The fee to spend it at the effective fee rate.
    pub fee: i64,
    /// The fee to spend it at the long-term fee rate.
    pub long_term_fee: i64,
}

impl Candidate {
    /// Value less the fee to spend it.
    pub fn effective(&self) -> i64 {
        self.value - self.fee
    }
}

/// Which algorithm found a selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Branch and Bound.
    Bnb,
    /// Knapsack.
    Knapsack,
    /// Single Random Draw.
    Srd,
}

/// A selection: indexes into the candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Chosen candidates.
    pub inputs: Vec<usize>,
    /// Who chose them.
    pub algorithm: Algorithm,
    /// Core's waste metric of the selection.
    pub waste: i64,
}

/// Core's `GetSelectionWaste`: the inputs' fee at the current rate less
/// at the long-term rate, plus the cost of change when there is change,
/// else the excess given up to fees.
pub fn waste(
    c: &[Candidate],
    chosen: &[usize],
    target: i64,
    change_cost: i64,
    use_effective: bool,
) -> i64 {
    let mut w: i64 = chosen.iter().map(|&i| c[i].fee - c[i].long_term_fee).sum();
    let sel: i64 = chosen
        .iter()
        .map(|&i| {
            if use_effective {
                c[i].effective()
            } else {
                c[i].value
            }
        })
        .sum();
    if change_cost > 0 {
        w += change_cost;
    } else {
        w += sel - target;
    }
    w
}

/// Branch and Bound (Core's `SelectCoinsBnB`): a subset whose effective
/// value lies in `[target, target + cost_of_change]`, the least wasteful
/// found within Core's 100,000 tries, exploring inclusion first over the
/// candidates sorted by descending effective value.
pub fn bnb(c: &[Candidate], target: i64, cost_of_change: i64) -> Option<Vec<usize>> {
    let mut pool: Vec<usize> = (0..c.len()).filter(|&i| c[i].effective() > 0).collect();
    pool.sort_by(|&a, &b| c[b].effective().cmp(&c[a].effective()));
    let value = |p: usize| c[pool[p]].effective();
    let fee_waste = |p: usize| c[pool[p]].fee - c[pool[p]].long_term_fee;
    let mut available: i64 = pool.iter().map(|&i| c[i].effective()).sum();
    if pool.is_empty() || available < target {
        return None;
    }
    let feerate_high = c[pool[0]].fee > c[pool[0]].long_term_fee;
    let mut selection: Vec<usize> = Vec::new();
    let mut cur_value: i64 = 0;
    let mut cur_waste: i64 = 0;
    let mut best: Option<Vec<usize>> = None;
    let mut best_waste = i64::MAX;
    let mut index = 0usize;
    for _ in 0..BNB_TRIES {
        let mut backtrack = false;
        if cur_value + available < target
            || cur_value > target + cost_of_change
            || (cur_waste > best_waste && feerate_high)
        {
            backtrack = true;
        } else if cur_value >= target {
            let w = cur_waste + (cur_value - target);
            if w <= best_waste {
                best = Some(selection.clone());
                best_waste = w;
            }
            backtrack = true;
        } else if index >= pool.len() {
            backtrack = true;
        }
        if backtrack {
            let Some(&last) = selection.last() else {
                break;
            };
            // Give back the omitted candidates after the last included one,
            // then explore the branch that omits it.
            while index > last + 1 {
                index -= 1;
                if index < pool.len() {
                    available += value(index);
                }
            }
            cur_value -= value(last);
            cur_waste -= fee_waste(last);
            selection.pop();
            index = last + 1;
        } else {
            available -= value(index);
            let include = selection.is_empty()
                || selection.last() == Some(&(index - 1))
                || value(index) != value(index - 1)
                || c[pool[index]].fee != c[pool[index - 1]].fee;
            if include {
                selection.push(index);
                cur_value += value(index);
                cur_waste += fee_waste(index);
            }
            index += 1;
        }
    }
    best.map(|sel| sel.into_iter().map(|p| pool[p]).collect())
}

/// Core's `ApproximateBestSubset`.
fn approximate_best_subset<R: Rng>(
    rng: &mut R,
    values: &[i64],
    total_lower: i64,
    target: i64,
    iterations: usize,
) -> (Vec<bool>, i64) {
    let mut best = vec![true; values.len()];
    let mut best_value = total_lower;
    for _ in 0..iterations {
        if best_value == target {
            break;
        }
        let mut included = vec![false; values.len()];
        let mut total = 0i64;
        let mut reached = false;
        for pass in 0..2 {
            if reached {
                break;
            }
            for i in 0..values.len() {
                let take = if pass == 0 {
                    rng.random::<bool>()
                } else {
                    !included[i]
                };
                if take {
                    total += values[i];
                    included[i] = true;
                    if total >= target {
                        reached = true;
                        if total < best_value {
                            best_value = total;
                            best = included.clone();
                        }
                        total -= values[i];
                        included[i] = false;
                    }
                }
            }
        }
    }
    (best, best_value)
}

/// Core's `KnapsackSolver`: an exact match, all smaller coins, the
/// smallest larger coin, or the best random subset aiming at `target`
/// (then `target + change_target`).
pub fn knapsack<R: Rng>(
    rng: &mut R,
    c: &[Candidate],
    target: i64,
    change_target: i64,
    use_effective: bool,
) -> Option<Vec<usize>> {
    let val = |i: usize| {
        if use_effective {
            c[i].effective()
        } else {
            c[i].value
        }
    };
    let mut idx: Vec<usize> = (0..c.len()).filter(|&i| val(i) > 0).collect();
    idx.shuffle(rng);
    let mut applicable = Vec::new();
    let mut total_lower = 0i64;
    let mut lowest_larger: Option<usize> = None;
    for &i in &idx {
        let v = val(i);
        if v == target {
            return Some(vec![i]);
        } else if v < target + change_target {
            applicable.push(i);
            total_lower += v;
        } else if lowest_larger.is_none_or(|l| v < val(l)) {
            lowest_larger = Some(i);
        }
    }
    if total_lower == target {
        return Some(applicable);
    }
    if total_lower < target {
        return lowest_larger.map(|l| vec![l]);
    }
    applicable.sort_by_key(|&i| std::cmp::Reverse(val(i)));
    let values: Vec<i64> = applicable.iter().map(|&i| val(i)).collect();
    let (mut best, mut best_value) =
        approximate_best_subset(rng, &values, total_lower, target, 1000);
    if best_value != target && total_lower >= target + change_target {
        let r = approximate_best_subset(rng, &values, total_lower, target + change_target, 1000);
        best = r.0;
        best_value = r.1;
    }
    if let Some(l) = lowest_larger {
        if (best_value != target && best_value < target + change_target) || val(l) <= best_value {
            return Some(vec![l]);
        }
    }
    Some(
        best.iter()
            .zip(&applicable)
            .filter(|(b, _)| **b)
            .map(|(_, &i)| i)
            .collect(),
    )
}

/// Single Random Draw: random coins until `target + CHANGE_LOWER`.
pub fn srd<R: Rng>(
    rng: &mut R,
    c: &[Candidate],
    target: i64,
    use_effective: bool,
) -> Option<Vec<usize>> {
    let val = |i: usize| {
        if use_effective {
            c[i].effective()
        } else {
            c[i].value
        }
    };
    let mut idx: Vec<usize> = (0..c.len()).filter(|&i| val(i) > 0).collect();
    idx.shuffle(rng);
    let mut total = 0i64;
    let mut out = Vec::new();
    for i in idx {
        total += val(i);
        out.push(i);
        if total >= target + CHANGE_LOWER {
            return Some(out);
        }
    }
    None
}

/// Runs BnB (unless fees are subtracted from outputs), Knapsack and SRD
/// and keeps the least waste (Core's `ChooseSelectionResult`).
/// `change_cost` is the cost of making and later spending a change
/// output; `change_fee` the cost of making it.
pub fn select<R: Rng>(
    rng: &mut R,
    c: &[Candidate],
    target: i64,
    change_cost: i64,
    change_fee: i64,
    use_effective: bool,
) -> Option<Selection> {
    let mut results = Vec::new();
    if use_effective {
        if let Some(s) = bnb(c, target, change_cost) {
            let w = waste(c, &s, target, 0, true);
            results.push(Selection {
                inputs: s,
                algorithm: Algorithm::Bnb,
                waste: w,
            });
        }
    }
    if let Some(s) = knapsack(rng, c, target + change_fee, MIN_CHANGE, use_effective) {
        let w = waste(c, &s, target, change_cost, use_effective);
        results.push(Selection {
            inputs: s,
            algorithm: Algorithm::Knapsack,
            waste: w,
        });
    }
    if let Some(s) = srd(rng, c, target + change_fee, use_effective) {
        let w = waste(c, &s, target, change_cost, use_effective);
        results.push(Selection {
            inputs: s,
            algorithm: Algorithm::Srd,
            waste: w,
        });
    }
    results
        .into_iter()
        .min_by_key(|s| (s.waste, std::cmp::Reverse(s.inputs.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(values: &[i64]) -> Vec<Candidate> {
        values
            .iter()
            .map(|&v| Candidate {
                value: v,
                fee: 0,
                long_term_fee: 0,
            })
            .collect()
    }

    #[test]
    fn bnb_finds_exact_match() {
        let c = cands(&[1, 2, 3, 4, 5, 8, 13]);
        let s = bnb(&c, 10, 0).unwrap();
        assert_eq!(s.iter().map(|&i| c[i].value).sum::<i64>(), 10);
        assert!(bnb(&c, 1000, 0).is_none());
        let c = cands(&[100_000, 200_000]);
        assert!(bnb(&c, 150_000, 10).is_none());
    }

    #[test]
    fn knapsack_and_srd_cover_target() {
        let mut rng = rand::rng();
        let c = cands(&[100_000, 200_000, 5_000_000]);
        let s = knapsack(&mut rng, &c, 150_000, MIN_CHANGE, true).unwrap();
        assert!(s.iter().map(|&i| c[i].value).sum::<i64>() >= 150_000);
        let s = srd(&mut rng, &c, 150_000, true).unwrap();
        assert!(s.iter().map(|&i| c[i].value).sum::<i64>() >= 200_000);
        assert!(select(&mut rng, &c, 10_000_000, 100, 50, true).is_none());
    }
}
