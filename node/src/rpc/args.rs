//! Method parameters: positional or named (JSON-RPC arrays or objects), and
//! their types, with Bitcoin Core's errors for bad ones.

use bitcoin::BlockHash;
use serde_json::Value;

use crate::http::{codes, RpcError};

/// The parameters of one call, by position, after named ones were put in
/// their places.
pub struct Params {
    values: Vec<Value>,
}

/// An error with Core's code and message.
pub fn err(code: i32, message: impl Into<String>) -> RpcError {
    RpcError {
        code,
        message: message.into(),
    }
}

/// Core's JSON type names.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(v: &Value, expected: &str) -> RpcError {
    err(
        codes::RPC_TYPE_ERROR,
        format!(
            "JSON value of type {} is not of expected type {expected}",
            type_name(v)
        ),
    )
}

impl Params {
    /// Maps `params` (array or object) onto the method's parameter `names`.
    /// `usage` is the method's help, returned (as Core does) when there are
    /// too many positional parameters.
    pub fn new(params: &Value, names: &[&str], usage: &str) -> Result<Params, RpcError> {
        match params {
            Value::Null => Ok(Params { values: Vec::new() }),
            Value::Array(a) => {
                if a.len() > names.len() {
                    return Err(err(codes::RPC_MISC_ERROR, usage));
                }
                Ok(Params { values: a.clone() })
            }
            Value::Object(o) => {
                let mut values = vec![Value::Null; names.len()];
                for (k, v) in o {
                    let Some(i) = names.iter().position(|n| n == k) else {
                        return Err(err(
                            codes::RPC_INVALID_PARAMETER,
                            format!("Unknown named parameter {k}"),
                        ));
                    };
                    values[i] = v.clone();
                }
                while values.last() == Some(&Value::Null) {
                    values.pop();
                }
                Ok(Params { values })
            }
            _ => Err(err(
                codes::RPC_INVALID_REQUEST,
                "Params must be an array or object",
            )),
        }
    }

    /// Parameter `i`, if given and not null.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    /// A required parameter.
    pub fn required(&self, i: usize, usage: &str) -> Result<&Value, RpcError> {
        self.get(i).ok_or_else(|| err(codes::RPC_MISC_ERROR, usage))
    }

    /// An integer parameter (Core accepts only JSON numbers).
    pub fn int(&self, i: usize) -> Result<Option<i64>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| type_error(v, "number")),
        }
    }

    /// A boolean parameter. Core 28 also takes 0/1 for verbosity-style
    /// booleans; only JSON booleans here.
    pub fn bool(&self, i: usize) -> Result<Option<bool>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(type_error(v, "bool")),
        }
    }

    /// A string parameter.
    pub fn str(&self, i: usize) -> Result<Option<&str>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(type_error(v, "string")),
        }
    }

    /// A required string parameter.
    pub fn req_str(&self, i: usize, usage: &str) -> Result<&str, RpcError> {
        self.required(i, usage)?;
        Ok(self.str(i)?.unwrap_or_default())
    }

    /// A block hash parameter, with Core's checks and messages.
    pub fn hash(&self, i: usize, name: &str, usage: &str) -> Result<BlockHash, RpcError> {
        let s = self.req_str(i, usage)?;
        parse_hash(s, name)
    }
}

/// Core's `ParseHashV` (the shared one in `btc_core::json`).
pub fn parse_hash<T: bitcoin::hashes::Hash<Bytes = [u8; 32]>>(
    s: &str,
    name: &str,
) -> Result<T, RpcError> {
    btc_core::json::parse_hash_v(&Value::String(s.to_string()), name)
        .map_err(|e| err(e.code, e.message))
}

/// Core's `IsHex` + decode.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    use bitcoin::hex::FromHex;
    Vec::<u8>::from_hex(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_and_positional() {
        let p = Params::new(&json!({"b": 2}), &["a", "b"], "usage").unwrap();
        assert!(p.get(0).is_none());
        assert_eq!(p.int(1).unwrap(), Some(2));
        let e = Params::new(&json!({"c": 2}), &["a", "b"], "usage")
            .err()
            .unwrap();
        assert_eq!(e.code, codes::RPC_INVALID_PARAMETER);
        let e = Params::new(&json!([1, 2, 3]), &["a", "b"], "usage")
            .err()
            .unwrap();
        assert_eq!(e.message, "usage");
        let p = Params::new(&json!(["x"]), &["a"], "u").unwrap();
        assert_eq!(
            p.int(0).err().unwrap().message,
            "JSON value of type string is not of expected type number"
        );
        assert!(parse_hash::<BlockHash>("zz", "blockhash").is_err());
        assert_eq!(parse_hex("0a0B"), Some(vec![10, 11]));
        assert_eq!(parse_hex("0"), None);
    }
}
