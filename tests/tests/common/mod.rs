//! The harness of the tests that run the real programs (`bitcoin-node`,
//! `bitcoind`, `bitcoin-wallet`): finding (and building when stale) the
//! binaries, free ports, a JSON-RPC client over plain HTTP, a [`Node`]
//! guard that kills the process (and its children) when dropped, also when
//! a test panics, and keys and transactions to spend with.
//!
//! The binaries are `<target>/<profile>/{bitcoin-node,bitcoind,
//! bitcoin-wallet}`. When one is missing, or older than a source file
//! listed in its dep-info, the tests build them with the cargo that runs
//! them (`$CARGO build -p btc-node -p btc-wallet --bins`, same target
//! directory and profile), so a stale binary is never tested; without
//! cargo they fail, saying how to build them.
//!
//! Each test file uses part of it.
#![allow(dead_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute::LockTime, transaction::Version, Address, Amount, CompressedPublicKey, Network,
    OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// The binary

thread_local! {
    /// The program [`Node::start`] runs on this test thread: `bitcoin-node`,
    /// or `bitcoind` for the tests of the wallet inside the node (each test
    /// runs on its own thread). [`Node::start_program`] names it instead.
    pub static PROGRAM: std::cell::Cell<&'static str> = const { std::cell::Cell::new("bitcoin-node") };
}

/// The programs the tests run, all built by `cargo build -p btc-node -p
/// btc-wallet --bins` into one directory (`bitcoin-node` spawns the
/// `bitcoin-wallet` next to it).
pub const PROGRAMS: [&str; 3] = ["bitcoin-node", "bitcoind", "bitcoin-wallet"];

/// The binary of `name` (one of [`PROGRAMS`]), built first if missing or
/// stale.
pub fn program(name: &str) -> PathBuf {
    assert!(PROGRAMS.contains(&name), "unknown program {name}");
    bin_dir().join(name)
}

/// The binary [`Node::start`] runs on this thread (see [`PROGRAM`]).
pub fn node_bin() -> PathBuf {
    program(PROGRAM.with(|p| p.get()))
}

/// `<target>/<profile>`, with every program of [`PROGRAMS`] up to date.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_programs)
}

pub fn build_programs() -> PathBuf {
    const HOW: &str = "cargo build --release -p btc-node -p btc-wallet --bins";
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<test>-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf();
    if !PROGRAMS.iter().any(|p| is_stale(&profile_dir.join(p))) {
        return profile_dir;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let target = profile_dir.parent().expect("<target>");
    let profile = match profile_dir.file_name().and_then(|s| s.to_str()) {
        Some("debug") => "dev",
        Some(p) => p,
        None => "release",
    };
    eprintln!("bitcoin-node, bitcoind or bitcoin-wallet is missing or older than its sources: building them");
    let out = Command::new(&cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "btc-node",
            "-p",
            "btc-wallet",
            "--bins",
        ])
        .args(["--profile", profile])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "building the programs failed ({HOW}):\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            panic!("cannot run {cargo:?} to build the programs ({e}): build them with `{HOW}`")
        }
    }
    for p in PROGRAMS {
        let bin = profile_dir.join(p);
        assert!(
            bin.is_file(),
            "{} is missing: build it with `{HOW}` (same CARGO_TARGET_DIR as the tests)",
            bin.display()
        );
    }
    profile_dir
}

/// Whether a `.rs` file or `Cargo.toml` under `dir` changed after `t`.
pub fn newer_source(dir: &Path, t: std::time::SystemTime) -> bool {
    let Ok(rd) = fs::read_dir(dir) else {
        return false;
    };
    rd.flatten().any(|e| {
        let p = e.path();
        let Ok(m) = e.metadata() else {
            return false;
        };
        if m.is_dir() {
            return p.file_name().is_some_and(|n| n != "target") && newer_source(&p, t);
        }
        let src = p.extension().is_some_and(|x| x == "rs") || p.ends_with("Cargo.toml");
        src && m.modified().is_ok_and(|mt| mt > t)
    })
}

