//! `match_block` on mainnet block 702861 (2,500 transactions) against a
//! wallet of 1,000 scripts and 1,000 outpoints: the rescan's per-block
//! cost. Blocks/s per core = 1 / time per iteration.
//!
//! ```text
//! BITCOIN_TEST_DATA=/work/shared/data cargo bench -p btc-wallet --bench scan
//! ```

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, Txid, WPubkeyHash};
use btc_core::{data, ArchivedBlockArchive, BlockWire};
use btc_wallet::{match_block, OutpointIndex, ScriptIndex, ScriptOrigin};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn wallet_indexes(block: &ArchivedBlockArchive) -> (ScriptIndex, OutpointIndex) {
    let mut scripts = ScriptIndex::new();
    for i in 0..1000u32 {
        let h = bitcoin::hashes::sha256::Hash::hash(&i.to_le_bytes());
        let mut b = [0u8; 20];
        b.copy_from_slice(&h[..20]);
        let s = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_byte_array(b));
        scripts.insert(&s, ScriptOrigin { desc: 0, index: i });
    }
    // Two real outputs of the block, so the matching path runs too.
    let out = block.output(5, 0).unwrap();
    scripts.insert(out.script_pubkey(), ScriptOrigin { desc: 1, index: 0 });
    let mut outpoints = OutpointIndex::new();
    for i in 0..1000u32 {
        let h = bitcoin::hashes::sha256d::Hash::hash(&i.to_le_bytes());
        outpoints.insert(OutPoint::new(Txid::from_raw_hash(h), i % 3));
    }
    (scripts, outpoints)
}

fn bench(c: &mut Criterion) {
    let wire = BlockWire::parse(data::require(data::BLOCK_702861)).unwrap();
    let bytes = wire.to_archive();
    let block = ArchivedBlockArchive::from_bytes(&bytes).unwrap();
    let (scripts, outpoints) = wallet_indexes(block);
    assert_eq!(match_block(&scripts, &outpoints, block).txs.len(), 1);
    let mut g = c.benchmark_group("match_block");
    g.throughput(Throughput::Elements(1));
    g.bench_function("702861, 1000 scripts + 1000 outpoints", |b| {
        b.iter(|| match_block(&scripts, &outpoints, block))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
