//! The ring and typed channels within one process (threads): ordering,
//! wrap-around, policies, typed errors and trust.

use std::time::Duration;

use shm_ipc::{channel, ChannelConfig, Error, Policy, Sender, Trust};

type Msg = Vec<u8>;

fn payload(i: u64, len: usize) -> Msg {
    (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
}

#[test]
fn records_arrive_in_order_across_many_wraps() {
    let (mut tx, mut rx) = channel::<Msg>(ChannelConfig::new(1 << 16, Policy::Block)).unwrap();
    let n = 20_000u64;
    let t = std::thread::spawn(move || {
        for i in 0..n {
            tx.send(&payload(i, (i as usize * 7919) % 3000)).unwrap();
        }
    });
    for i in 0..n {
        let r = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(r.seq(), i);
        assert_eq!(
            r.as_slice(),
            payload(i, (i as usize * 7919) % 3000).as_slice()
        );
    }
    t.join().unwrap();
    // producer dropped: the channel reports Closed, not a hang
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(Error::Closed)
    ));
}

#[test]
fn oversized_record_is_a_typed_error_and_the_ring_stays_usable() {
    let (mut tx, mut rx) = channel::<Msg>(ChannelConfig::new(4096, Policy::Block)).unwrap();
    match tx.send(&vec![0u8; 5000]) {
        Err(Error::RecordTooLarge { size, capacity }) => assert!(size > capacity),
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    tx.send(&payload(1, 100)).unwrap();
    let r = rx.try_recv().unwrap().expect("a record");
    assert_eq!(r.seq(), 0);
    assert_eq!(r.as_slice(), payload(1, 100).as_slice());
}

#[test]
fn abandoned_and_unwritten_loans_are_never_seen() {
    let (mut tx, mut rx) = channel::<Msg>(ChannelConfig::new(1 << 14, Policy::Block)).unwrap();
    tx.loan().write(&payload(9, 64)).unwrap().abandon();
    drop(tx.loan());
    assert!(rx.try_recv().unwrap().is_none());
    let loan = tx.loan().write(&payload(3, 64)).unwrap();
    assert_eq!(loan.access().unwrap().as_slice(), payload(3, 64).as_slice());
    assert!(rx.try_recv().unwrap().is_none(), "written but uncommitted");
    loan.commit().unwrap();
    assert_eq!(
        rx.try_recv().unwrap().unwrap().as_slice(),
        payload(3, 64).as_slice()
    );
}

#[test]
fn block_policy_producer_times_out_when_consumer_is_stuck() {
    let mut cfg = ChannelConfig::new(4096, Policy::Block);
    cfg.send_timeout = Some(Duration::from_millis(50));
    let (mut tx, _rx) = channel::<Msg>(cfg).unwrap();
    let mut sent = 0;
    let err = loop {
        match tx.send(&payload(sent, 500)) {
            Ok(_) => sent += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Timeout), "{err:?}");
    assert!(
        (6..=8).contains(&sent),
        "a 4 KiB ring holds 7 records of ~530 B, sent {sent}"
    );
}

#[test]
fn lag_policy_reports_the_exact_gap_and_resyncs() {
    let (mut tx, mut rx) = channel::<Msg>(ChannelConfig::new(4096, Policy::Lag)).unwrap();
    // each record: 16 header + rkyv(Vec<u8> of 240) = 8 + 240 -> span 272; 4096/272 = 15 fit
    for i in 0..100 {
        tx.send(&payload(i, 240)).unwrap();
    }
    // the consumer attached at record 0 and never read: an exact gap first
    let gap = rx.try_recv().map(|r| r.map(|r| r.seq()));
    let Err(Error::Gap {
        first: 0,
        next: oldest,
    }) = gap
    else {
        panic!("expected a gap from 0, got {gap:?}");
    };
    assert!(
        oldest >= 84,
        "only the last ring's worth survives, got {oldest}"
    );
    assert_eq!(rx.try_recv().unwrap().unwrap().seq(), oldest);
    let mut next = oldest + 1;
    while let Some(r) = rx.try_recv().unwrap() {
        assert_eq!(r.seq(), next);
        next += 1;
    }
    assert_eq!(next, 100);
    // now fall behind by 50 records: an exact gap, then the survivors in order
    for i in 100..150 {
        tx.send(&payload(i, 240)).unwrap();
    }
    let gap = rx.try_recv().map(|r| r.map(|r| r.seq()));
    let Err(Error::Gap { first, next: n }) = gap else {
        panic!("expected a gap, got {gap:?}");
    };
    assert_eq!(first, 100);
    assert!(n > 100 && n <= 150 - 14, "gap end {n}");
    let r = rx.try_recv().unwrap().unwrap();
    assert_eq!(r.seq(), n);
    assert_eq!(r.as_slice(), payload(n, 240).as_slice());
}

#[test]
fn lag_producer_never_overwrites_a_record_being_read() {
    let (mut tx, mut rx) = channel::<Msg>(ChannelConfig::new(4096, Policy::Lag)).unwrap();
    tx.send(&payload(0, 240)).unwrap();
    let held = rx.try_recv().unwrap().unwrap();
    let t = std::thread::spawn(move || {
        for i in 1..40 {
            tx.send(&payload(i, 240)).unwrap();
        }
        tx
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(held.as_slice(), payload(0, 240).as_slice());
    assert!(!t.is_finished(), "producer must wait for the held record");
    drop(held);
    let _tx = t.join().unwrap();
}

#[test]
fn several_consumers_each_get_every_record() {
    let (mut tx, mut a) = channel::<Msg>(ChannelConfig::new(1 << 13, Policy::Block)).unwrap();
    // SAFETY: the producer is this process's own Sender.
    let mut b = tx.subscribe_local(unsafe { Trust::trusted() }).unwrap();
    let mut c = tx.subscribe_local(Trust::UNTRUSTED).unwrap();
    let t = std::thread::spawn(move || {
        for i in 0..2000 {
            tx.send(&payload(i, 300)).unwrap();
        }
    });
    for i in 0..2000 {
        for rx in [&mut a, &mut b, &mut c] {
            let r = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(r.seq(), i);
            assert_eq!(r.len(), 300);
        }
    }
    t.join().unwrap();
}

#[test]
fn write_from_parts_and_validate_in_place() {
    let mut tx = Sender::<Msg>::new(ChannelConfig::new(1 << 14, Policy::Block)).unwrap();
    let mut rx = tx.subscribe_local(Trust::UNTRUSTED).unwrap();
    let good = rkyv::to_bytes::<rkyv::rancor::Error>(&payload(5, 77)).unwrap();
    let loan = tx
        .loan()
        .write_with(good.len(), |buf| {
            buf.copy_from_slice(&good);
            Ok::<_, ()>(good.len())
        })
        .unwrap();
    assert_eq!(loan.access().unwrap().len(), 77);
    loan.commit().unwrap();
    assert_eq!(
        rx.try_recv().unwrap().unwrap().as_slice(),
        payload(5, 77).as_slice()
    );
    // garbage from parts: an untrusted receiver rejects it instead of reading it
    let loan = tx
        .loan()
        .write_with(16, |buf| {
            buf.copy_from_slice(&[0xff; 16]);
            Ok::<_, ()>(16)
        })
        .unwrap();
    assert!(loan.access().is_err());
    loan.commit().unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::InvalidArchive(_))));
}

