//! `match_block` on real block 702861 with a wallet of 1,000 scripts:
//! correct matches and blocks per second on one core (printed; the
//! criterion bench `benches/scan.rs` measures it properly).

use std::time::Instant;

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, WPubkeyHash};
use btc_core::{data, ArchivedBlockArchive, BlockWire};
use btc_wallet::{match_block, OutpointIndex, ScriptIndex, ScriptOrigin};

#[test]
fn match_block_on_702861() {
    let wire = BlockWire::parse(data::require(data::BLOCK_702861)).unwrap();
    let bytes = wire.to_archive();
    let block = ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    let mut scripts = ScriptIndex::new();
    for i in 0..1000u32 {
        let h = bitcoin::hashes::sha256::Hash::hash(&i.to_le_bytes());
        let mut b = [0u8; 20];
        b.copy_from_slice(&h[..20]);
        scripts.insert(
            &ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(b)),
            ScriptOrigin { desc: 0, index: i },
        );
    }
    let mut outpoints = OutpointIndex::new();
    assert!(match_block(&scripts, &outpoints, block).is_empty());

    // A real output of tx 7 and the outpoint spent by tx 9's first input.
    let out = block.output(7, 1).unwrap();
    scripts.insert(out.script_pubkey(), ScriptOrigin { desc: 1, index: 3 });
    let spent = block.input(9, 0).unwrap().previous_output();
    outpoints.insert(spent);
    outpoints.insert(OutPoint::new(spent.txid, spent.vout + 1000));
    let m = match_block(&scripts, &outpoints, block);
    let want_script = out.script_pubkey().to_owned();
    // Every output of the block with that script matches (it may repeat).
    let expected_outputs: usize = block
        .txs()
        .flat_map(|t| t.outputs().collect::<Vec<_>>())
        .filter(|o| o.script_pubkey() == want_script.as_script())
        .count();
    let got_outputs: usize = m.txs.iter().map(|t| t.outputs.len()).sum();
    assert_eq!(got_outputs, expected_outputs);
    assert!(m
        .txs
        .iter()
        .any(|t| t.index == 7 && t.outputs.iter().any(|o| o.0 == 1)));
    assert!(m.txs.iter().any(|t| t.index == 9 && t.spends == vec![0]));

    let n = 2000;
    let start = Instant::now();
    let mut total = 0;
    for _ in 0..n {
        total += match_block(&scripts, &outpoints, block).txs.len();
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(total > 0);
    println!(
        "match_block 702861 ({} txs, {} outputs, {} inputs), 1001 scripts: {:.1} µs/block, {:.0} blocks/s on one core",
        block.tx_count(),
        block.output_count(),
        block.input_count(),
        secs / n as f64 * 1e6,
        n as f64 / secs
    );
}
