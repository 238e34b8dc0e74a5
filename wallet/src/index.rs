//! The two sets a block is matched against: the wallet's scriptPubKeys
//! ([`ScriptIndex`], lookahead included) and its outputs ([`OutpointIndex`]).
//!
//! Both are built for the scan's common case, a miss: a lookup first tests
//! one bit of a small bitset (32 bits per entry, so it stays in cache) and
//! only on a hit probes the hash map, which then compares the whole key.
//! Keys are already random (hashes inside scripts, txids), so the hash is
//! a few bytes of the key multiplied by a constant. The script filter's
//! bytes are a script's length and last eight bytes, which an archived
//! block stores beside each output, so a miss costs no read of the script.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, Script, ScriptBuf, Txid};
use btc_core::archive::{prevout_key, script_tail};

/// A hasher for keys that hold random bytes: it folds the last eight bytes
/// of each write and mixes with one multiplication.
#[derive(Default, Clone, Copy)]
pub struct TailHasher(u64);

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// The filters' hash of a key that is already random bytes (a script
/// tail, a prevout key): one multiplication and a fold.
#[inline]
fn mix(key: u64) -> u64 {
    let h = key.wrapping_mul(MIX);
    h ^ (h >> 29)
}

impl Hasher for TailHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        let v = if n >= 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[n - 8..]);
            u64::from_le_bytes(b)
        } else {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(bytes);
            u64::from_le_bytes(b)
        };
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(MIX);
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.0 = (self.0.rotate_left(23) ^ u64::from(i)).wrapping_mul(MIX);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.0 = (self.0.rotate_left(23) ^ i as u64).wrapping_mul(MIX);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// `BuildHasher` of [`TailHasher`].
pub type TailBuild = BuildHasherDefault<TailHasher>;

/// A blocked bloom prefilter: no false negatives. Each key sets two bits of
/// one 64-bit word (one memory access per lookup). At 32 to 64 bits per
/// entry about one miss in 200 passes (a single bit let one in 30 through),
/// and each one reads the key itself, out of cache in the block being
/// scanned: that rate is most of what a scan costs.
#[derive(Clone, Default)]
struct Filter {
    words: Vec<u64>,
    shift: u32,
}

impl Filter {
    /// A filter sized for `n` entries (at least 32 bits each).
    fn with_capacity(n: usize) -> Filter {
        let words = (n.max(64) * 32 / 64).next_power_of_two();
        Filter {
            words: vec![0; words],
            shift: 64 - words.trailing_zeros(),
        }
    }

    /// The word and the two bits of `hash`.
    #[inline]
    fn probe(&self, hash: u64) -> (usize, u64) {
        let h = hash.wrapping_mul(MIX);
        // The top bits pick the word (shift is 64 for a single word), the
        // low twelve the bits.
        let word = h.checked_shr(self.shift).unwrap_or(0) as usize;
        (word, (1u64 << (h & 63)) | (1u64 << ((h >> 6) & 63)))
    }

    #[inline]
    fn insert(&mut self, hash: u64) {
        let (w, m) = self.probe(hash);
        if let Some(word) = self.words.get_mut(w) {
            *word |= m;
        }
    }

    #[inline]
    fn may_contain(&self, hash: u64) -> bool {
        let (w, m) = self.probe(hash);
        self.words.get(w).is_some_and(|word| word & m == m)
    }

    fn capacity(&self) -> usize {
        self.words.len() * 64 / 32
    }
}

/// Where a wallet script comes from: descriptor `desc` (the wallet's
/// descriptor id) at derivation index `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScriptOrigin {
    /// The descriptor's id in the wallet.
    pub desc: u32,
    /// The derivation index (0 for a descriptor without wildcard).
    pub index: u32,
}

/// The wallet's scriptPubKeys, lookahead included.
#[derive(Clone, Default)]
pub struct ScriptIndex {
    filter: Filter,
    map: HashMap<Box<[u8]>, ScriptOrigin, TailBuild>,
}

impl ScriptIndex {
    /// An empty index.
    pub fn new() -> ScriptIndex {
        ScriptIndex {
            filter: Filter::with_capacity(0),
            map: HashMap::default(),
        }
    }

