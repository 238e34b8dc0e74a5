//! Two processes play ping-pong over two shm-ipc channels and print the
//! one-way latency (round trip / 2). Each side writes its next message into a
//! loaned slot before the clock starts; commit is the send.
//!
//! `cargo run --release -p shm-ipc --example pingpong [-- SIZE [ROUNDS [spin|block]]]`

use std::process::Command;
use std::time::{Duration, Instant};

use shm_ipc::connection::{connection_from_args, spawn_child, SpawnOptions};
use shm_ipc::{ChannelConfig, Connection, Policy, Receiver, Sender, Trust};

type Msg = Vec<u8>;
const T: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(conn) = connection_from_args(&args, T) {
        let (size, rounds, spin) = params(&args);
        return side(conn?, size, rounds, spin, false);
    }
    let (size, rounds, spin) = params(&args);
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(&args[1..]);
    let (mut child, conn) = spawn_child(&mut cmd, SpawnOptions::default())?;
    side(conn, size, rounds, spin, true)?;
    child.wait()?;
    Ok(())
}

fn params(args: &[String]) -> (usize, usize, bool) {
    let free: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let size = free.first().and_then(|s| s.parse().ok()).unwrap_or(48);
    let rounds = free.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let spin = free.get(2).is_none_or(|m| *m == "spin");
    (size, rounds, spin)
}

fn recv(rx: &mut Receiver<Msg>, spin: bool) -> shm_ipc::Result<usize> {
    let r = if spin { rx.recv_spin()? } else { rx.recv()? };
    Ok(r.len())
}

fn side(
    conn: Connection,
    size: usize,
    rounds: usize,
    spin: bool,
    leader: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut tx = Sender::<Msg>::new(ChannelConfig::new(1 << 24, Policy::Block))?;
    conn.offer(1, &tx)?;
    // SAFETY: the peer is this same program, writing only through Sender.
    let mut rx = conn.subscribe::<Msg>(1, unsafe { Trust::trusted() }, T)?;
    if !spin {
        rx.set_spin(Duration::ZERO);
    }
    while tx.subscriber_count() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let msg = vec![7u8; size];
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let loan = tx.loan().write(&msg)?;
        if leader {
            let t0 = Instant::now();
            loan.commit()?;
            recv(&mut rx, spin)?;
            samples.push(t0.elapsed());
        } else {
            recv(&mut rx, spin)?;
            loan.commit()?;
        }
    }
    if leader {
        samples.sort();
        let half = |d: Duration| d.as_nanos() / 2;
        println!(
            "size {size} {}: one-way p50 {} ns, p99 {} ns",
            if spin { "spin" } else { "blocking" },
            half(samples[samples.len() / 2]),
            half(samples[samples.len() * 99 / 100])
        );
    }
    Ok(())
}
