//! Fee rates and amounts as Bitcoin Core handles them: [`FeeRate`] is
//! Core's `CFeeRate` (satoshis per 1000 virtual bytes, fees rounded up),
//! [`format_money`] Core's `FormatMoney`.

use std::fmt;

/// Satoshis in one bitcoin.
pub const COIN: i64 = 100_000_000;

/// A fee rate in satoshis per 1000 virtual bytes, with the arithmetic of
/// Core's `CFeeRate`. (`bitcoin::FeeRate` counts per 1000 weight units and
/// cannot hold every value Core's options can, e.g. 1001 sat/kvB.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeeRate {
    sat_per_kvb: i64,
}

impl FeeRate {
    /// The zero rate.
    pub const ZERO: FeeRate = FeeRate { sat_per_kvb: 0 };

    /// A rate of `sat_per_kvb` satoshis per 1000 virtual bytes.
    pub const fn from_sat_per_kvb(sat_per_kvb: i64) -> FeeRate {
        FeeRate { sat_per_kvb }
    }

    /// The rate of paying `fee` for `vsize` virtual bytes (Core's
    /// `CFeeRate(fee, size)`: truncated; zero for a zero size).
    pub fn from_fee_and_vsize(fee: i64, vsize: u64) -> FeeRate {
        if vsize == 0 {
            return FeeRate::ZERO;
        }
        let rate = i128::from(fee) * 1000 / i128::from(vsize);
        FeeRate {
            sat_per_kvb: clamp_i64(rate),
        }
    }

    /// Satoshis per 1000 virtual bytes.
    pub const fn sat_per_kvb(self) -> i64 {
        self.sat_per_kvb
    }

    /// The fee for `vsize` virtual bytes (Core's `GetFee`: rounded up, and
    /// at least one satoshi for a non-zero rate and size).
    pub fn fee(self, vsize: u64) -> i64 {
        let num = i128::from(self.sat_per_kvb) * i128::from(vsize);
        // ceil(num / 1000) for either sign.
        let mut fee = num.div_euclid(1000) + i128::from(num.rem_euclid(1000) != 0);
        if fee == 0 && vsize != 0 {
            fee = i128::from(self.sat_per_kvb.signum());
        }
        clamp_i64(fee)
    }

    /// The sum of two rates (Core's `CFeeRate::operator+=`).
    pub fn saturating_add(self, other: FeeRate) -> FeeRate {
        FeeRate {
            sat_per_kvb: self.sat_per_kvb.saturating_add(other.sat_per_kvb),
        }
    }
}

impl From<bitcoin::FeeRate> for FeeRate {
    /// Converts from satoshis per 1000 weight units (exact: 4 wu per vbyte).
    fn from(rate: bitcoin::FeeRate) -> FeeRate {
        FeeRate {
            sat_per_kvb: clamp_i64(i128::from(rate.to_sat_per_kwu()) * 4),
        }
    }
}

impl fmt::Display for FeeRate {
    /// Core's `CFeeRate::ToString()`: `0.00001000 BTC/kvB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.sat_per_kvb;
        let sign = if r < 0 { "-" } else { "" };
        let a = r.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:08} BTC/kvB",
            a / COIN as u64,
            a % COIN as u64
        )
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Core's `FormatMoney` (the consensus code's).
pub use crate::validation::format_money;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_rounding() {
        let r = FeeRate::from_sat_per_kvb(3000);
        assert_eq!(r.fee(98), 294);
        assert_eq!(r.fee(182), 546);
        assert_eq!(FeeRate::from_sat_per_kvb(1000).fee(141), 141);
        assert_eq!(FeeRate::from_sat_per_kvb(1).fee(10), 1);
        assert_eq!(FeeRate::from_sat_per_kvb(1500).fee(3), 5);
        assert_eq!(FeeRate::from_sat_per_kvb(0).fee(3), 0);
        assert_eq!(FeeRate::from_fee_and_vsize(141, 141).sat_per_kvb(), 1000);
        assert_eq!(FeeRate::from_fee_and_vsize(1, 3).sat_per_kvb(), 333);
        assert_eq!(
            FeeRate::from_sat_per_kvb(1000).to_string(),
            "0.00001000 BTC/kvB"
        );
        assert_eq!(
            FeeRate::from(bitcoin::FeeRate::from_sat_per_kwu(250)),
            FeeRate::from_sat_per_kvb(1000)
        );
    }

    #[test]
    fn money() {
        assert_eq!(format_money(10_000), "0.0001");
        assert_eq!(format_money(100_000_000), "1.00");
        assert_eq!(format_money(0), "0.00");
        assert_eq!(format_money(-50_000_000), "-0.50");
        assert_eq!(format_money(123_456_789), "1.23456789");
    }
}
