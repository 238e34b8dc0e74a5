//! One client connection: read a request, route it, hand JSON-RPC work to
//! the worker queue, write the answer, repeat while keep-alive.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender, TrySendError};

use super::allow::is_allowed;
use super::jsonrpc::{self, Context, Prepared};
use super::response::{write_continue, write_response, Response};
use super::server::{Job, Shared};
use super::wire::{Framing, Head, ReadError, Reader};

/// How much of an unwanted request body is read and dropped before closing.
const DRAIN_LIMIT: usize = 1 << 20;
/// How long that may take.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Core's `UrlDecode`: `%XX` with two hex digits decoded, anything else
/// (including `+` and a stray `%`) kept.
pub(crate) fn url_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Answers an error found while reading, then closes gracefully.
fn fail(reader: &mut Reader, minor: u8, resp: Response) {
    let _ = write_response(reader.stream(), &resp, minor, false, false);
    let _ = reader.stream().shutdown(Shutdown::Write);
    reader.drain(DRAIN_LIMIT, DRAIN_TIME);
}

/// Serves a connection until it closes.
pub(crate) fn serve(shared: &Shared, stream: TcpStream, peer: SocketAddr, jobs: &Sender<Job>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.timeout));
    let allowed = is_allowed(&shared.allow, peer.ip());
    let mut reader = Reader::new(stream);
    loop {
        let head = match reader.read_head(shared.timeout) {
            Ok(h) => h,
            Err(ReadError::Status(code)) => return fail(&mut reader, 1, Response::empty(code)),
            Err(ReadError::Closed | ReadError::Io) => return,
        };
        if !allowed {
            return fail(&mut reader, head.minor, Response::empty(403));
        }
        let framing = match Framing::of(&head, shared.max_body) {
            Ok(f) => f,
            Err(ReadError::Status(code)) => {
                return fail(&mut reader, head.minor, Response::empty(code))
            }
            Err(_) => return,
        };
        if framing != Framing::Empty
            && head.expects_continue()
            && write_continue(reader.stream()).is_err()
        {
            return;
        }
        let body = match reader.read_body(framing, shared.max_body, shared.timeout) {
            Ok(b) => b,
            Err(ReadError::Status(code)) => {
                return fail(&mut reader, head.minor, Response::empty(code))
            }
            Err(_) => return,
        };
        let resp = route(shared, &head, &body, jobs);
        let keep_alive =
            head.keep_alive() && !resp.close && !shared.stopping.load(Ordering::SeqCst);
        let head_only = head.method == "HEAD";
        if write_response(reader.stream(), &resp, head.minor, keep_alive, head_only).is_err() {
            return;
        }
        if !keep_alive {
            let _ = reader.stream().shutdown(Shutdown::Write);
            reader.drain(DRAIN_LIMIT, DRAIN_TIME);
            return;
        }
    }
}

/// Path, method, authentication, then the JSON-RPC work.
fn route(shared: &Shared, head: &Head, body: &[u8], jobs: &Sender<Job>) -> Response {
    let path = if head.target == "/" {
        "/".to_string()
    } else if let Some(name) = head.target.strip_prefix("/wallet/") {
        match String::from_utf8(url_decode(name)) {
            Ok(n) => format!("/wallet/{n}"),
            Err(_) => return Response::text(400, "Wallet name is not valid UTF-8"),
        }
    } else {
        return Response::empty(404);
    };
    if head.method != "POST" {
        return Response::text(405, "JSONRPC server handles only POST requests");
    }
    let Some(authorization) = head.header("authorization") else {
        return Response::unauthorized();
    };
    let Some(user) = shared.auth.check_header(authorization) else {
        std::thread::sleep(shared.auth_failure_delay);
        return Response::unauthorized();
    };
    let prepared = match jsonrpc::prepare(body) {
        Prepared::Reply(r) => return r,
        p => p,
    };
    let ctx = Context { path, user };
    let (tx, rx) = bounded::<Response>(1);
    let handler = shared.handler.clone();
    let job: Job = Box::new(move || {
        let resp = jsonrpc::execute(prepared, handler.as_ref(), &ctx);
        let _ = tx.send(resp);
    });
    match jobs.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            return Response::text(503, "Work queue depth exceeded");
        }
    }
    rx.recv().unwrap_or_else(|_| Response::empty(500).closing())
}

#[cfg(test)]
mod tests {
    use super::url_decode;

    #[test]
    fn url_decoding_like_core() {
        assert_eq!(url_decode("abc"), b"abc");
        assert_eq!(url_decode("a%20b"), b"a b");
        assert_eq!(url_decode("a%2fb%2F"), b"a/b/");
        assert_eq!(url_decode("a+b"), b"a+b");
        assert_eq!(url_decode("%"), b"%");
        assert_eq!(url_decode("%4"), b"%4");
        assert_eq!(url_decode("%zz"), b"%zz");
        assert_eq!(url_decode("%41"), b"A");
        assert_eq!(url_decode("%e2%82%ac"), "€".as_bytes());
        assert_eq!(url_decode("%ff"), [0xff]);
    }
}
