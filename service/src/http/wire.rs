//! Reading HTTP/1.x requests from a socket, with limits: the head (request
//! line and headers) within [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`], the
//! body by `Content-Length` or chunked within the body limit, checked
//! before reading it.

use std::io::{self, BufRead, BufReader};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Core's `MAX_HEADERS_SIZE`: request line plus headers.
pub(crate) const MAX_HEAD_BYTES: usize = 8192;
/// At most this many header fields.
pub(crate) const MAX_HEADERS: usize = 100;
/// Longest chunk-size line.
const MAX_CHUNK_LINE: usize = 1024;

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed, or went quiet, before sending a request.
    Closed,
    /// An I/O error or timeout in the middle of a request: just close.
    Io,
    /// Answer with this status and close.
    Status(u16),
}

/// A request line and its headers.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 and later 1.x.
    pub(crate) minor: u8,
    pub(crate) headers: Vec<(String, String)>,
}

impl Head {
    /// The first header of that name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_tokens(&self, name: &str) -> impl Iterator<Item = String> + '_ {
        let name = name.to_string();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0
    /// only with `Connection: keep-alive`.
    pub(crate) fn keep_alive(&self) -> bool {
        let mut tokens = self.header_tokens("connection");
        if self.minor == 0 {
            tokens.any(|t| t == "keep-alive")
        } else {
            !tokens.any(|t| t == "close")
        }
    }

    /// `Expect: 100-continue` on HTTP/1.1.
    pub(crate) fn expects_continue(&self) -> bool {
        self.minor >= 1 && self.header_tokens("expect").any(|t| t == "100-continue")
    }
}

/// How the body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    Empty,
    Length(usize),
    Chunked,
}

impl Framing {
    /// Decides the framing from the headers; a declared length over
    /// `max_body` is 413 right away.
    pub(crate) fn of(head: &Head, max_body: usize) -> Result<Framing, ReadError> {
        let te: Vec<String> = head.header_tokens("transfer-encoding").collect();
        let has_length = head.header("content-length").is_some();
        if !te.is_empty() {
            if te != ["chunked"] {
                return Err(ReadError::Status(501));
            }
            if has_length {
                return Err(ReadError::Status(400));
            }
            return Ok(Framing::Chunked);
        }
        let mut length: Option<u64> = None;
        for (n, v) in &head.headers {
            if !n.eq_ignore_ascii_case("content-length") {
                continue;
            }
            for part in v.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ReadError::Status(400));
                }
                // Too many digits to fit is simply too large.
                let value = part.parse::<u64>().unwrap_or(u64::MAX);
                match length {
                    Some(l) if l != value => return Err(ReadError::Status(400)),
                    _ => length = Some(value),
                }
            }
        }
        match length {
            None | Some(0) => Ok(Framing::Empty),
            Some(l) if l > max_body as u64 => Err(ReadError::Status(413)),
            Some(l) => Ok(Framing::Length(l as usize)),
        }
    }
}

/// The reading side of a connection.
pub(crate) struct Reader {
    inner: BufReader<TcpStream>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl Reader {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Reader {
            inner: BufReader::with_capacity(64 * 1024, stream),
        }
    }

    /// The socket.
    pub(crate) fn stream(&self) -> &TcpStream {
        self.inner.get_ref()
    }

