//! The RPC layer: the wallet manager, sends between wallets, encryption,
//! importdescriptors and Core's errors for bad input.

mod common;

use bitcoin::Amount;
use btc_wallet::{Chain, WalletManager};
use common::*;
use serde_json::{json, Value};

fn err(r: Result<Value, btc_wallet::RpcError>) -> (i32, String) {
    let e = r.unwrap_err();
    (e.code, e.message)
}

/// A manager with wallets "a" and "b", 101 blocks mined to "a".
fn setup(dir: &std::path::Path) -> (WalletManager, btc_wallet::MemoryChain) {
    let mut chain = new_chain();
    let mut m = WalletManager::new(dir, options());
    assert_eq!(
        m.call(None, "createwallet", &json!(["a"]), &chain).unwrap(),
        json!({"name": "a"})
    );
    m.call(None, "createwallet", &json!({"wallet_name": "b"}), &chain)
        .unwrap();
    let addr = m
        .call(Some("a"), "getnewaddress", &json!([]), &chain)
        .unwrap();
    let script =
        btc_wallet::addresses::parse_address(addr.as_str().unwrap(), bitcoin::Network::Regtest)
            .unwrap()
            .script_pubkey();
    for i in 0..101 {
        let s = if i == 0 {
            script.clone()
        } else {
            bitcoin::ScriptBuf::new_op_return([1u8])
        };
        let h = mine(&mut chain, s, vec![]);
        for w in m.wallets_mut() {
            w.block_connected(chain.archive(h).unwrap(), h).unwrap();
        }
    }
    (m, chain)
}

#[test]
fn manager_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, chain) = setup(dir.path());
    assert_eq!(
        m.call(None, "listwallets", &json!([]), &chain).unwrap(),
        json!(["a", "b"])
    );
    assert_eq!(err(m.call(None, "getbalance", &json!([]), &chain)).0, -19);
    assert_eq!(
        err(m.call(Some("zz"), "getbalance", &json!([]), &chain)).0,
        -18
    );
    let (code, msg) = err(m.call(None, "createwallet", &json!(["a"]), &chain));
    assert_eq!(code, -36);
    assert!(msg.contains("Database already exists."), "{msg}");
    assert_eq!(
        err(m.call(None, "loadwallet", &json!(["a"]), &chain)).0,
        -35
    );
    assert_eq!(
        err(m.call(None, "loadwallet", &json!(["nope"]), &chain)).0,
        -18
    );
    assert_eq!(
        m.call(Some("a"), "getbalance", &json!([]), &chain)
            .unwrap()
            .to_string(),
        "50.00000000"
    );
    let b = m
        .call(Some("a"), "getbalances", &json!([]), &chain)
        .unwrap();
    assert_eq!(b["mine"]["trusted"].to_string(), "50.00000000");
    assert_eq!(b["lastprocessedblock"]["height"], json!(101));
    let info = m
        .call(Some("a"), "getwalletinfo", &json!([]), &chain)
        .unwrap();
    assert_eq!(info["walletname"], json!("a"));
    assert_eq!(info["txcount"], json!(1));
    assert_eq!(info["descriptors"], json!(true));
    let lt = m
        .call(Some("a"), "listtransactions", &json!([]), &chain)
        .unwrap();
    assert_eq!(lt[0]["category"], json!("generate"));
    assert_eq!(lt[0]["confirmations"], json!(101));
    // Unload and load again: same state.
    assert_eq!(
        m.call(Some("a"), "unloadwallet", &json!([]), &chain)
            .unwrap(),
        json!({})
    );
    assert_eq!(
        m.call(None, "listwallets", &json!([]), &chain).unwrap(),
        json!(["b"])
    );
    assert_eq!(
        m.call(None, "loadwallet", &json!(["a"]), &chain).unwrap(),
        json!({"name": "a"})
    );
    assert_eq!(
        m.call(Some("a"), "getbalance", &json!([]), &chain)
            .unwrap()
            .to_string(),
        "50.00000000"
    );
}

