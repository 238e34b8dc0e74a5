//! The archived block, byte for byte: the rkyv types and the invariants that
//! validation checks.
//!
//! ```text
//! [raw: the block exactly as on the wire: header, tx count, transactions]
//! [txs:     TxEntry     x tx count     (96 bytes each)]
//! [inputs:  InputEntry  x input count  (60 bytes each)]
//! [outputs: OutputEntry x output count (16 bytes each)]
//! [script_tails: u64 x output count]
//! [prevout_keys: u64 x input count]
//! [root:    ArchivedBlockArchive { hash, raw, txs, inputs, outputs,
//!                                  script_tails, prevout_keys } (80 bytes)]
//! ```
//!
//! Every byte string (a transaction, a scriptSig, a witness, a scriptPubKey)
//! is an `(offset, len)` range into `raw`, the only copy of the wire bytes.
//! Output N of transaction M is `outputs[txs[M].first_output + N]`; inputs
//! likewise. The entries are plain little-endian data with no padding, so
//! rkyv writes each table with a single copy (its "copy optimization").

use rkyv::{Archive, Deserialize, Serialize};

/// Bit of [`TxEntry::flags`]: the transaction is serialized with witnesses
/// (BIP144 marker and flag).
pub const TX_SEGWIT: u32 = 1;

/// One transaction: its ids (computed once, when the block was parsed) and
/// where its bytes, inputs and outputs are.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[rkyv(derive(Debug))]
#[repr(C)]
pub struct TxEntry {
    /// sha256d of the serialization without witnesses (internal byte order).
    pub txid: [u8; 32],
    /// sha256d of the full serialization (equal to `txid` without witnesses).
    pub wtxid: [u8; 32],
    /// Start of the transaction in `raw`.
    pub offset: u32,
    /// Length of the full serialization (with witnesses).
    pub len: u32,
    /// Length without marker, flag and witnesses (BIP141 base size).
    pub base_len: u32,
    /// Index of the first input in `inputs`.
    pub first_input: u32,
    pub n_inputs: u32,
    /// Index of the first output in `outputs`.
    pub first_output: u32,
    pub n_outputs: u32,
    /// [`TX_SEGWIT`] or 0.
    pub flags: u32,
}

/// One input: its prevout and sequence by value, scriptSig and witness as
/// ranges into `raw`.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[rkyv(derive(Debug))]
#[repr(C)]
pub struct InputEntry {
    /// Txid of the output spent (internal byte order, as on the wire).
    pub prev_txid: [u8; 32],
    pub prev_vout: u32,
    pub sequence: u32,
    pub script_sig_offset: u32,
    pub script_sig_len: u32,
    /// The witness items as serialized (each a CompactSize length and its
    /// bytes), after the item count. Empty without witness.
    pub witness_offset: u32,
    pub witness_len: u32,
    /// Number of witness items.
    pub witness_items: u32,
}

/// One output: its value and the scriptPubKey as a range into `raw`.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[rkyv(derive(Debug))]
#[repr(C)]
pub struct OutputEntry {
    /// Value in satoshis.
    pub value: u64,
    pub script_offset: u32,
    pub script_len: u32,
}

/// An output's entry in `script_tails`: the last eight bytes of its
/// `script` as a little-endian integer (a script shorter than eight bytes
/// fills the low bytes and leaves the rest zero).
#[inline]
pub fn script_tail(script: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = script.len();
    if n >= 8 {
        b.copy_from_slice(&script[n - 8..]);
    } else {
        b[..n].copy_from_slice(script);
    }
    u64::from_le_bytes(b)
}

/// An input's entry in `prevout_keys`: the first eight bytes of the spent
/// txid (internal order) as a little-endian integer, xor the output index
/// in the upper half.
#[inline]
pub fn prevout_key(txid: &[u8; 32], vout: u32) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&txid[..8]);
    u64::from_le_bytes(b) ^ (u64::from(vout) << 32)
}

