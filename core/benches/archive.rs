//! Archiving a block against parsing it: rust-bitcoin's full decode,
//! bitcoin_slices' allocation-free parse (bare, and with txids), and ours
//! (parse + index + txid/wtxid hashing, then the archive into a reused
//! buffer), for blocks 413567 (pre-segwit) and 702861 (segwit).
//!
//! Needs BITCOIN_TEST_DATA:
//! `BITCOIN_TEST_DATA=/work/shared/data cargo bench -p btc-core --bench archive`

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::Duration;

use bitcoin::hashes::{sha256d, Hash, HashEngine};
use bitcoin_slices::{bsl, Parse, Visit, Visitor};
use btc_core::archive::{BlockIndex, BlockWire};
use btc_core::data;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rkyv::util::AlignedVec;

/// Computes every txid while bitcoin_slices visits the block.
struct Txids<const SHA2: bool>(Vec<[u8; 32]>);

impl<const SHA2: bool> Visitor for Txids<SHA2> {
    fn visit_transaction(&mut self, tx: &bsl::Transaction) -> ControlFlow<()> {
        let id = if SHA2 {
            tx.txid_sha2().into()
        } else {
            tx.txid().to_byte_array()
        };
        self.0.push(id);
        ControlFlow::Continue(())
    }
}

fn blocks(c: &mut Criterion) {
    for (name, file) in [
        ("block_413567", data::BLOCK_413567),
        ("block_702861", data::BLOCK_702861),
    ] {
        let wire = data::require(file);
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.sample_size(60).measurement_time(Duration::from_secs(4));

        g.bench_function("rust_bitcoin_deserialize", |b| {
            b.iter(|| bitcoin::consensus::deserialize::<bitcoin::Block>(black_box(&wire)).unwrap())
        });
        g.bench_function("slices_bare_parse", |b| {
            b.iter(|| {
                bsl::Block::parse(black_box(&wire))
                    .unwrap()
                    .parsed()
                    .total_transactions()
            })
        });
        g.bench_function("slices_parse_txids_bitcoin_hashes", |b| {
            let mut v = Txids::<false>(Vec::with_capacity(4096));
            b.iter(|| {
                v.0.clear();
                bsl::Block::visit(black_box(&wire), &mut v).unwrap();
                v.0.len()
            })
        });
        g.bench_function("slices_parse_txids_sha2", |b| {
            let mut v = Txids::<true>(Vec::with_capacity(4096));
            b.iter(|| {
                v.0.clear();
                bsl::Block::visit(black_box(&wire), &mut v).unwrap();
                v.0.len()
            })
        });

        // Ours, in steps: the validating parse alone (no hashing), the parse
        // with txids and wtxids, the archive alone (copies), and the whole.
        let mut index = BlockIndex::default();
        g.bench_function("ours_parse_no_hash", |b| {
            b.iter(|| index.parse_unhashed(black_box(&wire)).unwrap())
        });
        g.bench_function("ours_parse_and_hash", |b| {
            b.iter(|| index.parse(black_box(&wire)).unwrap())
        });
        let w = BlockWire::parse(&wire[..]).unwrap();
        let mut buf = AlignedVec::<16>::with_capacity(w.archived_len());
        buf.resize(w.archived_len(), 0);
        g.bench_function("ours_archive_only", |b| {
            b.iter(|| black_box(&w).archive_into(&mut buf).unwrap())
        });
        let mut index = Some(BlockIndex::default());
        g.bench_function("ours_archive_total", |b| {
            b.iter(|| {
                let w =
                    BlockWire::parse_reusing(black_box(&wire[..]), index.take().unwrap()).unwrap();
                let n = w.archive_into(&mut buf).unwrap();
                index = Some(w.into_parts().1);
                n
            })
        });
        let mut index = Some(BlockIndex::default());
        g.bench_function("ours_archive_total_2_threads", |b| {
            b.iter(|| {
                let w = BlockWire::parse_threads(black_box(&wire[..]), index.take().unwrap(), 2)
                    .unwrap();
                let n = w.archive_into(&mut buf).unwrap();
                index = Some(w.into_parts().1);
                n
            })
        });
        // The floor for the archive's copies: one memcpy of the same size.
        let src = vec![1u8; w.archived_len()];
        g.bench_function("memcpy_archive_size", |b| {
            b.iter(|| buf.copy_from_slice(black_box(&src)))
        });
        g.finish();
    }
}

/// sha256d from the `sha2` crate (SHA-NI, detected at run time) against
/// `bitcoin_hashes` (SHA-NI too, one block at a time through its buffer).
fn sha256(c: &mut Criterion) {
    let data: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 + i / 7) as u8).collect();
    let mut g = c.benchmark_group("sha256d");
    g.sample_size(60).measurement_time(Duration::from_secs(3));
    for len in [250usize, 1 << 20] {
        let d = &data[..len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("sha2", len), d, |b, d| {
            b.iter(|| btc_core::hash::sha256d(black_box(d)))
        });
        g.bench_with_input(BenchmarkId::new("bitcoin_hashes", len), d, |b, d| {
            b.iter(|| {
                let mut e = sha256d::Hash::engine();
                e.input(black_box(d));
                sha256d::Hash::from_engine(e)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, blocks, sha256);
criterion_main!(benches);