    /// Fills the buffer if empty, waiting until `deadline` at most. An
    /// empty slice is end of stream.
    fn fill(&mut self, deadline: Instant) -> io::Result<&[u8]> {
        if self.inner.buffer().is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.inner.get_ref().set_read_timeout(Some(left))?;
        }
        loop {
            match self.inner.fill_buf() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(_) => return Ok(self.inner.buffer()),
            }
        }
    }

    /// Reads one line (without CR LF) charging its length to `budget`;
    /// 431 if it does not fit. `Ok(None)` is end of stream before any byte.
    fn read_line(
        &mut self,
        budget: &mut usize,
        deadline: Instant,
        too_long: u16,
    ) -> Result<Option<Vec<u8>>, ReadError> {
        let mut line = Vec::new();
        loop {
            let buf = match self.fill(deadline) {
                Ok(b) => b,
                Err(_) if line.is_empty() => return Err(ReadError::Closed),
                Err(_) => return Err(ReadError::Io),
            };
            if buf.is_empty() {
                return if line.is_empty() {
                    Ok(None)
                } else {
                    Err(ReadError::Io)
                };
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if take > *budget {
                return Err(ReadError::Status(too_long));
            }
            *budget -= take;
            line.extend_from_slice(&buf[..take]);
            self.inner.consume(take);
            if done {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(line));
            }
        }
    }

    /// Reads a request head. The whole head must arrive within `timeout`
    /// of the call (which also bounds how long an idle connection waits).
    pub(crate) fn read_head(&mut self, timeout: Duration) -> Result<Head, ReadError> {
        let deadline = Instant::now() + timeout;
        let mut budget = MAX_HEAD_BYTES;
        // Tolerate empty lines before the request line (RFC 9112 2.2).
        let request_line = loop {
            match self.read_line(&mut budget, deadline, 431) {
                Ok(Some(l)) if l.is_empty() => continue,
                Ok(Some(l)) => break l,
                Ok(None) => return Err(ReadError::Closed),
                Err(ReadError::Io) => return Err(ReadError::Closed),
                Err(e) => return Err(e),
            }
        };
        let (method, target, minor) = parse_request_line(&request_line)?;
        let mut headers = Vec::new();
        loop {
            let line = match self.read_line(&mut budget, deadline, 431) {
                Ok(Some(l)) => l,
                Ok(None) | Err(ReadError::Closed) => return Err(ReadError::Io),
                Err(e) => return Err(e),
            };
            if line.is_empty() {
                break;
            }
            if headers.len() >= MAX_HEADERS {
                return Err(ReadError::Status(431));
            }
            headers.push(parse_header(&line)?);
        }
        Ok(Head {
            method,
            target,
            minor,
            headers,
        })
    }

    /// Reads a body; each read may wait `timeout`.
    pub(crate) fn read_body(
        &mut self,
        framing: Framing,
        max_body: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, ReadError> {
        match framing {
            Framing::Empty => Ok(Vec::new()),
            Framing::Length(n) => {
                let mut body = Vec::with_capacity(n.min(1 << 20));
                self.read_exact_into(&mut body, n, timeout)?;
                Ok(body)
            }
            Framing::Chunked => self.read_chunked(max_body, timeout),
        }
    }

    fn read_exact_into(
        &mut self,
        out: &mut Vec<u8>,
        mut n: usize,
        timeout: Duration,
    ) -> Result<(), ReadError> {
        while n > 0 {
            let buf = self
                .fill(Instant::now() + timeout)
                .map_err(|_| ReadError::Io)?;
            if buf.is_empty() {
                return Err(ReadError::Io);
            }
            let k = buf.len().min(n);
            out.extend_from_slice(&buf[..k]);
            self.inner.consume(k);
            n -= k;
        }
        Ok(())
    }

    fn read_chunked(&mut self, max_body: usize, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let mut budget = MAX_CHUNK_LINE;
            let line = match self.read_line(&mut budget, Instant::now() + timeout, 400)? {
                Some(l) => l,
                None => return Err(ReadError::Io),
            };
            let size = parse_chunk_size(&line)?;
            if size == 0 {
                break;
            }
            if size > max_body.saturating_sub(body.len()) {
                return Err(ReadError::Status(413));
            }
            self.read_exact_into(&mut body, size, timeout)?;
            let mut budget = 2;
            match self.read_line(&mut budget, Instant::now() + timeout, 400)? {
                Some(l) if l.is_empty() => {}
                Some(_) => return Err(ReadError::Status(400)),
                None => return Err(ReadError::Io),
            }
        }
        // Trailer fields, ignored, until the empty line.
        let mut budget = MAX_HEAD_BYTES;
        let mut count = 0;
        loop {
            match self.read_line(&mut budget, Instant::now() + timeout, 431)? {
                Some(l) if l.is_empty() => return Ok(body),
                Some(_) => {
                    count += 1;
                    if count > MAX_HEADERS {
                        return Err(ReadError::Status(431));
                    }
                }
                None => return Err(ReadError::Io),
            }
        }
    }

    /// Reads and drops up to `limit` bytes for at most `time`, so that a
    /// close after an early answer does not reset the connection before the
    /// client has read the answer.
    pub(crate) fn drain(&mut self, limit: usize, time: Duration) {
        let deadline = Instant::now() + time;
        let mut total = 0;
        while total < limit {
            match self.fill(deadline) {
                Ok([]) | Err(_) => return,
                Ok(buf) => {
                    let n = buf.len();
                    total += n;
                    self.inner.consume(n);
                }
            }
        }
    }
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, u8), ReadError> {
    let bad = || ReadError::Status(400);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(bad());
    }
    if target.is_empty() || !target.iter().all(|&b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    let minor = match version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            if *major != b'1' {
                return Err(ReadError::Status(505));
            }
            u8::from(*minor != b'0')
        }
        _ => return Err(bad()),
    };
    // All bytes were checked to be ASCII above.
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();
    Ok((method, target, minor))
}

