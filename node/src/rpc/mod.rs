//! The node's JSON-RPC methods, with Bitcoin Core's names, parameters,
//! answers and error codes. [`Dispatcher`] is the [`RpcHandler`] the HTTP
//! server calls.

pub mod args;
mod blockchain;
mod control;
mod mempool;
mod mining;
mod rawtx;

use std::sync::Arc;

use serde_json::Value;

use crate::http::{codes, RpcError, RpcHandler, RpcRequest};
use crate::node::Node;
use args::{err, Params};

/// A method: its name, category, parameter names, help, and code.
pub struct Method {
    /// Core's name.
    pub name: &'static str,
    /// Core's help category.
    pub category: &'static str,
    /// Parameter names, in order (for named parameters).
    pub params: &'static [&'static str],
    /// The usage line, returned on bad arguments.
    pub usage: &'static str,
    /// The implementation.
    pub run: fn(&Node, &Params, &Method) -> Result<Value, RpcError>,
}

fn methods() -> Vec<Method> {
    let mut all = Vec::new();
    all.extend(blockchain::methods());
    all.extend(mempool::methods());
    all.extend(mining::methods());
    all.extend(rawtx::methods());
    all.extend(control::methods());
    all
}

/// Routes calls to methods.
pub struct Dispatcher {
    node: Arc<Node>,
    methods: Vec<Method>,
}

impl Dispatcher {
    /// The node's methods.
    pub fn new(node: Arc<Node>) -> Dispatcher {
        Dispatcher {
            node,
            methods: methods(),
        }
    }

    fn find(&self, name: &str) -> Option<&Method> {
        self.methods.iter().find(|m| m.name == name)
    }

    /// `help` (all methods by category) or `help METHOD`.
    fn help(&self, params: &Value) -> Result<Value, RpcError> {
        let p = Params::new(params, &["command"], "help ( \"command\" )")?;
        if let Some(cmd) = p.str(0)? {
            return match self.find(cmd) {
                Some(m) => Ok(Value::String(m.usage.to_string())),
                None => Ok(Value::String(format!("help: unknown command: {cmd}"))),
            };
        }
        let mut out = String::new();
        // Categories in the order they first appear.
        let mut cats: Vec<&str> = Vec::new();
        for m in &self.methods {
            if !cats.contains(&m.category) {
                cats.push(m.category);
            }
        }
        for c in cats {
            out.push_str(&format!("== {} ==\n", capitalize(c)));
            let mut names: Vec<&Method> = self.methods.iter().filter(|m| m.category == c).collect();
            names.sort_by_key(|m| m.name);
            for m in names {
                out.push_str(m.usage.lines().next().unwrap_or(m.name));
                out.push('\n');
            }
            out.push('\n');
        }
        Ok(Value::String(out.trim_end().to_string()))
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

impl RpcHandler for Dispatcher {
    fn call(&self, req: &RpcRequest) -> Result<Value, RpcError> {
        if req.method == "help" {
            return self.help(&req.params);
        }
        if let Some(w) = self.node.wallets() {
            if w.handles(&req.method) {
                let name = req.path.strip_prefix("/wallet/");
                return w.call(&self.node, name, &req.method, &req.params);
            }
        }
        if req.path.starts_with("/wallet/") {
            return Err(err(
                codes::RPC_WALLET_NOT_FOUND,
                "Requested wallet does not exist or is not loaded",
            ));
        }
        let Some(m) = self.find(&req.method) else {
            return Err(err(codes::RPC_METHOD_NOT_FOUND, "Method not found"));
        };
        let p = Params::new(&req.params, m.params, m.usage)?;
        (m.run)(&self.node, &p, m)
    }
}