/// The archived block's schema. Nothing builds this owned form on the hot
/// path: [`BlockWire`](super::BlockWire) serializes straight from wire bytes
/// into [`ArchivedBlockArchive`]. It exists to define that archived type
/// (and to deserialize an archive into owned memory, for tests and tools).
///
/// Validation (`rkyv::access`, or an untrusted shm-ipc receiver) checks the
/// structure and, through [`Verify`](rkyv::bytecheck::Verify), that every
/// range and index is in bounds and that the tables tile exactly, so the
/// accessors of a validated archive never go out of bounds. It does not
/// re-hash: see [`check_hashes`](super::check::check_hashes) for a producer
/// you don't trust.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
#[rkyv(bytecheck(verify))]
pub struct BlockArchive {
    /// Block hash (sha256d of the header, internal byte order).
    pub hash: [u8; 32],
    /// The block as on the wire: 80-byte header, tx count, transactions.
    pub raw: Vec<u8>,
    pub txs: Vec<TxEntry>,
    pub inputs: Vec<InputEntry>,
    pub outputs: Vec<OutputEntry>,
    /// [`script_tail`] of each output's script, in output order. The hash
    /// or key inside a standard script ends it, so these bytes are random:
    /// a wallet keys its script filter on them and matches a block by
    /// sweeping this dense column, reading a script in `raw` only when the
    /// filter hits.
    pub script_tails: Vec<u64>,
    /// [`prevout_key`] of each input's prevout, in input order: the same
    /// for the wallet's filter of its own outputs.
    pub prevout_keys: Vec<u64>,
}

/// The same fields as [`BlockArchive`], so the same archived bytes, with
/// rkyv's structural checks (every table lies inside the bytes) but none
/// of `BlockArchive`'s cross-reference invariants: its tables may disagree
/// with each other and with `raw`. Accessing an archive as this shape is
/// O(1), where full validation walks every table; a reader that only
/// sweeps the tables with bounds-checked lookups (a wallet matching a
/// block, see [`BlockTables`](super::BlockTables)) can start from it, and
/// validate the whole archive only when it needs more.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockShape {
    pub hash: [u8; 32],
    pub raw: Vec<u8>,
    pub txs: Vec<TxEntry>,
    pub inputs: Vec<InputEntry>,
    pub outputs: Vec<OutputEntry>,
    pub script_tails: Vec<u64>,
    pub prevout_keys: Vec<u64>,
}

// Archived structs are `repr(C)`: same fields, same layout. Checked here so
// that a field added to one and not the other fails to compile.
const _: () = {
    use core::mem::{offset_of, size_of};
    assert!(size_of::<ArchivedBlockShape>() == size_of::<ArchivedBlockArchive>());
    assert!(offset_of!(ArchivedBlockShape, hash) == offset_of!(ArchivedBlockArchive, hash));
    assert!(offset_of!(ArchivedBlockShape, raw) == offset_of!(ArchivedBlockArchive, raw));
    assert!(offset_of!(ArchivedBlockShape, txs) == offset_of!(ArchivedBlockArchive, txs));
    assert!(offset_of!(ArchivedBlockShape, inputs) == offset_of!(ArchivedBlockArchive, inputs));
    assert!(offset_of!(ArchivedBlockShape, outputs) == offset_of!(ArchivedBlockArchive, outputs));
    assert!(
        offset_of!(ArchivedBlockShape, script_tails)
            == offset_of!(ArchivedBlockArchive, script_tails)
    );
    assert!(
        offset_of!(ArchivedBlockShape, prevout_keys)
            == offset_of!(ArchivedBlockArchive, prevout_keys)
    );
};

/// Offset and length of the header in `raw`.
pub const HEADER_LEN: usize = 80;

/// Smallest transaction: version, input count, output count, lock time.
pub const MIN_TX_LEN: usize = 10;

