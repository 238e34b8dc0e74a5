//! `shared_memory+raw_sync`: the naive shared-memory baseline. One named
//! segment (`shared_memory` crate, `shm_open`) holds, per direction, a
//! process-shared `raw_sync` mutex, a "full" event, an "empty" event, a
//! length and a data area. The sender serializes with postcard into its own
//! buffer, copies the bytes into the segment under the lock and signals
//! "full"; the receiver waits on "full", then deserializes into a
//! `BlockPayload` straight from the segment under the lock. One slot per
//! direction, so the throughput stream waits for "empty" before each message
//! after the first.
//!
//! Blocking mode: `raw_sync::events::Event` (pthread condvar + mutex,
//! process-shared). Spin mode: `raw_sync::events::BusyEvent` (an atomic
//! flag polled in a loop).
//!
//! The segment name is `/btcb_shm_<pid>_<n>`; it is unlinked as soon as the
//! child has opened it (the mappings stay valid), so nothing is left behind
//! even if a process crashes later. Leftovers of a run killed before that
//! point are removed at the next run (names whose pid is dead).

use std::ffi::CString;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use raw_sync::events::{BusyEvent, Event, EventImpl, EventInit, EventState};
use raw_sync::locks::{LockImpl, LockInit, Mutex};
use raw_sync::Timeout;
use shared_memory::{Shmem, ShmemConf};

use crate::ipc_compare::harness::{self, Consumer, PingPong, Producer};
use crate::ipc_compare::payload::{make_payload, BlockPayload};
use crate::ipc_compare::{spawn_child, Case, ChildArgs, Measurement, Mode, SyncChannel, Transport};

/// The shared_memory + raw_sync transport.
pub struct SharedMemoryRawSync;

/// Bytes reserved for each primitive in the segment header.
const SLOT: usize = 256;
/// Header: per direction, mutex / full / empty / length.
const DIR_HEADER: usize = 4 * SLOT;
const DATA_OFF: usize = 2 * DIR_HEADER;
/// Prefix of the segment names (in /dev/shm).
const PREFIX: &str = "btcb_shm_";
/// `raw_sync` timed waits must use whole seconds: it adds the sub-second
/// part to the current time without carrying into tv_sec, which can make
/// pthread reject the deadline.
const WAIT_SLICE: Duration = Duration::from_secs(1);

fn rs<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> anyhow::Error {
    move |e| anyhow!("raw_sync {what}: {e}")
}

/// One direction's primitives and data area.
struct Dir {
    lock: Box<dyn LockImpl>,
    full: Box<dyn EventImpl>,
    empty: Box<dyn EventImpl>,
    len: *mut u64,
    data: *mut u8,
    cap: usize,
}

impl Dir {
    /// # Safety
    /// `base` must point to `DIR_HEADER` bytes and `data` to `cap` bytes of
    /// the mapped segment, both valid for the segment's lifetime, and
    /// (`create == false`) the primitives must have been initialized by the
    /// creator.
    unsafe fn new(
        base: *mut u8,
        data: *mut u8,
        cap: usize,
        mode: Mode,
        create: bool,
    ) -> Result<Self> {
        let (lock, used) = if create {
            Mutex::new(base, data)
        } else {
            Mutex::from_existing(base, data)
        }
        .map_err(rs("mutex"))?;
        if used > SLOT {
            bail!("raw_sync mutex needs {used} bytes");
        }
        let ev = |at: *mut u8| -> Result<Box<dyn EventImpl>> {
            let (e, used) = match (mode, create) {
                (Mode::Blocking, true) => Event::new(at, true),
                (Mode::Blocking, false) => Event::from_existing(at),
                (Mode::Spin, true) => BusyEvent::new(at, true),
                (Mode::Spin, false) => BusyEvent::from_existing(at),
            }
            .map_err(rs("event"))?;
            if used > SLOT {
                bail!("raw_sync event needs {used} bytes");
            }
            Ok(e)
        };
        let full = ev(base.add(SLOT))?;
        let empty = ev(base.add(2 * SLOT))?;
        Ok(Self {
            lock,
            full,
            empty,
            len: base.add(3 * SLOT).cast::<u64>(),
            data,
            cap,
        })
    }