    /// The filter's hash of a script: of its [`script_tail`], which an
    /// archived block stores beside its outputs, so a block is matched
    /// without reading its scripts.
    fn hash(script: &[u8]) -> u64 {
        mix(script_tail(script))
    }

    /// Adds a script (a script already present keeps its first origin).
    pub fn insert(&mut self, script: &Script, origin: ScriptOrigin) {
        let bytes = script.as_bytes();
        if self.map.contains_key(bytes) {
            return;
        }
        self.map.insert(bytes.into(), origin);
        if self.map.len() > self.filter.capacity() {
            self.rebuild_filter();
        } else {
            self.filter.insert(Self::hash(bytes));
        }
    }

    fn rebuild_filter(&mut self) {
        let mut filter = Filter::with_capacity(self.map.len() * 2);
        for key in self.map.keys() {
            filter.insert(Self::hash(key));
        }
        self.filter = filter;
    }

    /// Where `script` comes from, if it is the wallet's.
    #[inline]
    pub fn get(&self, script: &[u8]) -> Option<ScriptOrigin> {
        if !self.filter.may_contain(Self::hash(script)) {
            return None;
        }
        self.map.get(script).copied()
    }

    /// Like [`get`](Self::get) for a script known by its [`script_tail`]
    /// first: `script` is read only when the filter does not rule it out
    /// (a few percent of misses), so a sweep over an archived block's
    /// column of tails leaves the scripts untouched.
    #[inline]
    pub fn get_by_tail<'s>(
        &self,
        tail: u64,
        script: impl FnOnce() -> Option<&'s [u8]>,
    ) -> Option<ScriptOrigin> {
        if !self.filter.may_contain(mix(tail)) {
            return None;
        }
        self.map.get(script()?).copied()
    }

    /// Whether `script` is the wallet's.
    #[inline]
    pub fn contains(&self, script: &[u8]) -> bool {
        self.get(script).is_some()
    }

    /// Number of scripts.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every script and its origin (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&Script, ScriptOrigin)> {
        self.map.iter().map(|(k, v)| (Script::from_bytes(k), *v))
    }

    /// The scripts as owned values (for tests and rebuilding).
    pub fn scripts(&self) -> Vec<ScriptBuf> {
        self.map
            .keys()
            .map(|k| ScriptBuf::from_bytes(k.to_vec()))
            .collect()
    }
}

/// The wallet's outputs (spent or not): an input that spends one of them
/// makes its transaction the wallet's.
#[derive(Clone, Default)]
pub struct OutpointIndex {
    filter: Filter,
    set: HashMap<([u8; 32], u32), (), TailBuild>,
}

impl OutpointIndex {
    /// An empty index.
    pub fn new() -> OutpointIndex {
        OutpointIndex {
            filter: Filter::with_capacity(0),
            set: HashMap::default(),
        }
    }

    /// The filter's hash of an outpoint, from its [`prevout_key`] (which an
    /// archived block stores beside its inputs).
    #[inline]
    fn hash(txid: &[u8; 32], vout: u32) -> u64 {
        mix(prevout_key(txid, vout))
    }

    /// Adds an outpoint.
    pub fn insert(&mut self, outpoint: OutPoint) {
        let key = (outpoint.txid.to_byte_array(), outpoint.vout);
        if self.set.insert(key, ()).is_some() {
            return;
        }
        if self.set.len() > self.filter.capacity() {
            let mut filter = Filter::with_capacity(self.set.len() * 2);
            for (t, v) in self.set.keys() {
                filter.insert(Self::hash(t, *v));
            }
            self.filter = filter;
        } else {
            self.filter.insert(Self::hash(&key.0, key.1));
        }
    }

    /// Whether the outpoint `(txid bytes, vout)` is in the set.
    #[inline]
    pub fn contains_raw(&self, txid: &[u8; 32], vout: u32) -> bool {
        self.filter.may_contain(Self::hash(txid, vout)) && self.set.contains_key(&(*txid, vout))
    }

    /// Like [`contains_raw`](Self::contains_raw) for an outpoint known by
    /// its [`prevout_key`] first: `outpoint` is read only when the filter
    /// does not rule it out.
    #[inline]
    pub fn contains_by_key<'o>(
        &self,
        key: u64,
        outpoint: impl FnOnce() -> Option<(&'o [u8; 32], u32)>,
    ) -> bool {
        self.filter.may_contain(mix(key))
            && outpoint().is_some_and(|(t, v)| self.set.contains_key(&(*t, v)))
    }

