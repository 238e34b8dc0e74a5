//! Reading an archived block in place: header, hash, transactions, inputs
//! and outputs, each in O(1), with rust-bitcoin types where they borrow
//! (`&Script`) or are small copies (`Txid`, `OutPoint`, `Amount`).
//!
//! The accessors index the archive's tables and `raw` with bounds-checked
//! slicing; an archive written by [`BlockWire`](super::BlockWire) or one that
//! passed validation keeps every index in bounds (see `layout`), so they
//! don't panic.

use bitcoin::hashes::Hash;
use bitcoin::{Amount, BlockHash, OutPoint, Script, Sequence, Txid, Wtxid};
use rkyv::rancor;

use super::layout::{
    ArchivedBlockArchive, ArchivedInputEntry, ArchivedOutputEntry, ArchivedTxEntry, HEADER_LEN,
    TX_SEGWIT,
};
use super::wire::{txid_preimage, Reader};

impl ArchivedBlockArchive {
    /// Validates `bytes` as an archived block (rkyv's structural checks plus
    /// every range and index of the tables) and returns it in place.
    pub fn from_bytes(bytes: &[u8]) -> Result<&ArchivedBlockArchive, rancor::Error> {
        rkyv::access::<ArchivedBlockArchive, rancor::Error>(bytes)
    }

    /// The block exactly as on the wire (to relay it, or hand it to a
    /// decoder).
    pub fn wire(&self) -> &[u8] {
        self.raw.as_slice()
    }

    /// The 80 header bytes.
    pub fn header_bytes(&self) -> &[u8; HEADER_LEN] {
        self.raw.as_slice()[..HEADER_LEN]
            .try_into()
            .expect("raw holds at least a header")
    }

    /// The header, decoded by rust-bitcoin.
    pub fn header(&self) -> bitcoin::block::Header {
        bitcoin::consensus::deserialize(self.header_bytes()).expect("any 80 bytes are a header")
    }

    pub fn block_hash(&self) -> BlockHash {
        BlockHash::from_byte_array(self.hash)
    }

    pub fn tx_count(&self) -> usize {
        self.txs.len()
    }

    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// Transaction `m`.
    pub fn tx(&self, m: usize) -> Option<TxRef<'_>> {
        let entry = self.txs.get(m)?;
        Some(TxRef {
            block: self,
            entry,
            index: m,
        })
    }

    /// Output `n` of transaction `m`.
    pub fn output(&self, m: usize, n: usize) -> Option<OutputRef<'_>> {
        self.tx(m)?.output(n)
    }

    /// Input `n` of transaction `m`.
    pub fn input(&self, m: usize, n: usize) -> Option<InputRef<'_>> {
        self.tx(m)?.input(n)
    }

    /// Every transaction, in block order.
    pub fn txs(&self) -> impl DoubleEndedIterator<Item = TxRef<'_>> + ExactSizeIterator + '_ {
        self.txs
            .iter()
            .enumerate()
            .map(move |(index, entry)| TxRef {
                block: self,
                entry,
                index,
            })
    }

    /// The txids, in block order.
    pub fn txids(&self) -> impl DoubleEndedIterator<Item = Txid> + ExactSizeIterator + '_ {
        self.txs.iter().map(|t| Txid::from_byte_array(t.txid))
    }

    /// The wtxids, in block order (the coinbase's is its real one, not the
    /// zeros that the witness merkle tree uses).
    pub fn wtxids(&self) -> impl DoubleEndedIterator<Item = Wtxid> + ExactSizeIterator + '_ {
        self.txs.iter().map(|t| Wtxid::from_byte_array(t.wtxid))
    }

    fn range(&self, offset: u32, len: u32) -> &[u8] {
        let start = offset as usize;
        &self.raw.as_slice()[start..start + len as usize]
    }
}

impl std::fmt::Debug for ArchivedBlockArchive {
    /// A summary: the raw bytes and tables are too large to print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchivedBlockArchive")
            .field("hash", &self.block_hash())
            .field("txs", &self.tx_count())
            .field("inputs", &self.input_count())
            .field("outputs", &self.output_count())
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// One transaction of an archived block.
#[derive(Clone, Copy)]
pub struct TxRef<'a> {
    block: &'a ArchivedBlockArchive,
    entry: &'a ArchivedTxEntry,
    index: usize,
}

impl<'a> TxRef<'a> {
    /// Position in the block.
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn txid(&self) -> Txid {
        Txid::from_byte_array(self.entry.txid)
    }

    pub fn wtxid(&self) -> Wtxid {
        Wtxid::from_byte_array(self.entry.wtxid)
    }

