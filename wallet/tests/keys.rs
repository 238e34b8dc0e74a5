//! Default descriptors and addresses against the BIPs' test vectors
//! (the "abandon ... about" root key), and `listdescriptors`.

mod common;

use std::str::FromStr;

use bitcoin::bip32::Xpriv;
use bitcoin::Network;
use btc_wallet::{CreateOptions, MemoryChain, OutputType, Wallet, WalletOptions};
use serde_json::json;

const ROOT: &str = "xprv9s21ZrQH143K3GJpoapnV8SFfukcVBSfeCficPSGfubmSFDxo1kuHnLisriDvSnRRuL2Qrg5ggqHKNVpxR86QEC8w35uxmGoggxtQTPvfUu";

#[test]
fn bip44_49_84_86_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = WalletOptions::new(Network::Bitcoin);
    o.keypool_size = 5;
    let mut w = Wallet::create(
        &dir.path().join("m"),
        "m",
        o,
        CreateOptions {
            master_key: Some(Xpriv::from_str(ROOT).unwrap()),
            ..CreateOptions::default()
        },
    )
    .unwrap();
    let addr = |w: &mut Wallet, t| w.get_new_address("", Some(t)).unwrap().to_string();
    assert_eq!(
        addr(&mut w, OutputType::Legacy),
        "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"
    );
    assert_eq!(
        addr(&mut w, OutputType::P2shSegwit),
        "37VucYSaXLCAsxYyAPfbSi9eh4iEcbShgf"
    );
    assert_eq!(
        addr(&mut w, OutputType::Bech32),
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    );
    assert_eq!(
        addr(&mut w, OutputType::Bech32m),
        "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    );
    // Second receive addresses (BIP84 / BIP86 vectors, index 1).
    assert_eq!(
        addr(&mut w, OutputType::Bech32),
        "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    );
    assert_eq!(
        addr(&mut w, OutputType::Bech32m),
        "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"
    );
    // Change (BIP84 / BIP86 m/../1/0).
    assert_eq!(
        w.get_raw_change_address(Some(OutputType::Bech32))
            .unwrap()
            .to_string(),
        "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
    );
    assert_eq!(
        w.get_raw_change_address(Some(OutputType::Bech32m))
            .unwrap()
            .to_string(),
        "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"
    );
    // Default type is bech32; getaddressinfo knows the origin.
    let chain = MemoryChain::new();
    let a = btc_wallet::rpc::call(&mut w, "getnewaddress", &json!([]), &chain).unwrap();
    assert!(a.as_str().unwrap().starts_with("bc1q"));
    let info = btc_wallet::rpc::call(&mut w, "getaddressinfo", &json!([a]), &chain).unwrap();
    assert_eq!(info["ismine"], json!(true));
    assert_eq!(info["hdkeypath"], json!("m/84h/0h/0h/0/2"));
    assert_eq!(info["hdmasterfingerprint"], json!("73c5da0a"));
    assert!(info["desc"]
        .as_str()
        .unwrap()
        .starts_with("wpkh([73c5da0a/84h/0h/0h/0/2]"));
    assert!(info["parent_desc"]
        .as_str()
        .unwrap()
        .starts_with("wpkh([73c5da0a/84h/0h/0h]xpub"));
    assert_eq!(info["labels"], json!([""]));
    let ds = btc_wallet::rpc::call(&mut w, "listdescriptors", &json!([]), &chain).unwrap();
    let list = ds["descriptors"].as_array().unwrap();
    assert_eq!(list.len(), 8);
    assert!(list.iter().all(|d| d["active"] == json!(true)));
    let private = btc_wallet::rpc::call(&mut w, "listdescriptors", &json!([true]), &chain).unwrap();
    assert!(private["descriptors"][0]["desc"]
        .as_str()
        .unwrap()
        .contains("xprv"));
    let info = btc_wallet::rpc::call(&mut w, "getwalletinfo", &json!([]), &chain).unwrap();
    assert_eq!(info["keypoolsize"], json!(20));
    assert_eq!(info["keypoolsize_hd_internal"], json!(20));
}
