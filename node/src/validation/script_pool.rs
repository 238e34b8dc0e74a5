//! Checking every input script of a block on several threads.
//!
//! The inputs of the block's non-coinbase transactions are numbered as in
//! the archive's input table; threads take them in small chunks from one
//! atomic cursor, so the work spreads evenly whatever the transaction sizes.
//! Each input goes to the consensus library straight from the archive (the
//! transaction's wire bytes, not a copy), with the amounts and scripts of
//! **all** the outputs its transaction spends (taproot signatures commit to
//! them). The first failure raises a flag that every thread checks before
//! each input, so the rest of the block is abandoned.
//!
//! Threads are scoped to one [`ScriptPool::run`] (`std::thread::scope`):
//! the block is borrowed, and long-lived workers would need it `'static`
//! or `unsafe` lifetime erasure. Spawning costs tens of microseconds per
//! block, against milliseconds of signature checks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use bitcoin::Amount;
use btc_core::archive::TxRef;
use btc_core::script::{SpentOutput, SpentOutputs, VerifyFlags};
use btc_core::ArchivedBlockArchive;

use super::error::BlockError;
use super::script_error::{diagnose, ScriptError};
use crate::store::Coin;

/// Core's `MAX_SCRIPTCHECK_THREADS`: at most 15 workers besides the
/// caller's thread.
pub const MAX_SCRIPTCHECK_WORKERS: usize = 15;

/// Inputs a thread takes at a time.
const CHUNK: usize = 8;

/// Where a block's scripts are checked, and on how many threads.
#[derive(Debug, Clone)]
pub struct ScriptPool {
    threads: usize,
}

/// The first input found failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFailure {
    /// Position of the transaction in the block.
    pub tx: usize,
    /// Input of that transaction.
    pub input: usize,
    pub error: ScriptError,
}

/// The outcome of [`ScriptPool::run`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRun {
    /// Inputs whose scripts were run to completion and passed.
    pub checked: usize,
    /// The failure, if one was found (the lowest position among those found
    /// before the others stopped).
    pub failure: Option<ScriptFailure>,
}

impl ScriptFailure {
    /// As Core's block error: reason `mandatory-script-verify-flag-failed
    /// (...)`, debug message naming the input.
    pub fn to_block_error(&self, block: &ArchivedBlockArchive) -> BlockError {
        let tx = block.tx(self.tx);
        BlockError::Script {
            tx: self.tx,
            input: self.input,
            txid: tx
                .map(|t| t.txid())
                .unwrap_or_else(bitcoin::hashes::Hash::all_zeros),
            wtxid: tx
                .map(|t| t.wtxid())
                .unwrap_or_else(bitcoin::hashes::Hash::all_zeros),
            prevout: block
                .input(self.tx, self.input)
                .map(|i| i.previous_output())
                .unwrap_or_default(),
            error: self.error,
        }
    }
}

impl Default for ScriptPool {
    /// Core's default `-par=0`: one thread per core.
    fn default() -> ScriptPool {
        ScriptPool::new(0)
    }
}

impl ScriptPool {
    /// A pool with Core's `-par` semantics: `par` threads in all (the
    /// caller's plus `par - 1` workers); 0 means one per core, a negative
    /// number leaves that many cores free; at most 16 in all.
    pub fn new(par: i32) -> ScriptPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        let mut n = i64::from(par);
        if n <= 0 {
            n += cores;
        }
        let workers = (n - 1).clamp(0, MAX_SCRIPTCHECK_WORKERS as i64) as usize;
        ScriptPool {
            threads: workers + 1,
        }
    }

    /// A pool checking on exactly `threads` threads (at least 1).
    pub fn with_threads(threads: usize) -> ScriptPool {
        ScriptPool {
            threads: threads.clamp(1, MAX_SCRIPTCHECK_WORKERS + 1),
        }
    }

    /// Threads that check scripts, the caller's included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Checks every input of every non-coinbase transaction of `block`
    /// under `flags`. `spent[t]` holds the coins transaction `t` spends, in
    /// input order (`spent[0]`, the coinbase's, is ignored). A transaction
    /// whose coin count doesn't match its inputs fails at its first input
    /// with [`ScriptError::Unknown`] (`connect_block_checks` rejects it
    /// earlier as missing inputs).
    pub fn run(
        &self,
        block: &ArchivedBlockArchive,
        spent: &[Vec<Coin>],
        flags: VerifyFlags,
    ) -> ScriptRun {
        let first = block
            .txs
            .get(1)
            .map_or(block.input_count(), |t| t.first_input.to_native() as usize);
        let shared = Shared {
            block,
            spent,
            flags,
            cursor: AtomicUsize::new(first),
            end: block.input_count(),
            cancel: AtomicBool::new(false),
            checked: AtomicUsize::new(0),
            failure: Mutex::new(None),
        };
        let helpers = self
            .threads
            .min(shared.end.saturating_sub(first).div_ceil(CHUNK))
            .saturating_sub(1);
        if helpers == 0 {
            shared.work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..helpers {
                    s.spawn(|| shared.work());
                }
                shared.work();
            });
        }
        ScriptRun {
            checked: shared.checked.load(Ordering::Relaxed),
            failure: shared
                .failure
                .into_inner()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }
}

