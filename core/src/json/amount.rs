//! Amounts in BTC, as Core writes (`ValueFromAmount`) and reads
//! (`AmountFromValue`) them.

use bitcoin::Amount;
use serde_json::Value;

use super::number::literal;
use super::params::{ParamError, RPC_TYPE_ERROR};

/// Core's `MAX_MONEY`: 21 million BTC in satoshis.
pub const MAX_MONEY: i64 = 21_000_000 * 100_000_000;

/// Satoshis per bitcoin.
const COIN: i64 = 100_000_000;

/// An amount in satoshis as Core writes it: a JSON number in BTC with
/// exactly 8 decimals (`50.00000000`, `-0.00001000`), for any `i64`.
pub fn amount(sat: i64) -> Value {
    let sign = if sat < 0 { "-" } else { "" };
    let abs = sat.unsigned_abs();
    let coin = COIN.unsigned_abs();
    literal(format!("{sign}{}.{:08}", abs / coin, abs % coin))
}

/// Core's `AmountFromValue` (8 decimals): a JSON number or a numeric string
/// in BTC, read from its literal text by Core's `ParseFixedPoint` (so `1e-8`
/// and `"0.5"` are accepted, `0.000000001` is not), and within
/// `0..=MAX_MONEY`. Errors are Core's, all with code -3:
/// "Amount is not a number or string", "Invalid amount",
/// "Amount out of range".
pub fn parse_amount(value: &Value) -> Result<Amount, ParamError> {
    let text = match value {
        Value::Number(n) => n.as_str().to_owned(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(ParamError::new(
                RPC_TYPE_ERROR,
                "Amount is not a number or string",
            ))
        }
    };
    let sat = parse_fixed_point(&text, 8)
        .ok_or_else(|| ParamError::new(RPC_TYPE_ERROR, "Invalid amount"))?;
    if !(0..=MAX_MONEY).contains(&sat) {
        return Err(ParamError::new(RPC_TYPE_ERROR, "Amount out of range"));
    }
    Ok(Amount::from_sat(sat.unsigned_abs()))
}

/// Upper bound of the mantissa in `ParseFixedPoint`: 10^18 - 1.
const UPPER_BOUND: i64 = 1_000_000_000_000_000_000 - 1;

/// Core's `ParseFixedPoint`: a decimal number (`-`? digits, optional
/// fraction, optional exponent; no leading `+`, no leading zeros but one,
/// no whitespace) as an integer scaled by 10^`decimals`, or `None` if it is
/// malformed, has more than `decimals` decimals, or is out of range.
pub fn parse_fixed_point(text: &str, decimals: i64) -> Option<i64> {
    let bytes = text.as_bytes();
    let end = bytes.len();
    let mut ptr = 0;
    let mut mantissa: i64 = 0;
    let mut exponent: i64 = 0;
    let mut mantissa_tzeros: i64 = 0;
    let mut point_ofs: i64 = 0;
    let mut mantissa_sign = false;
    let mut exponent_sign = false;

    if ptr < end && bytes[ptr] == b'-' {
        mantissa_sign = true;
        ptr += 1;
    }
    if ptr >= end {
        return None; // empty string or loose '-'
    }
    if bytes[ptr] == b'0' {
        ptr += 1; // a single 0
    } else if (b'1'..=b'9').contains(&bytes[ptr]) {
        while ptr < end && bytes[ptr].is_ascii_digit() {
            mantissa_digit(bytes[ptr], &mut mantissa, &mut mantissa_tzeros)?;
            ptr += 1;
        }
    } else {
        return None; // missing expected digit
    }
    if ptr < end && bytes[ptr] == b'.' {
        ptr += 1;
        if !(ptr < end && bytes[ptr].is_ascii_digit()) {
            return None;
        }
        while ptr < end && bytes[ptr].is_ascii_digit() {
            mantissa_digit(bytes[ptr], &mut mantissa, &mut mantissa_tzeros)?;
            ptr += 1;
            point_ofs += 1;
        }
    }
    if ptr < end && (bytes[ptr] == b'e' || bytes[ptr] == b'E') {
        ptr += 1;
        if ptr < end && bytes[ptr] == b'+' {
            ptr += 1;
        } else if ptr < end && bytes[ptr] == b'-' {
            exponent_sign = true;
            ptr += 1;
        }
        if !(ptr < end && bytes[ptr].is_ascii_digit()) {
            return None;
        }
        while ptr < end && bytes[ptr].is_ascii_digit() {
            if exponent > UPPER_BOUND / 10 {
                return None;
            }
            exponent = exponent * 10 + i64::from(bytes[ptr] - b'0');
            ptr += 1;
        }
    }
    if ptr != end {
        return None; // trailing garbage
    }

    if exponent_sign {
        exponent = -exponent;
    }
    exponent = exponent - point_ofs + mantissa_tzeros;
    if mantissa_sign {
        mantissa = -mantissa;
    }
    exponent += decimals;
    if !(0..18).contains(&exponent) {
        return None;
    }
    for _ in 0..exponent {
        if !(-(UPPER_BOUND / 10)..=UPPER_BOUND / 10).contains(&mantissa) {
            return None;
        }
        mantissa *= 10;
    }
    if !(-UPPER_BOUND..=UPPER_BOUND).contains(&mantissa) {
        return None;
    }
    Some(mantissa)
}

/// Core's `ProcessMantissaDigit`: trailing zeros are counted, not
/// multiplied in, until a non-zero digit follows.
fn mantissa_digit(ch: u8, mantissa: &mut i64, tzeros: &mut i64) -> Option<()> {
    if ch == b'0' {
        *tzeros += 1;
    } else {
        for _ in 0..=*tzeros {
            if *mantissa > UPPER_BOUND / 10 {
                return None;
            }
            *mantissa *= 10;
        }
        *mantissa += i64::from(ch - b'0');
        *tzeros = 0;
    }
    Some(())
}
