//! The JSON-RPC HTTP server over real sockets: framing, keep-alive,
//! authentication, Core's JSON-RPC 1.0/2.0 shapes and status codes,
//! limits, the work queue, and option parsing.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use btc_service::config::Config;
use btc_service::http::codes::*;
use btc_service::http::*;
use serde_json::{json, Value};
use tempfile::TempDir;

const USER: &str = "alice";
const PASS: &str = "s3cret";

fn b64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", b64(format!("{user}:{pass}").as_bytes()))
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn request(&mut self, method: &str, path: &str, auth: Option<&str>, body: &str, extra: &str) {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.send(req.as_bytes());
    }

    fn post(&mut self, body: &str) -> Resp {
        self.request("POST", "/", Some(&basic(USER, PASS)), body, "");
        self.read_response()
    }

    fn fill(&mut self) -> usize {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                n
            }
            Err(_) => 0,
        }
    }

    fn read_response(&mut self) -> Resp {
        let head_end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            assert!(
                self.fill() > 0,
                "connection closed before a response: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        while self.buf.len() < len {
            assert!(self.fill() > 0, "connection closed inside a body");
        }
        let body = String::from_utf8(self.buf.drain(..len).collect()).unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// True if the server closed the connection (EOF or reset).
    fn closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }
}

fn handler() -> Arc<dyn RpcHandler> {
    Arc::new(|req: &RpcRequest| -> Result<Value, RpcError> {
        match req.method.as_str() {
            "echo" => Ok(req.params.clone()),
            "whoami" => {
                Ok(json!({"user": req.user, "path": req.path, "wallet": req.wallet_name()}))
            }
            "fail" => Err(RpcError::new(RPC_INVALID_PARAMETER, "bad parameter")),
            "sleep" => {
                let ms = req.params[0].as_u64().unwrap_or(100);
                std::thread::sleep(Duration::from_millis(ms));
                Ok(json!(ms))
            }
            "panic" => panic!("handler exploded"),
            _ => Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found")),
        }
    })
}

fn options() -> HttpOptions {
    let mut auth = Auth::default();
    auth.add_password(USER, PASS);
    HttpOptions {
        binds: vec!["127.0.0.1:0".parse().unwrap()],
        allow: Vec::new(),
        auth,
        threads: 4,
        work_queue: 16,
        timeout: Duration::from_secs(10),
        max_body: MAX_BODY_SIZE,
        auth_failure_delay: Duration::from_millis(20),
    }
}

fn start_with(opts: HttpOptions, h: Arc<dyn RpcHandler>) -> (HttpServer, SocketAddr) {
    let server = HttpServer::start(opts, h).unwrap();
    let addr = server.local_addrs()[0];
    (server, addr)
}

fn start() -> (HttpServer, SocketAddr) {
    start_with(options(), handler())
}