    /// Waits for `ev`. Blocking: a timed wait in one-second slices,
    /// checking the peer between slices. Spin: polls the `BusyEvent` (a
    /// zero timeout is one look at its flag) in our own loop, so that the
    /// spin gets the same peer checks and yields as every other transport's.
    fn wait(ev: &dyn EventImpl, mode: Mode, sync: &SyncChannel) -> Result<()> {
        match mode {
            Mode::Blocking => loop {
                if ev.wait(Timeout::Val(WAIT_SLICE)).is_ok() {
                    return Ok(());
                }
                sync.check_now()?;
            },
            Mode::Spin => loop {
                if ev.wait(Timeout::Val(Duration::ZERO)).is_ok() {
                    return Ok(());
                }
                std::hint::spin_loop();
                sync.check()?;
            },
        }
    }

    /// Copies `bytes` into the segment under the lock and signals "full".
    fn put(&self, bytes: &[u8]) -> Result<()> {
        if bytes.len() > self.cap {
            bail!(
                "message of {} bytes exceeds the slot ({})",
                bytes.len(),
                self.cap
            );
        }
        {
            let _g = self.lock.lock().map_err(rs("lock"))?;
            // SAFETY: `len` and `data..data+cap` are in the mapped segment
            // (Dir::new's contract), we hold the mutex that guards them, and
            // bytes.len() <= cap.
            unsafe {
                self.len.write_volatile(bytes.len() as u64);
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data, bytes.len());
            }
        }
        self.full.set(EventState::Signaled).map_err(rs("set"))
    }

    /// Waits for "full", then deserializes from the segment under the lock.
    fn take(&self, mode: Mode, sync: &SyncChannel) -> Result<BlockPayload> {
        Self::wait(self.full.as_ref(), mode, sync)?;
        let _g = self.lock.lock().map_err(rs("lock"))?;
        // SAFETY: as in `put`; we hold the mutex, and the length was written
        // by the peer under it (checked against the capacity).
        let bytes = unsafe {
            let len = self.len.read_volatile() as usize;
            if len > self.cap {
                bail!("corrupt length {len}");
            }
            std::slice::from_raw_parts(self.data, len)
        };
        postcard::from_bytes(bytes).context("postcard decode")
    }
}

struct ShmEndpoint {
    // `out`/`inp` point into `shmem`: declared first so they drop first.
    out: Dir,
    inp: Dir,
    shmem: Shmem,
    mode: Mode,
    sync: SyncChannel,
    payload: BlockPayload,
    buf: Vec<u8>,
    last: Option<BlockPayload>,
    sent: u64,
}

fn capacity(payload_bytes: usize) -> Result<usize> {
    let n = postcard::to_stdvec(&make_payload(payload_bytes))?.len();
    Ok((n + 64).next_multiple_of(4096))
}

impl ShmEndpoint {
    fn new(
        shmem: Shmem,
        is_parent: bool,
        mode: Mode,
        payload_bytes: usize,
        sync: SyncChannel,
    ) -> Result<Self> {
        let cap = capacity(payload_bytes)?;
        if shmem.len() < DATA_OFF + 2 * cap {
            bail!("segment too small");
        }
        let base = shmem.as_ptr();
        // SAFETY: the segment is at least DATA_OFF + 2*cap bytes (checked),
        // so both headers and data areas are inside it; it stays mapped as
        // long as `shmem` lives, which outlives the Dirs (field order). The
        // parent initializes the primitives before the child is spawned.
        let (p2c, c2p) = unsafe {
            (
                Dir::new(base, base.add(DATA_OFF), cap, mode, is_parent)?,
                Dir::new(
                    base.add(DIR_HEADER),
                    base.add(DATA_OFF + cap),
                    cap,
                    mode,
                    is_parent,
                )?,
            )
        };
        let (out, inp) = if is_parent { (p2c, c2p) } else { (c2p, p2c) };
        Ok(Self {
            out,
            inp,
            shmem,
            mode,
            sync,
            payload: make_payload(payload_bytes),
            buf: Vec::new(),
            last: None,
            sent: 0,
        })
    }
}

