//! Per-chain facts Core keeps in its base chain params: names, default RPC
//! ports and data subdirectories.

use bitcoin::Network;

/// Core's `ChainTypeToString`: "main", "test", "testnet4", "signet",
/// "regtest" (also the `[section]` names of the config file).
pub fn chain_name(chain: Network) -> &'static str {
    match chain {
        Network::Bitcoin => "main",
        Network::Testnet => "test",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

/// Core's `ChainTypeFromString`, the values `-chain=` accepts.
pub fn chain_from_name(name: &str) -> Option<Network> {
    match name {
        "main" => Some(Network::Bitcoin),
        "test" => Some(Network::Testnet),
        "testnet4" => Some(Network::Testnet4),
        "signet" => Some(Network::Signet),
        "regtest" => Some(Network::Regtest),
        _ => None,
    }
}

/// The default `-rpcport` of a chain.
pub fn default_rpc_port(chain: Network) -> u16 {
    match chain {
        Network::Bitcoin => 8332,
        Network::Testnet => 18332,
        Network::Testnet4 => 48332,
        Network::Signet => 38332,
        Network::Regtest => 18443,
    }
}

/// The subdirectory of the data directory a chain keeps its files in
/// (empty for main: the data directory itself).
pub fn net_dir_name(chain: Network) -> &'static str {
    match chain {
        Network::Bitcoin => "",
        Network::Testnet => "testnet3",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

/// Every section name Core recognises in the config file.
pub(crate) const SECTIONS: [&str; 5] = ["main", "test", "testnet4", "signet", "regtest"];
