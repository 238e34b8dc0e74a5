//! `Config`: Core's argument and config-file rules, with temporary data
//! directories.

use std::fs;
use std::path::Path;

use bitcoin::Network;
use btc_service::config::{Config, ConfigError};
use tempfile::TempDir;

const KNOWN: &[&str] = &[
    "foo",
    "bar",
    "addnode",
    "connect",
    "port",
    "bind",
    "rpcport",
    "rpcbind",
    "wallet",
    "rpcuser",
    "rpcpassword",
    "server",
    "dbcache",
    "-debug",
];

fn args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut v = vec![format!("-datadir={}", dir.display())];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn parse(dir: &Path, extra: &[&str]) -> Result<Config, ConfigError> {
    Config::parse(args(dir, extra), KNOWN)
}

fn with_conf(text: &str, extra: &[&str]) -> (TempDir, Result<Config, ConfigError>) {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("bitcoin.conf"), text).unwrap();
    let r = parse(dir.path(), extra);
    (dir, r)
}

#[test]
fn command_line_syntax() {
    let dir = TempDir::new().unwrap();
    let c = parse(
        dir.path(),
        &[
            "-foo",
            "--bar=x",
            "-server=0",
            "-nodbcache",
            "-noport=0",
            "-debug=net",
        ],
    )
    .unwrap();
    assert_eq!(c.get("foo"), Some(""));
    assert!(c.get_bool("foo", false));
    assert_eq!(c.get("bar"), Some("x"));
    assert_eq!(c.get("-bar"), Some("x"));
    assert!(!c.get_bool("server", true));
    assert!(c.is_negated("dbcache"));
    assert_eq!(c.get("dbcache"), Some("0"));
    assert_eq!(c.get_int("dbcache", 450).unwrap(), 0);
    // -noport=0 is the double negative port=1, with a warning.
    assert_eq!(c.get("port"), Some("1"));
    assert!(!c.is_negated("port"));
    assert!(c
        .warnings()
        .iter()
        .any(|w| w.contains("double-negative -port=0")));
    assert_eq!(c.get("debug"), Some("net"));
    assert!(!c.is_set("wallet"));
    assert_eq!(c.get("wallet"), None);
    assert!(c.get_bool("wallet", true));
}

#[test]
fn last_command_line_value_wins_and_get_all_keeps_order() {
    let dir = TempDir::new().unwrap();
    let c = parse(dir.path(), &["-foo=1", "-foo=2", "-foo=3"]).unwrap();
    assert_eq!(c.get("foo"), Some("3"));
    assert_eq!(c.get_all("foo"), vec!["1", "2", "3"]);
    let c = parse(dir.path(), &["-foo=1", "-nofoo", "-foo=3"]).unwrap();
    assert_eq!(c.get_all("foo"), vec!["3"]);
    assert_eq!(c.get("foo"), Some("3"));
    let c = parse(dir.path(), &["-foo=1", "-nofoo"]).unwrap();
    assert!(c.get_all("foo").is_empty());
    assert!(c.is_negated("foo"));
    assert!(c.is_set("foo"));
}

#[test]
fn bad_command_lines() {
    let dir = TempDir::new().unwrap();
    let e = parse(dir.path(), &["-unknown"]).unwrap_err();
    assert_eq!(e.to_string(), "Invalid parameter -unknown");
    let e = parse(dir.path(), &["-nounknown=1"]).unwrap_err();
    assert_eq!(e.to_string(), "Invalid parameter -nounknown=1");
    let e = parse(dir.path(), &["garbage"]).unwrap_err();
    assert!(
        matches!(e, ConfigError::UnexpectedToken(ref t) if t == "garbage"),
        "{e}"
    );
    let e = parse(dir.path(), &["-regtest.foo=1"]).unwrap_err();
    assert!(matches!(e, ConfigError::InvalidParameter(_)), "{e}");
    for bad in ["-", "--", "-=1", "---foo"] {
        let e = parse(dir.path(), &[bad]).unwrap_err();
        assert!(matches!(e, ConfigError::InvalidParameter(_)), "{bad}: {e}");
    }
    // Non-ASCII and odd bytes are just unknown names, not panics.
    let e = parse(dir.path(), &["-fö=ü"]).unwrap_err();
    assert!(matches!(e, ConfigError::InvalidParameter(_)));
}