    /// Whether `outpoint` is in the set.
    pub fn contains(&self, outpoint: &OutPoint) -> bool {
        self.contains_raw(outpoint.txid.as_byte_array(), outpoint.vout)
    }

    /// Number of outpoints.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Every outpoint.
    pub fn iter(&self) -> impl Iterator<Item = OutPoint> + '_ {
        self.set
            .keys()
            .map(|(t, v)| OutPoint::new(Txid::from_byte_array(*t), *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_outpoints() {
        let mut s = ScriptIndex::new();
        for i in 0..5000u32 {
            let mut bytes = vec![0u8, 20];
            bytes.extend_from_slice(&[i as u8; 16]);
            bytes.extend_from_slice(&i.to_le_bytes());
            s.insert(
                Script::from_bytes(&bytes),
                ScriptOrigin { desc: 1, index: i },
            );
        }
        assert_eq!(s.len(), 5000);
        let mut probe = vec![0u8, 20];
        probe.extend_from_slice(&[7u8; 16]);
        probe.extend_from_slice(&7u32.to_le_bytes());
        assert_eq!(s.get(&probe).map(|o| o.index), Some(7));
        probe[3] ^= 1;
        assert!(s.get(&probe).is_none());
        assert!(s.get(&[]).is_none());

        let mut o = OutpointIndex::new();
        let txid = Txid::from_byte_array([9; 32]);
        for v in 0..3000 {
            o.insert(OutPoint::new(txid, v));
        }
        assert!(o.contains(&OutPoint::new(txid, 2999)));
        assert!(!o.contains(&OutPoint::new(txid, 3000)));
        let t = txid.to_byte_array();
        let by_key = |v: u32| o.contains_by_key(prevout_key(&t, v), || Some((&t, v)));
        assert!(by_key(0) && by_key(2999) && !by_key(3000));
        assert!(!o.contains_by_key(prevout_key(&t, 5), || None));
    }

    #[test]
    fn lookup_by_tail_agrees_with_lookup_by_script_and_reads_few_scripts() {
        let mut s = ScriptIndex::new();
        let mut ours = Vec::new();
        for i in 0..1000u32 {
            // P2WPKH-like scripts, and short ones (shorter than the tail).
            let bytes = if i % 10 == 0 {
                vec![0x6a, i as u8, (i >> 8) as u8]
            } else {
                let mut b = vec![0u8, 20];
                b.extend_from_slice(&bitcoin::hashes::sha256::Hash::hash(&i.to_le_bytes())[..20]);
                b
            };
            s.insert(
                Script::from_bytes(&bytes),
                ScriptOrigin { desc: 2, index: i },
            );
            ours.push(bytes);
        }
        let lookup = |script: &[u8], reads: &mut usize| {
            s.get_by_tail(script_tail(script), || {
                *reads += 1;
                Some(script)
            })
        };
        let mut reads = 0;
        for (i, b) in ours.iter().enumerate() {
            assert_eq!(lookup(b, &mut reads).map(|o| o.index), Some(i as u32));
        }
        assert_eq!(reads, ours.len(), "a hit reads its script once");
        // Strangers: same tail with another length, and random scripts.
        let mut longer = ours[1].clone();
        longer.insert(2, 0);
        assert_eq!(lookup(&longer, &mut reads), None);
        reads = 0;
        let n = 100_000u32;
        for i in 0..n {
            let mut b = vec![0u8, 20];
            b.extend_from_slice(
                &bitcoin::hashes::sha256::Hash::hash(&(i + 1_000_000).to_le_bytes())[..20],
            );
            assert_eq!(lookup(&b, &mut reads), None);
            assert_eq!(s.get(&b), None);
        }
        // Two bits in one word, 32 to 64 bits per script: well under 1% of
        // misses read the script.
        assert!(
            reads < n as usize / 100,
            "{reads} of {n} misses read their script"
        );
        // A script the archive can't produce (out of range) is a miss.
        assert_eq!(s.get_by_tail(script_tail(&ours[1]), || None), None);
    }
}