#[test]
fn wakes_go_only_to_parked_consumers_and_are_coalesced() {
    let (mut tx, mut rx) = channel::<Msg>(ChannelConfig::new(1 << 16, Policy::Block)).unwrap();
    // Nobody parked: publishing costs no system call.
    for i in 0..100 {
        tx.send(&payload(i, 10)).unwrap();
    }
    assert_eq!(tx.stats().wakes, 0);
    assert_eq!(tx.stats().publishes, 100);
    for _ in 0..100 {
        drop(rx.try_recv().unwrap().unwrap());
    }
    // A consumer parked at once (no spinning): a batch of 50 wakes it once.
    rx.set_spin(Duration::ZERO);
    let t = std::thread::spawn(move || {
        for _ in 0..50 {
            drop(rx.recv_timeout(Duration::from_secs(10)).unwrap());
        }
        rx
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tx.parked_consumers() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the consumer never parked"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    for i in 0..50 {
        tx.send_deferred(&payload(i, 10)).unwrap();
    }
    tx.flush().unwrap();
    let _rx = t.join().unwrap();
    assert_eq!(tx.stats().wakes, 1);
    assert_eq!(tx.stats().publishes, 101);
    assert_eq!(tx.stats().records, 150);
}

#[test]
fn a_kept_record_stays_until_released_or_the_next_receive() {
    let (mut tx, mut rx) = channel::<Msg>(ChannelConfig::new(1 << 14, Policy::Block)).unwrap();
    tx.send(&payload(0, 100)).unwrap();
    tx.send(&payload(1, 100)).unwrap();
    let kept = rx.try_recv().unwrap().unwrap().keep();
    assert_eq!(kept.as_slice(), payload(0, 100).as_slice());
    let full = tx.occupancy().0;
    assert!(full > 0);
    rx.release_held();
    let after_release = tx.occupancy().0;
    assert!(after_release < full, "release_held gave the space back");
    // kept again, then released implicitly by the next receive
    let kept = rx.try_recv().unwrap().unwrap().keep();
    assert_eq!(kept.as_slice(), payload(1, 100).as_slice());
    assert!(rx.try_recv().unwrap().is_none());
    assert_eq!(tx.occupancy().0, 0);
}
