//! Method parameters as Core's `RPCHelpMan` takes them: positional or
//! named, checked against each argument's declared type up front (Core
//! 28's "Wrong type passed" error), with helpers for Core's conversions.

use serde_json::Value;

use crate::error::{codes, RpcError};

/// An argument's declared type (Core's `RPCArg::Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string.
    Str,
    /// A number.
    Num,
    /// A boolean.
    Bool,
    /// An amount: number or string.
    Amount,
    /// An object.
    Obj,
    /// An array.
    Arr,
    /// A string or a number (Core's `STR` args that also take numbers are
    /// rare; used for `timestamp`-like fields).
    Any,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Str => "string",
            Ty::Num => "number",
            Ty::Bool => "bool",
            Ty::Amount => "number",
            Ty::Obj => "object",
            Ty::Arr => "array",
            Ty::Any => "any",
        }
    }

    fn matches(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::Num => v.is_number(),
            Ty::Bool => v.is_boolean(),
            Ty::Amount => v.is_number() || v.is_string(),
            Ty::Obj => v.is_object(),
            Ty::Arr => v.is_array(),
            Ty::Any => true,
        }
    }
}

/// UniValue's type names.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An error with `code` and `message`.
pub fn rpc_err(code: i32, message: impl Into<String>) -> RpcError {
    RpcError::new(code, message)
}

/// One method's arguments: name and type, in order; the first
/// `required` must be given.
pub struct Spec {
    /// `(name, type)` by position.
    pub args: &'static [(&'static str, Ty)],
    /// How many leading arguments are required.
    pub required: usize,
    /// The usage line returned for a wrong number of arguments.
    pub usage: &'static str,
}

/// The arguments of one call, by position.
pub struct Params {
    values: Vec<Value>,
}

impl Params {
    /// Maps `params` (array, object or null) onto `spec`, checks counts and
    /// types with Core's errors.
    pub fn new(params: &Value, spec: &Spec) -> Result<Params, RpcError> {
        let values = match params {
            Value::Null => Vec::new(),
            Value::Array(a) => {
                if a.len() > spec.args.len() {
                    return Err(rpc_err(codes::RPC_MISC_ERROR, spec.usage));
                }
                a.clone()
            }
            Value::Object(o) => {
                let mut values = vec![Value::Null; spec.args.len()];
                for (k, v) in o {
                    let Some(i) = spec.args.iter().position(|(n, _)| n == k) else {
                        return Err(rpc_err(
                            codes::RPC_INVALID_PARAMETER,
                            format!("Unknown named parameter {k}"),
                        ));
                    };
                    values[i] = v.clone();
                }
                while values.last() == Some(&Value::Null) {
                    values.pop();
                }
                values
            }
            _ => {
                return Err(rpc_err(
                    codes::RPC_INVALID_REQUEST,
                    "Params must be an array or object",
                ))
            }
        };
        let given = values
            .iter()
            .rposition(|v| !v.is_null())
            .map_or(0, |i| i + 1);
        if values.iter().take(spec.required).any(Value::is_null) || given < spec.required {
            return Err(rpc_err(codes::RPC_MISC_ERROR, spec.usage));
        }
        let mut mismatches = Vec::new();
        for (i, (name, ty)) in spec.args.iter().enumerate() {
            if let Some(v) = values.get(i).filter(|v| !v.is_null()) {
                if !ty.matches(v) {
                    mismatches.push(format!(
                        "    \"Position {} ({name})\": \"JSON value of type {} is not of expected type {}\"",
                        i + 1,
                        type_name(v),
                        ty.name()
                    ));
                }
            }
        }
        if !mismatches.is_empty() {
            return Err(rpc_err(
                codes::RPC_TYPE_ERROR,
                format!("Wrong type passed:\n{{\n{}\n}}", mismatches.join(",\n")),
            ));
        }
        Ok(Params { values })
    }

    /// Argument `i`, if given and not null.
    pub fn get(&self, i: usize) -> Option<&Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    /// A string argument (type already checked).
    pub fn str(&self, i: usize) -> Option<&str> {
        self.get(i).and_then(Value::as_str)
    }

    /// A boolean argument.
    pub fn bool(&self, i: usize) -> Option<bool> {
        self.get(i).and_then(Value::as_bool)
    }

    /// An integer argument: Core's `getInt<int64_t>` ("JSON integer out of
    /// range" for fractions or overflow).
    pub fn int(&self, i: usize) -> Result<Option<i64>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(v) => get_int(v).map(Some),
        }
    }
}

/// UniValue's `getInt<int64_t>`.
pub fn get_int(v: &Value) -> Result<i64, RpcError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| rpc_err(codes::RPC_TYPE_ERROR, "JSON integer out of range")),
        other => Err(rpc_err(
            codes::RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type number",
                type_name(other)
            ),
        )),
    }
}

/// UniValue's `get_str`.
pub fn get_str(v: &Value) -> Result<&str, RpcError> {
    v.as_str().ok_or_else(|| {
        rpc_err(
            codes::RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type string",
                type_name(v)
            ),
        )
    })
}

/// UniValue's `get_bool`.
pub fn get_bool(v: &Value) -> Result<bool, RpcError> {
    v.as_bool().ok_or_else(|| {
        rpc_err(
            codes::RPC_TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type bool",
                type_name(v)
            ),
        )
    })
}
