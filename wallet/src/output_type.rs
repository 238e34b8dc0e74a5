//! Core's `OutputType`: the four address kinds a descriptor wallet hands out.

use bitcoin::Script;

/// Core's output types, by their RPC names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputType {
    /// `legacy`: P2PKH, BIP44 (`pkh`).
    Legacy,
    /// `p2sh-segwit`: P2WPKH nested in P2SH, BIP49 (`sh(wpkh)`).
    P2shSegwit,
    /// `bech32`: P2WPKH, BIP84 (`wpkh`).
    Bech32,
    /// `bech32m`: P2TR key path, BIP86 (`tr`).
    Bech32m,
}

impl OutputType {
    /// All four, in Core's order of setting up descriptors.
    pub const ALL: [OutputType; 4] = [
        OutputType::Legacy,
        OutputType::P2shSegwit,
        OutputType::Bech32,
        OutputType::Bech32m,
    ];

    /// Core's `ParseOutputType`.
    pub fn parse(name: &str) -> Option<OutputType> {
        match name {
            "legacy" => Some(OutputType::Legacy),
            "p2sh-segwit" => Some(OutputType::P2shSegwit),
            "bech32" => Some(OutputType::Bech32),
            "bech32m" => Some(OutputType::Bech32m),
            _ => None,
        }
    }

    /// Core's `FormatOutputType`.
    pub fn name(self) -> &'static str {
        match self {
            OutputType::Legacy => "legacy",
            OutputType::P2shSegwit => "p2sh-segwit",
            OutputType::Bech32 => "bech32",
            OutputType::Bech32m => "bech32m",
        }
    }

    /// The BIP43 purpose of the default descriptor (44, 49, 84, 86).
    pub fn purpose(self) -> u32 {
        match self {
            OutputType::Legacy => 44,
            OutputType::P2shSegwit => 49,
            OutputType::Bech32 => 84,
            OutputType::Bech32m => 86,
        }
    }

    /// The type of a destination script (as Core's change-type rule sees
    /// recipients): P2PKH legacy, P2SH p2sh-segwit, P2WPKH/P2WSH bech32,
    /// P2TR bech32m.
    pub fn of_script(script: &Script) -> Option<OutputType> {
        if script.is_p2pkh() {
            Some(OutputType::Legacy)
        } else if script.is_p2sh() {
            Some(OutputType::P2shSegwit)
        } else if script.is_p2wpkh() || script.is_p2wsh() {
            Some(OutputType::Bech32)
        } else if script.is_p2tr() {
            Some(OutputType::Bech32m)
        } else {
            None
        }
    }
}
