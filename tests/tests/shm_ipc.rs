//! shm-ipc between real processes: this test process on one side, the
//! `ipc-peer` binary on the other.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use process_tests::{record, CHANNEL};
use shm_ipc::connection::{spawn_child, SpawnOptions};
use shm_ipc::{Address, ChannelConfig, Connection, Error, Listener, Policy, Sender, Trust};

const T: Duration = Duration::from_secs(30);

fn peer(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ipc-peer"));
    c.args(args).stdout(Stdio::piped());
    c
}

fn spawn(args: &[&str]) -> (Child, Connection) {
    spawn_child(&mut peer(args), SpawnOptions::default()).expect("spawn ipc-peer")
}

fn output(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Trust for a producer that is our own ipc-peer binary from this build.
fn own_peer() -> Trust {
    // SAFETY: the producer is the ipc-peer binary of this very build, which
    // writes only through `shm_ipc::Sender`.
    unsafe { Trust::trusted() }
}

/// kill -9, no cleanup: the point of the tests that use it.
fn kill9(child: &Child) {
    // SAFETY: kill(2) on the pid of a child we have not reaped yet.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
}

#[test]
fn a_million_records_of_random_sizes_arrive_in_order_under_block() {
    let n = 1_000_000u64;
    let (child, conn) = spawn(&["produce", &n.to_string(), "42", "512", "block", "65536"]);
    assert!(conn.is_shared_memory());
    let mut rx = conn.subscribe::<Vec<u8>>(CHANNEL, own_peer(), T).unwrap();
    for i in 0..n {
        let r = rx.recv_timeout(T).unwrap();
        assert_eq!(r.seq(), i);
        assert_eq!(r.as_slice(), record(42, i, 512).as_slice(), "record {i}");
    }
    drop(rx);
    drop(conn);
    assert!(child.wait_with_output().unwrap().status.success());
}

#[test]
fn a_lagging_consumer_gets_an_exact_gap_report_and_resyncs() {
    let n = 3000u64;
    let (child, conn) = spawn(&["produce", &n.to_string(), "7", "200", "lag", "4096"]);
    let mut rx = conn.subscribe::<Vec<u8>>(CHANNEL, own_peer(), T).unwrap();
    std::thread::sleep(Duration::from_millis(300)); // fall far behind
    let mut next = 0u64;
    let mut gaps = 0;
    while next < n {
        match rx.recv_timeout(T) {
            Ok(r) => {
                assert_eq!(r.seq(), next, "records after a gap continue in order");
                assert_eq!(r.as_slice(), record(7, next, 200).as_slice());
                next += 1;
            }
            Err(Error::Gap {
                first,
                next: resume,
            }) => {
                assert_eq!(first, next, "the gap starts exactly where we were");
                assert!(resume > first && resume <= n);
                gaps += 1;
                next = resume;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(
        gaps >= 1,
        "a consumer 300 ms late on a 4 KiB ring must have lagged"
    );
    drop(conn);
    assert!(child.wait_with_output().unwrap().status.success());
}

#[test]
fn producer_killed_mid_write_gives_a_clean_error_and_no_torn_record() {
    let (mut child, conn) = spawn(&["write-forever"]);
    let mut rx = conn
        .subscribe::<Vec<u8>>(CHANNEL, Trust::UNTRUSTED, T)
        .unwrap();
    assert_eq!(
        rx.recv_timeout(T).unwrap().as_slice(),
        record(1, 0, 1000).as_slice()
    );
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "mid-write");
    kill9(&child);
    let started = Instant::now();
    let r = rx.recv_timeout(T).map(|r| r.seq());
    assert!(matches!(r, Err(Error::PeerDied)), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "noticed in {:?}",
        started.elapsed()
    );
    // and it stays an error: the half-written slot is never delivered
    assert!(matches!(
        rx.try_recv().map(|r| r.map(|r| r.seq())),
        Err(Error::PeerDied)
    ));
    child.wait().unwrap();
}

#[test]
fn a_killed_consumer_is_reclaimed_and_the_others_are_still_served() {
    let n = 50_000u64;
    let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 14, Policy::Block)).unwrap();
    let args = ["consume", &n.to_string(), "9", "300"];
    let (victim, c1) = spawn(&args);
    let (survivor, c2) = spawn(&args);
    c1.offer(CHANNEL, &tx).unwrap();
    c2.offer(CHANNEL, &tx).unwrap();
    let deadline = Instant::now() + T;
    while tx.subscriber_count() < 2 {
        assert!(Instant::now() < deadline, "consumers never attached");
        std::thread::sleep(Duration::from_millis(5));
    }
    for i in 0..1000 {
        tx.send(&record(9, i, 300)).unwrap();
    }
    kill9(&victim);
    // The survivor can't finish before we send everything, so the count
    // falling to 1 is the victim being detached.
    let deadline = Instant::now() + T;
    while tx.subscriber_count() != 1 {
        assert!(
            Instant::now() < deadline,
            "the dead consumer was never detached"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // A 16 KiB Block ring: without the reclaim these sends would wait forever.
    for i in 1000..n {
        tx.send(&record(9, i, 300)).unwrap();
    }
    assert_eq!(output(survivor), format!("ok {n}"));
    let _ = output(victim);
}

#[test]
fn a_consumer_cannot_map_the_data_segment_writable_or_resize_it() {
    let tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 14, Policy::Block)).unwrap();
    let (child, conn) = spawn(&["map-writable"]);
    conn.send_fds(5, &[tx.segment_fd()]).unwrap();
    assert_eq!(
        output(child),
        "tag=5 writable=false readable=true resized=false"
    );
}

#[test]
fn an_oversized_record_is_refused_and_the_stream_goes_on() {
    let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 12, Policy::Block)).unwrap();
    let (child, conn) = spawn(&["consume", "1", "3", "100"]);
    conn.offer(CHANNEL, &tx).unwrap();
    while tx.subscriber_count() == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = tx.send(&vec![0u8; 10_000]);
    assert!(
        matches!(r, Err(Error::RecordTooLarge { size, capacity }) if size > capacity),
        "{r:?}"
    );
    tx.send(&record(3, 0, 100)).unwrap();
    assert_eq!(output(child), "ok 1");
}

