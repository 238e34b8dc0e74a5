//! The node's wallets, wherever they run: in this process (`bitcoind`,
//! [`LocalWallets`]) or in `bitcoin-wallet` processes (`bitcoin-node`,
//! [`crate::ipc::Hub`]). The node sees both through [`Wallets`]: it
//! queues chain events in order and routes wallet RPC methods.

mod chain;
mod local;

pub use chain::NodeChain;
pub use local::LocalWallets;

use bitcoin::Transaction;
use rkyv::util::AlignedVec;
use serde_json::Value;

use crate::http::RpcError;
use crate::node::Node;

/// What a wallet is told about the chain and mempool.
pub enum WalletEvent {
    /// A block joined the active chain.
    Connected {
        /// Its height.
        height: u32,
        /// Its hash.
        hash: bitcoin::BlockHash,
        /// The archived block.
        archive: AlignedVec<{ btc_core::archive::ARCHIVE_ALIGN }>,
    },
    /// A block left the active chain.
    Disconnected {
        /// Its height.
        height: u32,
        /// Its hash.
        hash: bitcoin::BlockHash,
        /// The archived block.
        archive: AlignedVec<{ btc_core::archive::ARCHIVE_ALIGN }>,
    },
    /// A transaction entered the mempool.
    TxAdded(Transaction),
    /// A transaction left the mempool other than in a block (Core's
    /// `transactionRemovedFromMempool`): replaced, or in conflict with a
    /// block.
    TxRemoved {
        txid: bitcoin::Txid,
        reason: btc_wallet::RemovalReason,
    },
    /// The active chain's tip after a batch of block events (Core's
    /// `updatedBlockTip`).
    TipUpdated {
        height: u32,
        hash: bitcoin::BlockHash,
    },
    /// The chainstate reached disk with this tip (Core's
    /// `chainStateFlushed`).
    Flushed {
        height: u32,
        hash: bitcoin::BlockHash,
    },
}

/// Manager-level methods (no wallet endpoint needed).
pub const MANAGER_METHODS: &[&str] = &["createwallet", "loadwallet", "unloadwallet", "listwallets"];

/// Whether `method` is a wallet RPC method.
pub fn is_wallet_method(method: &str) -> bool {
    MANAGER_METHODS.contains(&method) || btc_wallet::rpc::methods().iter().any(|m| m.name == method)
}

/// Where the node's wallets live, as the node sees them.
pub trait Wallets: Send + Sync {
    /// Whether `method` is served by the wallets.
    fn handles(&self, method: &str) -> bool;

    /// A wallet RPC: `wallet` is the `/wallet/<name>` endpoint's name. It
    /// sees every event queued before it.
    fn call(
        &self,
        node: &Node,
        wallet: Option<&str>,
        method: &str,
        params: &Value,
    ) -> Result<Value, RpcError>;

    /// Queues events in chain order (called with the chainstate lock
    /// held, so the order is the chain's; must not block on a wallet).
    fn queue(&self, events: Vec<WalletEvent>);

    /// Stops delivering events, once those queued are delivered.
    fn stop(&self);

    /// Statistics for `getipcinfo`.
    fn ipc_info(&self) -> Value {
        Value::Null
    }
}
