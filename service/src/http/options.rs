//! Server settings and their derivation from `-rpc*` options (Core's
//! `InitHTTPServer`, `HTTPBindAddresses`, `InitHTTPAllowList`,
//! `InitRPCAuthentication`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::allow::AllowRule;
use super::auth::Auth;
use super::cookie::{Cookie, COOKIE_FILE};
use super::HttpError;
use crate::config::Config;

/// Core's `DEFAULT_HTTP_THREADS`.
pub const DEFAULT_HTTP_THREADS: usize = 16;
/// Core's `DEFAULT_HTTP_WORKQUEUE`.
pub const DEFAULT_HTTP_WORKQUEUE: usize = 64;
/// Core's `DEFAULT_HTTP_SERVER_TIMEOUT`.
pub const DEFAULT_HTTP_SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// Core's `MAX_SIZE`, the request body limit (32 MiB).
pub const MAX_BODY_SIZE: usize = 0x0200_0000;
/// The pause before answering a wrong password (Core: 250 ms).
pub const AUTH_FAILURE_DELAY: Duration = Duration::from_millis(250);

/// The options this module reads, with Core's help texts, for
/// [`Config::parse`] and [`Config::help_text`].
pub const RPC_OPTIONS: &[(&str, &str)] = &[
    ("rpcallowip=<ip>", "Allow JSON-RPC connections from specified source. Valid values for <ip> are a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0), a network/CIDR (e.g. 1.2.3.4/24). This option can be specified multiple times"),
    ("rpcauth=<userpw>", "Username and HMAC-SHA-256 hashed password for JSON-RPC connections. The field <userpw> comes in the format: <USERNAME>:<SALT>$<HASH>. RPC clients connect normally using the rpcuser=<USERNAME>/rpcpassword=<PASSWORD> pair of arguments. This option can be specified multiple times"),
    ("rpcbind=<addr>[:port]", "Bind to given address to listen for JSON-RPC connections. Do not expose the RPC server to untrusted networks such as the public internet! This option is ignored unless -rpcallowip is also passed. Port is optional and overrides -rpcport. Use [host]:port notation for IPv6. This option can be specified multiple times (default: 127.0.0.1 and ::1 i.e., localhost)"),
    ("rpccookiefile=<loc>", "Location of the auth cookie. Relative paths will be prefixed by a net-specific datadir location. (default: data dir)"),
    ("rpcpassword=<pw>", "Password for JSON-RPC connections"),
    ("rpcport=<port>", "Listen for JSON-RPC connections on <port> (default: 8332, testnet3: 18332, testnet4: 48332, signet: 38332, regtest: 18443)"),
    ("rpcservertimeout=<n>", "Timeout during HTTP requests (default: 30)"),
    ("rpcthreads=<n>", "Set the number of threads to service RPC calls (default: 16)"),
    ("rpcuser=<user>", "Username for JSON-RPC connections"),
    ("rpcworkqueue=<n>", "Set the maximum depth of the work queue to service RPC calls (default: 64)"),
];

/// The option names of [`RPC_OPTIONS`], for [`Config::parse`]'s `known`.
pub fn rpc_option_names() -> Vec<&'static str> {
    RPC_OPTIONS
        .iter()
        .map(|(o, _)| o.split('=').next().unwrap_or(o))
        .collect()
}

/// Everything the server needs.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Addresses to listen on. `[::1]` failing with "address not available"
    /// is skipped; any other bind failure is an error.
    pub binds: Vec<SocketAddr>,
    /// Networks allowed besides loopback (which always is).
    pub allow: Vec<AllowRule>,
    /// Accepted logins.
    pub auth: Auth,
    /// Worker threads running handler calls (at least 1).
    pub threads: usize,
    /// Requests that may wait for a worker before new ones get 503 (at
    /// least 1).
    pub work_queue: usize,
    /// Time allowed for receiving a request's head (and for an idle
    /// keep-alive connection), and per read and write of a body.
    pub timeout: Duration,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Pause before a 401 for wrong credentials.
    pub auth_failure_delay: Duration,
}

impl Default for HttpOptions {
    /// Core's defaults on main: localhost on 8332, no logins.
    fn default() -> Self {
        HttpOptions {
            binds: default_binds(8332),
            allow: Vec::new(),
            auth: Auth::default(),
            threads: DEFAULT_HTTP_THREADS,
            work_queue: DEFAULT_HTTP_WORKQUEUE,
            timeout: DEFAULT_HTTP_SERVER_TIMEOUT,
            max_body: MAX_BODY_SIZE,
            auth_failure_delay: AUTH_FAILURE_DELAY,
        }
    }
}

fn default_binds(port: u16) -> Vec<SocketAddr> {
    vec![
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
    ]
}