#[test]
fn integers_and_bools() {
    let dir = TempDir::new().unwrap();
    let c = parse(
        dir.path(),
        &[
            "-dbcache=300",
            "-port= 12 ",
            "-foo=abc",
            "-bar=1x",
            "-rpcport=",
        ],
    )
    .unwrap();
    assert_eq!(c.get_int("dbcache", 0).unwrap(), 300);
    assert_eq!(c.get_int("port", 0).unwrap(), 12);
    assert_eq!(c.get_int("server", 7).unwrap(), 7);
    let e = c.get_int("foo", 0).unwrap_err();
    assert_eq!(e.to_string(), "Invalid integer value for -foo: \"abc\"");
    assert!(c.get_int("bar", 0).is_err());
    assert!(c.get_int("rpcport", 0).is_err());
    // InterpretBool: non-numbers are false, "1x" is true, "" is true.
    assert!(!c.get_bool("foo", true));
    assert!(c.get_bool("bar", false));
    assert!(c.get_bool("rpcport", false));
}

#[test]
fn chains() {
    let dir = TempDir::new().unwrap();
    let cases = [
        (vec![], Network::Bitcoin, 8332, ""),
        (vec!["-testnet"], Network::Testnet, 18332, "testnet3"),
        (vec!["-testnet4"], Network::Testnet4, 48332, "testnet4"),
        (vec!["-signet"], Network::Signet, 38332, "signet"),
        (vec!["-regtest"], Network::Regtest, 18443, "regtest"),
        (vec!["-chain=main"], Network::Bitcoin, 8332, ""),
        (vec!["-chain=test"], Network::Testnet, 18332, "testnet3"),
        (
            vec!["-chain=testnet4"],
            Network::Testnet4,
            48332,
            "testnet4",
        ),
        (vec!["-chain=signet"], Network::Signet, 38332, "signet"),
        (vec!["-chain=regtest"], Network::Regtest, 18443, "regtest"),
        (vec!["-regtest=0"], Network::Bitcoin, 8332, ""),
        (vec!["-noregtest"], Network::Bitcoin, 8332, ""),
    ];
    for (extra, chain, port, sub) in cases {
        let c = parse(dir.path(), &extra).unwrap();
        assert_eq!(c.chain(), chain, "{extra:?}");
        assert_eq!(c.default_rpc_port(), port);
        assert_eq!(c.net_dir_name(), sub);
        let net = c.net_dir().unwrap();
        assert!(net.is_dir());
        if sub.is_empty() {
            assert_eq!(net, c.datadir());
        } else {
            assert_eq!(net, c.datadir().join(sub));
        }
    }
    for bad in [
        vec!["-regtest", "-testnet"],
        vec!["-signet", "-chain=main"],
        vec!["-testnet4", "-testnet"],
        vec!["-chain=main", "-regtest=1"],
    ] {
        let e = parse(dir.path(), &bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one."
        );
    }
    let e = parse(dir.path(), &["-chain=moon"]).unwrap_err();
    assert_eq!(e.to_string(), "Unknown chain moon.");
    // Repeating the same flag is not a conflict.
    assert_eq!(
        parse(dir.path(), &["-regtest", "-regtest"])
            .unwrap()
            .chain(),
        Network::Regtest
    );
}

#[test]
fn chain_from_config_file_and_negation_quirk() {
    let (_d, c) = with_conf("regtest=1\n", &[]);
    assert_eq!(c.unwrap().chain(), Network::Regtest);
    // Core ignores a negated chain flag on the command line when the file
    // selects the chain.
    let (_d, c) = with_conf("regtest=1\n", &["-noregtest"]);
    assert_eq!(c.unwrap().chain(), Network::Regtest);
    let (_d, c) = with_conf("regtest=1\n", &["-testnet"]);
    assert!(matches!(c.unwrap_err(), ConfigError::ConflictingChains));
    // Chain flags inside a section do not select the chain.
    let (_d, c) = with_conf("[main]\nregtest=1\n", &[]);
    assert_eq!(c.unwrap().chain(), Network::Bitcoin);
}