// The tables must be copied in one go: entries without padding, laid out
// identically in their owned and archived forms.
const _: () = {
    assert!(<TxEntry as Archive>::COPY_OPTIMIZATION.is_enabled());
    assert!(<InputEntry as Archive>::COPY_OPTIMIZATION.is_enabled());
    assert!(<OutputEntry as Archive>::COPY_OPTIMIZATION.is_enabled());
    assert!(core::mem::size_of::<ArchivedTxEntry>() == 96);
    assert!(core::mem::size_of::<ArchivedInputEntry>() == 60);
    assert!(core::mem::size_of::<ArchivedOutputEntry>() == 16);
};

mod verify {
    use rkyv::bytecheck::Verify;
    use rkyv::rancor::{fail, Fallible, Source};

    use super::*;

    /// Why an archive's cross-references are inconsistent.
    #[derive(Debug, thiserror::Error)]
    #[error("inconsistent block archive: {0}")]
    pub struct Inconsistent(pub String);

    fn in_raw(raw_len: usize, offset: u32, len: u32) -> bool {
        offset as usize + len as usize <= raw_len
    }

    impl ArchivedBlockArchive {
        /// Checks every invariant the accessors rely on; the reason if one fails.
        pub(crate) fn inconsistency(&self) -> Option<String> {
            let raw = self.raw.len();
            if raw < HEADER_LEN {
                return Some(format!("raw is {raw} bytes, shorter than a header"));
            }
            let (mut next_in, mut next_out) = (0usize, 0usize);
            for (m, t) in self.txs.iter().enumerate() {
                let (off, len, base) = (t.offset.to_native(), t.len.to_native(), t.base_len);
                let base = base.to_native();
                let segwit = t.flags.to_native() == TX_SEGWIT;
                if !in_raw(raw, off, len) || (off as usize) < HEADER_LEN {
                    return Some(format!("tx {m}: bytes {off}+{len} outside raw"));
                }
                if (len as usize) < MIN_TX_LEN || (base as usize) < MIN_TX_LEN {
                    return Some(format!("tx {m}: shorter than a transaction"));
                }
                if !matches!(t.flags.to_native(), 0 | TX_SEGWIT)
                    || (segwit && base + 2 > len)
                    || (!segwit && base != len)
                {
                    return Some(format!("tx {m}: flags and base size disagree"));
                }
                let (fi, ni) = (t.first_input.to_native(), t.n_inputs.to_native());
                let (fo, no) = (t.first_output.to_native(), t.n_outputs.to_native());
                if fi as usize != next_in || fo as usize != next_out {
                    return Some(format!(
                        "tx {m}: inputs or outputs don't follow the previous tx"
                    ));
                }
                next_in += ni as usize;
                next_out += no as usize;
            }
            if next_in != self.inputs.len() || next_out != self.outputs.len() {
                return Some("the transactions don't account for every input and output".into());
            }
            if self.script_tails.len() != self.outputs.len()
                || self.prevout_keys.len() != self.inputs.len()
            {
                return Some("the key columns don't have one entry per output and input".into());
            }
            for (i, e) in self.inputs.iter().enumerate() {
                let ss = in_raw(
                    raw,
                    e.script_sig_offset.to_native(),
                    e.script_sig_len.to_native(),
                );
                let w = in_raw(raw, e.witness_offset.to_native(), e.witness_len.to_native());
                if !ss || !w {
                    return Some(format!("input {i}: scriptSig or witness outside raw"));
                }
            }
            for (i, e) in self.outputs.iter().enumerate() {
                if !in_raw(raw, e.script_offset.to_native(), e.script_len.to_native()) {
                    return Some(format!("output {i}: scriptPubKey outside raw"));
                }
            }
            None
        }
    }

    // SAFETY: `verify` returns Ok only when `inconsistency` found nothing,
    // that is when every invariant documented on `BlockArchive` holds. No
    // unsafe code relies on these invariants (the accessors index with
    // bounds checks); they only make the accessors panic-free.
    unsafe impl<C: Fallible + ?Sized> Verify<C> for ArchivedBlockArchive
    where
        C::Error: Source,
    {
        fn verify(&self, _context: &mut C) -> Result<(), C::Error> {
            match self.inconsistency() {
                None => Ok(()),
                Some(why) => fail!(Inconsistent(why)),
            }
        }
    }
}
