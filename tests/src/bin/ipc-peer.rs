//! The other process in the shm-ipc tests. It connects through `-ipcfd=N`
//! (spawned by the test) or `--connect ADDR`, then plays one role:
//!
//! - `produce N SEED MAX POLICY CAP`: offer a channel, wait for one
//!   subscriber, send N records (see `process_tests::record`), wait for the
//!   peer to hang up.
//! - `consume N SEED MAX`: subscribe, check N records in order, print `ok`.
//! - `write-forever`: offer, wait for a subscriber, send one record, then
//!   reserve a slot, fill half of it and stall there (to be killed mid-write).
//! - `garbage`: offer, send records that are not valid archives.
//! - `map-writable`: receive the producer's ring descriptor and report
//!   whether it can be mapped writable or resized (it must not).
//! - `hello-version V`: handshake announcing protocol version V.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use process_tests::{record, CHANNEL};
use shm_ipc::{Address, ChannelConfig, Connection, Policy, Sender, Trust};

const T: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn connect(args: &[String]) -> Result<Connection> {
    if let Some(c) = shm_ipc::connection::connection_from_args(args, T) {
        return Ok(c?);
    }
    let i = args
        .iter()
        .position(|a| a == "--connect")
        .context("no -ipcfd and no --connect")?;
    let addr = Address::parse(args.get(i + 1).context("--connect needs an address")?)?;
    Ok(addr.connect(T)?)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> Result<T> {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("missing or bad argument {i}"))
}

fn wait_subscriber(tx: &Sender<Vec<u8>>) -> Result<()> {
    for _ in 0..3000 {
        if tx.subscriber_count() > 0 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("nobody subscribed")
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let role = args.first().context("no role")?.clone();
    if role == "hello-version" {
        let v: u32 = arg(&args, 1)?;
        let fd = shm_ipc::platform::adopt_fd(
            args.iter()
                .find_map(|a| a.strip_prefix("-ipcfd="))
                .context("no -ipcfd")?
                .parse()?,
        )?;
        let r = Connection::from_fd_with_version(fd, T, v);
        println!("{}", r.err().map_or("connected".into(), |e| e.to_string()));
        return Ok(());
    }
    let conn = connect(&args)?;
    match role.as_str() {
        "produce" => {
            let (n, seed, max): (u64, u64, usize) =
                (arg(&args, 1)?, arg(&args, 2)?, arg(&args, 3)?);
            let policy = if arg::<String>(&args, 4)? == "lag" {
                Policy::Lag
            } else {
                Policy::Block
            };
            let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(arg(&args, 5)?, policy))?;
            conn.offer(CHANNEL, &tx)?;
            wait_subscriber(&tx)?;
            for i in 0..n {
                tx.send(&record(seed, i, max))?;
            }
            conn.wait_closed(Duration::from_secs(120));
        }
        "consume" => {
            let (n, seed, max): (u64, u64, usize) =
                (arg(&args, 1)?, arg(&args, 2)?, arg(&args, 3)?);
            let mut rx = conn.subscribe::<Vec<u8>>(CHANNEL, Trust::UNTRUSTED, T)?;
            for i in 0..n {
                let r = rx.recv_timeout(T)?;
                if r.seq() != i || r.as_slice() != record(seed, i, max).as_slice() {
                    bail!("record {i} is wrong (seq {})", r.seq());
                }
            }
            println!("ok {n}");
        }
        "write-forever" => {
            let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 16, Policy::Block))?;
            conn.offer(CHANNEL, &tx)?;
            wait_subscriber(&tx)?;
            tx.send(&record(1, 0, 1000))?;
            let loan = tx.loan();
            let _stuck = loan.write_with(4096, |buf| {
                buf[..2048].fill(0xAB);
                println!("mid-write");
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                }
                #[allow(unreachable_code)]
                Ok::<usize, ()>(0)
            });
        }
        "garbage" => {
            let mut tx = Sender::<Vec<u8>>::new(ChannelConfig::new(1 << 16, Policy::Block))?;
            conn.offer(CHANNEL, &tx)?;
            wait_subscriber(&tx)?;
            // a length field pointing far outside the record
            let bad = [0xffu8; 32];
            tx.loan()
                .write_with(bad.len(), |buf| {
                    buf.copy_from_slice(&bad);
                    Ok::<_, ()>(bad.len())
                })
                .map_err(|e| anyhow!("{e}"))?
                .commit()?;
            tx.send(&record(2, 1, 100))?;
            conn.wait_closed(Duration::from_secs(60));
        }
        "map-writable" => {
            let (tag, fds) = conn.fds().recv_timeout(T)?;
            let fd = fds.into_iter().next().context("no descriptor")?;
            let writable = try_map(&fd, libc::PROT_READ | libc::PROT_WRITE);
            let readable = try_map(&fd, libc::PROT_READ);
            // SAFETY: ftruncate on a descriptor we own; it must be refused.
            let resized = unsafe { libc::ftruncate(std::os::fd::AsRawFd::as_raw_fd(&fd), 1) } == 0;
            println!("tag={tag} writable={writable} readable={readable} resized={resized}");
        }
        r => bail!("unknown role {r}"),
    }
    Ok(())
}

fn try_map(fd: &std::os::fd::OwnedFd, prot: i32) -> bool {
    // SAFETY: a fresh shared mapping of a descriptor we own, unmapped at once.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            prot,
            libc::MAP_SHARED,
            std::os::fd::AsRawFd::as_raw_fd(fd),
            0,
        );
        if p == libc::MAP_FAILED {
            return false;
        }
        libc::munmap(p, 4096);
        true
    }
}
