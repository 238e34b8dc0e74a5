//! Taking blocks in, and moving the tip: accept (checks that need no UTXO
//! set, then store), connect (spend and create coins, run the contextual
//! and script checks, write undo data), disconnect (undo), and the loop
//! that moves to the best valid chain.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use btc_core::archive::{ArchivedBlockArchive, ARCHIVE_ALIGN};
use btc_core::BlockWire;
use rkyv::util::AlignedVec;

use super::rules::{self, Rejection};
use super::{ChainError, Chainstate, ProcessError};
use crate::blockfiles::{FilePos, FilesError, Kind};
use crate::blockindex::{Idx, Status};
use crate::log_line;
use crate::store::{outpoint_key, Coin, OutPointKey};
use crate::undo::BlockUndo;

/// A block that joined or left the active chain, for the mempool, the
/// wallets and the indexes.
pub struct ConnectedBlock {
    /// The block.
    pub idx: Idx,
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u32,
    /// `true`: connected; `false`: disconnected.
    pub connected: bool,
    /// The archived block.
    pub archive: AlignedVec<ARCHIVE_ALIGN>,
}

/// Why connecting a block stopped.
enum ConnectFailure {
    Invalid(Rejection),
    Chain(ChainError),
}

impl From<ChainError> for ConnectFailure {
    fn from(e: ChainError) -> Self {
        ConnectFailure::Chain(e)
    }
}

pub(crate) use btc_core::script::is_unspendable;

fn archive_of(bytes: &[u8]) -> Result<AlignedVec<ARCHIVE_ALIGN>, Rejection> {
    let wire = BlockWire::parse(bytes).map_err(|e| Rejection::decode(e.to_string()))?;
    Ok(wire.to_archive())
}

/// The archive as a block. The archive was built by this process.
fn view(archive: &AlignedVec<ARCHIVE_ALIGN>) -> Result<&ArchivedBlockArchive, ChainError> {
    ArchivedBlockArchive::from_bytes(archive).map_err(|e| {
        ChainError::Inconsistent(format!("an archive this node built does not validate: {e}"))
    })
}

impl Chainstate {
    /// Takes a block from a user or peer: checks it, stores it, and moves
    /// the tip if it makes a better chain. Returns its position in the
    /// tree. The block is durable only after [`Chainstate::sync_blocks`].
    pub fn process_block(
        &mut self,
        bytes: &[u8],
    ) -> Result<(Idx, Vec<ConnectedBlock>), ProcessError> {
        let start = Instant::now();
        let archive = archive_of(bytes).map_err(ProcessError::Invalid)?;
        let idx = self.accept(&archive, None)?;
        self.archives.insert(idx, archive);
        self.timings.accept += start.elapsed();
        let events = self.activate_best_chain()?;
        if let Some(reason) = self.failures.get(&idx) {
            return Err(ProcessError::Invalid(Rejection::from_reason(reason)));
        }
        Ok((idx, events))
    }

    /// Enters a block archive read back from the block files at `pos`
    /// (after a crash, or on `-reindex`): validated as an archive, not
    /// parsed or hashed again.
    pub(super) fn accept_stored_block(
        &mut self,
        archive: AlignedVec<ARCHIVE_ALIGN>,
        pos: FilePos,
    ) -> Result<Idx, ProcessError> {
        ArchivedBlockArchive::from_bytes(&archive).map_err(|e| {
            ProcessError::Invalid(Rejection::decode(format!(
                "the record is not a block archive: {e}"
            )))
        })?;
        let idx = self.accept(&archive, Some(pos))?;
        self.archives.insert(idx, archive);
        Ok(idx)
    }

