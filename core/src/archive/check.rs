//! The block's commitments, checked on the archive: the merkle root of the
//! txids against the header (detecting CVE-2012-2459 mutations), the
//! witness commitment of the wtxids in the coinbase (BIP141), and, for
//! archives from a producer you don't trust, the stored hashes themselves.

use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{Block, TxMerkleNode, WitnessCommitment, WitnessMerkleNode};

use super::layout::{prevout_key, script_tail, ArchivedBlockArchive};
use crate::hash::{merkle_parent, sha256d as sha256d_bytes, sha256d_parts};

/// A commitment that doesn't hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("block has no transactions")]
    NoTransactions,
    #[error("merkle root {computed} does not match the header's {header}")]
    MerkleRootMismatch {
        header: TxMerkleNode,
        computed: TxMerkleNode,
    },
    #[error("merkle tree mutated: duplicate adjacent hashes (CVE-2012-2459)")]
    MerkleMutated,
    #[error("first transaction is not a coinbase")]
    NoCoinbase,
    #[error("block has witness data but no witness commitment in the coinbase")]
    WitnessCommitmentMissing,
    #[error("coinbase witness is not a single 32-byte reserved value")]
    BadWitnessReservedValue,
    #[error("witness commitment {committed} does not match the computed {computed}")]
    WitnessCommitmentMismatch {
        committed: WitnessCommitment,
        computed: WitnessCommitment,
    },
    #[error("stored block hash does not match the header")]
    BlockHashMismatch,
    #[error("transaction {tx}: stored txid or wtxid does not match its bytes")]
    TxHashMismatch { tx: usize },
    #[error(
        "{what} {index} (of the block's table): stored key does not match its script or prevout"
    )]
    KeyMismatch { what: &'static str, index: usize },
}

/// What the witness commitment check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WitnessStatus {
    /// No transaction carries witness data: no commitment is required
    /// (rust-bitcoin's `Block::check_witness_commitment` rule).
    NoWitnessData,
    /// The coinbase commits to the wtxids.
    Verified,
}

/// BIP141's commitment output prefix: OP_RETURN, push 36, 0xaa21a9ed.
const WITNESS_MAGIC: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// Merkle root of `hashes` and whether the tree is mutated, as Bitcoin
/// Core's `ComputeMerkleRoot(hashes, &mutated)`: at every level, two equal
/// adjacent hashes make a tree that another (shorter) transaction list
/// shares (CVE-2012-2459), which rust-bitcoin's `calculate_root` alone
/// can't tell. `None` for no hashes.
pub fn merkle_root_mutated(mut hashes: Vec<[u8; 32]>) -> Option<([u8; 32], bool)> {
    let mut mutated = false;
    while hashes.len() > 1 {
        mutated |= hashes.chunks_exact(2).any(|pair| pair[0] == pair[1]);
        if hashes.len() % 2 == 1 {
            let last = hashes[hashes.len() - 1];
            hashes.push(last);
        }
        for i in 0..hashes.len() / 2 {
            hashes[i] = merkle_parent(&hashes[2 * i], &hashes[2 * i + 1]);
        }
        hashes.truncate(hashes.len() / 2);
    }
    hashes.first().map(|root| (*root, mutated))
}

/// Checks the txids' merkle root against the header and rejects mutated
/// trees. Returns the root.
pub fn check_merkle_root(block: &ArchivedBlockArchive) -> Result<TxMerkleNode, CheckError> {
    let txids = block.txs.iter().map(|t| t.txid).collect();
    let (root, mutated) = merkle_root_mutated(txids).ok_or(CheckError::NoTransactions)?;
    let computed = TxMerkleNode::from_byte_array(root);
    let header = block.header().merkle_root;
    if computed != header {
        return Err(CheckError::MerkleRootMismatch { header, computed });
    }
    if mutated {
        return Err(CheckError::MerkleMutated);
    }
    Ok(computed)
}

/// Merkle root of the wtxids, the coinbase's counted as zeros (BIP141), by
/// rust-bitcoin's `merkle_tree::calculate_root`.
pub fn witness_root(block: &ArchivedBlockArchive) -> Option<WitnessMerkleNode> {
    let hashes = block.txs.iter().enumerate().map(|(i, t)| {
        let wtxid = if i == 0 { [0; 32] } else { t.wtxid };
        sha256d::Hash::from_byte_array(wtxid)
    });
    bitcoin::merkle_tree::calculate_root(hashes).map(WitnessMerkleNode::from_raw_hash)
}