/// Core's `ToIntegral<uint16_t>` plus its "not 0" rule.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// Core's `SplitHostPort`: `host`, `host:port`, `[v6]:port`, `[v6]`, or a
/// bare IPv6 address. `None` for a bad port.
pub fn split_host_port(input: &str, default_port: u16) -> Option<(String, u16)> {
    let mut host = input;
    let mut port = default_port;
    if let Some(colon) = input.rfind(':') {
        let bracketed = input.starts_with('[') && input[..colon].ends_with(']');
        let multi_colon = colon != 0 && input[..colon].contains(':');
        if colon == 0 || bracketed || !multi_colon {
            port = parse_port(&input[colon + 1..])?;
            host = &input[..colon];
        }
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host.to_string(), port))
}

fn resolve(host: &str, port: u16, raw: &str) -> Result<SocketAddr, HttpError> {
    if host.is_empty() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| HttpError::InvalidBind(raw.to_string()))
}

fn positive(cfg: &Config, name: &str, default: usize) -> Result<usize, HttpError> {
    let v = cfg.get_int(name, default as i64)?;
    Ok(usize::try_from(v.max(1)).unwrap_or(1))
}

impl HttpOptions {
    /// Reads `-rpcbind -rpcport -rpcallowip -rpcuser -rpcpassword -rpcauth
    /// -rpcworkqueue -rpcthreads -rpcservertimeout -rpccookiefile`, and
    /// writes the cookie unless `-rpcpassword` is set or `-norpccookiefile`.
    /// Returns the options, the cookie (keep it alive as long as the server
    /// runs; it is deleted on drop) and Core's warnings.
    pub fn from_config(
        cfg: &Config,
    ) -> Result<(HttpOptions, Option<Cookie>, Vec<String>), HttpError> {
        let mut warnings = Vec::new();

        let port = match cfg.get("rpcport") {
            Some(v) => parse_port(v).ok_or_else(|| HttpError::InvalidPort {
                option: "-rpcport",
                value: v.to_string(),
            })?,
            None => cfg.default_rpc_port(),
        };

        let mut allow = Vec::new();
        for s in cfg.get_all("rpcallowip") {
            allow.push(AllowRule::parse(&s)?);
        }

        let bind_args = cfg.get_all("rpcbind");
        let mut binds = Vec::new();
        if allow.is_empty() || bind_args.is_empty() {
            binds = default_binds(port);
            if !allow.is_empty() {
                warnings.push(
                    "option -rpcallowip was specified without -rpcbind; this doesn't usually make sense"
                        .to_string(),
                );
            }
            if !bind_args.is_empty() {
                warnings.push("option -rpcbind was ignored because -rpcallowip was not specified, refusing to allow everyone to connect".to_string());
            }
        } else {
            for raw in &bind_args {
                let (host, p) =
                    split_host_port(raw, port).ok_or_else(|| HttpError::InvalidPort {
                        option: "-rpcbind",
                        value: raw.clone(),
                    })?;
                let addr = resolve(&host, p, raw)?;
                if addr.ip().is_unspecified() {
                    warnings.push(format!("binding RPC on {addr}: the RPC server is not safe to expose to untrusted networks such as the public internet"));
                }
                binds.push(addr);
            }
        }

        let mut auth = Auth::default();
        let password = cfg.get("rpcpassword").unwrap_or("");
        let use_cookie = password.is_empty();
        if !use_cookie {
            auth.add_password(cfg.get("rpcuser").unwrap_or(""), password);
            warnings.push("The use of rpcuser/rpcpassword is less secure, because credentials are configured in plain text. It is recommended that locally-run instances switch to cookie-based auth, or otherwise to use hashed rpcauth credentials.".to_string());
        }
        for line in cfg.get_all("rpcauth") {
            auth.add_rpcauth(&line)?;
        }

        let opts = HttpOptions {
            binds,
            allow,
            auth,
            threads: positive(cfg, "rpcthreads", DEFAULT_HTTP_THREADS)?,
            work_queue: positive(cfg, "rpcworkqueue", DEFAULT_HTTP_WORKQUEUE)?,
            timeout: Duration::from_secs(positive(cfg, "rpcservertimeout", 30)? as u64),
            max_body: MAX_BODY_SIZE,
            auth_failure_delay: AUTH_FAILURE_DELAY,
        };

        let mut opts = opts;
        let cookie = if use_cookie && !cfg.is_negated("rpccookiefile") {
            let rel = cfg
                .get_path("rpccookiefile")
                .unwrap_or_else(|| PathBuf::from(COOKIE_FILE));
            if !rel.is_absolute() {
                cfg.net_dir()?;
            }
            let cookie = Cookie::create(&cfg.abs_path(&rel, true))?;
            opts.auth.add_password(cookie.user(), cookie.password());
            Some(cookie)
        } else {
            None
        };
        Ok((opts, cookie, warnings))
    }
}