    /// The checks that need no UTXO set, then storage of the archive
    /// (unless it is already stored at `stored`).
    fn accept(
        &mut self,
        archive: &AlignedVec<ARCHIVE_ALIGN>,
        stored: Option<FilePos>,
    ) -> Result<Idx, ProcessError> {
        let block = view(archive)?;
        let header = block.header();
        let hash = header.block_hash();
        if let Some(idx) = self.tree.find(&hash) {
            let e = self.tree.get(idx);
            if e.status.failed() {
                return Err(ProcessError::DuplicateInvalid);
            }
            if e.status.has(Status::HAVE_DATA) {
                return Err(ProcessError::Duplicate);
            }
        }
        let prev = self
            .tree
            .find(&header.prev_blockhash)
            .ok_or(ProcessError::MissingParent)?;
        if self.tree.get(prev).status.failed() {
            return Err(ProcessError::Invalid(Rejection::new(
                "bad-prevblk",
                "previous block is invalid",
            )));
        }
        let now = self.now();
        rules::check_header(self, &header, prev, now).map_err(ProcessError::Invalid)?;
        rules::check_block(self, block, prev).map_err(ProcessError::Invalid)?;
        let pos = match stored {
            Some(pos) => pos,
            None => {
                let pos = self
                    .files
                    .append(Kind::Block, archive)
                    .map_err(ChainError::from)?;
                self.indexed_end = self.files.end(Kind::Block);
                pos
            }
        };
        let idx = self.tree.insert(header, Some(prev), Status::default());
        let len = u32::try_from(archive.len())
            .map_err(|_| ChainError::from(FilesError::TooLarge(archive.len())))?;
        self.tree.set_data(idx, pos, len, block.tx_count() as u32);
        Ok(idx)
    }

    /// Moves the tip to the valid chain with the most work; blocks that
    /// break a rule on the way are marked failed and the next best chain is
    /// tried. Returns the blocks disconnected and connected, in order.
    pub fn activate_best_chain(&mut self) -> Result<Vec<ConnectedBlock>, ChainError> {
        let mut events = Vec::new();
        while let Some(best) = self.tree.best_candidate() {
            let tip = self.tip();
            if best == tip || self.tree.get(best).chainwork <= self.tree.get(tip).chainwork {
                break;
            }
            let fork = self.tree.fork_point(best, tip);
            while self.tip() != fork {
                events.push(self.disconnect_tip()?);
            }
            let mut path = Vec::new();
            let mut cur = best;
            while cur != fork {
                path.push(cur);
                cur = self.tree.get(cur).prev.expect("fork is an ancestor");
            }
            for &idx in path.iter().rev() {
                match self.connect_tip(idx) {
                    Ok(ev) => events.push(ev),
                    Err(ConnectFailure::Invalid(r)) => {
                        log_line!(
                            "ConnectBlock {} failed: {} ({})",
                            self.tree.get(idx).hash,
                            r.reason,
                            r.debug
                        );
                        self.mark_failed(idx, r.reason);
                        break;
                    }
                    Err(ConnectFailure::Chain(e)) => return Err(e),
                }
            }
            self.maybe_flush()?;
        }
        // Archives left over belong to blocks off the best chain: they are
        // read back from the block files if that chain wins later, rather
        // than kept in memory (a peer could send fork blocks forever).
        self.archives.clear();
        Ok(events)
    }

    /// The archive of `idx`: the one just received, or the stored one.
    fn load_archive(&mut self, idx: Idx) -> Result<AlignedVec<ARCHIVE_ALIGN>, ChainError> {
        match self.archives.remove(&idx) {
            Some(a) => Ok(a),
            None => self.read_archive(idx),
        }
    }

