//! Blocks, balances, reorgs, rescans and restarts.

mod common;

use bitcoin::Amount;
use btc_wallet::balance::get_balance;
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