/// What the threads of one run share.
struct Shared<'a> {
    block: &'a ArchivedBlockArchive,
    spent: &'a [Vec<Coin>],
    flags: VerifyFlags,
    /// Next input (in the block's input table) to hand out.
    cursor: AtomicUsize,
    end: usize,
    cancel: AtomicBool,
    checked: AtomicUsize,
    failure: Mutex<Option<ScriptFailure>>,
}

impl Shared<'_> {
    /// One thread's loop: take chunks until none are left or one failed.
    fn work(&self) {
        let mut checked = 0;
        while !self.cancel.load(Ordering::Relaxed) {
            let start = self.cursor.fetch_add(CHUNK, Ordering::Relaxed);
            if start >= self.end {
                break;
            }
            let stop = (start + CHUNK).min(self.end);
            if !self.chunk(start, stop, &mut checked) {
                break;
            }
        }
        self.checked.fetch_add(checked, Ordering::Relaxed);
    }

    /// Checks inputs `start..stop` of the input table; false on a failure
    /// or cancellation.
    fn chunk(&self, start: usize, stop: usize, checked: &mut usize) -> bool {
        let txs = &self.block.txs;
        let mut g = start;
        while g < stop {
            // The transaction holding input `g`.
            let t = txs
                .partition_point(|e| e.first_input.to_native() as usize <= g)
                .saturating_sub(1);
            let (Some(entry), Some(tx)) = (txs.get(t), self.block.tx(t)) else {
                return false;
            };
            let first = entry.first_input.to_native() as usize;
            let tx_stop = (first + tx.input_count()).min(stop);
            if !self.tx_inputs(&tx, g - first..tx_stop - first, checked) {
                return false;
            }
            g = tx_stop.max(g + 1);
        }
        true
    }

    /// Checks `inputs` of `tx`.
    fn tx_inputs(
        &self,
        tx: &TxRef<'_>,
        inputs: std::ops::Range<usize>,
        checked: &mut usize,
    ) -> bool {
        let coins = self.spent.get(tx.index()).map_or(&[][..], Vec::as_slice);
        if coins.len() != tx.input_count() {
            self.fail(tx.index(), 0, ScriptError::Unknown);
            return false;
        }
        let pairs: Vec<SpentOutput<'_>> = coins
            .iter()
            .map(|c| (Amount::from_sat(c.amount), c.script.as_slice()))
            .collect();
        let outputs = match SpentOutputs::new(&pairs) {
            Ok(o) => o,
            Err(_) => {
                self.fail(tx.index(), inputs.start, ScriptError::Unknown);
                return false;
            }
        };
        for input in inputs {
            if self.cancel.load(Ordering::Relaxed) {
                return false;
            }
            if outputs.verify(tx.bytes(), input, self.flags).is_err() {
                // Stop the others first: the diagnosis runs the library again.
                self.cancel.store(true, Ordering::Relaxed);
                let spk = pairs.get(input).map_or(&[][..], |p| p.1);
                let error = diagnose(tx, input, &outputs, spk, self.flags);
                self.fail(tx.index(), input, error);
                return false;
            }
            *checked += 1;
        }
        true
    }

    /// Records a failure (keeping the lowest position) and stops the run.
    fn fail(&self, tx: usize, input: usize, error: ScriptError) {
        self.cancel.store(true, Ordering::Relaxed);
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|f| (tx, input) < (f.tx, f.input)) {
            *slot = Some(ScriptFailure { tx, input, error });
        }
    }
}