    /// Connects `idx`, a child of the tip.
    fn connect_tip(&mut self, idx: Idx) -> Result<ConnectedBlock, ConnectFailure> {
        let start = Instant::now();
        let archive = self.load_archive(idx)?;
        let block = view(&archive)?;
        let (hash, height) = {
            let e = self.tree.get(idx);
            (e.hash, e.height)
        };
        debug_assert_eq!(self.tree.get(idx).prev, Some(self.tip()));

        // The coins the block spends from the UTXO set, and (where BIP30
        // is checked) the outpoints it creates, read from the database on
        // the script threads at once: a cold cache otherwise costs one
        // serial lookup per input and per output.
        let bip30 = rules::enforce_bip30(self, idx);
        if self.scripts.threads() > 1 {
            let in_block: HashSet<bitcoin::Txid> = block.txids().collect();
            let mut keys: Vec<OutPointKey> = block
                .txs()
                .filter(|t| !t.is_coinbase())
                .flat_map(|t| t.inputs())
                .filter(|i| !in_block.contains(&i.prev_txid()))
                .map(|i| outpoint_key(i.prev_txid().as_ref(), i.prev_vout()))
                .collect();
            if bip30 {
                for tx in block.txs() {
                    let txid = tx.txid();
                    keys.extend(
                        (0..tx.output_count() as u32).map(|n| outpoint_key(txid.as_ref(), n)),
                    );
                }
            }
            self.cache
                .prefetch(&self.store, &keys, self.scripts.threads())
                .map_err(ChainError::from)?;
        }

        if bip30 {
            for tx in block.txs() {
                let txid = tx.txid();
                for n in 0..tx.output_count() {
                    let key = outpoint_key(txid.as_ref(), n as u32);
                    if self
                        .cache
                        .get(&self.store, &key)
                        .map_err(ChainError::from)?
                        .is_some()
                    {
                        return Err(ConnectFailure::Invalid(Rejection::new(
                            "bad-txns-BIP30",
                            "tried to overwrite transaction",
                        )));
                    }
                }
            }
        }

        // Coins spent and created, as an overlay on the cache: nothing
        // touches the cache until every check has passed.
        let mut created: HashMap<OutPointKey, Coin> = HashMap::new();
        let mut spent_from_set: Vec<OutPointKey> = Vec::new();
        let mut spent_keys: HashSet<OutPointKey> = HashSet::new();
        let mut spent: Vec<Vec<Coin>> = Vec::with_capacity(block.tx_count());
        for tx in block.txs() {
            let mut coins = Vec::new();
            if !tx.is_coinbase() {
                coins.reserve(tx.input_count());
                for input in tx.inputs() {
                    let key = outpoint_key(input.prev_txid().as_ref(), input.prev_vout());
                    if let Some(c) = created.remove(&key) {
                        coins.push(c);
                        continue;
                    }
                    let found = if spent_keys.insert(key) {
                        self.cache
                            .get(&self.store, &key)
                            .map_err(ChainError::from)?
                    } else {
                        None
                    };
                    let Some(bytes) = found else {
                        return Err(ConnectFailure::Invalid(Rejection::new(
                            "bad-txns-inputs-missingorspent",
                            &format!("CheckTxInputs: inputs missing/spent in tx {}", tx.txid()),
                        )));
                    };
                    let coin = Coin::decode(bytes).map_err(|e| {
                        ChainError::Inconsistent(format!("coin {}: {e}", input.previous_output()))
                    })?;
                    spent_from_set.push(key);
                    coins.push(coin);
                }
            }
            let txid = tx.txid();
            let coinbase = tx.is_coinbase();
            for (n, out) in tx.outputs().enumerate() {
                if is_unspendable(out.script_bytes()) {
                    continue;
                }
                created.insert(
                    outpoint_key(txid.as_ref(), n as u32),
                    Coin {
                        height,
                        coinbase,
                        amount: out.value().to_sat(),
                        script: out.script_bytes().to_vec(),
                    },
                );
            }
            spent.push(coins);
        }

        let looked_up = Instant::now();
        let stats =
            rules::connect_checks(self, block, idx, &spent).map_err(ConnectFailure::Invalid)?;
        let checked = Instant::now();

        // Commit to the cache, then the undo data.
        for key in &spent_from_set {
            self.cache
                .spend(&self.store, key)
                .map_err(ChainError::from)?;
        }
        for (key, coin) in created {
            let coinbase = coin.coinbase;
            self.cache.add(key, coin.encode(), coinbase);
        }
        let undo = BlockUndo {
            spent: spent.into_iter().skip(1).flatten().collect(),
        };
        let pos = self
            .files
            .append(Kind::Undo, &undo.encode())
            .map_err(ChainError::from)?;
        self.tree.set_undo(idx, pos);
        self.txindex_update(block, hash, true);
        self.active.push(idx);
        self.blocks_since_flush += 1;
        let t = &mut self.timings;
        t.blocks += 1;
        t.script_checks += stats.script_checks as u64;
        t.lookups += looked_up - start;
        t.scripts += stats.script_time;
        t.checks += (checked - looked_up).saturating_sub(stats.script_time);
        t.commit += checked.elapsed();
        Ok(ConnectedBlock {
            idx,
            hash,
            height,
            connected: true,
            archive,
        })
    }

