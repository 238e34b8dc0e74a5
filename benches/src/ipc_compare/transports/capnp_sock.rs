//! `capnp`: a Cap'n Proto message over an AF_UNIX socketpair, framed the
//! way Bitcoin Core's libmultiprocess frames its calls
//! (`capnp::serialize::write_message` / `read_message`: segment table, then
//! the segments). No schema codegen: the root is a `List(Data)` with one
//! element per transaction. The receiver's usable value is the message
//! reader with its root list, whose items it reads (each `Data` pointer is
//! resolved and bounds-checked; the bytes are not copied).
//!
//! This measures Cap'n Proto's wire encoding over a socket, not the
//! capnp-rpc runtime (event loop, promises, capability table), which only
//! adds cost on top.
//!
//! Spin mode: non-blocking socket with busy retry on `EAGAIN`.

use std::io::{BufReader, BufWriter, Write};
use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, Result};
use capnp::message::{Builder, HeapAllocator, Reader, ReaderOptions};
use capnp::serialize::OwnedSegments;

use crate::ipc_compare::fdio::{socketpair, FdStream};
use crate::ipc_compare::harness::{self, Consumer, PingPong, Producer};
use crate::ipc_compare::payload::{make_payload, BlockPayload};
use crate::ipc_compare::{spawn_child, Case, ChildArgs, Measurement, Mode, SyncChannel, Transport};

/// The Cap'n Proto transport.
pub struct Capnp;

struct CapnpEndpoint {
    rd: BufReader<FdStream>,
    wr: BufWriter<FdStream>,
    payload: BlockPayload,
    prepared: Option<Builder<HeapAllocator>>,
    last: Option<Reader<OwnedSegments>>,
}

/// Builds the message for `value`: root `List(Data)`, one item per tx.
fn build(value: &BlockPayload) -> Result<Builder<HeapAllocator>> {
    let mut msg = Builder::new_default();
    let n = u32::try_from(value.txs.len()).context("too many items")?;
    let mut list = msg.initn_root::<capnp::data_list::Builder>(n);
    for (i, tx) in value.txs.iter().enumerate() {
        list.set(i as u32, &tx.data);
    }
    Ok(msg)
}

/// Reads every item of the root list; returns the number of items.
fn read_items(reader: &Reader<OwnedSegments>) -> Result<usize> {
    let list = reader.get_root::<capnp::data_list::Reader>()?;
    let mut total = 0usize;
    for item in list.iter() {
        total += item?.len();
    }
    std::hint::black_box(total);
    Ok(list.len() as usize)
}

impl CapnpEndpoint {
    fn new(sock: OwnedFd, mode: Mode, sync: &SyncChannel, payload_bytes: usize) -> Result<Self> {
        let rd = FdStream::new(sock, mode, sync.clone())?;
        let wr = rd.try_clone()?;
        Ok(Self {
            rd: BufReader::with_capacity(64 << 10, rd),
            wr: BufWriter::with_capacity(8 << 10, wr),
            payload: make_payload(payload_bytes),
            prepared: None,
            last: None,
        })
    }

    fn write(&mut self, msg: &Builder<HeapAllocator>) -> Result<()> {
        capnp::serialize::write_message(&mut self.wr, msg)?;
        self.wr.flush()?;
        Ok(())
    }

    fn read(&mut self) -> Result<Reader<OwnedSegments>> {
        let opts = *ReaderOptions::new().traversal_limit_in_words(Some(64 << 20));
        Ok(capnp::serialize::read_message(&mut self.rd, opts)?)
    }
}

impl PingPong for CapnpEndpoint {
    fn prepare(&mut self) -> Result<()> {
        self.last = None;
        self.prepared = Some(build(&self.payload)?);
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        let msg = self.prepared.take().context("nothing prepared")?;
        self.write(&msg)
    }

    fn recv(&mut self) -> Result<usize> {
        let r = self.read()?;
        let n = read_items(&r)?;
        self.last = Some(r);
        Ok(n)
    }
}

impl Producer for CapnpEndpoint {
    fn send_value(&mut self, value: &BlockPayload) -> Result<()> {
        let msg = build(value)?;
        self.write(&msg)
    }
}

impl Consumer for CapnpEndpoint {
    fn recv(&mut self) -> Result<usize> {
        let r = self.read()?;
        read_items(&r)
    }
}

impl Transport for Capnp {
    fn name(&self) -> &'static str {
        "capnp"
    }

    fn run(&self, case: &Case<'_>) -> Result<Measurement> {
        let sync = SyncChannel::create(case.cfg.child_timeout)?;
        let (mine, theirs) = socketpair()?;
        let child = spawn_child(case, &sync, &[theirs.as_fd()], None)?;
        drop(theirs);
        let result = (|| {
            let mut ep = CapnpEndpoint::new(mine, case.mode, &sync, case.payload_bytes)?;
            harness::run_parent(case, &sync, &mut ep)
        })();
        child.complete(result)
    }

    fn child(&self, args: &ChildArgs) -> Result<()> {
        let mut ep =
            CapnpEndpoint::new(args.take_fd(0)?, args.mode, &args.sync, args.payload_bytes)?;
        harness::run_child(&args.sync, args.test, &mut ep)
    }
}