    /// The full serialization, witnesses included, as on the wire.
    pub fn bytes(&self) -> &'a [u8] {
        self.block
            .range(self.entry.offset.to_native(), self.entry.len.to_native())
    }

    /// The pieces whose concatenation is the serialization without witness
    /// (what the txid hashes), without copying them.
    pub fn base_bytes(&self) -> [&'a [u8]; 3] {
        txid_preimage(self.bytes(), self.entry.base_len.to_native() as usize)
    }

    /// Whether it is serialized with witnesses.
    pub fn is_segwit(&self) -> bool {
        self.entry.flags.to_native() & TX_SEGWIT != 0
    }

    pub fn version(&self) -> i32 {
        i32::from_le_bytes(self.bytes()[..4].try_into().expect("4 bytes"))
    }

    pub fn lock_time(&self) -> u32 {
        let b = self.bytes();
        u32::from_le_bytes(b[b.len() - 4..].try_into().expect("4 bytes"))
    }

    /// Size with witnesses (BIP141 total size).
    pub fn total_size(&self) -> usize {
        self.entry.len.to_native() as usize
    }

    /// Size without witnesses (BIP141 base size).
    pub fn base_size(&self) -> usize {
        self.entry.base_len.to_native() as usize
    }

    /// BIP141 weight.
    pub fn weight(&self) -> bitcoin::Weight {
        bitcoin::Weight::from_wu((self.base_size() * 3 + self.total_size()) as u64)
    }

    pub fn input_count(&self) -> usize {
        self.entry.n_inputs.to_native() as usize
    }

    pub fn output_count(&self) -> usize {
        self.entry.n_outputs.to_native() as usize
    }

    /// Output `n`, in O(1).
    pub fn output(&self, n: usize) -> Option<OutputRef<'a>> {
        if n >= self.output_count() {
            return None;
        }
        let entry = self
            .block
            .outputs
            .get(self.entry.first_output.to_native() as usize + n)?;
        Some(OutputRef {
            block: self.block,
            entry,
        })
    }

    /// Input `n`, in O(1).
    pub fn input(&self, n: usize) -> Option<InputRef<'a>> {
        if n >= self.input_count() {
            return None;
        }
        let entry = self
            .block
            .inputs
            .get(self.entry.first_input.to_native() as usize + n)?;
        Some(InputRef {
            block: self.block,
            entry,
        })
    }

    pub fn outputs(
        &self,
    ) -> impl DoubleEndedIterator<Item = OutputRef<'a>> + ExactSizeIterator + 'a {
        let first = self.entry.first_output.to_native() as usize;
        let block = self.block;
        block.outputs[first..first + self.output_count()]
            .iter()
            .map(move |entry| OutputRef { block, entry })
    }

    pub fn inputs(&self) -> impl DoubleEndedIterator<Item = InputRef<'a>> + ExactSizeIterator + 'a {
        let first = self.entry.first_input.to_native() as usize;
        let block = self.block;
        block.inputs[first..first + self.input_count()]
            .iter()
            .map(move |entry| InputRef { block, entry })
    }

    /// Whether this is a coinbase: one input spending the null outpoint.
    pub fn is_coinbase(&self) -> bool {
        self.input_count() == 1 && self.input(0).is_some_and(|i| i.previous_output().is_null())
    }

    /// An owned rust-bitcoin transaction, decoded from the bytes (allocates;
    /// for code that needs one).
    pub fn to_transaction(
        &self,
    ) -> Result<bitcoin::Transaction, bitcoin::consensus::encode::Error> {
        bitcoin::consensus::deserialize(self.bytes())
    }
}

/// One output of an archived transaction.
#[derive(Clone, Copy)]
pub struct OutputRef<'a> {
    block: &'a ArchivedBlockArchive,
    entry: &'a ArchivedOutputEntry,
}

impl<'a> OutputRef<'a> {
    pub fn value(&self) -> Amount {
        Amount::from_sat(self.entry.value.to_native())
    }

    /// The scriptPubKey, borrowed from the archive.
    pub fn script_pubkey(&self) -> &'a Script {
        Script::from_bytes(self.script_bytes())
    }

    pub fn script_bytes(&self) -> &'a [u8] {
        self.block.range(
            self.entry.script_offset.to_native(),
            self.entry.script_len.to_native(),
        )
    }
}

/// One input of an archived transaction.
#[derive(Clone, Copy)]
pub struct InputRef<'a> {
    block: &'a ArchivedBlockArchive,
    entry: &'a ArchivedInputEntry,
}

impl<'a> InputRef<'a> {
    pub fn previous_output(&self) -> OutPoint {
        OutPoint::new(self.prev_txid(), self.prev_vout())
    }

    pub fn prev_txid(&self) -> Txid {
        Txid::from_byte_array(self.entry.prev_txid)
    }

    pub fn prev_vout(&self) -> u32 {
        self.entry.prev_vout.to_native()
    }

    pub fn sequence(&self) -> Sequence {
        Sequence(self.entry.sequence.to_native())
    }

    /// The scriptSig, borrowed from the archive.
    pub fn script_sig(&self) -> &'a Script {
        Script::from_bytes(self.block.range(
            self.entry.script_sig_offset.to_native(),
            self.entry.script_sig_len.to_native(),
        ))
    }

    /// Number of witness items.
    pub fn witness_len(&self) -> usize {
        self.entry.witness_items.to_native() as usize
    }

    /// The witness items as serialized (each a CompactSize length and its
    /// bytes), without the item count.
    pub fn witness_bytes(&self) -> &'a [u8] {
        self.block.range(
            self.entry.witness_offset.to_native(),
            self.entry.witness_len.to_native(),
        )
    }

    /// The witness items, borrowed from the archive.
    pub fn witness(&self) -> WitnessItems<'a> {
        WitnessItems {
            reader: Reader::new(self.witness_bytes()),
            left: self.witness_len(),
        }
    }

    /// An owned rust-bitcoin witness (allocates).
    pub fn to_witness(&self) -> bitcoin::Witness {
        bitcoin::Witness::from_slice(&self.witness().collect::<Vec<_>>())
    }
}

/// Iterator over an input's witness items. It stops early, rather than
/// panic, on items that don't parse (which a validated archive never has).
#[derive(Clone)]
pub struct WitnessItems<'a> {
    reader: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for WitnessItems<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = self
            .reader
            .compact_size()
            .and_then(|len| self.reader.take(len));
        if item.is_err() {
            self.left = 0;
        }
        item.ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}