    /// Disconnects the tip with its undo data.
    fn disconnect_tip(&mut self) -> Result<ConnectedBlock, ChainError> {
        let idx = self.tip();
        let (hash, height) = {
            let e = self.tree.get(idx);
            (e.hash, e.height)
        };
        if height == 0 {
            return Err(ChainError::Inconsistent(
                "cannot disconnect the genesis block".into(),
            ));
        }
        let archive = self.load_archive(idx)?;
        let block = view(&archive)?;
        let mut undo = self.read_undo(idx)?.spent;
        let inputs: usize = block
            .txs()
            .filter(|t| !t.is_coinbase())
            .map(|t| t.input_count())
            .sum();
        if inputs != undo.len() {
            return Err(ChainError::Inconsistent(format!(
                "undo data of block {hash} has {} coins for {inputs} inputs",
                undo.len()
            )));
        }
        for tx in block.txs().rev() {
            let txid = tx.txid();
            for (n, out) in tx.outputs().enumerate() {
                if is_unspendable(out.script_bytes()) {
                    continue;
                }
                let key = outpoint_key(txid.as_ref(), n as u32);
                if self.cache.spend(&self.store, &key)?.is_none() {
                    log_line!("DisconnectBlock {hash}: output {txid}:{n} was not in the UTXO set");
                }
            }
            if !tx.is_coinbase() {
                for input in tx.inputs().rev() {
                    let coin = undo.pop().expect("counted above");
                    let key = outpoint_key(input.prev_txid().as_ref(), input.prev_vout());
                    self.cache.add(key, coin.encode(), true);
                }
            }
        }
        self.txindex_update(block, hash, false);
        self.active.pop();
        self.blocks_since_flush += 1;
        Ok(ConnectedBlock {
            idx,
            hash,
            height,
            connected: false,
            archive,
        })
    }

    /// `invalidateblock`: marks the block failed, disconnects it if it is
    /// active, and moves to the best remaining chain.
    pub fn invalidate_block(&mut self, idx: Idx) -> Result<Vec<ConnectedBlock>, ChainError> {
        if self.tree.get(idx).height == 0 {
            return Err(ChainError::Inconsistent(
                "cannot invalidate the genesis block".into(),
            ));
        }
        let mut events = Vec::new();
        if self.is_active(idx) {
            while self.tip() != self.tree.get(idx).prev.expect("not genesis") {
                events.push(self.disconnect_tip()?);
            }
        }
        self.mark_failed(idx, "invalidated by invalidateblock".into());
        // Only chains with more work than the tip are switched to below;
        // after an invalidation the tip may be behind a valid fork that has
        // less work than the chain it left.
        if let Some(best) = self.tree.best_candidate() {
            if best != self.tip() && !self.tree.is_ancestor(best, self.tip()) {
                let fork = self.tree.fork_point(best, self.tip());
                while self.tip() != fork {
                    events.push(self.disconnect_tip()?);
                }
            }
        }
        events.extend(self.activate_best_chain()?);
        self.flush()?;
        Ok(events)
    }

    /// `reconsiderblock`: clears the failure marks of the block, its
    /// ancestors and descendants, and moves to the best chain.
    pub fn reconsider_block(&mut self, idx: Idx) -> Result<Vec<ConnectedBlock>, ChainError> {
        let mut touched = self.tree.descendants(idx);
        touched.push(idx);
        let mut cur = self.tree.get(idx).prev;
        while let Some(p) = cur {
            touched.push(p);
            cur = self.tree.get(p).prev;
        }
        for i in touched {
            if self.tree.get(i).status.failed() {
                self.tree
                    .update_status(i, |s| s.clear(Status::FAILED.union(Status::FAILED_CHILD)));
                self.failures.remove(&i);
            }
        }
        let events = self.activate_best_chain()?;
        self.flush()?;
        Ok(events)
    }

    /// The hash of the block at `height` on the active chain.
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        self.at_height(height).map(|i| self.tree.get(i).hash)
    }

    /// The block index entry for `hash`.
    pub fn lookup(&self, hash: &BlockHash) -> Option<Idx> {
        self.tree.find(hash)
    }

    /// The all-zero hash (genesis' parent).
    pub fn null_hash() -> BlockHash {
        BlockHash::all_zeros()
    }
}