/// Whether `bin` is missing or older than a file its dep-info lists.
pub fn is_stale(bin: &Path) -> bool {
    let Ok(built) = fs::metadata(bin).and_then(|m| m.modified()) else {
        return true;
    };
    let Ok(dep_info) = fs::read_to_string(bin.with_extension("d")) else {
        // `cargo test` builds the binaries for integration tests without
        // an uplifted dep-info: compare with the sources of the crates the
        // binaries are made of instead.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        return ["node", "wallet", "core", "shm-ipc"]
            .iter()
            .any(|c| newer_source(&root.join(c), built));
    };
    // "<bin>: <src> <src> ...", spaces inside paths escaped as "\ ".
    let Some((_, deps)) = dep_info.lines().next().and_then(|l| l.split_once(": ")) else {
        return true;
    };
    let deps = deps.replace("\\ ", "\0");
    deps.split_whitespace().any(|p| {
        let p = p.replace('\0', " ");
        fs::metadata(&p)
            .and_then(|m| m.modified())
            .map_or(true, |t| t > built)
    })
}

/// `bitcoin-gui` (package `btc-gui`), in the same directory as
/// [`PROGRAMS`] (it starts the `bitcoin-node` next to it); built with the
/// running cargo, like them, when missing or older than its sources.
pub fn gui_program() -> PathBuf {
    static GUI: OnceLock<PathBuf> = OnceLock::new();
    GUI.get_or_init(build_gui).clone()
}

