//! The in-memory UTXO cache (`-dbcache`) in front of a [`UtxoStore`].
//!
//! As in Bitcoin Core's `CCoinsViewCache`: a coin read from the store is
//! cached clean; a created or spent coin is dirty; a coin created since the
//! last flush is *fresh* (the store does not have it), so spending it again
//! before a flush just forgets it and the store never sees it. A flush
//! writes every dirty entry and the new best block as one [`Batch`], which
//! the store applies atomically, so the store is always at a block boundary.

use std::collections::HashMap;

use super::{Batch, Durability, OutPointKey, StoreError, UtxoStore};

/// Bytes an entry costs beyond its value: key, entry, hash table slot.
const ENTRY_OVERHEAD: usize = 36 + 48 + 16;

#[derive(Debug)]
struct Entry {
    /// The encoded coin; `None` once spent.
    coin: Option<Vec<u8>>,
    dirty: bool,
    fresh: bool,
}

impl Entry {
    fn cost(&self) -> usize {
        ENTRY_OVERHEAD + self.coin.as_ref().map_or(0, Vec::capacity)
    }
}

/// A write-back cache of coins, flushed atomically in batches.
#[derive(Debug)]
pub struct CoinsCache {
    map: HashMap<OutPointKey, Entry>,
    usage: usize,
    limit: usize,
}

/// What a flush wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushStats {
    /// Coins written.
    pub puts: usize,
    /// Coins deleted.
    pub deletes: usize,
}

impl CoinsCache {
    /// An empty cache that asks for a flush past `limit_bytes`.
    pub fn new(limit_bytes: usize) -> Self {
        CoinsCache {
            map: HashMap::new(),
            usage: 0,
            limit: limit_bytes,
        }
    }

    /// Approximate memory use of the entries.
    pub fn usage(&self) -> usize {
        self.usage
    }

    /// Entries held, clean and dirty.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether the cache has outgrown its limit.
    pub fn needs_flush(&self) -> bool {
        self.usage > self.limit
    }

    fn insert(&mut self, key: OutPointKey, entry: Entry) {
        self.usage += entry.cost();
        if let Some(old) = self.map.insert(key, entry) {
            self.usage -= old.cost();
        }
    }

    fn fetch<S: UtxoStore>(&mut self, store: &S, key: &OutPointKey) -> Result<(), StoreError> {
        if !self.map.contains_key(key) {
            let coin = store.get(key)?;
            self.insert(
                *key,
                Entry {
                    coin,
                    dirty: false,
                    fresh: false,
                },
            );
        }
        Ok(())
    }

    /// Reads the coins at `keys` that the cache does not hold from `store`
    /// on `threads` threads at once and keeps them (clean), so that the
    /// [`CoinsCache::get`]s that follow are hits. A block's coins are
    /// independent lookups: this takes their latency off the serial path.
    pub fn prefetch<S: UtxoStore + Sync>(
        &mut self,
        store: &S,
        keys: &[OutPointKey],
        threads: usize,
    ) -> Result<(), StoreError> {
        let mut misses: Vec<OutPointKey> = keys
            .iter()
            .filter(|k| !self.map.contains_key(*k))
            .copied()
            .collect();
        misses.sort_unstable();
        misses.dedup();
        let threads = threads.max(1);
        if misses.len() < 64 || threads == 1 {
            for k in &misses {
                self.fetch(store, k)?;
            }
            return Ok(());
        }
        let chunk = misses.len().div_ceil(threads);
        let found: Vec<Result<Vec<Option<Vec<u8>>>, StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = misses
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().map(|k| store.get(k)).collect()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or(Err(StoreError::Corrupt("a lookup thread panicked")))
                })
                .collect()
        });
        let mut keys = misses.iter();
        for part in found {
            for coin in part? {
                let key = *keys.next().expect("one result per key");
                self.insert(
                    key,
                    Entry {
                        coin,
                        dirty: false,
                        fresh: false,
                    },
                );
            }
        }
        Ok(())
    }

    /// The encoded coin at `key`, read through from `store` on a miss.
    pub fn get<S: UtxoStore>(
        &mut self,
        store: &S,
        key: &OutPointKey,
    ) -> Result<Option<&[u8]>, StoreError> {
        self.fetch(store, key)?;
        Ok(self.map[key].coin.as_deref())
    }

    /// Adds a created coin. `possible_overwrite` is for the outputs that may
    /// already exist unspent (the duplicate coinbases before BIP 34); an
    /// ordinary new output is known not to be in the store.
    pub fn add(&mut self, key: OutPointKey, coin: Vec<u8>, possible_overwrite: bool) {
        let fresh = match self.map.get(&key) {
            None => !possible_overwrite,
            // A spent entry not yet flushed as spent: the store does not
            // have the coin either.
            Some(e) => !possible_overwrite && e.coin.is_none() && !e.dirty,
        };
        self.insert(
            key,
            Entry {
                coin: Some(coin),
                dirty: true,
                fresh,
            },
        );
    }

    /// Spends the coin at `key`, returning it (`None`: no such unspent coin).
    pub fn spend<S: UtxoStore>(
        &mut self,
        store: &S,
        key: &OutPointKey,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.fetch(store, key)?;
        let entry = self.map.get_mut(key).expect("fetched");
        let Some(coin) = entry.coin.take() else {
            return Ok(None);
        };
        if entry.fresh {
            let entry = self.map.remove(key).expect("present");
            self.usage -= entry.cost() + coin.capacity();
        } else {
            entry.dirty = true;
            self.usage -= coin.capacity();
        }
        Ok(Some(coin))
    }

    /// Writes every dirty entry into `batch` (which names the best block and
    /// may carry meta records) and applies it as one atomic batch, then
    /// empties the cache. On an error the store is unchanged but the cache
    /// is empty all the same: the node must stop, as Bitcoin Core does on a
    /// failed flush, and reconnect blocks from the store's best block.
    pub fn flush<S: UtxoStore>(
        &mut self,
        store: &mut S,
        mut batch: Batch,
        durability: Durability,
    ) -> Result<FlushStats, StoreError> {
        self.usage = 0;
        for (key, entry) in self.map.drain() {
            if !entry.dirty {
                continue;
            }
            match entry.coin {
                Some(coin) => batch.put(key, coin),
                // A fresh entry is never spent and kept (see `spend`).
                None => batch.delete(key),
            }
        }
        store.apply(&batch, durability)?;
        Ok(FlushStats {
            puts: batch.puts.len(),
            deletes: batch.deletes.len(),
        })
    }
}
