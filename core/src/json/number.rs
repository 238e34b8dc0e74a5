//! JSON numbers written the way Core's UniValue writes them.

use serde_json::{Number, Value};

/// A JSON number from its literal text, written out unchanged (the
/// workspace enables serde_json's `arbitrary_precision`). The caller
/// guarantees that `text` is a valid JSON number.
pub(crate) fn literal(text: String) -> Value {
    Value::Number(Number::from_string_unchecked(text))
}

/// A double as Core writes it: UniValue's `setFloat` streams the value with
/// `std::setprecision(16)`, which is C's `%.16g` (16 significant digits,
/// trailing zeros removed, exponent form below 1e-4 or from 1e16 on).
/// JSON has no infinity or NaN (Core would write `inf`): those give `null`.
pub fn double(value: f64) -> Value {
    if !value.is_finite() {
        return Value::Null;
    }
    literal(format_g(value, 16))
}

/// C's `%.{precision}g` for a finite value.
pub(crate) fn format_g(value: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // The exponent C uses is the one of the %e form at precision - 1, i.e.
    // after rounding to `precision` significant digits.
    let scientific = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = match scientific.split_once('e') {
        Some((m, e)) => (m.to_owned(), e.parse::<i32>().unwrap_or(0)),
        None => (scientific.clone(), 0),
    };
    let p = precision as i32;
    if exponent < -4 || exponent >= p {
        let mantissa = strip_zeros(&mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        let decimals = (p - 1 - exponent).max(0) as usize;
        strip_zeros(&format!("{value:.decimals$}"))
    }
}

/// Removes trailing zeros of a fraction, and the point if nothing is left.
fn strip_zeros(text: &str) -> String {
    if !text.contains('.') {
        return text.to_owned();
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::format_g;

    #[test]
    fn matches_printf() {
        // Values checked against glibc's printf("%.16g").
        assert_eq!(format_g(1.0, 16), "1");
        assert_eq!(format_g(0.5, 16), "0.5");
        assert_eq!(format_g(4.656542373906925e-10, 16), "4.656542373906925e-10");
        assert_eq!(format_g(1e16, 16), "1e+16");
        assert_eq!(format_g(123456789012345.6, 16), "123456789012345.6");
        assert_eq!(format_g(0.0001, 16), "0.0001");
        assert_eq!(format_g(0.00001, 16), "1e-05");
        assert_eq!(format_g(-2.5, 16), "-2.5");
    }
}