fn build_gui() -> PathBuf {
    const HOW: &str = "cargo build --release -p btc-gui --bin bitcoin-gui";
    let dir = bin_dir();
    let bin = dir.join("bitcoin-gui");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let stale = is_stale(&bin)
        || fs::metadata(&bin)
            .and_then(|m| m.modified())
            .map_or(true, |t| newer_source(&root.join("gui"), t));
    if !stale {
        return bin;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let profile = match dir.file_name().and_then(|s| s.to_str()) {
        Some("debug") => "dev",
        Some(p) => p,
        None => "release",
    };
    eprintln!("bitcoin-gui is missing or older than its sources: building it");
    let out = Command::new(&cargo)
        .args(["build", "--quiet", "-p", "btc-gui", "--bin", "bitcoin-gui"])
        .args(["--profile", profile])
        .env("CARGO_TARGET_DIR", dir.parent().expect("<target>"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "building bitcoin-gui failed ({HOW}):\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run {cargo:?} to build bitcoin-gui ({e}): build it with `{HOW}`"),
    }
    assert!(
        bin.is_file(),
        "{} is missing: build it with `{HOW}`",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

// ---------------------------------------------------------------------------
// HTTP and JSON-RPC over a plain TcpStream

#[derive(Debug)]
pub struct HttpReply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn parse_reply(buf: &[u8]) -> io::Result<HttpReply> {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no complete HTTP head in {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line in {head:?}")))?;
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let body = match len {
        Some(n) if n <= body.len() => &body[..n],
        _ => body,
    };
    Ok(HttpReply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// Sends `request` on a new connection and reads the reply to EOF.
pub fn http_exchange(port: u16, request: &[u8]) -> io::Result<HttpReply> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(180)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse_reply(&buf)
}

/// A POST with `Connection: close`, optionally with Basic credentials.
pub fn post(port: u16, userpass: Option<&str>, body: &str) -> io::Result<HttpReply> {
    post_to(port, "/", userpass, body)
}

/// [`post`] to `path` (`/wallet/<name>`).
pub fn post_to(port: u16, path: &str, userpass: Option<&str>, body: &str) -> io::Result<HttpReply> {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(up) = userpass {
        req += &format!("Authorization: Basic {}\r\n", base64(up.as_bytes()));
    }
    req += "\r\n";
    req += body;
    http_exchange(port, req.as_bytes())
}

pub fn request_body(method: &str, params: &Value) -> String {
    json!({"jsonrpc": "1.0", "id": "t", "method": method, "params": params}).to_string()
}

#[derive(Clone, Debug, PartialEq)]
pub struct RpcErr {
    pub code: i64,
    pub message: String,
}

#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug in panic messages
pub enum CallError {
    Io(io::Error),
    /// A reply that is no JSON-RPC reply: status and body.
    Http(u16, String),
    Rpc(RpcErr),
}

pub fn rpc_call(
    port: u16,
    userpass: &str,
    method: &str,
    params: &Value,
) -> Result<Value, CallError> {
    rpc_call_at(port, "/", userpass, method, params)
}

pub fn rpc_call_at(
    port: u16,
    path: &str,
    userpass: &str,
    method: &str,
    params: &Value,
) -> Result<Value, CallError> {
    let r = post_to(port, path, Some(userpass), &request_body(method, params))
        .map_err(CallError::Io)?;
    let v: Value =
        serde_json::from_str(&r.body).map_err(|_| CallError::Http(r.status, r.body.clone()))?;
    match v.get("error") {
        Some(e) if !e.is_null() => Err(CallError::Rpc(RpcErr {
            code: e["code"].as_i64().unwrap_or(0),
            message: e["message"].as_str().unwrap_or_default().to_string(),
        })),
        _ if r.status != 200 => Err(CallError::Http(r.status, r.body)),
        _ => Ok(v["result"].clone()),
    }
}

// ---------------------------------------------------------------------------
// A node process

/// A running `bitcoin-node` or `bitcoind`; killed (SIGKILL) on drop if
/// still running, with its descendants (a node's wallet process).
pub struct Node {
    pub child: Child,
    /// The binary it runs.
    pub program: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    /// `user:password` (the cookie's content in cookie mode).
    pub auth: String,
    /// Where the cookie is expected.
    pub cookie: PathBuf,
}

pub fn regtest_args(dir: &Path, port: u16, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "-regtest".to_string(),
        format!("-datadir={}", dir.display()),
        format!("-rpcport={port}"),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Starts [`node_bin`] with `args`, stdout and stderr to files in `dir`.
pub fn spawn_node(dir: &Path, args: &[String]) -> Child {
    spawn_program(&node_bin(), dir, args)
}

/// Starts `bin` with `args`, stdout and stderr to `node.stdout` and
/// `node.stderr` in `dir`.
pub fn spawn_program(bin: &Path, dir: &Path, args: &[String]) -> Child {
    spawn_logged(bin, dir, "node", args, false)
}

/// Starts `bin` with `args`, stdout and stderr to `<name>.stdout` and
/// `<name>.stderr` in `dir`, truncated first unless `append`.
pub fn spawn_logged(bin: &Path, dir: &Path, name: &str, args: &[String], append: bool) -> Child {
    fs::create_dir_all(dir).unwrap();
    let file = |ext: &str| {
        fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(dir.join(format!("{name}.{ext}")))
            .unwrap()
    };
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()))
}

pub fn tail(path: &Path, lines: usize) -> String {
    let s = fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

impl Node {
    /// A regtest node with cookie authentication on a free port, running
    /// [`node_bin`].
    pub fn start(dir: &Path, extra: &[&str]) -> Node {
        Node::start_program(&node_bin(), dir, extra)
    }

    /// [`Node::start`] with the binary `bin`.
    pub fn start_program(bin: &Path, dir: &Path, extra: &[&str]) -> Node {
        for _ in 0..3 {
            let port = free_port();
            let mut n = Node {
                child: spawn_program(bin, dir, &regtest_args(dir, port, extra)),
                program: bin.to_path_buf(),
                dir: dir.to_path_buf(),
                port,
                auth: String::new(),
                cookie: dir.join("regtest/.cookie"),
            };
            match n.try_ready(true) {
                Ok(()) => return n,
                // Someone took the free port in the meantime: another one.
                Err(e) if e.contains("Binding RPC") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("bitcoin-node could not bind a free port three times");
    }

    /// The binary with exactly `args`, expected to serve RPC on `port`
    /// with `userpass`, or with the cookie of `dir/regtest` if `None`.
    pub fn start_with(dir: &Path, port: u16, args: Vec<String>, userpass: Option<&str>) -> Node {
        let mut n = Node {
            child: spawn_node(dir, &args),
            program: node_bin(),
            dir: dir.to_path_buf(),
            port,
            auth: userpass.unwrap_or_default().to_string(),
            cookie: dir.join("regtest/.cookie"),
        };
        n.wait_ready(userpass.is_none());
        n
    }

    pub fn cookie_path(&self) -> PathBuf {
        self.cookie.clone()
    }

    pub fn debug_log(&self) -> PathBuf {
        self.dir.join("regtest/debug.log")
    }

    pub fn diagnostics(&self) -> String {
        format!(
            "--- stderr:\n{}\n--- debug.log (tail):\n{}",
            tail(&self.dir.join("node.stderr"), 20),
            tail(&self.debug_log(), 20)
        )
    }

    pub fn wait_ready(&mut self, cookie: bool) {
        if let Err(e) = self.try_ready(cookie) {
            panic!("{e}");
        }
    }

    /// Waits until the node answers RPC; `Err` if it exits first.
    pub fn try_ready(&mut self, cookie: bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Err(format!(
                    "bitcoin-node exited ({st}) before answering RPC\n{}",
                    self.diagnostics()
                ));
            }
            if cookie {
                // After a kill -9 the old cookie is still there: re-read it
                // until the new process has written its own.
                if let Ok(c) = fs::read_to_string(self.cookie_path()) {
                    self.auth = c.trim().to_string();
                }
            }
            if (!cookie || !self.auth.is_empty())
                && rpc_call(self.port, &self.auth, "getblockcount", &json!([])).is_ok()
            {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "bitcoin-node did not answer RPC within 90 s\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A call; an RPC error is returned, anything else panics.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcErr> {
        match rpc_call(self.port, &self.auth, method, &params) {
            Ok(v) => Ok(v),
            Err(CallError::Rpc(e)) => Err(e),
            Err(e) => panic!("{method} {params}: {e:?}\n{}", self.diagnostics()),
        }
    }

    /// A call to `path` (`/wallet/<name>`); an RPC error is returned.
    pub fn call_at(&self, path: &str, method: &str, params: Value) -> Result<Value, RpcErr> {
        match rpc_call_at(self.port, path, &self.auth, method, &params) {
            Ok(v) => Ok(v),
            Err(CallError::Rpc(e)) => Err(e),
            Err(e) => panic!("{path} {method} {params}: {e:?}\n{}", self.diagnostics()),
        }
    }

    /// A call that must succeed.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.call(method, params.clone())
            .unwrap_or_else(|e| panic!("{method} {params} failed: {e:?}"))
    }

    /// A call that must fail with `code`; returns the message.
    pub fn rpc_err(&self, method: &str, params: Value, code: i64) -> String {
        match self.call(method, params.clone()) {
            Ok(v) => panic!("{method} {params} should fail with {code}, returned {v}"),
            Err(e) => {
                assert_eq!(e.code, code, "{method} {params}: {}", e.message);
                e.message
            }
        }
    }

    pub fn height(&self) -> u64 {
        self.rpc("getblockcount", json!([])).as_u64().unwrap()
    }

    pub fn mine(&self, n: u32, addr: &str) -> Vec<String> {
        let v = self.rpc("generatetoaddress", json!([n, addr]));
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect()
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "bitcoin-node did not exit within {secs} s\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `stop` by RPC; the process must exit with status 0.
    pub fn stop(&mut self) {
        let r = self.rpc("stop", json!([]));
        assert!(
            r.as_str().unwrap().contains("stopping"),
            "stop answered {r}"
        );
        let st = self.wait_exit(60);
        assert!(st.success(), "stop: exit {st}\n{}", self.diagnostics());
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, not reaped yet.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_tree(self.child.id());
            let _ = self.child.wait();
        }
    }
}

/// The parent pid and the state of process `pid` (from `/proc/<pid>/stat`).
pub fn proc_stat(pid: u32) -> Option<(u32, char)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((ppid, state))
}

/// The name of process `pid` (`/proc/<pid>/comm`).
pub fn proc_name(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The live (not zombie) children of `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&c| proc_stat(c).is_some_and(|(pp, st)| pp == pid && st != 'Z'))
        .collect()
}

/// SIGKILLs `pid`'s descendants, then `pid` (a process this test started).
pub fn kill_tree(pid: u32) {
    for c in children_of(pid) {
        kill_tree(c);
    }
    // SAFETY: kill(2) on a process of ours.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("process-test-")
        .tempdir()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Keys, transactions, descriptors

pub struct Key {
    pub sk: SecretKey,
    pub pk: CompressedPublicKey,
    pub addr: Address,
}

pub fn key(seed: u8) -> Key {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[seed; 32]).unwrap();
    let pk = CompressedPublicKey(sk.public_key(&secp));
    Key {
        sk,
        pk,
        addr: Address::p2wpkh(&pk, Network::Regtest),
    }
}

/// Spends a P2WPKH output of `key` worth `value` to `to`, less `fee`.
pub fn spend(key: &Key, prev: OutPoint, value: Amount, to: &ScriptBuf, fee: Amount) -> Transaction {
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: prev,
            script_sig: ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: value - fee,
            script_pubkey: to.clone(),
        }],
    };
    sign(key, tx, value)
}

pub fn spk2(k: &Key) -> ScriptBuf {
    k.addr.script_pubkey()
}

/// BIP 380's descriptor checksum, appended after `#`.
pub fn with_checksum(desc: &str) -> String {
    const INPUT: &str = "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
    const CHARS: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const GEN: [u64; 5] = [
        0xf5dee51989,
        0xa9fdca3312,
        0x1bab10e32d,
        0x3706b1677a,
        0x644d626ffd,
    ];
    fn polymod(c: u64, v: u64) -> u64 {
        let top = c >> 35;
        let mut c = ((c & 0x7_ffff_ffff) << 5) ^ v;
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                c ^= g;
            }
        }
        c
    }
    let (mut c, mut cls, mut count) = (1u64, 0u64, 0);
    for ch in desc.chars() {
        let pos = INPUT.find(ch).expect("descriptor character") as u64;
        c = polymod(c, pos & 31);
        cls = cls * 3 + (pos >> 5);
        count += 1;
        if count == 3 {
            c = polymod(c, cls);
            cls = 0;
            count = 0;
        }
    }
    if count > 0 {
        c = polymod(c, cls);
    }
    for _ in 0..8 {
        c = polymod(c, 0);
    }
    c ^= 1;
    let sum: String = (0..8)
        .map(|j| CHARS[((c >> (5 * (7 - j))) & 31) as usize] as char)
        .collect();
    format!("{desc}#{sum}")
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn is_hex64(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn has_keys(v: &Value, keys: &[&str], what: &str) {
    for k in keys {
        assert!(v.get(k).is_some(), "{what} lacks \"{k}\": {v:#}");
    }
}

pub fn btc(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not an amount"))
}

/// The output of `tx` (JSON, verbosity 2) paying `addr`.
pub fn vout_paying(tx: &Value, addr: &str) -> u32 {
    tx["vout"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["scriptPubKey"]["address"] == addr)
        .unwrap_or_else(|| panic!("no output to {addr} in {tx:#}"))["n"]
        .as_u64()
        .unwrap() as u32
}

pub const OTHER_ADDR: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// Waits for a child expected to exit by itself.
pub fn wait_child(c: &mut Child, secs: u64) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            let _ = c.wait();
            panic!("bitcoin-node did not exit within {secs} s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Signs the one input, a P2WPKH output of `key` worth `value`.
pub fn sign(key: &Key, mut tx: Transaction, value: Amount) -> Transaction {
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(0, &key.addr.script_pubkey(), value, EcdsaSighashType::All)
        .unwrap();
    let secp = Secp256k1::new();
    let sig = secp.sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &key.sk);
    let sig = bitcoin::ecdsa::Signature {
        signature: sig,
        sighash_type: EcdsaSighashType::All,
    };
    tx.input[0].witness = Witness::p2wpkh(&sig, &key.pk.0);
    tx
}
