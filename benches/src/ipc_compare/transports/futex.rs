//! `futex`: the floor of the blocking mode. A ping-pong on two counters in a
//! `MAP_SHARED` memfd page inherited by the child, carrying no payload at
//! all: each side sleeps in `FUTEX_WAIT` and is woken by `FUTEX_WAKE` (the
//! cheapest possible cross-process wake-up). It runs in blocking mode only
//! (see `modes`); the endpoint still handles a spin mode generically.
//!
//! Emitted once, at payload 64 (the payload is ignored). It has no stream
//! test; its throughput is the ping-pong message rate, and its bytes/s is
//! 0 (it carries no bytes).

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Result;

use crate::ipc_compare::harness::{self, PingPong};
use crate::ipc_compare::sync::{futex_wait, futex_wake, SharedRegion};
use crate::ipc_compare::{
    spawn_child, Case, ChildArgs, Measurement, Mode, SyncChannel, TestKind, Transport,
};

/// The futex transport.
pub struct Futex;

/// Offsets of the two counters (separate cache lines).
const PARENT_TO_CHILD: usize = 0;
const CHILD_TO_PARENT: usize = 64;

struct FutexEndpoint {
    region: SharedRegion,
    out_off: usize,
    in_off: usize,
    sent: u32,
    seen: u32,
    mode: Mode,
    sync: SyncChannel,
}

impl FutexEndpoint {
    fn word(&self, off: usize) -> &AtomicU32 {
        self.region.atomic_u32(off)
    }
}

impl PingPong for FutexEndpoint {
    fn prepare(&mut self) -> Result<()> {
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        self.sent = self.sent.wrapping_add(1);
        let w = self.word(self.out_off);
        w.store(self.sent, Ordering::Release);
        if self.mode == Mode::Blocking {
            futex_wake(w, 1);
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<usize> {
        let want = self.seen.wrapping_add(1);
        let w = self.word(self.in_off);
        match self.mode {
            Mode::Spin => {
                while w.load(Ordering::Acquire) != want {
                    std::hint::spin_loop();
                    self.sync.check()?;
                }
            }
            Mode::Blocking => loop {
                let v = w.load(Ordering::Acquire);
                if v == want {
                    break;
                }
                futex_wait(w, v, Some(std::time::Duration::from_millis(100)));
                if w.load(Ordering::Acquire) != want {
                    self.sync.check_now()?;
                }
            },
        }
        self.seen = want;
        Ok(0)
    }
}

impl Transport for Futex {
    fn name(&self) -> &'static str {
        "futex"
    }

    fn payloads(&self, requested: &[usize]) -> Vec<usize> {
        requested.iter().copied().filter(|&p| p == 64).collect()
    }

    /// Blocking only: a futex is the floor of the blocking mode. (Spinning
    /// on the same word is just a cache-line ping-pong, which the spin rows
    /// of the other transports already include.)
    fn modes(&self) -> &'static [Mode] {
        &[Mode::Blocking]
    }

    fn tests(&self) -> &'static [TestKind] {
        &[TestKind::Latency]
    }

    fn run(&self, case: &Case<'_>) -> Result<Measurement> {
        let sync = SyncChannel::create(case.cfg.child_timeout)?;
        let region = SharedRegion::create("ipc-compare-futex", 4096)?;
        let child = spawn_child(case, &sync, &[region.fd().as_fd()], None)?;
        let mut ep = FutexEndpoint {
            region,
            out_off: PARENT_TO_CHILD,
            in_off: CHILD_TO_PARENT,
            sent: 0,
            seen: 0,
            mode: case.mode,
            sync: sync.clone(),
        };
        let result = harness::latency_parent(case, &sync, &mut ep);
        child.complete(result)
    }

    fn child(&self, args: &ChildArgs) -> Result<()> {
        let region = SharedRegion::from_fd(args.take_fd(0)?)?;
        let mut ep = FutexEndpoint {
            region,
            out_off: CHILD_TO_PARENT,
            in_off: PARENT_TO_CHILD,
            sent: 0,
            seen: 0,
            mode: args.mode,
            sync: args.sync.clone(),
        };
        harness::latency_child(&args.sync, &mut ep)
    }
}
