//! JSON-RPC 1.0/2.0 over the HTTP body, Core 28's `HTTPReq_JSONRPC`,
//! `JSONRPCRequest::parse` and `JSONRPCReplyObj`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::Value;

use super::codes::{
    RPC_INTERNAL_ERROR, RPC_INVALID_REQUEST, RPC_METHOD_NOT_FOUND, RPC_PARSE_ERROR,
};
use super::response::Response;
use super::{RpcError, RpcHandler, RpcRequest};

/// Which reply shape a request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// No `jsonrpc` or `"1.0"`: `{"result","error","id"}` and HTTP errors.
    Legacy,
    /// `"jsonrpc":"2.0"`: one of result/error, always HTTP 200.
    V2,
}

/// A parsed call.
#[derive(Debug)]
pub(crate) struct Call {
    /// `None` when the request has no `id` member.
    pub(crate) id: Option<Value>,
    pub(crate) version: Version,
    pub(crate) method: String,
    pub(crate) params: Value,
}

impl Call {
    /// A 2.0 request without `id` gets no reply.
    fn is_notification(&self) -> bool {
        self.id.is_none() && self.version == Version::V2
    }
}

/// A request that failed to parse, with what had been read of it.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub(crate) id: Option<Value>,
    pub(crate) version: Version,
    pub(crate) error: RpcError,
}

fn invalid(id: Option<Value>, version: Version, message: &str) -> Invalid {
    Invalid {
        id,
        version,
        error: RpcError::new(RPC_INVALID_REQUEST, message),
    }
}

/// Core's `JSONRPCRequest::parse`.
pub(crate) fn parse_call(v: Value) -> Result<Call, Invalid> {
    let Value::Object(mut obj) = v else {
        return Err(invalid(
            Some(Value::Null),
            Version::Legacy,
            "Invalid Request object",
        ));
    };
    let id = obj.remove("id");
    let version = match obj.get("jsonrpc") {
        None | Some(Value::Null) => Version::Legacy,
        Some(Value::String(s)) if s == "1.0" => Version::Legacy,
        Some(Value::String(s)) if s == "2.0" => Version::V2,
        Some(Value::String(_)) => {
            return Err(invalid(
                id,
                Version::Legacy,
                "JSON-RPC version not supported",
            ))
        }
        Some(_) => {
            return Err(invalid(
                id,
                Version::Legacy,
                "jsonrpc field must be a string",
            ))
        }
    };
    let method = match obj.remove("method") {
        None | Some(Value::Null) => return Err(invalid(id, version, "Missing method")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(invalid(id, version, "Method must be a string")),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(p @ (Value::Array(_) | Value::Object(_))) => p,
        Some(_) => return Err(invalid(id, version, "Params must be an array or object")),
    };
    Ok(Call {
        id,
        version,
        method,
        params,
    })
}

fn json(v: &Value) -> String {
    // Serialising a Value cannot fail: keys are strings, numbers finite.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

fn error_json(e: &RpcError) -> String {
    format!(
        "{{\"code\":{},\"message\":{}}}",
        e.code,
        json(&Value::String(e.message.clone()))
    )
}

/// Core's `JSONRPCReplyObj`, in Core's key order.
pub(crate) fn reply_object(
    version: Version,
    outcome: Result<&Value, &RpcError>,
    id: Option<&Value>,
) -> String {
    let mut parts = Vec::with_capacity(4);
    if version == Version::V2 {
        parts.push("\"jsonrpc\":\"2.0\"".to_string());
    }
    match outcome {
        Ok(result) => {
            parts.push(format!("\"result\":{}", json(result)));
            if version == Version::Legacy {
                parts.push("\"error\":null".to_string());
            }
        }
        Err(e) => {
            if version == Version::Legacy {
                parts.push("\"result\":null".to_string());
            }
            parts.push(format!("\"error\":{}", error_json(e)));
        }
    }
    if let Some(id) = id {
        parts.push(format!("\"id\":{}", json(id)));
    }
    format!("{{{}}}", parts.join(","))
}

/// Core's `JSONErrorReply`: 400 for invalid requests, 404 for unknown
/// methods, 500 for anything else.
pub(crate) fn error_reply(version: Version, error: &RpcError, id: Option<&Value>) -> Response {
    let status = match error.code {
        RPC_INVALID_REQUEST => 400,
        RPC_METHOD_NOT_FOUND => 404,
        _ => 500,
    };
    Response::json(status, reply_object(version, Err(error), id) + "\n")
}

/// What to do with a request body.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// Answer now (parse errors).
    Reply(Response),
    /// Run one call.
    Single(Call),
    /// Run a batch (elements parsed when run).
    Batch(Vec<Value>),
}

/// Parses the body.
pub(crate) fn prepare(body: &[u8]) -> Prepared {
    let null = Value::Null;
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let e = RpcError::new(RPC_PARSE_ERROR, "Parse error");
            return Prepared::Reply(error_reply(Version::Legacy, &e, Some(&null)));
        }
    };
    match value {
        Value::Object(_) => match parse_call(value) {
            Ok(call) => Prepared::Single(call),
            Err(inv) => Prepared::Reply(error_reply(inv.version, &inv.error, inv.id.as_ref())),
        },
        Value::Array(items) => Prepared::Batch(items),
        _ => {
            let e = RpcError::new(RPC_PARSE_ERROR, "Top-level object parse error");
            Prepared::Reply(error_reply(Version::Legacy, &e, Some(&null)))
        }
    }
}