/// Checks the witness commitment with the rules of rust-bitcoin's
/// `Block::check_witness_commitment`, reporting which rule failed: a block
/// whose transactions carry witness data must commit, in the last coinbase
/// output that starts with the BIP141 prefix, to
/// sha256d(witness root || reserved value), the reserved value being the
/// coinbase input's single 32-byte witness item.
pub fn check_witness_commitment(block: &ArchivedBlockArchive) -> Result<WitnessStatus, CheckError> {
    if block
        .inputs
        .iter()
        .all(|i| i.witness_items.to_native() == 0)
    {
        return Ok(WitnessStatus::NoWitnessData);
    }
    let coinbase = block.tx(0).ok_or(CheckError::NoTransactions)?;
    if !coinbase.is_coinbase() {
        return Err(CheckError::NoCoinbase);
    }
    let script = coinbase
        .outputs()
        .rev()
        .map(|o| o.script_bytes())
        .find(|s| s.len() >= 38 && s[..6] == WITNESS_MAGIC)
        .ok_or(CheckError::WitnessCommitmentMissing)?;
    let committed = WitnessCommitment::from_slice(&script[6..38]).expect("32 bytes");
    let input = coinbase.input(0).ok_or(CheckError::NoCoinbase)?;
    let mut items = input.witness();
    let reserved = match (items.next(), items.next()) {
        (Some(item), None) if item.len() == 32 => item,
        _ => return Err(CheckError::BadWitnessReservedValue),
    };
    let root = witness_root(block).ok_or(CheckError::NoTransactions)?;
    let computed = Block::compute_witness_commitment(&root, reserved);
    if computed != committed {
        return Err(CheckError::WitnessCommitmentMismatch {
            committed,
            computed,
        });
    }
    Ok(WitnessStatus::Verified)
}

/// Both commitments: merkle root (unmutated) and witness commitment.
pub fn check_commitments(block: &ArchivedBlockArchive) -> Result<WitnessStatus, CheckError> {
    check_merkle_root(block)?;
    check_witness_commitment(block)
}

/// Re-hashes the header and every transaction and compares with the stored
/// block hash, txids and wtxids, and re-derives the key columns
/// (for an archive whose producer you don't trust: validation checks the
/// archive's structure, not what it stores about its bytes).
pub fn check_hashes(block: &ArchivedBlockArchive) -> Result<(), CheckError> {
    if sha256d_bytes(block.header_bytes()) != block.hash {
        return Err(CheckError::BlockHashMismatch);
    }
    for tx in block.txs() {
        let txid = sha256d_parts(&tx.base_bytes());
        let wtxid = if tx.is_segwit() {
            sha256d_bytes(tx.bytes())
        } else {
            txid
        };
        if txid != tx.txid().to_byte_array() || wtxid != tx.wtxid().to_byte_array() {
            return Err(CheckError::TxHashMismatch { tx: tx.index() });
        }
    }
    for (i, (out, tail)) in block
        .outputs
        .iter()
        .zip(block.script_tails.iter())
        .enumerate()
    {
        let script = block
            .raw
            .get(out.script_offset.to_native() as usize..)
            .and_then(|s| s.get(..out.script_len.to_native() as usize));
        if script.map(script_tail) != Some(tail.to_native()) {
            return Err(CheckError::KeyMismatch {
                what: "output",
                index: i,
            });
        }
    }
    for (i, (input, key)) in block
        .inputs
        .iter()
        .zip(block.prevout_keys.iter())
        .enumerate()
    {
        if prevout_key(&input.prev_txid, input.prev_vout.to_native()) != key.to_native() {
            return Err(CheckError::KeyMismatch {
                what: "input",
                index: i,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> [u8; 32] {
        [i; 32]
    }

    fn reference(hashes: &[[u8; 32]]) -> Option<[u8; 32]> {
        bitcoin::merkle_tree::calculate_root(
            hashes.iter().map(|x| sha256d::Hash::from_byte_array(*x)),
        )
        .map(|r| r.to_byte_array())
    }

    #[test]
    fn root_matches_rust_bitcoin() {
        assert_eq!(merkle_root_mutated(vec![]), None);
        for n in 1..40u8 {
            let hashes: Vec<_> = (0..n).map(h).collect();
            let (root, mutated) = merkle_root_mutated(hashes.clone()).unwrap();
            assert_eq!(Some(root), reference(&hashes), "n = {n}");
            assert!(!mutated, "n = {n}");
        }
    }

    #[test]
    fn duplicated_last_pair_is_mutated_with_the_same_root() {
        // [a b c] and [a b c c] share a root; only the second is mutated.
        let honest = vec![h(1), h(2), h(3)];
        let forged = vec![h(1), h(2), h(3), h(3)];
        let (r1, m1) = merkle_root_mutated(honest).unwrap();
        let (r2, m2) = merkle_root_mutated(forged.clone()).unwrap();
        assert_eq!(r1, r2);
        assert_eq!(reference(&forged), Some(r2));
        assert!(!m1 && m2);
        // A duplicate one level up: [a b c d e f] vs [a b c d e f e f].
        let six: Vec<_> = (1..=6).map(h).collect();
        let mut eight = six.clone();
        eight.extend([h(5), h(6)]);
        let (r6, m6) = merkle_root_mutated(six).unwrap();
        let (r8, m8) = merkle_root_mutated(eight).unwrap();
        assert_eq!(r6, r8);
        assert!(!m6 && m8);
    }
}