#[test]
fn send_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, mut chain) = setup(dir.path());
    let to = m
        .call(Some("b"), "getnewaddress", &json!(["pay"]), &chain)
        .unwrap();
    // Bad input.
    let (c, msg) = err(m.call(Some("a"), "sendtoaddress", &json!([1, 1]), &chain));
    assert_eq!(c, -3);
    assert!(msg.starts_with("Wrong type passed:"), "{msg}");
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!(["nope", 1]), &chain)),
        (-5, "Invalid Bitcoin address: nope".into())
    );
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!([to, -1]), &chain)),
        (-3, "Amount out of range".into())
    );
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!([to, 0]), &chain)),
        (-3, "Invalid amount for send".into())
    );
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!([to, 51]), &chain)),
        (-6, "Insufficient funds".into())
    );
    assert_eq!(
        err(m.call(
            Some("a"),
            "sendtoaddress",
            &json!({"address": to, "amount": 1, "conf_target": 2, "fee_rate": 3}),
            &chain
        ))
        .0,
        -8
    );
    assert_eq!(
        err(m.call(Some("a"), "getnewaddress", &json!(["", "p2wsh"]), &chain)).0,
        -5
    );
    assert_eq!(
        err(m.call(Some("a"), "getnewaddress", &json!(["*"]), &chain)).0,
        -11
    );
    assert_eq!(
        err(m.call(Some("a"), "gettransaction", &json!(["00"]), &chain)).0,
        -8
    );
    assert_eq!(
        err(m.call(Some("a"), "nosuchmethod", &json!([]), &chain)).0,
        -32601
    );
    assert_eq!(
        err(m.call(Some("a"), "getaddressinfo", &json!(["xyz"]), &chain)).0,
        -5
    );

    // A real send, fee rate 3 sat/vB, then mined.
    let txid = m
        .call(
            Some("a"),
            "sendtoaddress",
            &json!({"address": to, "amount": "1.5", "comment": "c", "fee_rate": 3}),
            &chain,
        )
        .unwrap();
    let txid = txid.as_str().unwrap().to_owned();
    let t = m
        .call(
            Some("a"),
            "gettransaction",
            &json!([txid, false, true]),
            &chain,
        )
        .unwrap();
    assert_eq!(t["amount"].to_string(), "-1.50000000");
    assert_eq!(t["confirmations"], json!(0));
    assert_eq!(t["bip125-replaceable"], json!("yes"));
    assert_eq!(t["comment"], json!("c"));
    assert_eq!(t["details"][0]["category"], json!("send"));
    let fee = -t["fee"]
        .as_str()
        .map(|_| 0.0)
        .unwrap_or(t["fee"].as_f64().unwrap());
    let vsize = t["decoded"]["vsize"].as_u64().unwrap() as f64;
    assert!(
        (fee * 1e8 / vsize - 3.0).abs() < 0.1,
        "fee {fee} vsize {vsize}"
    );
    for tx in chain.mempool() {
        m.wallet("b")
            .unwrap()
            .transaction_added_to_mempool(&tx)
            .unwrap();
    }
    let b = m
        .call(Some("b"), "getbalances", &json!([]), &chain)
        .unwrap();
    assert_eq!(b["mine"]["untrusted_pending"].to_string(), "1.50000000");
    let pool = chain.take_mempool();
    let h = mine(&mut chain, bitcoin::ScriptBuf::new_op_return([2u8]), pool);
    for w in m.wallets_mut() {
        w.block_connected(chain.archive(h).unwrap(), h).unwrap();
    }
    let lu = m
        .call(Some("b"), "listunspent", &json!([]), &chain)
        .unwrap();
    assert_eq!(lu.as_array().unwrap().len(), 1);
    assert_eq!(lu[0]["amount"].to_string(), "1.50000000");
    assert_eq!(lu[0]["label"], json!("pay"));
    assert_eq!(lu[0]["confirmations"], json!(1));
    assert_eq!(lu[0]["safe"], json!(true));
    let lt = m
        .call(Some("b"), "listtransactions", &json!(["pay"]), &chain)
        .unwrap();
    assert_eq!(lt[0]["category"], json!("receive"));
    // a's balance: 50 - 1.5 - fee.
    let bal: f64 = m
        .call(Some("a"), "getbalance", &json!([]), &chain)
        .unwrap()
        .as_f64()
        .unwrap();
    assert!((bal - (48.5 - fee)).abs() < 1e-9, "{bal}");

    // PSBT round trip: b funds a PSBT back to a and signs it.
    let back = m
        .call(Some("a"), "getnewaddress", &json!(["", "bech32m"]), &chain)
        .unwrap();
    let funded = m
        .call(
            Some("b"),
            "walletcreatefundedpsbt",
            &json!([[], [{back.as_str().unwrap(): 0.5}]]),
            &chain,
        )
        .unwrap();
    let processed = m
        .call(
            Some("b"),
            "walletprocesspsbt",
            &json!([funded["psbt"]]),
            &chain,
        )
        .unwrap();
    assert_eq!(processed["complete"], json!(true));
    // fundrawtransaction + signrawtransactionwithwallet.
    let raw = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![],
        output: vec![bitcoin::TxOut {
            value: Amount::from_btc(0.25).unwrap(),
            script_pubkey: btc_wallet::addresses::parse_address(
                back.as_str().unwrap(),
                bitcoin::Network::Regtest,
            )
            .unwrap()
            .script_pubkey(),
        }],
    };
    // The legacy serialization (rust-bitcoin writes a transaction without
    // inputs in the extended form, which Core's decoder refuses).
    let out = &raw.output[0];
    let mut bytes = vec![2, 0, 0, 0, 0, 1];
    bytes.extend_from_slice(&out.value.to_sat().to_le_bytes());
    bytes.push(out.script_pubkey.len() as u8);
    bytes.extend_from_slice(out.script_pubkey.as_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    let hex = bitcoin::hex::DisplayHex::to_lower_hex_string(&bytes[..]);
    let funded = m
        .call(Some("b"), "fundrawtransaction", &json!([hex]), &chain)
        .unwrap();
    let signed = m
        .call(
            Some("b"),
            "signrawtransactionwithwallet",
            &json!([funded["hex"]]),
            &chain,
        )
        .unwrap();
    assert_eq!(signed["complete"], json!(true));
    let sent = m
        .call(
            Some("b"),
            "send",
            &json!([{back.as_str().unwrap(): 0.1}]),
            &chain,
        )
        .unwrap();
    assert_eq!(sent["complete"], json!(true));
    assert_eq!(chain.tip().unwrap().0, 102);
}

