//! Opening the chainstate: the database's block index and UTXO set, then
//! the block-file records appended after the database's last flush (after a
//! crash, or all of them for `-reindex`), then the best chain.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::BlockHash;

use super::{
    ChainError, Chainstate, ChainstateOptions, ProcessError, META_BLOCK, META_INDEXED_END,
    META_TXINDEX_SYNCED,
};
use crate::blockfiles::{BlockFiles, FilePos, Kind, Next, RecordBuf, MAX_FILE_SIZE};
use crate::blockindex::{BlockTree, Idx, IndexRecord, Status};
use crate::log_line;
use crate::params::ChainParams;
use crate::store::{CoinsCache, FjallStore, StoreOptions, UtxoStore};
use crate::validation::ScriptPool;

impl Chainstate {
    /// Opens the chainstate under `net_dir` (`blocks/` and `chainstate/`),
    /// creating the genesis block on first use, and brings the UTXO set up
    /// to the best chain in the block files.
    pub fn open(
        net_dir: &Path,
        params: ChainParams,
        opts: ChainstateOptions,
    ) -> Result<Chainstate, ChainError> {
        let store_dir = net_dir.join("chainstate");
        if opts.reindex && store_dir.exists() {
            log_line!(
                "Reindexing: wiping the block index and UTXO set in {}",
                store_dir.display()
            );
            std::fs::remove_dir_all(&store_dir).map_err(|e| {
                ChainError::Inconsistent(format!("cannot remove {}: {e}", store_dir.display()))
            })?;
        }
        let store = FjallStore::open(
            &store_dir,
            &StoreOptions {
                cache_bytes: 64 << 20,
                ..StoreOptions::default()
            },
        )?;
        let files = BlockFiles::open(&net_dir.join("blocks"), params.message_start)?;

        let mut records = Vec::new();
        store.meta_scan(META_BLOCK, &mut |_, v| {
            records.push(v.to_vec());
            Ok(())
        })?;
        let records = records
            .iter()
            .map(|r| IndexRecord::decode(r))
            .collect::<Result<Vec<_>, _>>()?;
        let tree = BlockTree::restore_all(records)?;
        let indexed_end = match store.meta_get(META_INDEXED_END)? {
            Some(b) => FilePos::decode(b.as_slice().try_into().map_err(|_| {
                ChainError::Inconsistent("bad indexed_end record in the database".into())
            })?),
            None => FilePos::default(),
        };
        let best = store.best_block()?;
        let txindex_synced = store.meta_get(META_TXINDEX_SYNCED)?.is_some() || tree.is_empty();
        let mut cs = Chainstate {
            flushes: 0,
            scripts: ScriptPool::with_threads(opts.script_threads),
            cache: CoinsCache::new(opts.dbcache_bytes),
            params,
            opts,
            tree,
            active: Vec::new(),
            files,
            store,
            store_dir,
            archives: HashMap::new(),
            failures: HashMap::new(),
            indexed_end,
            blocks_since_flush: 0,
            last_flush: Instant::now(),
            mocktime: None,
            txindex_pending: HashMap::new(),
            txindex_synced,
            timings: Default::default(),
        };
        cs.check_files_cover_index()?;
        match best {
            Some(best) => {
                let best = BlockHash::from_byte_array(best);
                let idx = cs.tree.find(&best).ok_or_else(|| {
                    ChainError::Inconsistent(format!(
                        "the UTXO set is at block {best}, which the block index does not have"
                    ))
                })?;
                cs.set_active(idx);
            }
            None if cs.tree.is_empty() => {}
            None => {
                return Err(ChainError::Inconsistent(
                    "the block index has entries but the UTXO set has no best block".into(),
                ))
            }
        }
        if cs.active.is_empty() {
            cs.init_genesis()?;
        }
        cs.import_block_files()?;
        cs.activate_best_chain()?;
        if cs.opts.txindex && !cs.txindex_synced {
            cs.build_txindex()?;
        }
        cs.flush()?;
        Ok(cs)
    }