impl PingPong for ShmEndpoint {
    fn prepare(&mut self) -> Result<()> {
        self.last = None;
        self.buf = postcard::to_stdvec(&self.payload)?;
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        self.out.put(&self.buf)
    }

    fn recv(&mut self) -> Result<usize> {
        let v = self.inp.take(self.mode, &self.sync)?;
        let n = v.txs.len();
        self.last = Some(v);
        Ok(n)
    }
}

impl Producer for ShmEndpoint {
    fn send_value(&mut self, value: &BlockPayload) -> Result<()> {
        self.buf.clear();
        let b = postcard::to_extend(value, std::mem::take(&mut self.buf))?;
        self.buf = b;
        if self.sent > 0 {
            Dir::wait(self.out.empty.as_ref(), self.mode, &self.sync)?;
        }
        self.sent += 1;
        self.out.put(&self.buf)
    }
}

impl Consumer for ShmEndpoint {
    fn recv(&mut self) -> Result<usize> {
        let v = self.inp.take(self.mode, &self.sync)?;
        self.inp
            .empty
            .set(EventState::Signaled)
            .map_err(rs("set"))?;
        Ok(v.txs.len())
    }
}

static CASE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Removes `/dev/shm/btcb_shm_<pid>_*` segments whose process is gone.
fn sweep_stale() {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('_').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks for existence.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn unlink(os_id: &str) {
    if let Ok(c) = CString::new(os_id) {
        // SAFETY: shm_unlink with a valid C string.
        unsafe {
            libc::shm_unlink(c.as_ptr());
        }
    }
}

impl Transport for SharedMemoryRawSync {
    fn name(&self) -> &'static str {
        "shared_memory+raw_sync"
    }

    fn run(&self, case: &Case<'_>) -> Result<Measurement> {
        sweep_stale();
        let sync = SyncChannel::create(case.cfg.child_timeout)?;
        let os_id = format!(
            "/{PREFIX}{}_{}",
            std::process::id(),
            CASE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let size = DATA_OFF + 2 * capacity(case.payload_bytes)?;
        let shmem = ShmemConf::new()
            .size(size)
            .os_id(&os_id)
            .create()
            .map_err(|e| anyhow!("shared_memory create {os_id}: {e}"))?;
        let mut ep = ShmEndpoint::new(shmem, true, case.mode, case.payload_bytes, sync.clone())?;
        let child = match spawn_child(case, &sync, &[], Some(&os_id)) {
            Ok(c) => c,
            Err(e) => {
                unlink(&os_id);
                return Err(e);
            }
        };
        // The child sets user word 0 once it has opened the segment; then
        // the name can go.
        let attached = sync.wait_word(sync.user_word(0), 1, Mode::Spin);
        unlink(&os_id);
        ep.shmem.set_owner(false);
        let result = attached.and_then(|()| harness::run_parent(case, &sync, &mut ep));
        child.complete(result)
    }

    fn child(&self, args: &ChildArgs) -> Result<()> {
        let shmem = ShmemConf::new()
            .os_id(args.extra()?)
            .open()
            .map_err(|e| anyhow!("shared_memory open: {e}"))?;
        let mut ep = ShmEndpoint::new(
            shmem,
            false,
            args.mode,
            args.payload_bytes,
            args.sync.clone(),
        )?;
        args.sync.user_word(0).store(1, Ordering::Release);
        harness::run_child(&args.sync, args.test, &mut ep)
    }
}
