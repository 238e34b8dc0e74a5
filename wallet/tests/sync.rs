//! Blocks, balances, reorgs, rescans and restarts.

mod common;

use bitcoin::hashes::Hash;
use bitcoin::Amount;
use btc_wallet::balance::get_balance;
use btc_wallet::chain::BatchBlock;
use btc_wallet::Chain;
use common::*;

fn balance(w: &btc_wallet::Wallet) -> btc_wallet::Balance {
    get_balance(w.ledger(), w.script_index(), w.last_block().map(|b| b.0), 0)
}

#[test]
fn coinbase_matures_after_101_confirmations() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain();
    let mut w = new_wallet(dir.path(), "w", None);
    let script = new_script(&mut w);
    mine_to(&mut chain, &mut [&mut w], script, vec![]);
    let other = bitcoin::ScriptBuf::new_op_return([1u8; 4]);
    for _ in 0..99 {
        mine_to(&mut chain, &mut [&mut w], other.clone(), vec![]);
    }
    // 100 confirmations: still immature for the wallet (Core: 101).
    let b = balance(&w);
    assert_eq!(b.immature, Amount::from_btc(50.0).unwrap());
    assert_eq!(b.trusted, Amount::ZERO);
    mine_to(&mut chain, &mut [&mut w], other, vec![]);
    let b = balance(&w);
    assert_eq!(b.trusted, Amount::from_btc(50.0).unwrap());
    assert_eq!(b.immature, Amount::ZERO);
    assert_eq!(w.last_block(), chain.tip());
}

#[test]
fn reorg_conflict_rescan_restart() {
    use btc_wallet::spend::{CoinControl, Recipient};
    use btc_wallet::{TxState, Wallet};
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain();
    let mut w = new_wallet(dir.path(), "w", Some(test_master()));
    let s = new_script(&mut w);
    mine_to(&mut chain, &mut [&mut w], s, vec![]);
    let burn = bitcoin::ScriptBuf::new_op_return([1u8; 4]);
    for _ in 0..100 {
        mine_to(&mut chain, &mut [&mut w], burn.clone(), vec![]);
    }
    let to = bitcoin::ScriptBuf::new_op_return([9u8; 3]);
    let other = bitcoin::ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([7; 20]));
    let make = |w: &mut Wallet, amount: u64, chain: &btc_wallet::MemoryChain| {
        w.create_transaction(
            &[Recipient {
                script: other.clone(),
                amount: Amount::from_sat(amount),
                subtract_fee: false,
            }],
            &CoinControl::default(),
            chain,
            true,
        )
        .unwrap()
        .tx
    };
    let _ = to;
    let t1 = make(&mut w, 1_000_000, &chain);
    let t2 = make(&mut w, 2_000_000, &chain); // double-spends t1's coin
    let (id1, _) = w.commit_transaction(t1, None, None, &chain).unwrap();
    chain.take_mempool();
    // A block confirms t2: t1 is conflicted.
    let h = mine_to(&mut chain, &mut [&mut w], burn.clone(), vec![t2.clone()]);
    assert!(w.ledger().get(&id1).unwrap().depth(Some(h)) < 0);
    let id2 = t2.compute_txid();
    assert!(matches!(
        w.ledger().get(&id2).unwrap().state,
        TxState::Confirmed { .. }
    ));
    let before = balance(&w);
    // Reorg: disconnect that block, t2 back to the mempool, t1 no longer
    // conflicted.
    let bytes = chain.pop_block().unwrap();
    let block = btc_core::ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    w.block_disconnected(block, h).unwrap();
    assert_eq!(w.last_block(), chain.tip());
    assert_eq!(
        w.ledger().get(&id2).unwrap().state,
        TxState::Inactive { abandoned: false }
    );
    assert_eq!(
        w.ledger()
            .get(&id1)
            .unwrap()
            .depth(chain.tip().map(|t| t.0)),
        0
    );
    w.transaction_added_to_mempool(&t2).unwrap();
    assert!(w.ledger().get(&id2).unwrap().in_mempool());
    let h = mine_to(&mut chain, &mut [&mut w], burn.clone(), vec![t2.clone()]);
    assert_eq!(balance(&w), before);

    // Disconnecting the first coinbase's block... is deep; instead mine a
    // coinbase to the wallet and orphan it.
    let s = new_script(&mut w);
    let h2 = mine_to(&mut chain, &mut [&mut w], s, vec![]);
    let cb = chain.archive(h2).unwrap().txids().next().unwrap();
    let bytes = chain.pop_block().unwrap();
    w.block_disconnected(
        btc_core::ArchivedBlockArchive::from_bytes(&bytes).unwrap(),
        h2,
    )
    .unwrap();
    let lt = btc_wallet::rpc::call(
        &mut w,
        "listtransactions",
        &serde_json::json!(["*", 100]),
        &chain,
    )
    .unwrap();
    assert!(lt
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["txid"] == serde_json::json!(cb.to_string()) && e["category"] == "orphan"));
    assert_eq!(w.last_block().unwrap().0, h);
    let final_balance = balance(&w);

    // Restart: same state.
    drop(w);
    let mut w = Wallet::open(&dir.path().join("w"), "w", options()).unwrap();
    assert_eq!(balance(&w), final_balance);
    assert_eq!(w.last_block(), chain.tip());
    // Already at the tip: nothing to scan.
    assert_eq!(w.attach_chain(&chain).unwrap(), None);

    // Rescan from scratch (same master key, a new wallet), sequential and
    // on two threads: same confirmed balance.
    let mut r = new_wallet(dir.path(), "r", Some(test_master()));
    r.rescan(&chain, 0, None).unwrap();
    let mut p = new_wallet(dir.path(), "p", Some(test_master()));
    let blocks: Vec<(u32, BatchBlock<'_>)> = (0..=chain.tip().unwrap().0)
        .map(|h| (h, BatchBlock::Checked(chain.archive(h).unwrap())))
        .collect();
    assert_eq!(p.rescan_blocks(&blocks, 2).unwrap(), blocks.len());
    let confirmed =
        |w: &Wallet| get_balance(w.ledger(), w.script_index(), w.last_block().map(|b| b.0), 1);
    assert_eq!(confirmed(&r), confirmed(&w));
    assert_eq!(confirmed(&p), confirmed(&w));
    assert_eq!(r.last_block(), chain.tip());
    assert_eq!(p.last_block(), chain.tip());
}

