//! Connections within one process: handshake, calls, channel offers over
//! shared memory and over the TCP stream fallback, peer death.

use std::time::{Duration, Instant};

use shm_ipc::{Address, ChannelConfig, Connection, Error, Listener, Policy, Sender, Trust};

const T: Duration = Duration::from_secs(5);

fn serve_calls(conn: Connection) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for req in conn.requests().iter() {
            let mut out = req.payload.clone();
            out.reverse();
            if req.method == 1 {
                req.reply(Ok(&out)).unwrap();
            } else {
                req.reply(Err("unknown method")).unwrap();
            }
        }
    })
}

#[test]
fn calls_get_their_own_replies_and_errors() {
    let (a, b) = Connection::pair().unwrap();
    let server = serve_calls(b.clone());
    assert_eq!(a.call(1, b"abc", Some(T)).unwrap(), b"cba");
    assert!(matches!(a.call(9, b"x", Some(T)), Err(Error::Remote(m)) if m == "unknown method"));
    // concurrent calls are matched by id
    std::thread::scope(|s| {
        for i in 0..8u8 {
            let a = &a;
            s.spawn(move || {
                for _ in 0..100 {
                    assert_eq!(a.call(1, &[i, 1], Some(T)).unwrap(), vec![1, i]);
                }
            });
        }
    });
    // Payloads bigger than one control message travel in pieces, both ways.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut back = big.clone();
    back.reverse();
    assert_eq!(a.call(1, &big, Some(T)).unwrap(), back);
    assert!(matches!(
        a.call(1, &vec![0; (256 << 20) + 1], Some(T)),
        Err(Error::Config(_))
    ));
    drop(b);
    drop(a);
    server.join().unwrap();
}

