//! Micro-benchmarks of the ring on one core and of archive access.
//! `cargo bench -p shm-ipc --bench ring`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use shm_ipc::{channel, ChannelConfig, Policy};

fn ring_records_per_second(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    for size in [48usize, 1024, 64 * 1024] {
        let batch = (1 << 20) / (size + 64).max(1024);
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(
            BenchmarkId::new("send_then_drain", size),
            &size,
            |b, &size| {
                let (mut tx, mut rx) =
                    channel::<Vec<u8>>(ChannelConfig::new(4 << 20, Policy::Block)).unwrap();
                let v = vec![7u8; size];
                b.iter(|| {
                    for _ in 0..batch {
                        tx.send_deferred(&v).unwrap();
                    }
                    tx.flush().unwrap();
                    for _ in 0..batch {
                        let r = rx.try_recv().unwrap().unwrap();
                        black_box(r.len());
                    }
                });
            },
        );
    }
    g.finish();
}

fn block_shaped(total: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut left = total;
    let mut i = 0usize;
    while left > 0 {
        let n = (150 + (i * 7919) % 300).min(left);
        v.push(vec![i as u8; n]);
        left -= n;
        i += 1;
    }
    v
}

fn archive_access(c: &mut Criterion) {
    // What a receiver pays to get a usable reference to a 1 MiB block-shaped
    // archive: trusted (in place, O(1)), validated in place, and what an
    // untrusted receiver does (copy out of shared memory, then validate).
    let mut g = c.benchmark_group("access_1MiB_block_shaped");
    let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&block_shaped(1 << 20)).unwrap();
    type A = rkyv::Archived<Vec<Vec<u8>>>;
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("trusted_in_place", |b| {
        // SAFETY: `bytes` was produced by rkyv from a valid value just above.
        b.iter(|| black_box(unsafe { rkyv::access_unchecked::<A>(black_box(&bytes)) }.len()))
    });
    g.bench_function("validate_in_place", |b| {
        b.iter(|| {
            black_box(
                rkyv::access::<A, rkyv::rancor::Error>(black_box(&bytes))
                    .unwrap()
                    .len(),
            )
        })
    });
    let mut scratch = rkyv::util::AlignedVec::<16>::new();
    g.bench_function("untrusted_copy_and_validate", |b| {
        b.iter(|| {
            scratch.clear();
            scratch.extend_from_slice(black_box(&bytes));
            black_box(
                rkyv::access::<A, rkyv::rancor::Error>(&scratch)
                    .unwrap()
                    .len(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, ring_records_per_second, archive_access);
criterion_main!(benches);
