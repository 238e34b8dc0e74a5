//! Where the chainstate calls the consensus rules of [`crate::validation`]:
//! it supplies the chain context (ancestors, median times, flags,
//! `-assumevalid`) and turns the rule errors into [`Rejection`]s.

use bitcoin::block::Header;
use btc_core::archive::ArchivedBlockArchive;

use super::Chainstate;
use crate::blockindex::Idx;
use crate::store::Coin;
use crate::validation::{
    self, AssumeValid, BlockError, ConnectContext, HeaderContext, HeaderInfo, U256,
};

/// A block broke a rule: Core's reject reason, and details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Core's reject reason (`bad-txnmrklroot`, ...).
    pub reason: String,
    /// What exactly was wrong.
    pub debug: String,
}

impl Rejection {
    /// A rejection with Core's `reason`.
    pub fn new(reason: &str, debug: &str) -> Rejection {
        Rejection {
            reason: reason.to_string(),
            debug: debug.to_string(),
        }
    }

    /// The block's bytes are not a block.
    pub fn decode(debug: String) -> Rejection {
        Rejection {
            reason: "block-decode-failed".into(),
            debug,
        }
    }

    /// A rejection recorded earlier, known by its reason only.
    pub fn from_reason(reason: &str) -> Rejection {
        Rejection::new(reason, reason)
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.debug.is_empty() || self.debug == self.reason {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}, {}", self.reason, self.debug)
        }
    }
}

impl From<BlockError> for Rejection {
    fn from(e: BlockError) -> Rejection {
        Rejection {
            reason: e.reject_reason().to_string(),
            debug: e.debug_message(),
        }
    }
}

fn header_info(cs: &Chainstate, idx: Idx) -> HeaderInfo {
    let e = cs.tree.get(idx);
    HeaderInfo {
        height: e.height,
        time: e.header.time,
        bits: e.header.bits.to_consensus(),
    }
}

/// Header rules: proof of work, then the rules that need the parent
/// (`prev`): difficulty, median time past, future drift, version.
pub(super) fn check_header(
    cs: &Chainstate,
    header: &Header,
    prev: Idx,
    now: i64,
) -> Result<(), Rejection> {
    validation::check_block_header(header, &cs.params)?;
    let p = header_info(cs, prev);
    let expected_bits = validation::pow::next_work_required(
        &p,
        |h| (h <= p.height).then(|| header_info(cs, cs.tree.ancestor(prev, h))),
        header.time,
        &cs.params,
    )
    .map_err(|e| Rejection::new("bad-diffbits", &e.to_string()))?;
    let ctx = HeaderContext {
        prev_height: p.height,
        prev_mtp: cs.tree.get(prev).mtp,
        prev_time: p.time,
        expected_bits,
        adjusted_time: now,
    };
    validation::contextual_check_block_header(header, &ctx, &cs.params)?;
    Ok(())
}

/// Block rules that need no UTXO set.
pub(super) fn check_block(
    cs: &Chainstate,
    block: &ArchivedBlockArchive,
    prev: Idx,
) -> Result<(), Rejection> {
    validation::check_block(block, &cs.params, true, true)?;
    let pe = cs.tree.get(prev);
    validation::contextual_check_block(block, pe.height + 1, pe.mtp, &cs.params)?;
    Ok(())
}

/// Whether BIP30 is checked for `idx` (Core's rule, with the block's
/// ancestor at the BIP34 height).
pub(super) fn enforce_bip30(cs: &Chainstate, idx: Idx) -> bool {
    let e = cs.tree.get(idx);
    let bip34 = cs.params.bip34_height;
    let anc = (e.height > bip34).then(|| cs.tree.get(cs.tree.ancestor(idx, bip34)).hash);
    cs.params
        .bip30_check_required(e.height, &e.hash, anc.as_ref())
}

/// Whether `idx` must run its scripts under `-assumevalid` (Core's
/// conditions, through [`validation::scripts_required`]; regtest has no
/// minimum chain work).
fn scripts_required(cs: &Chainstate, idx: Idx) -> bool {
    let Some(av) = cs.opts.assumevalid else {
        return true;
    };
    let av_idx = cs.tree.find(&av);
    let Some(best) = cs.tree.best_candidate() else {
        return true;
    };
    let b = cs.tree.get(best);
    let facts = AssumeValid {
        assumevalid_known: av_idx.is_some(),
        is_ancestor_of_assumevalid: av_idx.is_some_and(|a| cs.tree.is_ancestor(idx, a)),
        is_ancestor_of_best_header: cs.tree.is_ancestor(idx, best),
        block_chain_work: U256::from_work(cs.tree.get(idx).chainwork),
        best_header_chain_work: U256::from_work(b.chainwork),
        best_header_bits: b.header.bits.to_consensus(),
        minimum_chain_work: U256::default(),
    };
    validation::scripts_required(&facts, &cs.params)
}

/// The checks that need the coins a block spends: inputs, maturity, fees,
/// sequence locks, sigops, and scripts (unless assumed valid).
pub(super) fn connect_checks(
    cs: &Chainstate,
    block: &ArchivedBlockArchive,
    idx: Idx,
    spent: &[Vec<Coin>],
) -> Result<validation::ConnectStats, Rejection> {
    let e = cs.tree.get(idx);
    let prev = e.prev.expect("connecting a block with a parent");
    let mtp_at = |h: u32| {
        cs.tree
            .get(cs.tree.ancestor(prev, h.min(cs.tree.get(prev).height)))
            .mtp
    };
    let ctx = ConnectContext {
        height: e.height,
        prev_mtp: cs.tree.get(prev).mtp,
        mtp_at: &mtp_at,
        params: &cs.params,
        verify_scripts: scripts_required(cs, idx),
        flags: cs.params.script_flags(e.height, &e.hash),
    };
    Ok(validation::connect_block_checks(
        block,
        spent,
        &ctx,
        &cs.scripts,
    )?)
}