#[test]
fn datadir() {
    let e =
        Config::parse(vec!["-datadir=/nonexistent/shmbtc-test".to_string()], KNOWN).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Specified data directory \"/nonexistent/shmbtc-test\" does not exist."
    );
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("f");
    fs::write(&file, "").unwrap();
    assert!(matches!(
        parse(&file, &[]).unwrap_err(),
        ConfigError::DataDirNotFound(_)
    ));
    // The default data directory is created.
    let default = dir.path().join("a").join(".shmbtc");
    let c = Config::parse_with_default_datadir(Vec::<String>::new(), KNOWN, &default).unwrap();
    assert_eq!(c.datadir(), default);
    assert!(default.is_dir());
    // -nodatadir and -datadir= mean the default.
    let c = Config::parse_with_default_datadir(vec!["-nodatadir".into()], KNOWN, &default).unwrap();
    assert_eq!(c.datadir(), default);
    let c = Config::parse_with_default_datadir(vec!["-datadir=".into()], KNOWN, &default).unwrap();
    assert_eq!(c.datadir(), default);
    // A relative -datadir is made absolute.
    let c = parse(dir.path(), &[]).unwrap();
    assert!(c.datadir().is_absolute());
}

#[test]
fn config_file_syntax_and_precedence() {
    let text = "\
# a comment
foo=file1
foo=file2
bar = spaced value   # trailing comment
server
nodbcache=1
addnode=top
rpcport=1111

[regtest]
foo=regtest-foo
addnode=rt1
addnode=rt2
[main]
wallet=mainwallet
[test]
rpcport=2222
";
    let (_d, c) = with_conf(text, &[]);
    let c = c.unwrap();
    assert!(c.conf_file().is_some());
    // The first value in the file wins.
    assert_eq!(c.get("foo"), Some("file1"));
    assert_eq!(c.get_all("foo"), vec!["file1", "file2"]);
    assert_eq!(c.get("bar"), Some("spaced value"));
    assert_eq!(c.get("server"), Some("1"));
    assert!(c.is_negated("dbcache"));
    assert_eq!(c.get("wallet"), Some("mainwallet"));
    assert_eq!(c.get_all("addnode"), vec!["top"]);
    assert_eq!(c.get("rpcport"), Some("1111"));

    // The command line overrides the file.
    let (_d, c) = with_conf(text, &["-foo=cli", "-noserver"]);
    let c = c.unwrap();
    assert_eq!(c.get("foo"), Some("cli"));
    assert_eq!(c.get_all("foo"), vec!["cli", "file1", "file2"]);
    assert!(!c.get_bool("server", true));

    // On regtest: the section first, then the top section; network-only
    // options in the top section do not apply.
    let (_d, c) = with_conf(text, &["-regtest"]);
    let c = c.unwrap();
    assert_eq!(c.get("foo"), Some("regtest-foo"));
    assert_eq!(c.get_all("foo"), vec!["regtest-foo", "file1", "file2"]);
    assert_eq!(c.get_all("addnode"), vec!["rt1", "rt2"]);
    assert_eq!(c.get("rpcport"), None);
    assert_eq!(c.get("wallet"), None);
    assert_eq!(c.get("bar"), Some("spaced value"));
    // rpcport is only in the top section for regtest: warned.
    assert!(
        c.warnings().iter().any(|w| w
            == "Config setting for -rpcport only applied on regtest network when in [regtest] section."),
        "{:?}",
        c.warnings()
    );
    assert!(!c.warnings().iter().any(|w| w.contains("-addnode")));

    // On testnet3 the [test] section.
    let (_d, c) = with_conf(text, &["-testnet"]);
    let c = c.unwrap();
    assert_eq!(c.get("rpcport"), Some("2222"));
    assert!(c
        .warnings()
        .iter()
        .any(|w| w.contains("-addnode only applied on test network")));
}

