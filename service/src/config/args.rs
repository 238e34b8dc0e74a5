//! Command-line syntax (Core's `ParseParameters`, `InterpretKey`,
//! `InterpretValue`).

use std::collections::{HashMap, HashSet};

use super::value::{interpret_bool, Value};
use super::ConfigError;

/// A key split into its parts: `regtest.nofoo` is section "regtest",
/// negated, name "foo".
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) section: Option<String>,
    pub(crate) negated: bool,
    pub(crate) name: String,
}

/// Core's `InterpretKey`, with one refinement: a `no` prefix is only a
/// negation if the full name is not itself a known option.
pub(crate) fn interpret_key(key: &str, known: &HashSet<String>) -> Key {
    let (section, rest) = match key.find('.') {
        Some(pos) => (Some(key[..pos].to_string()), &key[pos + 1..]),
        None => (None, key),
    };
    match rest.strip_prefix("no") {
        Some(stripped) if !known.contains(rest) => Key {
            section,
            negated: true,
            name: stripped.to_string(),
        },
        _ => Key {
            section,
            negated: false,
            name: rest.to_string(),
        },
    }
}

/// Core's `InterpretValue`: `-noname` is `false`, `-noname=0` the (discouraged)
/// double negative `true`, `-name` the empty string. Returns the value and
/// an optional warning.
pub(crate) fn interpret_value(key: &Key, value: Option<&str>) -> (Value, Option<String>) {
    if key.negated {
        if let Some(v) = value {
            if !interpret_bool(v) {
                let warning = format!(
                    "parsed potentially confusing double-negative -{}={}",
                    key.name, v
                );
                return (Value::Bool(true), Some(warning));
            }
        }
        return (Value::Bool(false), None);
    }
    (Value::Str(value.unwrap_or("").to_string()), None)
}

/// The parsed command line and its warnings.
pub(crate) type CommandLine = (HashMap<String, Vec<Value>>, Vec<String>);

/// Parses process arguments (without argv\[0\]).
pub(crate) fn parse_command_line(
    args: impl IntoIterator<Item = String>,
    known: &HashSet<String>,
) -> Result<CommandLine, ConfigError> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    let mut warnings = Vec::new();
    for arg in args {
        if !arg.starts_with('-') {
            return Err(ConfigError::UnexpectedToken(arg));
        }
        let (key, value) = match arg.find('=') {
            Some(pos) => (&arg[..pos], Some(&arg[pos + 1..])),
            None => (arg.as_str(), None),
        };
        let key = key.strip_prefix("--").unwrap_or(&key[1..]);
        let key_info = interpret_key(key, known);
        if key_info.section.is_some() || !known.contains(&key_info.name) {
            return Err(ConfigError::InvalidParameter(arg));
        }
        let (v, warning) = interpret_value(&key_info, value);
        warnings.extend(warning);
        out.entry(key_info.name).or_default().push(v);
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keys() {
        let k = known(&["foo", "nodebuglog"]);
        assert_eq!(
            interpret_key("regtest.nofoo", &k),
            Key {
                section: Some("regtest".into()),
                negated: true,
                name: "foo".into()
            }
        );
        assert_eq!(interpret_key("nodebuglog", &k).name, "nodebuglog");
        assert!(!interpret_key("nodebuglog", &k).negated);
    }

    #[test]
    fn values() {
        let k = Key {
            section: None,
            negated: true,
            name: "x".into(),
        };
        assert_eq!(interpret_value(&k, None).0, Value::Bool(false));
        assert_eq!(interpret_value(&k, Some("1")).0, Value::Bool(false));
        let (v, w) = interpret_value(&k, Some("0"));
        assert_eq!(v, Value::Bool(true));
        assert!(w.is_some());
    }
}