#[test]
fn a_corrupted_archive_from_an_untrusted_producer_is_rejected() {
    let (child, conn) = spawn(&["garbage"]);
    let mut rx = conn
        .subscribe::<Vec<u8>>(CHANNEL, Trust::UNTRUSTED, T)
        .unwrap();
    let r = rx.recv_timeout(T).map(|r| r.seq());
    assert!(matches!(r, Err(Error::InvalidArchive(_))), "{r:?}");
    let good = rx.recv_timeout(T).unwrap();
    assert_eq!(good.seq(), 1);
    assert_eq!(good.as_slice(), record(2, 1, 100).as_slice());
    drop(good);
    drop(rx);
    drop(conn);
    child.wait_with_output().unwrap();
}

#[test]
fn a_version_mismatch_fails_the_handshake_on_both_sides() {
    let r = spawn_child(
        &mut peer(&["hello-version", "999"]),
        SpawnOptions::default(),
    );
    match r {
        Err(Error::VersionMismatch { ours, theirs }) => {
            assert_eq!(ours, shm_ipc::PROTOCOL_VERSION);
            assert_eq!(theirs, 999);
        }
        Err(e) => panic!("expected a version mismatch, got {e}"),
        Ok(_) => panic!("expected a version mismatch, got a connection"),
    }
}

fn listen_and_stream(addr: &str, expect_shm: bool) {
    let l = Listener::bind(&Address::parse(addr).unwrap()).unwrap();
    let addr = l.address().to_string();
    let n = 20_000u64;
    let child = peer(&[
        "produce",
        &n.to_string(),
        "5",
        "2000",
        "block",
        "65536",
        "--connect",
        &addr,
    ])
    .spawn()
    .unwrap();
    let conn = l.accept(T).unwrap();
    assert_eq!(conn.is_shared_memory(), expect_shm);
    let mut rx = conn
        .subscribe::<Vec<u8>>(CHANNEL, Trust::UNTRUSTED, T)
        .unwrap();
    assert_eq!(rx.is_shared_memory(), expect_shm);
    for i in 0..n {
        let r = rx.recv_timeout(T).unwrap();
        assert_eq!(r.seq(), i);
        assert_eq!(r.as_slice(), record(5, i, 2000).as_slice());
    }
    drop(rx);
    drop(conn);
    assert!(child.wait_with_output().unwrap().status.success());
}

#[test]
fn the_tcp_fallback_carries_the_same_stream() {
    listen_and_stream("tcp:127.0.0.1:0", false);
}

#[test]
fn a_unix_listener_gives_shared_memory_to_a_process_that_connects() {
    let dir = std::env::temp_dir().join(format!("ipc-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    listen_and_stream(&format!("unix:{}/n.sock", dir.display()), true);
    let _ = std::fs::remove_dir_all(dir);
}
