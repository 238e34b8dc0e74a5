//! A small blocking JSON-RPC client: HTTP/1.1 with keep-alive over
//! `std::net`, cookie authentication.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// An error answer from the server (JSON-RPC `error`).
#[derive(Debug, Clone)]
pub struct RpcError {
    pub method: String,
    pub code: i64,
    pub message: String,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error {}: {}", self.method, self.code, self.message)
    }
}

impl std::error::Error for RpcError {}

/// JSON-RPC's "method not found".
pub const RPC_METHOD_NOT_FOUND: i64 = -32601;

/// Whether `e` is an [`RpcError`] with `code`.
pub fn is_rpc_code(e: &anyhow::Error, code: i64) -> bool {
    e.downcast_ref::<RpcError>().is_some_and(|r| r.code == code)
}

/// One connection to one server.
pub struct Rpc {
    addr: SocketAddr,
    auth: String,
    conn: Option<BufReader<TcpStream>>,
    timeout: Duration,
    next_id: u64,
}

impl Rpc {
    /// A client for `127.0.0.1:port` authenticating with the cookie file's
    /// contents (`user:password`).
    pub fn new(port: u16, cookie: &Path) -> Result<Rpc> {
        let text = std::fs::read_to_string(cookie)
            .with_context(|| format!("reading {}", cookie.display()))?;
        Ok(Rpc {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            auth: base64(text.trim().as_bytes()),
            conn: None,
            timeout: Duration::from_secs(3600),
            next_id: 1,
        })
    }

    /// Calls `method` on the node (path `/`).
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        self.call_at("/", method, &params.to_string())
    }

    /// Calls `method` on wallet `wallet` (path `/wallet/<name>`).
    pub fn wallet(&mut self, wallet: &str, method: &str, params: Value) -> Result<Value> {
        self.call_at(&format!("/wallet/{wallet}"), method, &params.to_string())
    }

    /// Calls `method` at `path` with `params` already serialized (a JSON
    /// array): `submitblock` passes megabytes of hex without building a
    /// `Value`.
    pub fn call_at(&mut self, path: &str, method: &str, params: &str) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let body =
            format!(r#"{{"jsonrpc":"1.0","id":{id},"method":"{method}","params":{params}}}"#);
        let fresh = self.conn.is_none();
        let answer = match self.exchange(path, &body) {
            Ok(a) => a,
            // A kept-alive connection the server closed while idle: once
            // more on a new one.
            Err(e) if !fresh && e.downcast_ref::<Stale>().is_some() => {
                self.conn = None;
                self.exchange(path, &body)?
            }
            Err(e) => {
                self.conn = None;
                return Err(e.context(format!("{method} on {}", self.addr)));
            }
        };
        let (status, text) = answer;
        let v: Value = serde_json::from_slice(&text).with_context(|| {
            format!(
                "{method}: HTTP {status}, not JSON: {}",
                String::from_utf8_lossy(&text[..text.len().min(200)])
            )
        })?;
        match v.get("error") {
            Some(Value::Null) | None => {}
            Some(err) => {
                return Err(RpcError {
                    method: method.to_string(),
                    code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                }
                .into())
            }
        }
        if status != 200 {
            bail!("{method}: HTTP {status}");
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    fn exchange(&mut self, path: &str, body: &str) -> Result<(u32, Vec<u8>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            self.conn = Some(BufReader::with_capacity(1 << 16, s));
        }
        let conn = self.conn.as_mut().expect("connected");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            self.auth,
            body.len()
        );
        let sent = conn
            .get_mut()
            .write_all(head.as_bytes())
            .and_then(|()| conn.get_mut().write_all(body.as_bytes()));
        if let Err(e) = sent {
            return Err(anyhow::Error::new(e).context(Stale));
        }
        let mut line = String::new();
        let n = conn.read_line(&mut line)?;
        if n == 0 {
            return Err(anyhow::anyhow!("connection closed before an answer").context(Stale));
        }
        let status: u32 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length = None;
        let mut close = false;
        loop {
            line.clear();
            if conn.read_line(&mut line)? == 0 {
                bail!("connection closed in the headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = Some(v.parse::<usize>()?);
                } else if k == "connection" && v.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut text = Vec::new();
        match length {
            Some(n) => {
                text.resize(n, 0);
                conn.read_exact(&mut text)?;
            }
            None => {
                conn.read_to_end(&mut text)?;
                close = true;
            }
        }
        if close {
            self.conn = None;
        }
        Ok((status, text))
    }
}

/// Marks a failure on a connection that may have been closed by the server
/// while idle.
#[derive(Debug)]
struct Stale;

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection lost")
    }
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An amount in a JSON answer (`1.23456789`) in satoshis, exactly (from
/// its decimal text, whatever serde_json's number features).
pub fn amount_sat(v: &Value) -> Result<u64> {
    let s = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => bail!("not an amount: {other}"),
    };
    if s.contains(['e', 'E']) {
        // serde_json without `arbitrary_precision` prints small f64s with an
        // exponent; amounts are below 2^53 satoshis, so rounding is exact.
        let f: f64 = s.parse().with_context(|| format!("amount {s}"))?;
        if !(0.0..=21e6).contains(&f) {
            bail!("not an amount in BTC: {s}");
        }
        return Ok((f * 1e8).round() as u64);
    }
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if frac.len() > 8 || int.starts_with('-') {
        bail!("not an amount in BTC: {s}");
    }
    let whole: u64 = int.parse().with_context(|| format!("amount {s}"))?;
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<8}").parse()?
    };
    Ok(whole * 100_000_000 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn amounts() {
        let v: Value = serde_json::from_str("[20.43182176, 0, 1.5, 0.00000001]").unwrap();
        assert_eq!(amount_sat(&v[0]).unwrap(), 2_043_182_176);
        assert_eq!(amount_sat(&v[1]).unwrap(), 0);
        assert_eq!(amount_sat(&v[2]).unwrap(), 150_000_000);
        assert_eq!(amount_sat(&v[3]).unwrap(), 1);
    }
}
