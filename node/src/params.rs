//! Chain parameters of the five networks, as Bitcoin Core 28 sets them
//! (`kernel/chainparams.cpp`, `consensus/params.h`): genesis, proof-of-work
//! limits and retargeting, buried deployment heights, the BIP30 and script
//! flag exceptions, subsidy schedule, and the network constants (magic,
//! ports, bech32 prefix).
//!
//! [`ChainParams::script_flags`] is Core's `GetBlockScriptFlags` and
//! [`ChainParams::block_subsidy`] its `GetBlockSubsidy`.

use bitcoin::hashes::Hash;
use bitcoin::{Amount, Block, BlockHash, Network};
use btc_core::script::VerifyFlags;

use crate::validation::pow::U256;

/// Core's `COINBASE_MATURITY`.
pub const COINBASE_MATURITY: u32 = 100;
/// Core's `MAX_FUTURE_BLOCK_TIME`: two hours.
pub const MAX_FUTURE_BLOCK_TIME: i64 = 2 * 60 * 60;
/// Core's `MAX_TIMEWARP` (BIP94).
pub const MAX_TIMEWARP: i64 = 600;
/// From this height on Core checks BIP30 again on every chain (the first
/// height where a pre-BIP34 coinbase could be duplicated).
pub const BIP34_IMPLIES_BIP30_LIMIT: u32 = 1_983_702;

/// The consensus and network parameters of one chain.
#[derive(Debug, Clone)]
pub struct ChainParams {
    pub network: Network,
    /// The genesis block (from rust-bitcoin, which has Core's).
    pub genesis: Block,
    pub genesis_hash: BlockHash,
    /// Core's `powLimit`: the largest target a block may have.
    pub pow_limit: U256,
    /// Testnet: a block more than 20 minutes after its parent may have the
    /// minimum difficulty.
    pub pow_allow_min_difficulty_blocks: bool,
    /// Regtest: the difficulty never changes.
    pub pow_no_retargeting: bool,
    /// BIP94 (testnet4): timewarp protection and retargeting from the
    /// period's first block.
    pub enforce_bip94: bool,
    /// Two weeks, in seconds.
    pub pow_target_timespan: i64,
    /// Ten minutes, in seconds.
    pub pow_target_spacing: i64,
    /// Blocks between subsidy halvings (150 on regtest).
    pub subsidy_halving_interval: u32,
    /// First height whose coinbase must start with the height (BIP34).
    pub bip34_height: u32,
    /// Hash of the block at `bip34_height` on the chain where BIP34 made
    /// BIP30 redundant (`None` where Core has `uint256{}`).
    pub bip34_hash: Option<BlockHash>,
    /// First height with OP_CHECKLOCKTIMEVERIFY (BIP65).
    pub bip65_height: u32,
    /// First height with strict DER signatures (BIP66).
    pub bip66_height: u32,
    /// First height with BIP68/112/113 (relative lock times, CSV, MTP).
    pub csv_height: u32,
    /// First height with segwit (BIP141/143/147).
    pub segwit_height: u32,
    /// Taproot's `min_activation_height` (informational: Core enforces
    /// the TAPROOT script flag on every block but the exceptions).
    pub taproot_height: u32,
    /// Blocks allowed to duplicate an earlier coinbase (height, hash).
    pub bip30_exceptions: Vec<(u32, BlockHash)>,
    /// Blocks that get other script flags than the default
    /// P2SH|WITNESS|TAPROOT (Core's `script_flag_exceptions`).
    pub script_flag_exceptions: Vec<(BlockHash, VerifyFlags)>,
    /// Signet: blocks carry a solution to the signet challenge (BIP325).
    /// Not checked here.
    pub signet_blocks: bool,
    pub coinbase_maturity: u32,
    pub max_future_block_time: i64,
    /// P2P message start ("magic") bytes.
    pub message_start: [u8; 4],
    pub default_port: u16,
    pub rpc_port: u16,
    /// Human-readable part of segwit addresses.
    pub bech32_hrp: &'static str,
}

fn hash(hex: &str) -> BlockHash {
    // Only called on the literals below, which are valid.
    hex.parse().unwrap_or_else(|_| BlockHash::all_zeros())
}

fn limit(hex: &str) -> U256 {
    U256::from_hex(hex).unwrap_or(U256::ZERO)
}