fn parse_header(line: &[u8]) -> Result<(String, String), ReadError> {
    let bad = || ReadError::Status(400);
    let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    // Also rejects obsolete line folding (a line starting with whitespace).
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad());
    }
    if value.iter().any(|&b| b == 0 || b == b'\r') {
        return Err(bad());
    }
    let value = String::from_utf8_lossy(value);
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        value.trim_matches([' ', '\t']).to_string(),
    ))
}

fn parse_chunk_size(line: &[u8]) -> Result<usize, ReadError> {
    let bad = || ReadError::Status(400);
    let end = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let digits = &line[..end];
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad())?;
    usize::from_str_radix(text, 16).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line(b"POST / HTTP/1.1").unwrap(),
            ("POST".into(), "/".into(), 1)
        );
        assert_eq!(parse_request_line(b"GET /x HTTP/1.0").unwrap().2, 0);
        assert!(matches!(
            parse_request_line(b"POST / HTTP/2.0"),
            Err(ReadError::Status(505))
        ));
        for bad in [
            &b"POST /"[..],
            b"POST  / HTTP/1.1",
            b"POST / HTTP/1.1 x",
            b"PO(T / HTTP/1.1",
            b"POST / HTTX/1.1",
            b"\xff\xfe",
            b"",
        ] {
            assert!(matches!(
                parse_request_line(bad),
                Err(ReadError::Status(400))
            ));
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header(b"Content-Length:  12 ").unwrap(),
            ("Content-Length".into(), "12".into())
        );
        assert!(parse_header(b" folded").is_err());
        assert!(parse_header(b"Bad Name: x").is_err());
        assert!(parse_header(b"NoColon").is_err());
    }

    #[test]
    fn chunk_sizes() {
        assert_eq!(parse_chunk_size(b"1a").unwrap(), 26);
        assert_eq!(parse_chunk_size(b"0;ext=1").unwrap(), 0);
        assert!(parse_chunk_size(b"").is_err());
        assert!(parse_chunk_size(b"zz").is_err());
        assert!(parse_chunk_size(b"ffffffffffffffffffff").is_err());
    }

    fn head(headers: &[(&str, &str)], minor: u8) -> Head {
        Head {
            method: "POST".into(),
            target: "/".into(),
            minor,
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    #[test]
    fn framing_and_keep_alive() {
        let m = 100;
        assert_eq!(Framing::of(&head(&[], 1), m).unwrap(), Framing::Empty);
        assert_eq!(
            Framing::of(&head(&[("content-length", "5")], 1), m).unwrap(),
            Framing::Length(5)
        );
        assert!(matches!(
            Framing::of(&head(&[("Content-Length", "101")], 1), m),
            Err(ReadError::Status(413))
        ));
        assert!(matches!(
            Framing::of(
                &head(&[("Content-Length", "99999999999999999999999")], 1),
                m
            ),
            Err(ReadError::Status(413))
        ));
        assert!(matches!(
            Framing::of(&head(&[("Content-Length", "-1")], 1), m),
            Err(ReadError::Status(400))
        ));
        assert!(matches!(
            Framing::of(
                &head(&[("Content-Length", "1"), ("Content-Length", "2")], 1),
                m
            ),
            Err(ReadError::Status(400))
        ));
        assert_eq!(
            Framing::of(&head(&[("Transfer-Encoding", "Chunked")], 1), m).unwrap(),
            Framing::Chunked
        );
        assert!(matches!(
            Framing::of(&head(&[("Transfer-Encoding", "gzip, chunked")], 1), m),
            Err(ReadError::Status(501))
        ));
        assert!(head(&[], 1).keep_alive());
        assert!(!head(&[("Connection", "close")], 1).keep_alive());
        assert!(!head(&[], 0).keep_alive());
        assert!(head(&[("connection", "Keep-Alive")], 0).keep_alive());
        assert!(head(&[("Expect", "100-continue")], 1).expects_continue());
        assert!(!head(&[("Expect", "100-continue")], 0).expects_continue());
    }
}