#[test]
fn encryption() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, chain) = setup(dir.path());
    let to = m
        .call(Some("b"), "getnewaddress", &json!([]), &chain)
        .unwrap();
    assert_eq!(
        err(m.call(Some("a"), "walletpassphrase", &json!(["x", 10]), &chain)),
        (
            -15,
            "Error: running with an unencrypted wallet, but walletpassphrase was called.".into()
        )
    );
    assert_eq!(
        err(m.call(Some("a"), "encryptwallet", &json!([""]), &chain)).0,
        -8
    );
    m.call(Some("a"), "encryptwallet", &json!(["secret"]), &chain)
        .unwrap();
    assert_eq!(
        err(m.call(Some("a"), "encryptwallet", &json!(["again"]), &chain)).0,
        -15
    );
    let info = m
        .call(Some("a"), "getwalletinfo", &json!([]), &chain)
        .unwrap();
    assert_eq!(info["unlocked_until"], json!(0));
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!([to, 1]), &chain)),
        (
            -13,
            "Error: Please enter the wallet passphrase with walletpassphrase first.".into()
        )
    );
    assert_eq!(
        err(m.call(Some("a"), "walletpassphrase", &json!(["wrong", 10]), &chain)),
        (
            -14,
            "Error: The wallet passphrase entered was incorrect.".into()
        )
    );
    assert_eq!(
        err(m.call(
            Some("a"),
            "walletpassphrase",
            &json!(["secret", -1]),
            &chain
        ))
        .0,
        -8
    );
    // Addresses still come while locked (the keypool is public).
    m.call(Some("a"), "getnewaddress", &json!([]), &chain)
        .unwrap();
    m.call(Some("a"), "walletpassphrase", &json!(["secret", 1]), &chain)
        .unwrap();
    m.call(Some("a"), "sendtoaddress", &json!([to, 1]), &chain)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!([to, 1]), &chain)).0,
        -13
    );
    m.call(
        Some("a"),
        "walletpassphrase",
        &json!(["secret", 100]),
        &chain,
    )
    .unwrap();
    m.call(Some("a"), "walletlock", &json!([]), &chain).unwrap();
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!([to, 1]), &chain)).0,
        -13
    );
    m.call(
        Some("a"),
        "walletpassphrasechange",
        &json!(["secret", "new"]),
        &chain,
    )
    .unwrap();
    // The private keys are not in the file in clear.
    let file = std::fs::read(dir.path().join("a").join("wallet.redb")).unwrap();
    let text = String::from_utf8_lossy(&file);
    assert!(!text.contains("tprv"), "a private key is stored in clear");
    // Reopen: still encrypted and locked; the new passphrase works.
    m.call(Some("a"), "unloadwallet", &json!([]), &chain)
        .unwrap();
    m.call(None, "loadwallet", &json!(["a"]), &chain).unwrap();
    assert_eq!(
        err(m.call(Some("a"), "sendtoaddress", &json!([to, 1]), &chain)).0,
        -13
    );
    assert_eq!(
        err(m.call(
            Some("a"),
            "walletpassphrase",
            &json!(["secret", 10]),
            &chain
        ))
        .0,
        -14
    );
    m.call(Some("a"), "walletpassphrase", &json!(["new", 10]), &chain)
        .unwrap();
    m.call(Some("a"), "sendtoaddress", &json!([to, 1]), &chain)
        .unwrap();
    // Created encrypted from the start.
    let r = m
        .call(
            None,
            "createwallet",
            &json!({"wallet_name": "c", "passphrase": "p"}),
            &chain,
        )
        .unwrap();
    assert_eq!(r, json!({"name": "c"}));
    let file = std::fs::read(dir.path().join("c").join("wallet.redb")).unwrap();
    assert!(!String::from_utf8_lossy(&file).contains("tprv"));
    assert_eq!(
        err(m.call(Some("c"), "listdescriptors", &json!([true]), &chain)).0,
        -13
    );
}

