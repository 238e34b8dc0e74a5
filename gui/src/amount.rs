//! Bitcoin amounts as the GUI reads and writes them: exact satoshis, never
//! floating point. The node's JSON carries amounts as decimal numbers with
//! up to 8 places (serde_json keeps their text).

use serde_json::Value;

pub const COIN: i64 = 100_000_000;

/// Parses a decimal BTC amount typed by the user ("1", "0.5", "1.23456789").
/// `None` for anything else (more than 8 decimals, signs, garbage, overflow).
pub fn parse_btc(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let (whole, frac) = match t.split_once('.') {
        Some((w, f)) => (w, f),
        None => (t, ""),
    };
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 8
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut f = frac.to_string();
    while f.len() < 8 {
        f.push('0');
    }
    let frac: i64 = f.parse().ok()?;
    whole.checked_mul(COIN)?.checked_add(frac)
}

/// A signed amount from the node's JSON (`-0.00001410`, `50.00000000`).
pub fn from_json(v: &Value) -> Option<i64> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    let (neg, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.as_str()),
    };
    // Exponent forms never come from Core, but tolerate "1e-8" via f64.
    let sats = match parse_btc(rest) {
        Some(s) => s,
        None => {
            let f: f64 = rest.parse().ok()?;
            (f * COIN as f64).round() as i64
        }
    };
    Some(if neg { -sats } else { sats })
}

/// `1.50000000` (Core's FormatMoney: always 8 places).
pub fn format_plain(sats: i64) -> String {
    let sign = if sats < 0 { "-" } else { "" };
    let a = sats.unsigned_abs();
    format!("{sign}{}.{:08}", a / COIN as u64, a % COIN as u64)
}

/// `1.50000000 BTC`.
pub fn format_btc(sats: i64) -> String {
    format!("{} BTC", format_plain(sats))
}

/// An amount as a JSON number for RPC parameters (exact decimal text).
pub fn to_json(sats: i64) -> Value {
    serde_json::from_str(&format_plain(sats)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_exactly() {
        assert_eq!(parse_btc("1"), Some(COIN));
        assert_eq!(parse_btc("0.1"), Some(10_000_000));
        assert_eq!(parse_btc(".5"), Some(50_000_000));
        assert_eq!(parse_btc("1.23456789"), Some(123_456_789));
        assert_eq!(parse_btc(" 2. "), Some(2 * COIN));
        for bad in [
            "",
            ".",
            "1.234567891",
            "-1",
            "1e3",
            "abc",
            "1,5",
            "99999999999999999999",
        ] {
            assert_eq!(parse_btc(bad), None, "{bad}");
        }
        assert_eq!(format_btc(-1410), "-0.00001410 BTC");
        assert_eq!(format_plain(50 * COIN), "50.00000000");
        let v: Value = serde_json::from_str("-0.00001410").unwrap();
        assert_eq!(from_json(&v), Some(-1410));
        assert_eq!(from_json(&to_json(123_456_789)), Some(123_456_789));
        assert_eq!(to_json(5).to_string(), "0.00000005");
    }
}