#[test]
fn pending_calls_fail_fast_when_the_peer_goes_away() {
    let (a, b) = Connection::pair().unwrap();
    let t = std::thread::spawn(move || {
        let _req = b.requests().recv().unwrap(); // never answered
        std::thread::sleep(Duration::from_millis(100));
        b.shutdown();
        drop(_req);
    });
    let started = Instant::now();
    let r = a.call(1, b"x", None);
    assert!(
        matches!(r, Err(Error::PeerDied) | Err(Error::Remote(_))),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    t.join().unwrap();
    assert!(a.wait_closed(T));
    assert!(matches!(a.call(1, b"x", Some(T)), Err(Error::PeerDied)));
}

fn stream_of_records(producer: Connection, consumer: Connection, expect_shm: bool) {
    assert_eq!(producer.is_shared_memory(), expect_shm);
    let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 16, Policy::Block)).unwrap();
    producer.offer(7, &tx).unwrap();
    let mut rx = consumer
        .subscribe::<Vec<u8>>(7, Trust::UNTRUSTED, T)
        .unwrap();
    assert_eq!(rx.is_shared_memory(), expect_shm);
    // the subscription is registered once `subscribe` returns
    let t = std::thread::spawn(move || {
        for i in 0..5000u32 {
            tx.send(&i.to_le_bytes().repeat((i % 50) as usize)).unwrap();
        }
        tx
    });
    for i in 0..5000u32 {
        // busy-polling and blocking receives both work, on either transport
        let r = if i % 2 == 0 {
            rx.recv_spin().unwrap()
        } else {
            rx.recv_timeout(T).unwrap()
        };
        assert_eq!(r.seq(), i as u64);
        assert_eq!(
            r.as_slice(),
            i.to_le_bytes().repeat((i % 50) as usize).as_slice()
        );
    }
    let _tx = t.join().unwrap();
    // peer dies: the receiver gets a typed error quickly, not a hang
    drop(producer);
    drop(_tx);
    let started = Instant::now();
    let e = rx.recv_timeout(T).map(|r| r.seq());
    assert!(
        matches!(e, Err(Error::PeerDied) | Err(Error::Closed)),
        "{e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn channel_over_a_unix_socket_uses_shared_memory() {
    let dir = std::env::temp_dir().join(format!("shmipc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.sock");
    let addr = Address::parse(&format!("unix:{}", path.display())).unwrap();
    let l = Listener::bind(&addr).unwrap();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let t = std::thread::spawn(move || l.accept(T).unwrap());
    let c = addr.connect(T).unwrap();
    let s = t.join().unwrap();
    stream_of_records(s, c, true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn channel_over_tcp_falls_back_to_a_stream_with_the_same_api() {
    let l = Listener::bind(&Address::parse("tcp:127.0.0.1:0").unwrap()).unwrap();
    let addr = l.address().clone();
    let t = std::thread::spawn(move || l.accept(T).unwrap());
    let c = addr.connect(T).unwrap();
    let s = t.join().unwrap();
    stream_of_records(s, c, false);
}

#[test]
fn subscribing_to_a_channel_never_offered_times_out() {
    let (a, _b) = Connection::pair().unwrap();
    let r = a.subscribe::<Vec<u8>>(3, Trust::UNTRUSTED, Duration::from_millis(100));
    assert!(matches!(r, Err(Error::Timeout)));
}

#[test]
fn subscribing_with_the_wrong_type_is_refused() {
    let (a, b) = Connection::pair().unwrap();
    let tx = Sender::<Vec<u8>>::new(ChannelConfig::new(4096, Policy::Block)).unwrap();
    a.offer(1, &tx).unwrap();
    let r = b.subscribe::<String>(1, Trust::UNTRUSTED, T);
    assert!(matches!(r, Err(Error::TypeMismatch { .. })));
}

#[test]
fn version_mismatch_is_a_typed_error_on_both_sides() {
    let (x, y) = shm_ipc::platform::seqpacket_pair().unwrap();
    let t = std::thread::spawn(move || Connection::from_fd_with_version(y, T, 999));
    let ours = Connection::from_fd(x, T);
    assert!(matches!(
        ours,
        Err(Error::VersionMismatch {
            ours: 1,
            theirs: 999
        })
    ));
    assert!(matches!(
        t.join().unwrap(),
        Err(Error::VersionMismatch {
            ours: 999,
            theirs: 1
        })
    ));
}

#[test]
fn a_dead_consumer_is_detached_and_the_producer_serves_the_others() {
    let (p, c1) = Connection::pair().unwrap();
    let (p2, c2) = Connection::pair().unwrap();
    let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 13, Policy::Block)).unwrap();
    p.offer(1, &tx).unwrap();
    p2.offer(1, &tx).unwrap();
    let mut r1 = c1.subscribe::<Vec<u8>>(1, Trust::UNTRUSTED, T).unwrap();
    let _r2 = c2.subscribe::<Vec<u8>>(1, Trust::UNTRUSTED, T).unwrap();
    assert_eq!(tx.subscriber_count(), 2);
    // c2 never reads and then goes away; the producer must not stay blocked on it
    let t = std::thread::spawn(move || {
        for i in 0..2000u32 {
            tx.send(&vec![i as u8; 200]).unwrap();
        }
        tx
    });
    std::thread::sleep(Duration::from_millis(50));
    drop(c2);
    for i in 0..2000u32 {
        assert_eq!(r1.recv_timeout(T).unwrap().as_slice(), &[i as u8; 200][..]);
    }
    let tx = t.join().unwrap();
    assert_eq!(tx.subscriber_count(), 1);
    drop(p2);
}

#[test]
fn receivers_and_connections_are_pollable_with_mio() {
    use mio::{Events, Interest, Poll, Token};
    let (p, mut c) = Connection::pair().unwrap();
    let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 14, Policy::Block)).unwrap();
    p.offer(1, &tx).unwrap();
    let mut rx = c.subscribe::<Vec<u8>>(1, Trust::UNTRUSTED, T).unwrap();
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut rx, Token(1), Interest::READABLE)
        .unwrap();
    poll.registry()
        .register(&mut c, Token(2), Interest::READABLE)
        .unwrap();
    let mut events = Events::with_capacity(8);
    let producer = std::thread::spawn(move || {
        for i in 0..100u8 {
            std::thread::sleep(Duration::from_micros(200));
            tx.send(&vec![i; 10]).unwrap();
        }
        // then a call on the control channel, then hang up
        let _ = p.call(1, b"hi", Some(Duration::from_millis(200)));
        drop(tx);
        drop(p);
    });
    let (mut got, mut saw_call) = (0u8, false);
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        while let Some(r) = rx.try_recv().unwrap_or(None) {
            assert_eq!(r.as_slice(), &[got; 10][..]);
            got += 1;
        }
        c.clear_readiness();
        while let Ok(req) = c.requests().try_recv() {
            saw_call = true;
            req.reply(Ok(b"ok")).unwrap();
        }
        if !c.is_alive() {
            break;
        }
        if rx.arm() {
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
        }
    }
    producer.join().unwrap();
    assert_eq!(got, 100);
    assert!(saw_call);
    assert!(!c.is_alive(), "peer death woke the poller");
}
