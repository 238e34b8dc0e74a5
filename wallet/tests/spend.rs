//! Spending: coin selection, fees, change, RBF, signatures of all four
//! script types checked by Core's consensus library.

mod common;

use bitcoin::{Amount, Transaction};
use btc_core::script::{verify_tx, VerifyFlags};
use btc_wallet::balance::get_balance;
use btc_wallet::spend::{CoinControl, FeeRateKvb, Recipient};
use btc_wallet::{Chain, OutputType, Wallet};
use common::*;

fn trusted(w: &Wallet) -> Amount {
    get_balance(w.ledger(), w.script_index(), w.last_block().map(|b| b.0), 0).trusted
}

fn verify(w: &Wallet, tx: &Transaction) {
    let spent: Vec<(Amount, Vec<u8>)> = tx
        .input
        .iter()
        .map(|i| {
            let o = w.ledger().output(&i.previous_output).unwrap();
            (o.value, o.script_pubkey.to_bytes())
        })
        .collect();
    let spent: Vec<(Amount, &[u8])> = spent.iter().map(|(a, s)| (*a, s.as_slice())).collect();
    verify_tx(&bitcoin::consensus::serialize(tx), &spent, VerifyFlags::ALL).unwrap();
}

#[test]
fn send_between_wallets_all_script_types() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = new_chain();
    let mut a = new_wallet(dir.path(), "a", None);
    let mut b = new_wallet(dir.path(), "b", None);
    for ty in OutputType::ALL {
        let s = a.get_new_address("", Some(ty)).unwrap().script_pubkey();
        mine_to(&mut chain, &mut [&mut a, &mut b], s, vec![]);
    }
    let burn = bitcoin::ScriptBuf::new_op_return([0u8; 1]);
    for _ in 0..100 {
        mine_to(&mut chain, &mut [&mut a, &mut b], burn.clone(), vec![]);
    }
    assert_eq!(trusted(&a), Amount::from_btc(200.0).unwrap());

    // 170 BTC needs all four coins: every script type is signed.
    let to = b.get_new_address("", None).unwrap().script_pubkey();
    let cc = CoinControl {
        fee_rate: Some(FeeRateKvb(5_000)),
        ..CoinControl::default()
    };
    let created = a
        .create_transaction(
            &[Recipient {
                script: to.clone(),
                amount: Amount::from_btc(170.0).unwrap(),
                subtract_fee: false,
            }],
            &cc,
            &chain,
            true,
        )
        .unwrap();
    assert!(created.complete);
    let tx = created.tx.clone();
    assert_eq!(tx.input.len(), 4);
    assert!(tx.input.iter().all(|i| i.sequence.0 == 0xffff_fffd));
    let tip = chain.tip().unwrap().0;
    assert!(tx.lock_time.to_consensus_u32() <= tip && tx.lock_time.to_consensus_u32() + 100 >= tip);
    verify(&a, &tx);
    // Fee rate at least what was asked, not far above.
    let vsize = tx.vsize() as u64;
    let fee = created.fee.to_sat();
    assert!(fee >= 5 * vsize, "fee {fee} vsize {vsize}");
    assert!(fee <= 5 * vsize + 5 * 10, "fee {fee} vsize {vsize}");
    let change = created.change_pos.expect("change");
    assert!(a.is_change(&tx.output[change].script_pubkey));
    // Change goes to the internal bech32 branch (recipient is wpkh).
    assert!(tx.output[change].script_pubkey.is_p2wpkh());

    let (txid, reject) = a
        .commit_transaction(tx.clone(), None, None, &chain)
        .unwrap();
    assert!(reject.is_none());
    b.transaction_added_to_mempool(&tx).unwrap();
    // Own change is trusted at once; the receiver's is pending.
    assert_eq!(trusted(&a), Amount::from_btc(30.0).unwrap() - created.fee);
    let bb = get_balance(b.ledger(), b.script_index(), b.last_block().map(|x| x.0), 0);
    assert_eq!(bb.untrusted_pending, Amount::from_btc(170.0).unwrap());
    let pool = chain.take_mempool();
    assert_eq!(pool.len(), 1);
    mine_to(&mut chain, &mut [&mut a, &mut b], burn.clone(), pool);
    assert_eq!(trusted(&b), Amount::from_btc(170.0).unwrap());
    assert!(matches!(
        a.ledger().get(&txid).unwrap().state,
        btc_wallet::TxState::Confirmed { .. }
    ));

    // b spends back with the fee subtracted, to a taproot address.
    let back = a
        .get_new_address("", Some(OutputType::Bech32m))
        .unwrap()
        .script_pubkey();
    let created = b
        .create_transaction(
            &[Recipient {
                script: back,
                amount: Amount::from_btc(170.0).unwrap(),
                subtract_fee: true,
            }],
            &CoinControl {
                replaceable: Some(false),
                ..CoinControl::default()
            },
            &chain,
            true,
        )
        .unwrap();
    assert!(created.change_pos.is_none());
    assert_eq!(
        created.tx.output[0].value + created.fee,
        Amount::from_btc(170.0).unwrap()
    );
    assert!(created.tx.input.iter().all(|i| i.sequence.0 == 0xffff_fffe));
    verify(&b, &created.tx);
}