#[test]
fn importdescriptors() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, chain) = setup(dir.path());
    m.call(
        None,
        "createwallet",
        &json!({"wallet_name": "w", "blank": true}),
        &chain,
    )
    .unwrap();
    assert_eq!(
        err(m.call(Some("w"), "getnewaddress", &json!([]), &chain)),
        (-4, "Error: This wallet has no available keys".into())
    );
    // a's receive descriptor with private keys into the blank wallet.
    let ds = m
        .call(Some("a"), "listdescriptors", &json!([true]), &chain)
        .unwrap();
    let wpkh = ds["descriptors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["desc"].as_str().unwrap().starts_with("wpkh(") && d["internal"] == json!(false))
        .unwrap()["desc"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_sum = wpkh.split('#').next().unwrap().to_owned();
    let bad_sum = format!("{no_sum}#qqqqqqqq");
    let r = m
        .call(
            Some("w"),
            "importdescriptors",
            &json!([[
                {"desc": no_sum, "timestamp": 0},
                {"desc": bad_sum, "timestamp": 0},
                {"desc": wpkh, "timestamp": "later"},
                {"desc": wpkh, "timestamp": 0, "active": true, "range": [0, 10]},
            ]]),
            &chain,
        )
        .unwrap();
    assert_eq!(r[0]["success"], json!(false));
    assert_eq!(
        r[0]["error"],
        json!({"code": -5, "message": "Missing checksum"})
    );
    assert_eq!(r[1]["error"]["code"], json!(-5));
    assert!(r[1]["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Provided checksum 'qqqqqqqq'"));
    assert_eq!(r[2]["error"]["code"], json!(-3));
    assert_eq!(r[3], json!({"success": true}));
    // The rescan found a's coinbase.
    assert_eq!(
        m.call(Some("w"), "getbalance", &json!([]), &chain)
            .unwrap()
            .to_string(),
        "50.00000000"
    );
    let addr = m
        .call(Some("w"), "getnewaddress", &json!([]), &chain)
        .unwrap();
    assert!(addr.as_str().unwrap().starts_with("bcrt1q"));
}
