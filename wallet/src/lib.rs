//! The wallet library behind `bitcoin-wallet`: a descriptor wallet with
//! Bitcoin Core 28's semantics and RPC shapes, independent of IPC.
//!
//! | module | job |
//! |---|---|
//! | [`chain`] | [`Chain`]: what the wallet needs from the node; [`MemoryChain`] for tests |
//! | [`index`] | [`ScriptIndex`], [`OutpointIndex`]: the sets blocks are matched against |
//! | [`scan`] | [`match_block`]: a pure, in-place match of an archived block |
//! | [`descriptor`] | descriptors, default set, derivation, Core's strings |
//! | [`output_type`] | [`OutputType`] |
//! | [`crypto`] | passphrase KDF and AES-256-GCM |
//! | [`keys`] | private keys per descriptor, lock state |
//! | [`tx`], [`ledger`], [`balance`] | wallet transactions, spends, balances |
//! | [`records`], [`store`] | the wallet file (redb) |
//! | [`wallet`] | [`Wallet`]: state, create/open, write path |
//! | [`sync`] | blocks, mempool, rescans, restart |
//! | [`addresses`] | new addresses, labels, address info |
//! | [`import`] | `importdescriptors` |
//! | [`coinselect`] | BnB, knapsack, SRD |
//! | [`spend`] | building transactions: fees, change, RBF, locktime |
//! | [`sign`] | PSBT update, signing (low-R ECDSA, Schnorr), finalizing |
//! | [`rpc`] | Core's wallet RPC methods |
//! | [`manager`] | [`WalletManager`]: create/load/unload/list wallets |

pub mod addresses;
pub mod balance;
pub mod chain;
pub mod coinselect;
pub mod crypto;
pub mod descriptor;
pub mod error;
pub mod import;
pub mod index;
pub mod keys;
pub mod ledger;
pub mod manager;
pub mod output_type;
pub mod process;
pub mod progress;
pub mod records;
pub mod rpc;
pub mod scan;
pub mod sign;
pub mod spend;
pub mod store;
pub mod sync;
pub mod tx;
pub mod wallet;

pub use balance::Balance;
pub use chain::{Chain, MemoryChain};
pub use error::{RpcError, StoreError, WalletError};
pub use index::{OutpointIndex, ScriptIndex, ScriptOrigin};
pub use manager::WalletManager;
pub use output_type::OutputType;
pub use scan::{match_block, Matches, TxMatch};
pub use sync::RemovalReason;
pub use tx::{TxState, WalletTx};
pub use wallet::{CreateOptions, Wallet, WalletOptions};
