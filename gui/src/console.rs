//! The console's command language, like Core's debug console
//! (`RPCParseCommandLine`): `method arg1 "arg 2"`, nested calls
//! `getblock(getbestblockhash(), 1)`, and result paths `getblock(..)[tx][0]`.

use serde_json::Value;

use crate::error::BackendError;

/// One parsed call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub args: Vec<Arg>,
    /// `[key]` / `[0]` applied to the result, in order.
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A bare word: JSON if it reads as JSON (numbers, true, arrays...),
    /// else a string.
    Bare(String),
    /// A quoted word: always a string.
    Quoted(String),
    Call(Call),
}

/// A command line that is not a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("Parse error: unbalanced ' or \"")]
    Unterminated,
    #[error("Parse error: unbalanced ( or )")]
    Unbalanced,
    #[error("Parse error: expected a method name")]
    NoMethod,
    #[error("Parse error: unexpected {0:?}")]
    Unexpected(char),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn quoted(&mut self, q: u8) -> Result<String, ParseError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ParseError::Unterminated),
                Some(c) if c == q => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') if q == b'"' => {
                    self.i += 1;
                    if let Some(c) = self.peek() {
                        out.push(c);
                        self.i += 1;
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }

    /// A bare word ends at whitespace, `,`, `(`, `)`, `[` or `]`, except
    /// inside JSON brackets (`[1,2]`, `{"a":1}`).
    fn bare(&mut self) -> Result<String, ParseError> {
        let start = self.i;
        let mut depth = 0i32;
        let mut in_str = false;
        while let Some(c) = self.peek() {
            if in_str {
                if c == b'\\' {
                    self.i += 1;
                } else if c == b'"' {
                    in_str = false;
                }
            } else if c == b'"' && depth > 0 {
                in_str = true;
            } else if c == b'{' || (c == b'[' && (depth > 0 || self.i == start)) {
                depth += 1;
            } else if (c == b'}' || c == b']') && depth > 0 {
                depth -= 1;
            } else if depth == 0
                && (c.is_ascii_whitespace() || matches!(c, b',' | b'(' | b')' | b'[' | b']'))
            {
                break;
            }
            self.i += 1;
        }
        if in_str || depth != 0 {
            return Err(ParseError::Unbalanced);
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn path(&mut self) -> Result<Vec<String>, ParseError> {
        let mut path = Vec::new();
        while self.peek() == Some(b'[') {
            self.i += 1;
            self.skip_ws();
            let key = match self.peek() {
                Some(q @ (b'"' | b'\'')) => self.quoted(q)?,
                _ => {
                    let start = self.i;
                    while self.peek().is_some_and(|c| c != b']') {
                        self.i += 1;
                    }
                    String::from_utf8_lossy(&self.s[start..self.i])
                        .trim()
                        .to_string()
                }
            };
            self.skip_ws();
            if self.peek() != Some(b']') {
                return Err(ParseError::Unbalanced);
            }
            self.i += 1;
            path.push(key);
        }
        Ok(path)
    }

    /// An argument inside parentheses, or after a method name.
    fn arg(&mut self) -> Result<Arg, ParseError> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => Ok(Arg::Quoted(self.quoted(q)?)),
            _ => {
                let save = self.i;
                if let Some(name) = self.ident() {
                    if self.peek() == Some(b'(') {
                        return Ok(Arg::Call(self.paren_call(name)?));
                    }
                }
                self.i = save;
                Ok(Arg::Bare(self.bare()?))
            }
        }
    }

    /// `name(` already read up to the parenthesis.
    fn paren_call(&mut self, method: String) -> Result<Call, ParseError> {
        self.i += 1; // (
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b')') {
            self.i += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg()?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b')') => {
                        self.i += 1;
                        break;
                    }
                    None => return Err(ParseError::Unbalanced),
                    Some(c) => return Err(ParseError::Unexpected(c as char)),
                }
            }
        }
        let path = self.path()?;
        Ok(Call { method, args, path })
    }
}

/// Parses one command line; `Ok(None)` for an empty one.
pub fn parse(line: &str) -> Result<Option<Call>, ParseError> {
    let mut p = Parser {
        s: line.as_bytes(),
        i: 0,
    };
    p.skip_ws();
    if p.peek().is_none() {
        return Ok(None);
    }
    let method = p.ident().ok_or(ParseError::NoMethod)?;
    let call = if p.peek() == Some(b'(') {
        p.paren_call(method)?
    } else {
        let mut args = Vec::new();
        loop {
            p.skip_ws();
            match p.peek() {
                None => break,
                Some(b')') | Some(b',') => {
                    return Err(ParseError::Unexpected(p.peek().unwrap_or(b' ') as char))
                }
                _ => args.push(p.arg()?),
            }
        }
        Call {
            method,
            args,
            path: Vec::new(),
        }
    };
    p.skip_ws();
    match p.peek() {
        None => Ok(Some(call)),
        Some(c) => Err(ParseError::Unexpected(c as char)),
    }
}

/// A bare word as a JSON value: JSON if it parses as a number, a literal,
/// an array or an object; else the word as a string.
pub fn bare_value(word: &str) -> Value {
    let looks_json = word
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'-' | b'[' | b'{'))
        || matches!(word, "true" | "false" | "null");
    if looks_json {
        if let Ok(v) = serde_json::from_str::<Value>(word) {
            return v;
        }
    }
    Value::String(word.to_string())
}

