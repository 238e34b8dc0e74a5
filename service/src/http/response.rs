//! HTTP responses as the server writes them.

use std::io::{self, Write};
use std::net::TcpStream;

/// A response before framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) body: Vec<u8>,
    /// Add `WWW-Authenticate: Basic realm="jsonrpc"` (401).
    pub(crate) www_authenticate: bool,
    /// Close the connection after this response.
    pub(crate) close: bool,
}

impl Response {
    /// A JSON body (`application/json`).
    pub(crate) fn json(status: u16, body: String) -> Self {
        Response {
            status,
            content_type: Some("application/json"),
            body: body.into_bytes(),
            www_authenticate: false,
            close: false,
        }
    }

    /// A plain-text body, or none if `text` is empty.
    pub(crate) fn text(status: u16, text: &str) -> Self {
        Response {
            status,
            content_type: (!text.is_empty()).then_some("text/plain; charset=utf-8"),
            body: text.as_bytes().to_vec(),
            www_authenticate: false,
            close: false,
        }
    }

    /// No body.
    pub(crate) fn empty(status: u16) -> Self {
        Self::text(status, "")
    }

    /// The same response, closing the connection.
    pub(crate) fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// 401 with the `WWW-Authenticate` challenge.
    pub(crate) fn unauthorized() -> Self {
        let mut r = Self::empty(401);
        r.www_authenticate = true;
        r
    }
}

/// The reason phrase of a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes `resp` in one piece. `minor` is the request's HTTP minor version
/// (echoed, as libevent does); `keep_alive` whether the connection stays
/// open; `head_only` leaves out the body (HEAD requests).
pub(crate) fn write_response(
    mut stream: &TcpStream,
    resp: &Response,
    minor: u8,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    let mut out = Vec::with_capacity(resp.body.len() + 200);
    out.extend_from_slice(
        format!("HTTP/1.{minor} {} {}\r\n", resp.status, reason(resp.status)).as_bytes(),
    );
    if let Some(ct) = resp.content_type {
        out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
    }
    if resp.status != 204 {
        out.extend_from_slice(format!("Content-Length: {}\r\n", resp.body.len()).as_bytes());
    }
    if resp.www_authenticate {
        out.extend_from_slice(b"WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if minor == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only && resp.status != 204 {
        out.extend_from_slice(&resp.body);
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// The interim `100 Continue` for `Expect: 100-continue`.
pub(crate) fn write_continue(mut stream: &TcpStream) -> io::Result<()> {
    stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
}