    /// `-txindex` on a chainstate that ran without it: indexes the blocks
    /// of the active chain (Core does this in the background; here before
    /// the node serves). Interrupted, it starts over on the next start.
    fn build_txindex(&mut self) -> Result<(), ChainError> {
        let tip = self.height();
        log_line!("txindex: indexing the transactions of {tip} blocks");
        for h in 1..=tip {
            let idx = self.active[h as usize];
            let archive = self.read_archive(idx)?;
            let block = btc_core::ArchivedBlockArchive::from_bytes(&archive)
                .map_err(|e| ChainError::Inconsistent(format!("block at height {h}: {e}")))?;
            self.txindex_update(block, self.tree.get(idx).hash, true);
            if h % 1000 == 0 {
                self.flush()?;
            }
        }
        self.txindex_synced = true;
        log_line!("txindex: done");
        Ok(())
    }

    /// Sets the active chain to the one ending in `tip`.
    pub(super) fn set_active(&mut self, tip: Idx) {
        let h = self.tree.get(tip).height as usize;
        let mut active = vec![0; h + 1];
        let mut cur = Some(tip);
        while let Some(i) = cur {
            active[self.tree.get(i).height as usize] = i;
            cur = self.tree.get(i).prev;
        }
        self.active = active;
    }

    /// Stores the genesis block and makes it the tip. Its coinbase output
    /// is not spendable and, as in Core, never enters the UTXO set.
    fn init_genesis(&mut self) -> Result<(), ChainError> {
        let genesis = self.params.genesis.clone();
        let hash = genesis.block_hash();
        let idx = match self.tree.find(&hash) {
            Some(idx) => idx,
            None => {
                let bytes = serialize(&genesis);
                let archive = btc_core::BlockWire::parse(bytes.as_slice())
                    .map_err(|e| {
                        ChainError::Inconsistent(format!("the genesis block does not parse: {e}"))
                    })?
                    .to_archive();
                // On -reindex the files begin with genesis already.
                let first = BlockFiles::first_payload(0);
                let pos = match self.files.read(Kind::Block, first) {
                    Ok(b) if b.as_slice() == archive.as_slice() => first,
                    _ => {
                        let pos = self.files.append(Kind::Block, &archive)?;
                        self.indexed_end = self.files.end(Kind::Block);
                        pos
                    }
                };
                let idx = self.tree.insert(genesis.header, None, Status::default());
                self.tree
                    .set_data(idx, pos, archive.len() as u32, genesis.txdata.len() as u32);
                idx
            }
        };
        let undo = crate::undo::BlockUndo::default().encode();
        let pos = self.files.append(Kind::Undo, &undo)?;
        self.tree.set_undo(idx, pos);
        self.active = vec![idx];
        log_line!("Genesis block {hash}");
        Ok(())
    }

    /// Every block position the index refers to must lie inside the files
    /// (a block's whole archive, whose length the index has): a file cut
    /// short (by hand, or a disk problem) is reported, not silently read as
    /// garbage later.
    fn check_files_cover_index(&self) -> Result<(), ChainError> {
        let mut need: HashMap<(Kind, u32), u64> = HashMap::new();
        for (_, e) in self.tree.iter() {
            let block = e.data.map(|p| (p, u64::from(e.data_len)));
            // An undo record has at least one byte.
            let undo = e.undo.map(|p| (p, 1));
            for (kind, pos) in [(Kind::Block, block), (Kind::Undo, undo)] {
                if let Some((p, len)) = pos {
                    let end = need.entry((kind, p.file)).or_default();
                    *end = (*end).max(u64::from(p.offset) + len);
                }
            }
        }
        for ((kind, file), end) in need {
            let len = self.files.file_len(kind, file)?;
            if len < end {
                let name = match kind {
                    Kind::Block => "blk",
                    Kind::Undo => "rev",
                };
                return Err(ChainError::Inconsistent(format!(
                    "{name}{file:05}.dat is {len} bytes, but the block index has a record there that ends at offset {end}: the file was truncated"
                )));
            }
        }
        Ok(())
    }