#[test]
fn section_prefix_form_and_negation_in_file() {
    let text = "regtest.foo=a\nmain.foo=b\nregtest.nobar=1\nbar=top\nnoserver=0\n";
    let (_d, c) = with_conf(text, &["-regtest"]);
    let c = c.unwrap();
    assert_eq!(c.get("foo"), Some("a"));
    assert!(c.is_negated("bar"));
    assert!(c.get_all("bar").is_empty());
    assert_eq!(c.get("server"), Some("1"));
    let (_d, c) = with_conf(text, &[]);
    let c = c.unwrap();
    assert_eq!(c.get("foo"), Some("b"));
    assert_eq!(c.get("bar"), Some("top"));
}

#[test]
fn negation_on_command_line_hides_file_values() {
    let (_d, c) = with_conf("addnode=a\naddnode=b\n", &["-noaddnode"]);
    let c = c.unwrap();
    assert!(c.get_all("addnode").is_empty());
    assert!(c.is_negated("addnode"));
    // Core's "zombie" rule: -nofoo -foo=x brings the file values back.
    let (_d, c) = with_conf("addnode=a\n", &["-noaddnode", "-addnode=c"]);
    assert_eq!(c.unwrap().get_all("addnode"), vec!["c", "a"]);
}

#[test]
fn config_file_warnings() {
    let text = "unknownopt=1\n[moon]\nfoo=1\nmars.foo=2\nincludeconf=other.conf\n";
    let (_d, c) = with_conf(text, &[]);
    let c = c.unwrap();
    let w = c.warnings();
    assert!(
        w.iter()
            .any(|w| w == "Ignoring unknown configuration value unknownopt"),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.ends_with(":2 Section [moon] is not recognized.")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.ends_with(":4 Section [moon.mars] is not recognized.")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("includeconf")), "{w:?}");
}

#[test]
fn config_file_errors() {
    let (_d, c) = with_conf("-foo=1\n", &[]);
    let e = c.unwrap_err().to_string();
    assert!(
        e.starts_with("Error reading configuration file: parse error on line 1: -foo=1"),
        "{e}"
    );
    let (_d, c) = with_conf("conf=other.conf\n", &[]);
    assert!(c
        .unwrap_err()
        .to_string()
        .contains("conf cannot be set in the configuration file"));
    let (_d, c) = with_conf("rpcpassword=abc#def\n", &[]);
    assert!(c
        .unwrap_err()
        .to_string()
        .contains("using # in rpcpassword"));
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("bitcoin.conf"), [0xff, 0xfe, b'\n']).unwrap();
    assert!(matches!(
        parse(dir.path(), &[]).unwrap_err(),
        ConfigError::ConfFile(_)
    ));
    fs::remove_file(dir.path().join("bitcoin.conf")).unwrap();
    fs::create_dir(dir.path().join("bitcoin.conf")).unwrap();
    let e = parse(dir.path(), &[]).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
}

#[test]
fn explicit_conf() {
    let dir = TempDir::new().unwrap();
    // Missing explicit -conf is an error, relative to the data directory.
    let e = parse(dir.path(), &["-conf=missing.conf"]).unwrap_err();
    let expected = format!(
        "Error reading configuration file: specified config file \"{}\" could not be opened.",
        dir.path().join("missing.conf").display()
    );
    assert_eq!(e.to_string(), expected);
    // A missing default config file is fine.
    let c = parse(dir.path(), &[]).unwrap();
    assert!(c.conf_file().is_none());
    // Relative -conf is read from the data directory.
    fs::write(dir.path().join("other.conf"), "foo=other\n").unwrap();
    let c = parse(dir.path(), &["-conf=other.conf"]).unwrap();
    assert_eq!(c.get("foo"), Some("other"));
    assert_eq!(c.conf_file(), Some(dir.path().join("other.conf").as_path()));
    // Absolute -conf anywhere.
    let elsewhere = TempDir::new().unwrap();
    let abs = elsewhere.path().join("x.conf");
    fs::write(&abs, "foo=abs\n").unwrap();
    let c = parse(dir.path(), &[&format!("-conf={}", abs.display())]).unwrap();
    assert_eq!(c.get("foo"), Some("abs"));
    // A shadowed bitcoin.conf in the data directory is reported.
    fs::write(dir.path().join("bitcoin.conf"), "foo=shadowed\n").unwrap();
    let c = parse(dir.path(), &[&format!("-conf={}", abs.display())]).unwrap();
    assert_eq!(c.get("foo"), Some("abs"));
    assert!(
        c.warnings().iter().any(|w| w.contains("which is ignored")),
        "{:?}",
        c.warnings()
    );
    // -noconf reads nothing.
    let c = parse(dir.path(), &["-noconf"]).unwrap();
    assert_eq!(c.get("foo"), None);
    assert!(c.conf_file().is_none());
}

