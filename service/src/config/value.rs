//! Setting values and Core's rules for reading them (`InterpretBool`,
//! `LocaleIndependentAtoi`, the negation-aware span of one source).

/// One value of a setting as stored from one source.
///
/// Core keeps `-noname` as the JSON value `false`, `-noname=0` as `true`
/// and everything else as a string; this mirrors that.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// `-name=value`, `-name` (empty string) or `name=value` in the file.
    Str(String),
    /// `-noname` (false) or the double negative `-noname=0` (true).
    Bool(bool),
}

/// A borrowed view of a resolved setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setting<'a> {
    Str(&'a str),
    Bool(bool),
}

impl<'a> Setting<'a> {
    pub(crate) fn from_value(v: &'a Value) -> Self {
        match v {
            Value::Str(s) => Setting::Str(s),
            Value::Bool(b) => Setting::Bool(*b),
        }
    }

    /// Core's `SettingToString`: `false` reads as "0", `true` as "1".
    pub(crate) fn as_str(self) -> &'a str {
        match self {
            Setting::Str(s) => s,
            Setting::Bool(false) => "0",
            Setting::Bool(true) => "1",
        }
    }

    /// Core's `SettingToBool`.
    pub(crate) fn as_bool(self) -> bool {
        match self {
            Setting::Str(s) => interpret_bool(s),
            Setting::Bool(b) => b,
        }
    }
}

/// Core's `InterpretBool`: the empty string is true, otherwise the value
/// is read like C's `atoi` and anything non-zero is true ("abc" is false,
/// "2" and "1x" are true).
pub fn interpret_bool(s: &str) -> bool {
    s.is_empty() || atoi(s) != 0
}

/// Core's `LocaleIndependentAtoi<int>`: leading/trailing whitespace trimmed,
/// an optional sign, then as many decimal digits as there are; no digits
/// gives 0, overflow saturates.
pub(crate) fn atoi(s: &str) -> i64 {
    let s = s.trim_matches(|c: char| " \x0c\n\r\t\x0b".contains(c));
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'+') => {
            if s.as_bytes().get(1) == Some(&b'-') {
                return 0;
            }
            (false, &s[1..])
        }
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let mut value: i64 = 0;
    let mut any = false;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        any = true;
        let d = i64::from(b - b'0');
        value = match value.checked_mul(10).and_then(|v| {
            if negative {
                v.checked_sub(d)
            } else {
                v.checked_add(d)
            }
        }) {
            Some(v) => v,
            None => return if negative { i64::MIN } else { i64::MAX },
        };
    }
    if any {
        value
    } else {
        0
    }
}

/// A strict integer: optional surrounding whitespace, an optional sign and
/// at least one digit, nothing else, in range.
pub(crate) fn parse_strict_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let body = t.strip_prefix('+').unwrap_or(t);
    if body.starts_with('+') {
        return None;
    }
    body.parse::<i64>().ok()
}

/// The values of one source as Core's `SettingsSpan` sees them: a `false`
/// value negates itself and everything before it.
pub(crate) struct Span<'a> {
    values: &'a [Value],
}

impl<'a> Span<'a> {
    pub(crate) fn new(values: &'a [Value]) -> Self {
        Span { values }
    }

    /// Number of values at and before the last negation.
    pub(crate) fn negated(&self) -> usize {
        self.values
            .iter()
            .rposition(|v| *v == Value::Bool(false))
            .map_or(0, |i| i + 1)
    }

    /// The values after the last negation.
    pub(crate) fn live(&self) -> &'a [Value] {
        &self.values[self.negated()..]
    }

    /// True if the last value is a negation.
    pub(crate) fn last_negated(&self) -> bool {
        self.values.last() == Some(&Value::Bool(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_like_core() {
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi("12"), 12);
        assert_eq!(atoi(" 12 "), 12);
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("+3"), 3);
        assert_eq!(atoi("+-3"), 0);
        assert_eq!(atoi("99999999999999999999"), i64::MAX);
        assert_eq!(atoi("-99999999999999999999"), i64::MIN);
    }

    #[test]
    fn bools_like_core() {
        assert!(interpret_bool(""));
        assert!(interpret_bool("1"));
        assert!(interpret_bool("2"));
        assert!(interpret_bool("-1"));
        assert!(!interpret_bool("0"));
        assert!(!interpret_bool("abc"));
        assert!(!interpret_bool("true"));
        assert!(!interpret_bool(" 0 "));
    }

    #[test]
    fn strict_ints() {
        assert_eq!(parse_strict_int("42"), Some(42));
        assert_eq!(parse_strict_int(" -42 "), Some(-42));
        assert_eq!(parse_strict_int("+42"), Some(42));
        assert_eq!(parse_strict_int("++42"), None);
        assert_eq!(parse_strict_int("42x"), None);
        assert_eq!(parse_strict_int(""), None);
        assert_eq!(parse_strict_int("99999999999999999999"), None);
    }

    #[test]
    fn span_negation() {
        let vals = vec![
            Value::Str("a".into()),
            Value::Bool(false),
            Value::Str("b".into()),
        ];
        let s = Span::new(&vals);
        assert_eq!(s.negated(), 2);
        assert_eq!(s.live(), &[Value::Str("b".into())]);
        assert!(!s.last_negated());
        let vals = vec![Value::Str("a".into()), Value::Bool(false)];
        assert!(Span::new(&vals).last_negated());
        assert!(Span::new(&vals).live().is_empty());
    }
}