/// Why a console command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Rpc(#[from] BackendError),
    #[error("Invalid result query: {0}")]
    Path(String),
}

/// Runs a call, nested calls first, through `rpc(method, params)`.
pub fn eval(
    call: &Call,
    rpc: &mut dyn FnMut(&str, Value) -> Result<Value, BackendError>,
) -> Result<Value, EvalError> {
    let mut params = Vec::with_capacity(call.args.len());
    for a in &call.args {
        params.push(match a {
            Arg::Bare(w) => bare_value(w),
            Arg::Quoted(s) => Value::String(s.clone()),
            Arg::Call(c) => eval(c, rpc)?,
        });
    }
    let mut v = rpc(&call.method, Value::Array(params))?;
    for key in &call.path {
        v = match &v {
            Value::Array(a) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i).cloned())
                .ok_or_else(|| EvalError::Path(key.clone()))?,
            Value::Object(o) => o
                .get(key)
                .cloned()
                .ok_or_else(|| EvalError::Path(key.clone()))?,
            _ => return Err(EvalError::Path(key.clone())),
        };
    }
    Ok(v)
}

/// A result as the console prints it: strings bare, the rest as indented
/// JSON, null as nothing.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// Entered lines, navigable with the arrow keys (Core keeps 100).
#[derive(Debug, Default, Clone)]
pub struct History {
    lines: Vec<String>,
    /// Position while browsing: `lines.len()` = the new, empty line.
    pos: usize,
}

pub const HISTORY_MAX: usize = 100;

impl History {
    pub fn push(&mut self, line: &str) {
        if !line.trim().is_empty() && self.lines.last().map(String::as_str) != Some(line) {
            self.lines.push(line.to_string());
            if self.lines.len() > HISTORY_MAX {
                self.lines.remove(0);
            }
        }
        self.pos = self.lines.len();
    }

    /// The older line (arrow up).
    pub fn up(&mut self) -> Option<&str> {
        if self.pos == 0 {
            return self.lines.first().map(String::as_str);
        }
        self.pos -= 1;
        self.lines.get(self.pos).map(String::as_str)
    }

    /// The newer line (arrow down); empty past the newest.
    pub fn down(&mut self) -> &str {
        if self.pos < self.lines.len() {
            self.pos += 1;
        }
        self.lines.get(self.pos).map_or("", String::as_str)
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Call {
        parse(s).unwrap().unwrap()
    }

    #[test]
    fn parses_core_console_syntax() {
        let c = p("getblockhash 0");
        assert_eq!(c.method, "getblockhash");
        assert_eq!(c.args, vec![Arg::Bare("0".into())]);
        let c = p(r#"setlabel bcrt1qxyz "my label""#);
        assert_eq!(c.args[1], Arg::Quoted("my label".into()));
        let c = p("getblock(getbestblockhash(), 1)[tx][0]");
        assert_eq!(c.path, vec!["tx".to_string(), "0".to_string()]);
        assert!(matches!(&c.args[0], Arg::Call(n) if n.method == "getbestblockhash"));
        let c = p(r#"send [{"bcrt1q":0.1}] null "unset" 3 {"replaceable":true}"#);
        assert_eq!(c.args.len(), 5);
        assert_eq!(
            bare_value(match &c.args[0] {
                Arg::Bare(w) => w,
                _ => "",
            }),
            json!([{"bcrt1q":0.1}])
        );
        let c = p("generatetoaddress 101 getnewaddress()");
        assert!(
            matches!(&c.args[1], Arg::Call(n) if n.method == "getnewaddress" && n.args.is_empty())
        );
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("getblock(1"), Err(ParseError::Unbalanced));
        assert_eq!(parse("echo \"x"), Err(ParseError::Unterminated));
        assert_eq!(parse("(x)"), Err(ParseError::NoMethod));
    }

    #[test]
    fn evaluates_nested_calls_and_paths() {
        let mut seen = Vec::new();
        let mut rpc = |m: &str, params: Value| {
            seen.push((m.to_string(), params.clone()));
            Ok(match m {
                "getbestblockhash" => json!("00ff"),
                "getblock" => json!({"tx": ["aa", "bb"], "height": 5}),
                _ => return Err(BackendError::remote(-32601, "Method not found")),
            })
        };
        let v = eval(&p("getblock(getbestblockhash(), 1)[tx][1]"), &mut rpc).unwrap();
        assert_eq!(v, json!("bb"));
        let e = eval(&p("nope"), &mut rpc).unwrap_err();
        assert_eq!(e.to_string(), "Method not found (code -32601)");
        assert!(matches!(
            eval(&p("getblock(x)[nokey]"), &mut rpc),
            Err(EvalError::Path(_))
        ));
        assert_eq!(seen[1].1, json!(["00ff", 1]));
        assert_eq!(render(&json!("text")), "text");
        assert_eq!(render(&json!(null)), "");
    }

    #[test]
    fn history_walks_back_and_forth() {
        let mut h = History::default();
        h.push("a");
        h.push("b");
        h.push("b");
        assert_eq!(h.lines().len(), 2);
        assert_eq!(h.up(), Some("b"));
        assert_eq!(h.up(), Some("a"));
        assert_eq!(h.up(), Some("a"));
        assert_eq!(h.down(), "b");
        assert_eq!(h.down(), "");
    }
}