/// A rescan batch of unvalidated archive bytes (as mapped block files
/// give): each block is validated on a matching thread, and a block that is
/// not a valid archive stops the rescan there, after the blocks before it.
#[test]
fn rescan_of_unvalidated_blocks_stops_at_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let chain = deterministic_chain(&dir.path().join("chain"), 40);
    let tip = chain.tip().unwrap().0;
    let mut garbage = rkyv::util::AlignedVec::<16>::new();
    garbage.extend_from_slice(&[0xa5u8; 4096]);
    for threads in [1, 2, 3] {
        let whole: Vec<(u32, BatchBlock<'_>)> = (0..=tip)
            .map(|h| (h, BatchBlock::Unchecked(chain.archive_bytes(h).unwrap())))
            .collect();
        let mut a = new_wallet(dir.path(), &format!("a{threads}"), Some(test_master()));
        assert_eq!(a.rescan_blocks(&whole, threads).unwrap(), whole.len());
        assert_eq!(a.last_block(), chain.tip());

        let mut broken = whole.clone();
        broken[25].1 = BatchBlock::Unchecked(&garbage);
        let mut b = new_wallet(dir.path(), &format!("b{threads}"), Some(test_master()));
        assert_eq!(b.rescan_blocks(&broken, threads).unwrap(), 25);
        assert_eq!(b.last_block().map(|l| l.0), Some(24));
        // The same as a clean scan of the blocks before the bad one.
        let mut c = new_wallet(dir.path(), &format!("c{threads}"), Some(test_master()));
        assert_eq!(c.rescan_blocks(&whole[..25], threads).unwrap(), 25);
        let confirmed =
            |w: &btc_wallet::Wallet| get_balance(w.ledger(), w.script_index(), Some(24), 1);
        assert_eq!(confirmed(&b), confirmed(&c));
        assert!(confirmed(&b).trusted > Amount::ZERO || confirmed(&b).immature > Amount::ZERO);
    }

    // Well-shaped bytes whose tables disagree (a transaction outside raw):
    // a block that pays the wallet must be validated to be applied, so the
    // scan stops there; a wallet it does not concern passes over it.
    let mut owned: btc_core::BlockArchive =
        rkyv::deserialize::<_, rkyv::rancor::Error>(chain.archive(25).unwrap()).unwrap();
    owned.txs[0].offset = u32::MAX - 8;
    let bad = rkyv::to_bytes::<rkyv::rancor::Error>(&owned).unwrap();
    assert!(btc_core::ArchivedBlockArchive::from_bytes(&bad).is_err());
    let mut broken: Vec<(u32, BatchBlock<'_>)> = (0..=tip)
        .map(|h| (h, BatchBlock::Unchecked(chain.archive_bytes(h).unwrap())))
        .collect();
    broken[25].1 = BatchBlock::Unchecked(&bad);
    let mut d = new_wallet(dir.path(), "d", Some(test_master()));
    assert_eq!(d.rescan_blocks(&broken, 2).unwrap(), 25);
    let mut stranger = new_wallet(dir.path(), "stranger", None);
    assert_eq!(stranger.rescan_blocks(&broken, 2).unwrap(), broken.len());
    assert_eq!(stranger.last_block(), chain.tip());
}

/// Builds a deterministic chain paying `n` coinbases to the wallet of
/// `test_master()` (its first receive addresses, in turn).
fn deterministic_chain(dir: &std::path::Path, n: u32) -> btc_wallet::MemoryChain {
    let mut scripts_wallet = new_wallet(dir, "scripts", Some(test_master()));
    let scripts: Vec<bitcoin::ScriptBuf> =
        (0..10).map(|_| new_script(&mut scripts_wallet)).collect();
    let mut chain = btc_wallet::MemoryChain::new();
    let mut genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
    genesis.header.time = 1_700_000_000;
    chain.push_block(&genesis).unwrap();
    for i in 0..n {
        mine(&mut chain, scripts[(i % 10) as usize].clone(), vec![]);
    }
    chain
}

/// The child half of `kill_during_scan`: scans the chain block by block
/// forever (from scratch each round) until killed.
#[test]
fn kill_child_scan() {
    let Ok(dir) = std::env::var("KILL_CHILD_DIR") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let chain = deterministic_chain(&dir.join("chain"), 400);
    let mut w = new_wallet(&dir, "k", Some(test_master()));
    std::fs::write(dir.join("started"), b"1").unwrap();
    loop {
        for h in 0..=chain.tip().unwrap().0 {
            w.block_connected(chain.archive(h).unwrap(), h).unwrap();
        }
    }
}

#[test]
fn kill_during_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "kill_child_scan", "--nocapture"])
        .env("KILL_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = dir.path().join("started");
    let t0 = std::time::Instant::now();
    while !started.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SIGKILL: no destructor runs.
    child.kill().unwrap();
    child.wait().unwrap();
    let chain = deterministic_chain(&dir.path().join("chain2"), 400);
    let mut w = btc_wallet::Wallet::open(&dir.path().join("k"), "k", options()).unwrap();
    let resumed_from = w.attach_chain(&chain).unwrap();
    assert!(resumed_from.is_some());
    assert_eq!(w.last_block(), chain.tip());
    let b = get_balance(w.ledger(), w.script_index(), w.last_block().map(|b| b.0), 1);
    // 400 coinbases of 50 BTC, the last 100 immature.
    assert_eq!(b.trusted, Amount::from_btc(300.0 * 50.0).unwrap());
    assert_eq!(b.immature, Amount::from_btc(100.0 * 50.0).unwrap());
}