#[test]
fn datadir_in_config_file() {
    // Read from the default data directory's bitcoin.conf, as Core does.
    let from_default = |text: &str, extra: &[&str]| {
        let d = TempDir::new().unwrap();
        fs::write(d.path().join("bitcoin.conf"), text).unwrap();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let r = Config::parse_with_default_datadir(extra, KNOWN, d.path());
        (d, r)
    };
    let target = TempDir::new().unwrap();
    let text = format!("datadir={}\nfoo=1\n", target.path().display());
    let (_d, c) = from_default(&text, &[]);
    let c = c.unwrap();
    assert_eq!(c.datadir(), target.path());
    assert_eq!(c.get("foo"), Some("1"));
    // The command line wins.
    let (d, c) = with_conf(&text, &[]);
    assert_eq!(c.unwrap().datadir(), d.path());
    // A missing one is Core's error.
    let (_d, c) = from_default("datadir=/nonexistent/shmbtc-x\n", &[]);
    assert_eq!(
        c.unwrap_err().to_string(),
        "Error reading configuration file: specified data directory \"/nonexistent/shmbtc-x\" does not exist."
    );
    // Relative or in a section: ignored with a warning.
    let (d, c) = from_default("datadir=relative\n", &[]);
    let c = c.unwrap();
    assert_eq!(c.datadir(), d.path());
    assert!(c
        .warnings()
        .iter()
        .any(|w| w.contains("not an absolute path")));
    let section = format!("[regtest]\ndatadir={}\n", target.path().display());
    let (d, c) = from_default(&section, &["-regtest"]);
    let c = c.unwrap();
    assert_eq!(c.datadir(), d.path());
    assert!(c.warnings().iter().any(|w| w.contains("[regtest] section")));
    // A bitcoin.conf in the new data directory is not read, and reported.
    fs::write(target.path().join("bitcoin.conf"), "foo=2\n").unwrap();
    let (_d, c) = from_default(&text, &[]);
    let c = c.unwrap();
    assert_eq!(c.get("foo"), Some("1"));
    assert!(
        c.warnings().iter().any(|w| w.contains("which is ignored")),
        "{:?}",
        c.warnings()
    );
}

#[test]
fn paths() {
    let dir = TempDir::new().unwrap();
    let c = parse(dir.path(), &["-regtest", "-foo=sub/x/", "-nobar"]).unwrap();
    assert_eq!(c.get_path("foo").unwrap(), Path::new("sub/x"));
    assert_eq!(c.get_path("bar"), None);
    assert_eq!(c.get_path("wallet"), None);
    assert_eq!(
        c.abs_path(Path::new(".cookie"), true),
        c.datadir().join("regtest").join(".cookie")
    );
    assert_eq!(c.abs_path(Path::new("x"), false), c.datadir().join("x"));
    assert_eq!(c.abs_path(Path::new("/abs"), true), Path::new("/abs"));
}

#[test]
fn help_text_layout() {
    let t = Config::help_text(&[
        (
            "-rpcport=<port>",
            "Listen for JSON-RPC connections on <port>.",
        ),
        ("server", &"word ".repeat(40)),
    ]);
    assert!(t.starts_with(
        "  -rpcport=<port>\n       Listen for JSON-RPC connections on <port>.\n\n  -server\n"
    ));
    assert!(t.lines().all(|l| l.len() <= 79));
}