impl ChainParams {
    /// The parameters of `network`.
    pub fn for_network(network: Network) -> ChainParams {
        let genesis = bitcoin::constants::genesis_block(network);
        let genesis_hash = genesis.block_hash();
        let mainnet_limit =
            limit("00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
        let base = ChainParams {
            network,
            genesis,
            genesis_hash,
            pow_limit: mainnet_limit,
            pow_allow_min_difficulty_blocks: false,
            pow_no_retargeting: false,
            enforce_bip94: false,
            pow_target_timespan: 14 * 24 * 60 * 60,
            pow_target_spacing: 10 * 60,
            subsidy_halving_interval: 210_000,
            bip34_height: 1,
            bip34_hash: None,
            bip65_height: 1,
            bip66_height: 1,
            csv_height: 1,
            segwit_height: 1,
            taproot_height: 0,
            bip30_exceptions: Vec::new(),
            script_flag_exceptions: Vec::new(),
            signet_blocks: false,
            coinbase_maturity: COINBASE_MATURITY,
            max_future_block_time: MAX_FUTURE_BLOCK_TIME,
            message_start: network.magic().to_bytes(),
            default_port: 8333,
            rpc_port: 8332,
            bech32_hrp: "tb",
        };
        match network {
            Network::Bitcoin => ChainParams {
                bip34_height: 227_931,
                bip34_hash: Some(hash(
                    "000000000000024b89b42a942fe0d9fea3bb44ab7bd1b19115dd6a759c0808b8",
                )),
                bip65_height: 388_381,
                bip66_height: 363_725,
                csv_height: 419_328,
                segwit_height: 481_824,
                taproot_height: 709_632,
                bip30_exceptions: vec![
                    (
                        91_842,
                        hash("00000000000a4d0a398161ffc163c503763b1f4360639393e0e4c8e300e0caec"),
                    ),
                    (
                        91_880,
                        hash("00000000000743f190a18c5577a3c2d2a1f610ae9601ac046a38084ccb7cd721"),
                    ),
                ],
                script_flag_exceptions: vec![
                    // BIP16 exception
                    (
                        hash("00000000000002dc756eebf4f49723ed8d30cc28a5f108eb94b1ba88ac4f9c22"),
                        VerifyFlags::NONE,
                    ),
                    // Taproot exception
                    (
                        hash("0000000000000000000f14c35b2d841e986ab5441de8c585d5ffe55ea1e395ad"),
                        VerifyFlags::P2SH | VerifyFlags::WITNESS,
                    ),
                ],
                bech32_hrp: "bc",
                ..base
            },
            Network::Testnet => ChainParams {
                pow_allow_min_difficulty_blocks: true,
                bip34_height: 21_111,
                bip34_hash: Some(hash(
                    "0000000023b3a96d3484e5abb3755c413e7d41500f8e2a5c3f0dd01299cd8ef8",
                )),
                bip65_height: 581_885,
                bip66_height: 330_776,
                csv_height: 770_112,
                segwit_height: 834_624,
                script_flag_exceptions: vec![(
                    hash("00000000dd30457c001f4095d208cc1296b0eed002427aa599874af7a432b105"),
                    VerifyFlags::NONE,
                )],
                default_port: 18333,
                rpc_port: 18332,
                ..base
            },
            Network::Testnet4 => ChainParams {
                pow_allow_min_difficulty_blocks: true,
                enforce_bip94: true,
                default_port: 48333,
                rpc_port: 48332,
                ..base
            },
            Network::Signet => ChainParams {
                pow_limit: limit(
                    "00000377ae000000000000000000000000000000000000000000000000000000",
                ),
                signet_blocks: true,
                default_port: 38333,
                rpc_port: 38332,
                ..base
            },
            Network::Regtest => ChainParams {
                pow_limit: limit(
                    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                ),
                pow_allow_min_difficulty_blocks: true,
                pow_no_retargeting: true,
                subsidy_halving_interval: 150,
                segwit_height: 0,
                default_port: 18444,
                rpc_port: 18443,
                bech32_hrp: "bcrt",
                ..base
            },
        }
    }

    /// Blocks between retargets (2016).
    pub fn difficulty_adjustment_interval(&self) -> u64 {
        (self.pow_target_timespan / self.pow_target_spacing.max(1)).max(1) as u64
    }

    /// Core's `GetBlockScriptFlags`: the script flags enforced on the block
    /// `block_hash` at `height`. P2SH, WITNESS and TAPROOT always (except
    /// for the blocks in `script_flag_exceptions`), then DERSIG, CLTV, CSV
    /// and NULLDUMMY from their deployment heights.
    pub fn script_flags(&self, height: u32, block_hash: &BlockHash) -> VerifyFlags {
        let mut flags = self
            .script_flag_exceptions
            .iter()
            .find(|(h, _)| h == block_hash)
            .map(|&(_, f)| f)
            .unwrap_or(VerifyFlags::P2SH | VerifyFlags::WITNESS | VerifyFlags::TAPROOT);
        if height >= self.bip66_height {
            flags |= VerifyFlags::DERSIG;
        }
        if height >= self.bip65_height {
            flags |= VerifyFlags::CHECKLOCKTIMEVERIFY;
        }
        if height >= self.csv_height {
            flags |= VerifyFlags::CHECKSEQUENCEVERIFY;
        }
        if height >= self.segwit_height {
            flags |= VerifyFlags::NULLDUMMY;
        }
        flags
    }

    /// Core's `GetBlockSubsidy`: 50 BTC halved every
    /// `subsidy_halving_interval` blocks, zero from the 64th halving.
    pub fn block_subsidy(&self, height: u32) -> Amount {
        let halvings = height / self.subsidy_halving_interval.max(1);
        if halvings >= 64 {
            return Amount::ZERO;
        }
        Amount::from_sat((50 * 100_000_000u64) >> halvings)
    }

    /// Whether ConnectBlock must check BIP30 (no transaction may overwrite
    /// an unspent output of an earlier one with the same txid) for the
    /// block `block_hash` at `height`. `bip34_ancestor` is the hash of the
    /// block's ancestor at `bip34_height` (`None` below that height).
    ///
    /// Core skips the check for the two historical exceptions, and on the
    /// chain whose BIP34 activation block is `bip34_hash` (where BIP34
    /// makes duplicates impossible) until [`BIP34_IMPLIES_BIP30_LIMIT`].
    pub fn bip30_check_required(
        &self,
        height: u32,
        block_hash: &BlockHash,
        bip34_ancestor: Option<&BlockHash>,
    ) -> bool {
        let exception = self
            .bip30_exceptions
            .iter()
            .any(|(h, hash)| *h == height && hash == block_hash);
        let bip34_chain =
            matches!((bip34_ancestor, &self.bip34_hash), (Some(a), Some(b)) if a == b);
        (!exception && !bip34_chain) || height >= BIP34_IMPLIES_BIP30_LIMIT
    }

    /// Whether BIP34 (height in coinbase, block version >= 2) applies to a
    /// block at `height`.
    pub fn bip34_active(&self, height: u32) -> bool {
        height >= self.bip34_height
    }

    /// Whether BIP68/112/113 apply to a block at `height`.
    pub fn csv_active(&self, height: u32) -> bool {
        height >= self.csv_height
    }

    /// Whether segwit applies to a block at `height`.
    pub fn segwit_active(&self, height: u32) -> bool {
        height >= self.segwit_height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hashes() {
        let main = ChainParams::for_network(Network::Bitcoin);
        assert_eq!(
            main.genesis_hash.to_string(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert_eq!(main.message_start, [0xf9, 0xbe, 0xb4, 0xd9]);
        let reg = ChainParams::for_network(Network::Regtest);
        assert_eq!(
            reg.genesis_hash.to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
        assert_eq!(reg.message_start, [0xfa, 0xbf, 0xb5, 0xda]);
        assert_eq!(reg.pow_limit.to_compact(), 0x207fffff);
        assert_eq!(main.pow_limit.to_compact(), 0x1d00ffff);
        let signet = ChainParams::for_network(Network::Signet);
        assert_eq!(signet.pow_limit.to_compact(), 0x1e0377ae);
        for (network, genesis, magic, port) in [
            (
                Network::Testnet,
                "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
                [0x0b, 0x11, 0x09, 0x07],
                18333,
            ),
            (
                Network::Testnet4,
                "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
                [0x1c, 0x16, 0x3f, 0x28],
                48333,
            ),
            (
                Network::Signet,
                "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
                [0x0a, 0x03, 0xcf, 0x40],
                38333,
            ),
        ] {
            let p = ChainParams::for_network(network);
            assert_eq!(p.genesis_hash.to_string(), genesis, "{network}");
            assert_eq!(p.message_start, magic, "{network}");
            assert_eq!(p.default_port, port, "{network}");
            assert_eq!(p.bech32_hrp, "tb");
            assert_eq!(p.difficulty_adjustment_interval(), 2016);
        }
        assert_eq!(main.bech32_hrp, "bc");
        assert_eq!(reg.bech32_hrp, "bcrt");
    }

    #[test]
    fn subsidy() {
        let main = ChainParams::for_network(Network::Bitcoin);
        assert_eq!(main.block_subsidy(0), Amount::from_sat(5_000_000_000));
        assert_eq!(main.block_subsidy(209_999), Amount::from_sat(5_000_000_000));
        assert_eq!(main.block_subsidy(210_000), Amount::from_sat(2_500_000_000));
        assert_eq!(main.block_subsidy(840_000), Amount::from_sat(312_500_000));
        assert_eq!(main.block_subsidy(63 * 210_000), Amount::from_sat(0));
        assert_eq!(main.block_subsidy(64 * 210_000), Amount::ZERO);
        let reg = ChainParams::for_network(Network::Regtest);
        assert_eq!(reg.block_subsidy(150), Amount::from_sat(2_500_000_000));
    }
}