#[test]
fn keep_alive_several_requests_on_one_connection() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    for i in 0..5 {
        let r = c.post(&format!(r#"{{"method":"echo","params":[{i}],"id":{i}}}"#));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json(), json!({"result":[i],"error":null,"id":i}));
        assert!(r.body.ends_with('\n'));
        assert_eq!(r.header("connection"), None);
    }
    // Pipelined: two requests in one write.
    let one = r#"{"method":"echo","params":[1],"id":1}"#;
    let auth = basic(USER, PASS);
    let req = format!(
        "POST / HTTP/1.1\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{one}",
        one.len()
    );
    c.send(format!("{req}{req}").as_bytes());
    assert_eq!(c.read_response().status, 200);
    assert_eq!(c.read_response().status, 200);
    // Connection: close is honoured.
    c.request("POST", "/", Some(&auth), one, "Connection: close\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let (_s, addr) = start();
    let body = r#"{"method":"echo","params":[],"id":1}"#;
    let auth = basic(USER, PASS);
    let mut c = Client::connect(addr);
    c.send(
        format!(
            "POST / HTTP/1.0\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert!(c.closed());
    let mut c = Client::connect(addr);
    for _ in 0..2 {
        c.send(
            format!(
                "POST / HTTP/1.0\r\nConnection: keep-alive\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("keep-alive"));
    }
}

#[test]
fn legacy_replies_and_status_codes() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    let r = c.post(r#"{"method":"fail","params":[],"id":"a"}"#);
    assert_eq!(r.status, 500);
    assert_eq!(
        r.body,
        "{\"result\":null,\"error\":{\"code\":-8,\"message\":\"bad parameter\"},\"id\":\"a\"}\n"
    );
    let r = c.post(r#"{"method":"nosuch","id":1}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], json!(RPC_METHOD_NOT_FOUND));
    let r = c.post(r#"{"id":1}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"result":null,"error":{"code":-32600,"message":"Missing method"},"id":1})
    );
    let r = c.post(r#"{"method":5,"id":1}"#);
    assert_eq!(
        (r.status, r.json()["error"]["message"].clone()),
        (400, json!("Method must be a string"))
    );
    let r = c.post(r#"{"method":"echo","params":"x","id":1}"#);
    assert_eq!(
        (r.status, r.json()["error"]["message"].clone()),
        (400, json!("Params must be an array or object"))
    );
    // "jsonrpc":"1.0" is legacy; a request without id gets a reply without id.
    let r = c.post(r#"{"jsonrpc":"1.0","method":"echo","params":{"k":1}}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"result":{"k":1},"error":null}));
    // A legacy request without id is not a notification.
    let r = c.post(r#"{"method":"fail"}"#);
    assert_eq!(r.status, 500);
}

#[test]
fn v2_replies_and_notifications() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let h: Arc<dyn RpcHandler> = Arc::new(move |req: &RpcRequest| -> Result<Value, RpcError> {
        seen.fetch_add(1, Ordering::SeqCst);
        match req.method.as_str() {
            "ok" => Ok(json!(42)),
            "nosuch" => Err(RpcError::new(RPC_METHOD_NOT_FOUND, "Method not found")),
            _ => Err(RpcError::new(RPC_MISC_ERROR, "boom")),
        }
    });
    let (_s, addr) = start_with(options(), h);
    let mut c = Client::connect(addr);
    let r = c.post(r#"{"jsonrpc":"2.0","method":"ok","id":7}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "{\"jsonrpc\":\"2.0\",\"result\":42,\"id\":7}\n");
    let r = c.post(r#"{"jsonrpc":"2.0","method":"bad","id":7}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"jsonrpc":"2.0","error":{"code":-1,"message":"boom"},"id":7})
    );
    let r = c.post(r#"{"jsonrpc":"2.0","method":"nosuch","id":null}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], Value::Null);
    // Notifications run but get 204, even when they fail.
    let before = count.load(Ordering::SeqCst);
    let r = c.post(r#"{"jsonrpc":"2.0","method":"ok"}"#);
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert_eq!(r.header("content-length"), None);
    let r = c.post(r#"{"jsonrpc":"2.0","method":"bad","params":[]}"#);
    assert_eq!(r.status, 204);
    assert_eq!(count.load(Ordering::SeqCst), before + 2);
    // Core: malformed single requests keep HTTP error statuses.
    let r = c.post(r#"{"jsonrpc":2,"method":"ok"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"result":null,"error":{"code":-32600,"message":"jsonrpc field must be a string"}})
    );
    let r = c.post(r#"{"jsonrpc":"3.0","method":"ok","id":1}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["message"],
        json!("JSON-RPC version not supported")
    );
    let r = c.post(r#"{"jsonrpc":"2.0","id":1}"#);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"jsonrpc":"2.0","error":{"code":-32600,"message":"Missing method"},"id":1})
    );
}

#[test]
fn batches() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    let r = c.post(
        r#"[{"method":"echo","params":[1],"id":1},
            {"jsonrpc":"2.0","method":"fail","id":2},
            {"jsonrpc":"2.0","method":"echo","params":[3]},
            7,
            {"jsonrpc":"2.0","id":5},
            {"method":"nosuch","id":6}]"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!([
            {"result":[1],"error":null,"id":1},
            {"jsonrpc":"2.0","error":{"code":-8,"message":"bad parameter"},"id":2},
            {"result":null,"error":{"code":-32600,"message":"Invalid Request object"},"id":null},
            {"jsonrpc":"2.0","error":{"code":-32600,"message":"Missing method"},"id":5},
            {"result":null,"error":{"code":-32601,"message":"Method not found"},"id":6}
        ])
    );
    // Only notifications: 204. Empty batch: [] (Core keeps that for old clients).
    let r = c.post(r#"[{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"fail"}]"#);
    assert_eq!(r.status, 204);
    let r = c.post("[]");
    assert_eq!((r.status, r.body.as_str()), (200, "[]\n"));
}

#[test]
fn parse_errors() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    for body in ["{not json", "", "{\"method\":\"echo\"} trailing", "\u{7f}"] {
        let r = c.post(body);
        assert_eq!(r.status, 500, "{body:?}");
        assert_eq!(
            r.body,
            "{\"result\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}\n"
        );
    }
    let r = c.post("12");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["error"],
        json!({"code":-32700,"message":"Top-level object parse error"})
    );
    // Deep nesting is a parse error, not a crash.
    let deep = "[".repeat(100_000);
    let r = c.post(&deep);
    assert_eq!(r.status, 500);
    assert_eq!(c.post(r#"{"method":"echo","id":1}"#).status, 200);
}

#[test]
fn authentication() {
    let (_s, addr) = start();
    let body = r#"{"method":"whoami","id":1}"#;
    let mut c = Client::connect(addr);
    c.request("POST", "/", None, body, "");
    let r = c.read_response();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"jsonrpc\"")
    );
    for bad in [
        basic(USER, "wrong"),
        basic("bob", PASS),
        "Basic !!notbase64".to_string(),
        format!("Bearer {}", b64(b"alice:s3cret")),
        format!("Basic {}", b64(b"no-colon")),
    ] {
        let t = Instant::now();
        c.request("POST", "/", Some(&bad), body, "");
        let r = c.read_response();
        assert_eq!(r.status, 401, "{bad}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"jsonrpc\"")
        );
        assert!(
            t.elapsed() >= Duration::from_millis(20),
            "no delay for {bad}"
        );
    }
    // The connection still works after failures.
    c.request("POST", "/", Some(&basic(USER, PASS)), body, "");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["user"], json!(USER));
}

#[test]
fn rpcauth_logins() {
    let mut opts = options();
    opts.auth = Auth::default();
    opts.auth
        .add_rpcauth(&rpcauth_line("carol", "a1b2c3", "pw-carol"))
        .unwrap();
    opts.auth
        .add_rpcauth(&rpcauth_line("dave", "ffee", "pw-dave"))
        .unwrap();
    let (_s, addr) = start_with(opts, handler());
    let mut c = Client::connect(addr);
    let body = r#"{"method":"whoami","id":1}"#;
    for (u, p, status) in [
        ("carol", "pw-carol", 200),
        ("dave", "pw-dave", 200),
        ("carol", "pw-dave", 401),
        ("dave", "", 401),
        ("eve", "pw-carol", 401),
    ] {
        c.request("POST", "/", Some(&basic(u, p)), body, "");
        let r = c.read_response();
        assert_eq!(r.status, status, "{u}:{p}");
        if status == 200 {
            assert_eq!(r.json()["result"]["user"], json!(u));
        }
    }
}

#[test]
fn cookie_file_and_options_from_config() {
    let dir = TempDir::new().unwrap();
    let known = rpc_option_names();
    let args = vec![
        format!("-datadir={}", dir.path().display()),
        "-regtest".to_string(),
        "-rpcport=0".to_string(),
    ];
    let cfg = Config::parse(args, &known).unwrap();
    // Core rejects -rpcport=0.
    let e = HttpOptions::from_config(&cfg).unwrap_err();
    assert_eq!(e.to_string(), "Invalid port specified in -rpcport: '0'");

    let args = vec![
        format!("-datadir={}", dir.path().display()),
        "-regtest".to_string(),
    ];
    let cfg = Config::parse(args, &known).unwrap();
    let (mut opts, cookie, warnings) = HttpOptions::from_config(&cfg).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let cookie = cookie.expect("cookie");
    let path = dir.path().join("regtest").join(".cookie");
    assert_eq!(cookie.path(), path);
    let content = std::fs::read_to_string(&path).unwrap();
    let (user, password) = content.split_once(':').unwrap();
    assert_eq!(user, "__cookie__");
    assert_eq!(password.len(), 64);
    assert!(password
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        opts.binds,
        vec![
            "[::1]:18443".parse::<SocketAddr>().unwrap(),
            "127.0.0.1:18443".parse().unwrap()
        ]
    );
    assert_eq!((opts.threads, opts.work_queue), (16, 64));
    assert_eq!(opts.timeout, Duration::from_secs(30));
    assert_eq!(opts.max_body, 32 << 20);
    assert_eq!(opts.auth_failure_delay, Duration::from_millis(250));

    // The cookie logs in.
    opts.binds = vec!["127.0.0.1:0".parse().unwrap()];
    opts.auth_failure_delay = Duration::from_millis(1);
    let (server, addr) = start_with(opts, handler());
    let mut c = Client::connect(addr);
    c.request(
        "POST",
        "/",
        Some(&basic(user, password)),
        r#"{"method":"whoami","id":1}"#,
        "",
    );
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["user"], json!("__cookie__"));
    c.request(
        "POST",
        "/",
        Some(&basic(user, "0000")),
        r#"{"method":"whoami","id":1}"#,
        "",
    );
    assert_eq!(c.read_response().status, 401);
    server.stop();

    // Removed on drop; a second cookie replaces the first.
    drop(cookie);
    assert!(!path.exists());
    let (_, cookie2, _) = HttpOptions::from_config(&cfg).unwrap();
    let cookie2 = cookie2.unwrap();
    assert!(path.exists());
    cookie2.remove().unwrap();
    assert!(!path.exists());

    // -rpcpassword: no cookie; -norpccookiefile: none either.
    let base = |extra: &[&str]| {
        let mut a = vec![format!("-datadir={}", dir.path().display())];
        a.extend(extra.iter().map(|s| s.to_string()));
        Config::parse(a, &known).unwrap()
    };
    let (opts, cookie, warnings) =
        HttpOptions::from_config(&base(&["-rpcuser=u", "-rpcpassword=p"])).unwrap();
    assert!(cookie.is_none());
    assert_eq!(opts.auth.credentials.len(), 1);
    assert!(warnings.iter().any(|w| w.contains("rpcuser/rpcpassword")));
    let (_, cookie, _) = HttpOptions::from_config(&base(&["-norpccookiefile"])).unwrap();
    assert!(cookie.is_none());
    assert!(!dir.path().join(".cookie").exists());
    let custom = dir.path().join("mycookie");
    let (_, cookie, _) =
        HttpOptions::from_config(&base(&[&format!("-rpccookiefile={}", custom.display())]))
            .unwrap();
    assert_eq!(cookie.as_ref().unwrap().path(), custom);
    assert!(custom.exists());
}

#[test]
fn options_from_config_binds_and_errors() {
    let dir = TempDir::new().unwrap();
    let known = rpc_option_names();
    let parse = |extra: &[&str]| {
        let mut a = vec![
            format!("-datadir={}", dir.path().display()),
            "-norpccookiefile".to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        Config::parse(a, &known).unwrap()
    };
    let localhost = |p: u16| {
        vec![
            SocketAddr::new("::1".parse().unwrap(), p),
            SocketAddr::new("127.0.0.1".parse().unwrap(), p),
        ]
    };
    // -rpcbind without -rpcallowip: ignored, Core's warning.
    let (o, _, w) = HttpOptions::from_config(&parse(&["-rpcbind=0.0.0.0"])).unwrap();
    assert_eq!(o.binds, localhost(8332));
    assert_eq!(
        w,
        vec!["option -rpcbind was ignored because -rpcallowip was not specified, refusing to allow everyone to connect"]
    );
    // -rpcallowip without -rpcbind.
    let (o, _, w) =
        HttpOptions::from_config(&parse(&["-rpcallowip=10.0.0.0/8", "-rpcport=9999"])).unwrap();
    assert_eq!(o.binds, localhost(9999));
    assert_eq!(o.allow, vec![AllowRule::parse("10.0.0.0/8").unwrap()]);
    assert!(w[0].contains("-rpcallowip was specified without -rpcbind"));
    // Both: the binds, with or without ports.
    let (o, _, w) = HttpOptions::from_config(&parse(&[
        "-rpcallowip=192.168.0.0/255.255.0.0",
        "-rpcbind=192.168.1.2",
        "-rpcbind=[::]:7000",
        "-rpcbind=127.0.0.1:7001",
        "-rpcport=7002",
        "-rpcthreads=3",
        "-rpcworkqueue=0",
        "-rpcservertimeout=5",
    ]))
    .unwrap();
    assert_eq!(
        o.binds,
        vec![
            "192.168.1.2:7002".parse::<SocketAddr>().unwrap(),
            "[::]:7000".parse().unwrap(),
            "127.0.0.1:7001".parse().unwrap()
        ]
    );
    assert!(w.iter().any(|w| w.contains("not safe to expose")), "{w:?}");
    assert_eq!((o.threads, o.work_queue), (3, 1));
    assert_eq!(o.timeout, Duration::from_secs(5));
    // Errors.
    let err = |extra: &[&str]| {
        HttpOptions::from_config(&parse(extra))
            .unwrap_err()
            .to_string()
    };
    assert!(err(&["-rpcallowip=10.0.0.0/33"])
        .starts_with("Invalid -rpcallowip subnet specification: 10.0.0.0/33."));
    assert!(err(&["-rpcallowip=garbage"])
        .starts_with("Invalid -rpcallowip subnet specification: garbage"));
    assert_eq!(
        err(&["-rpcport=abc"]),
        "Invalid port specified in -rpcport: 'abc'"
    );
    assert_eq!(
        err(&["-rpcport=70000"]),
        "Invalid port specified in -rpcport: '70000'"
    );
    assert_eq!(
        err(&["-rpcallowip=1.2.3.4", "-rpcbind=1.2.3.4:0"]),
        "Invalid port specified in -rpcbind: '1.2.3.4:0'"
    );
    assert_eq!(err(&["-rpcauth=nocolon"]), "Invalid -rpcauth argument.");
    assert_eq!(
        err(&["-rpcauth=u:salt-without-dollar"]),
        "Invalid -rpcauth argument."
    );
    assert!(err(&["-rpcthreads=many"]).contains("-rpcthreads"));
}

#[test]
fn allowip_matching() {
    let r = |s: &str| AllowRule::parse(s).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(r("10.0.0.0/8").matches(ip("10.255.1.2")));
    assert!(!r("10.0.0.0/8").matches(ip("11.0.0.1")));
    assert!(r("10.1.2.3/8").matches(ip("10.9.9.9")));
    assert_eq!(r("10.1.2.3/8").to_string(), "10.0.0.0/8");
    assert!(r("10.0.0.0/255.0.0.0").matches(ip("10.1.1.1")));
    assert_eq!(r("10.0.0.0/255.0.0.0"), r("10.0.0.0/8"));
    assert!(r("1.2.3.4").matches(ip("1.2.3.4")));
    assert!(!r("1.2.3.4").matches(ip("1.2.3.5")));
    assert!(r("1.2.3.4").matches(ip("::ffff:1.2.3.4")));
    assert!(r("::ffff:1.2.3.4").matches(ip("1.2.3.4")));
    assert!(r("fe80::/10").matches(ip("fe80::1")));
    assert!(r("fe80::/10").matches(ip("febf::1")));
    assert!(!r("fe80::/10").matches(ip("fec0::1")));
    assert!(r("[2001:db8::1]").matches(ip("2001:db8::1")));
    assert!(r("0.0.0.0/0").matches(ip("8.8.8.8")));
    assert!(!r("0.0.0.0/0").matches(ip("::2")));
    assert!(r("::/0").matches(ip("2001::1")));
    assert!(r("2001:db8::/ffff:ffff::").matches(ip("2001:db8:1::1")));
    for bad in [
        "",
        "garbage",
        "10.0.0.0/33",
        "10.0.0.0/",
        "1.2.3.4/255.0.255.0",
        "1.2.3.4/ffff::",
        "fe80::/129",
        "10.0.0.0/-1",
        "10.0.0.0/+8",
        "1.2.3",
        "example.com",
        "1.2.3.4/8/8",
    ] {
        assert!(AllowRule::parse(bad).is_err(), "{bad:?}");
    }
    // Loopback is always allowed.
    assert!(is_allowed(&[], ip("127.0.0.1")));
    assert!(is_allowed(&[], ip("127.3.4.5")));
    assert!(is_allowed(&[], ip("::1")));
    assert!(is_allowed(&[], ip("::ffff:127.0.0.1")));
    assert!(!is_allowed(&[], ip("192.168.1.1")));
    assert!(is_allowed(&[r("192.168.0.0/16")], ip("192.168.1.1")));
}

#[test]
fn work_queue_full_is_503() {
    let entered = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let (e, rel) = (entered.clone(), release.clone());
    let blocked = Arc::new(AtomicUsize::new(0));
    let b = blocked.clone();
    let h: Arc<dyn RpcHandler> = Arc::new(move |req: &RpcRequest| -> Result<Value, RpcError> {
        if req.method == "block" && b.fetch_add(1, Ordering::SeqCst) == 0 {
            e.wait();
            rel.wait();
        }
        Ok(json!(req.method))
    });
    let mut opts = options();
    opts.threads = 1;
    opts.work_queue = 1;
    let (_s, addr) = start_with(opts, h);
    let mut a = Client::connect(addr);
    a.request(
        "POST",
        "/",
        Some(&basic(USER, PASS)),
        r#"{"method":"block","id":1}"#,
        "",
    );
    entered.wait(); // The only worker is busy.
    let mut b = Client::connect(addr);
    let mut c = Client::connect(addr);
    b.request(
        "POST",
        "/",
        Some(&basic(USER, PASS)),
        r#"{"method":"b","id":2}"#,
        "",
    );
    c.request(
        "POST",
        "/",
        Some(&basic(USER, PASS)),
        r#"{"method":"c","id":3}"#,
        "",
    );
    // One of b/c waits in the queue; the other finds it full.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut full = None;
    while full.is_none() && Instant::now() < deadline {
        for (name, cl) in [("b", &mut b), ("c", &mut c)] {
            cl.stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            if cl.fill() > 0 {
                full = Some(name);
                break;
            }
        }
    }
    let full = full.expect("a 503");
    let (waiting, rejected) = if full == "b" {
        (&mut c, &mut b)
    } else {
        (&mut b, &mut c)
    };
    rejected
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let r = rejected.read_response();
    assert_eq!(r.status, 503);
    assert_eq!(r.body, "Work queue depth exceeded");
    release.wait();
    assert_eq!(a.read_response().json()["result"], json!("block"));
    waiting
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(waiting.read_response().status, 200);
    // The rejected connection is still usable.
    let r = rejected.post(r#"{"method":"again","id":4}"#);
    assert_eq!(r.status, 200);
}

#[test]
fn huge_content_length_is_413_without_reading() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    let t = Instant::now();
    c.send(
        format!(
            "POST / HTTP/1.1\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
            basic(USER, PASS),
            100_000_000
        )
        .as_bytes(),
    );
    c.send(&vec![b'x'; 64 * 1024]);
    let r = c.read_response();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Others are still served.
    let mut d = Client::connect(addr);
    assert_eq!(d.post(r#"{"method":"echo","id":1}"#).status, 200);
    // Exactly at the limit is fine; one more is not.
    let mut opts = options();
    opts.max_body = 100;
    let (_s2, addr2) = start_with(opts, handler());
    let mut e = Client::connect(addr2);
    let body = format!(
        r#"{{"method":"echo","params":["{}"],"id":1}}"#,
        "a".repeat(62)
    );
    assert_eq!(body.len(), 100);
    assert_eq!(e.post(&body).status, 200);
    let body = format!(
        r#"{{"method":"echo","params":["{}"],"id":1}}"#,
        "a".repeat(63)
    );
    assert_eq!(e.post(&body).status, 413);
}

#[test]
fn chunked_bodies() {
    let mut opts = options();
    opts.max_body = 1000;
    let (_s, addr) = start_with(opts, handler());
    let mut c = Client::connect(addr);
    let auth = basic(USER, PASS);
    c.send(
        format!(
            "POST / HTTP/1.1\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n\
             7\r\n{{\"metho\r\n17;ext=1\r\nd\":\"echo\",\"params\":[5],\r\n7\r\n\"id\":9}}\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )
        .as_bytes(),
    );
    let r = c.read_response();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"result":[5],"error":null,"id":9}));
    // Still keep-alive after a chunked body.
    assert_eq!(c.post(r#"{"method":"echo","id":1}"#).status, 200);
    // Over the limit.
    c.send(
        format!(
            "POST / HTTP/1.1\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"
        )
        .as_bytes(),
    );
    c.send(&[b' '; 1000]);
    c.send(b"\r\n1\r\n");
    assert_eq!(c.read_response().status, 413);
    assert!(c.closed());
    // Malformed chunk size.
    let mut d = Client::connect(addr);
    d.send(
        format!(
            "POST / HTTP/1.1\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(d.read_response().status, 400);
    // Content-Length with chunked is refused.
    let mut d = Client::connect(addr);
    d.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n");
    assert_eq!(d.read_response().status, 400);
}

#[test]
fn expect_100_continue() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    let body = r#"{"method":"echo","params":[1],"id":1}"#;
    c.send(
        format!(
            "POST / HTTP/1.1\r\nAuthorization: {}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            basic(USER, PASS),
            body.len()
        )
        .as_bytes(),
    );
    let interim = c.read_response();
    assert_eq!(interim.status, 100);
    c.send(body.as_bytes());
    assert_eq!(c.read_response().status, 200);
}

#[test]
fn garbage_and_bad_requests() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n");
    assert_eq!(c.read_response().status, 400);
    assert!(c.closed());
    // No newline at all: the head limit.
    let mut c = Client::connect(addr);
    c.send(&[b'A'; 10_000]);
    assert_eq!(c.read_response().status, 431);
    // Too many headers.
    let mut c = Client::connect(addr);
    let mut req = String::from("POST / HTTP/1.1\r\n");
    for i in 0..150 {
        req.push_str(&format!("X-{i}: y\r\n"));
    }
    req.push_str("\r\n");
    c.send(req.as_bytes());
    assert_eq!(c.read_response().status, 431);
    // HTTP/2 preface.
    let mut c = Client::connect(addr);
    c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(c.read_response().status, 505);
    // Bad Content-Length.
    let mut c = Client::connect(addr);
    c.send(b"POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n");
    assert_eq!(c.read_response().status, 400);
    // Random bytes, then an immediate close: nothing breaks.
    for seed in 0..20u32 {
        let mut c = Client::connect(addr);
        let junk: Vec<u8> = (0..500u32)
            .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed * 97) >> 13) as u8)
            .collect();
        let _ = c.stream.write_all(&junk);
    }
    let mut d = Client::connect(addr);
    assert_eq!(d.post(r#"{"method":"echo","id":1}"#).status, 200);
}

#[test]
fn methods_and_paths() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    let auth = basic(USER, PASS);
    let body = r#"{"method":"whoami","id":1}"#;
    c.request("GET", "/", Some(&auth), "", "");
    let r = c.read_response();
    assert_eq!(r.status, 405);
    assert_eq!(r.body, "JSONRPC server handles only POST requests");
    c.request("PUT", "/", None, body, "");
    assert_eq!(c.read_response().status, 405);
    c.request("POST", "/nope", Some(&auth), body, "");
    assert_eq!(c.read_response().status, 404);
    c.request("POST", "/wallet", Some(&auth), body, "");
    assert_eq!(c.read_response().status, 404);
    c.request("POST", "/?x=1", Some(&auth), body, "");
    assert_eq!(c.read_response().status, 404);
    c.request("POST", "/wallet/my%20w%2Fallet", Some(&auth), body, "");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["path"], json!("/wallet/my w/allet"));
    assert_eq!(r.json()["result"]["wallet"], json!("my w/allet"));
    c.request("POST", "/wallet/", Some(&auth), body, "");
    assert_eq!(c.read_response().json()["result"]["wallet"], json!(""));
    c.request("POST", "/", Some(&auth), body, "");
    let r = c.read_response();
    assert_eq!(r.json()["result"]["path"], json!("/"));
    assert_eq!(r.json()["result"]["wallet"], Value::Null);
    c.request("POST", "/wallet/%ff", Some(&auth), body, "");
    assert_eq!(c.read_response().status, 400);
    // HEAD gets no body but the connection stays in sync.
    c.request("HEAD", "/", Some(&auth), "", "");
    let r = c.read_response_head_only();
    assert_eq!(r, 405);
    assert_eq!(c.post(r#"{"method":"echo","id":1}"#).status, 200);
}

impl Client {
    fn read_response_head_only(&mut self) -> u16 {
        let head_end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            assert!(self.fill() > 0);
        };
        let head = String::from_utf8(self.buf.drain(..head_end + 4).collect()).unwrap();
        head.split(' ').nth(1).unwrap().parse().unwrap()
    }
}

#[test]
fn panicking_handler_does_not_kill_the_server() {
    let (_s, addr) = start();
    let mut c = Client::connect(addr);
    let r = c.post(r#"{"method":"panic","id":1}"#);
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["code"], json!(RPC_INTERNAL_ERROR));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("handler exploded"));
    let r = c.post(r#"{"jsonrpc":"2.0","method":"panic","id":1}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error"]["code"], json!(RPC_INTERNAL_ERROR));
    for _ in 0..8 {
        assert_eq!(
            c.post(r#"[{"method":"panic","id":1},{"method":"echo","id":2}]"#)
                .status,
            200
        );
    }
    assert_eq!(c.post(r#"{"method":"echo","id":1}"#).status, 200);
}

#[test]
fn idle_connections_time_out() {
    let mut opts = options();
    opts.timeout = Duration::from_millis(300);
    let (_s, addr) = start_with(opts, handler());
    let mut c = Client::connect(addr);
    assert_eq!(c.post(r#"{"method":"echo","id":1}"#).status, 200);
    let t = Instant::now();
    assert!(c.closed());
    assert!(t.elapsed() < Duration::from_secs(3));
    // A client that sends half a head and stalls is dropped too.
    let mut d = Client::connect(addr);
    d.send(b"POST / HTTP/1.1\r\nHost: x\r\n");
    assert!(d.closed());
}

#[test]
fn stop_lets_requests_in_flight_finish() {
    let (server, addr) = start();
    let mut busy = Client::connect(addr);
    busy.request(
        "POST",
        "/",
        Some(&basic(USER, PASS)),
        r#"{"method":"sleep","params":[300],"id":1}"#,
        "",
    );
    let mut idle = Client::connect(addr);
    assert_eq!(idle.post(r#"{"method":"echo","id":1}"#).status, 200);
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    server.stop();
    assert!(t.elapsed() >= Duration::from_millis(150));
    let r = busy.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"], json!(300));
    assert!(idle.closed());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

#[test]
fn bind_failures() {
    let (_s, addr) = start();
    let mut opts = options();
    opts.binds = vec![addr];
    match HttpServer::start(opts, handler()) {
        Err(HttpError::Bind { addr: a, .. }) => assert_eq!(a, addr),
        other => panic!(
            "expected a bind error, got {:?}",
            other.map(|s| s.local_addrs())
        ),
    }
    let mut opts = options();
    opts.binds = Vec::new();
    assert!(matches!(
        HttpServer::start(opts, handler()),
        Err(HttpError::NoBind)
    ));
    // Default-style binds: ::1 may be unavailable, 127.0.0.1 works.
    let mut opts = options();
    opts.binds = vec!["[::1]:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
    let s = HttpServer::start(opts, handler()).unwrap();
    assert!(s.local_addrs().iter().any(|a| a.ip().is_ipv4()));
    let v4 = *s.local_addrs().iter().find(|a| a.ip().is_ipv4()).unwrap();
    assert_eq!(
        Client::connect(v4)
            .post(r#"{"method":"echo","id":1}"#)
            .status,
        200
    );
}

/// A local non-loopback address, if the machine has a route anywhere (a
/// UDP "connect" sends nothing, it only picks the source address).
fn local_non_loopback_ip() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn peers_outside_allowip_get_403() {
    let Some(ip) = local_non_loopback_ip() else {
        eprintln!("no non-loopback address; skipping the socket part");
        return;
    };
    let mut opts = options();
    opts.binds = vec![SocketAddr::new(ip, 0)];
    let (_s, addr) = start_with(opts, handler());
    let mut c = Client::connect(addr);
    let r = c.post(r#"{"method":"echo","id":1}"#);
    assert_eq!(r.status, 403);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(c.closed());
    let mut opts = options();
    opts.binds = vec![SocketAddr::new(ip, 0)];
    opts.allow = vec![AllowRule::single(ip)];
    let (_s, addr) = start_with(opts, handler());
    assert_eq!(
        Client::connect(addr)
            .post(r#"{"method":"echo","id":1}"#)
            .status,
        200
    );
}