/// Who is calling, and through which endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    pub(crate) path: String,
    pub(crate) user: String,
}

/// Calls the handler; a panic becomes `RPC_INTERNAL_ERROR`.
fn invoke(handler: &dyn RpcHandler, ctx: &Context, call: &mut Call) -> Result<Value, RpcError> {
    let req = RpcRequest {
        method: std::mem::take(&mut call.method),
        params: std::mem::take(&mut call.params),
        path: ctx.path.clone(),
        user: ctx.user.clone(),
    };
    match catch_unwind(AssertUnwindSafe(|| handler.call(&req))) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "handler panicked".to_string());
            Err(RpcError::new(
                RPC_INTERNAL_ERROR,
                &format!("Internal error: {what}"),
            ))
        }
    }
}

/// Runs what [`prepare`] produced (on a worker thread).
pub(crate) fn execute(prepared: Prepared, handler: &dyn RpcHandler, ctx: &Context) -> Response {
    match prepared {
        Prepared::Reply(r) => r,
        Prepared::Single(mut call) => {
            let outcome = invoke(handler, ctx, &mut call);
            match (call.version, outcome) {
                (Version::V2, _) if call.is_notification() => Response::empty(204),
                (Version::Legacy, Err(e)) => error_reply(Version::Legacy, &e, call.id.as_ref()),
                (v, outcome) => Response::json(
                    200,
                    reply_object(v, outcome.as_ref(), call.id.as_ref()) + "\n",
                ),
            }
        }
        Prepared::Batch(items) => {
            let count = items.len();
            let mut replies = Vec::with_capacity(count);
            for item in items {
                match parse_call(item) {
                    Ok(mut call) => {
                        let outcome = invoke(handler, ctx, &mut call);
                        if !call.is_notification() {
                            replies.push(reply_object(
                                call.version,
                                outcome.as_ref(),
                                call.id.as_ref(),
                            ));
                        }
                    }
                    Err(inv) => {
                        if !(inv.id.is_none() && inv.version == Version::V2) {
                            replies.push(reply_object(
                                inv.version,
                                Err(&inv.error),
                                inv.id.as_ref(),
                            ));
                        }
                    }
                }
            }
            if replies.is_empty() && count > 0 {
                Response::empty(204)
            } else {
                Response::json(200, format!("[{}]\n", replies.join(",")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(v: Version, r: Result<&Value, &RpcError>, id: Option<&Value>) -> Value {
        serde_json::from_str(&reply_object(v, r, id)).unwrap()
    }

    #[test]
    fn shapes() {
        let one = json!(1);
        assert_eq!(
            reply(Version::Legacy, Ok(&json!("x")), Some(&one)),
            json!({"result":"x","error":null,"id":1})
        );
        assert_eq!(
            reply(Version::V2, Ok(&json!("x")), Some(&one)),
            json!({"jsonrpc":"2.0","result":"x","id":1})
        );
        let e = RpcError::new(-8, "bad");
        assert_eq!(
            reply(Version::V2, Err(&e), None),
            json!({"jsonrpc":"2.0","error":{"code":-8,"message":"bad"}})
        );
        assert_eq!(
            reply_object(Version::Legacy, Err(&e), Some(&Value::Null)),
            r#"{"result":null,"error":{"code":-8,"message":"bad"},"id":null}"#
        );
    }

    #[test]
    fn parse_rules() {
        let msg = |v: Value| parse_call(v).unwrap_err().error.message;
        assert_eq!(msg(json!([1])), "Invalid Request object");
        assert_eq!(msg(json!({"id":1})), "Missing method");
        assert_eq!(msg(json!({"method":null})), "Missing method");
        assert_eq!(msg(json!({"method":5})), "Method must be a string");
        assert_eq!(
            msg(json!({"method":"m","params":5})),
            "Params must be an array or object"
        );
        assert_eq!(
            msg(json!({"method":"m","jsonrpc":2})),
            "jsonrpc field must be a string"
        );
        assert_eq!(
            msg(json!({"method":"m","jsonrpc":"3.0"})),
            "JSON-RPC version not supported"
        );
        let c = parse_call(json!({"method":"m","jsonrpc":"2.0","id":null})).unwrap();
        assert_eq!(c.id, Some(Value::Null));
        assert!(!c.is_notification());
        assert_eq!(c.params, json!([]));
        let c = parse_call(json!({"method":"m","jsonrpc":"2.0"})).unwrap();
        assert!(c.is_notification());
        let c = parse_call(json!({"method":"m","jsonrpc":"1.0"})).unwrap();
        assert!(!c.is_notification());
        let inv = parse_call(json!({"id":7,"jsonrpc":"2.0"})).unwrap_err();
        assert_eq!((inv.id, inv.version), (Some(json!(7)), Version::V2));
    }
}