    /// Enters the block-file records after `indexed_end` into the tree (all
    /// of them on `-reindex`), truncating a torn tail left by a crash.
    fn import_block_files(&mut self) -> Result<(), ChainError> {
        let from = self.indexed_end;
        let total = self.files.end(Kind::Block);
        if from >= total {
            return Ok(());
        }
        let reindex = self.opts.reindex;
        if reindex {
            log_line!("Reindexing block files...");
        } else {
            log_line!(
                "Replaying block files from blk{:05}.dat:{} (appended after the last database flush)",
                from.file,
                from.offset
            );
        }
        let progress = Progress::new(reindex, total);
        let mut imported = 0usize;
        let mut skipped = 0usize;
        let mut buf = RecordBuf::new();
        let mut at = from;
        loop {
            // One record at a time: a reindex never holds more than one
            // block of the files in memory.
            let (pos, next) = match self.files.next_record(Kind::Block, at, &mut buf)? {
                Next::Record { pos, next } => (pos, next),
                Next::End(end) => {
                    self.indexed_end = end;
                    break;
                }
                Next::Torn { at, what } => {
                    log_line!(
                        "blk{:05}.dat ends in a partial record at offset {} ({what}), left by an interrupted write: truncating it",
                        at.file,
                        at.offset
                    );
                    self.files.truncate(Kind::Block, at)?;
                    self.indexed_end = at;
                    break;
                }
            };
            // The archive moves into the chainstate (connecting takes it
            // from there); the next record gets a new buffer.
            match self.accept_stored_block(std::mem::take(&mut buf), pos) {
                Ok(_) => imported += 1,
                Err(ProcessError::Duplicate | ProcessError::DuplicateInvalid) => {}
                Err(ProcessError::Chain(e)) => return Err(e),
                Err(e) => {
                    skipped += 1;
                    log_line!(
                        "Block record at blk{:05}.dat:{} skipped: {e}",
                        pos.file,
                        pos.offset
                    );
                }
            }
            if reindex {
                // Connect as we go, so that the UTXO set follows the import.
                self.activate_best_chain()?;
                self.maybe_flush()?;
            }
            progress.update(imported + skipped, next, self.height());
            at = next;
        }
        progress.finish(imported + skipped, self.height());
        log_line!("Block files: {imported} blocks entered in the index, {skipped} skipped");
        Ok(())
    }
}

/// Progress of a reindex: a bar on a terminal, lines in the log.
struct Progress {
    on: bool,
    tty: bool,
    total: crate::blockfiles::FilePos,
    last_log: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(on: bool, total: FilePos) -> Progress {
        Progress {
            on,
            tty: std::io::stderr().is_terminal(),
            total,
            last_log: std::cell::Cell::new(Instant::now()),
        }
    }

    /// Percent of the files' bytes read once the reader is at `pos`.
    fn percent(&self, pos: FilePos) -> usize {
        let abs = |p: FilePos| u64::from(p.file) * MAX_FILE_SIZE + u64::from(p.offset);
        (abs(pos) * 100)
            .checked_div(abs(self.total))
            .map_or(100, |p| p.min(100) as usize)
    }

    fn update(&self, done: usize, pos: FilePos, height: u32) {
        if !self.on {
            return;
        }
        let pct = self.percent(pos);
        if self.tty {
            let filled = pct / 5;
            eprint!(
                "\rReindexing [{}{}] {pct:3}% height {height} (blk{:05}.dat of {:05})",
                "#".repeat(filled),
                " ".repeat(20 - filled),
                pos.file,
                self.total.file
            );
        }
        if self.last_log.get().elapsed().as_secs() >= 2 {
            self.last_log.set(Instant::now());
            crate::logging::log(&format!(
                "Reindexing block file blk{:05}.dat... {pct}% ({done} blocks, height {height})",
                pos.file
            ));
        }
    }

    fn finish(&self, done: usize, height: u32) {
        if !self.on {
            return;
        }
        if self.tty {
            eprintln!();
        }
        crate::logging::log(&format!(
            "Reindexing block files... 100% ({done} blocks, height {height})"
        ));
    }
}
