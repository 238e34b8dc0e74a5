//! `socketpair` and `pipe`: length-prefixed postcard frames over an
//! `AF_UNIX SOCK_STREAM` socketpair or a pair of pipes; the receiver
//! deserializes each frame into a `BlockPayload`. Spin mode: `O_NONBLOCK` and
//! busy retry on `EAGAIN`. Default kernel buffer sizes (socket ~208 KiB,
//! pipe 64 KiB), as a program that does nothing special would get.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, Result};

use crate::ipc_compare::fdio::{encode_frame, pipe, socketpair, FdStream, FrameReader};
use crate::ipc_compare::harness::{self, Consumer, PingPong, Producer};
use crate::ipc_compare::payload::{make_payload, BlockPayload};
use crate::ipc_compare::{spawn_child, Case, ChildArgs, Measurement, Mode, SyncChannel, Transport};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    SocketPair,
    Pipe,
}

/// The `socketpair` or `pipe` transport.
pub struct Stream {
    kind: Kind,
}

impl Stream {
    /// AF_UNIX stream socketpair (the baseline of the ratio column).
    pub fn socketpair() -> Self {
        Self {
            kind: Kind::SocketPair,
        }
    }

    /// Two pipes, one per direction.
    pub fn pipe() -> Self {
        Self { kind: Kind::Pipe }
    }
}

/// One side: a reader, a writer, the frame buffers.
pub(crate) struct StreamEndpoint {
    rd: FdStream,
    wr: FdStream,
    frames: FrameReader,
    out: Vec<u8>,
    payload: BlockPayload,
    last: Option<BlockPayload>,
}

impl StreamEndpoint {
    fn new(
        rd: OwnedFd,
        wr: OwnedFd,
        mode: Mode,
        sync: &SyncChannel,
        payload_bytes: usize,
    ) -> Result<Self> {
        Ok(Self {
            rd: FdStream::new(rd, mode, sync.clone())?,
            wr: FdStream::new(wr, mode, sync.clone())?,
            frames: FrameReader::new(),
            out: Vec::new(),
            payload: make_payload(payload_bytes),
            last: None,
        })
    }

    fn recv_value(&mut self) -> Result<BlockPayload> {
        let frame = self.frames.read_frame(&self.rd)?;
        postcard::from_bytes(frame).context("postcard decode")
    }
}

impl PingPong for StreamEndpoint {
    fn prepare(&mut self) -> Result<()> {
        self.last = None;
        encode_frame(&self.payload, &mut self.out)
    }

    fn send(&mut self) -> Result<()> {
        self.wr.send_all(&self.out)
    }

    fn recv(&mut self) -> Result<usize> {
        let v = self.recv_value()?;
        let n = v.txs.len();
        self.last = Some(v);
        Ok(n)
    }
}

impl Producer for StreamEndpoint {
    fn send_value(&mut self, value: &BlockPayload) -> Result<()> {
        encode_frame(value, &mut self.out)?;
        self.wr.send_all(&self.out)
    }
}

impl Consumer for StreamEndpoint {
    fn recv(&mut self) -> Result<usize> {
        Ok(self.recv_value()?.txs.len())
    }
}

impl Transport for Stream {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::SocketPair => "socketpair",
            Kind::Pipe => "pipe",
        }
    }

    fn run(&self, case: &Case<'_>) -> Result<Measurement> {
        let sync = SyncChannel::create(case.cfg.child_timeout)?;
        // (our read end, our write end, the child's ends)
        let (rd, wr, child_fds): (OwnedFd, OwnedFd, Vec<OwnedFd>) = match self.kind {
            Kind::SocketPair => {
                let (a, b) = socketpair()?;
                let a2 = a.try_clone()?;
                (a, a2, vec![b])
            }
            Kind::Pipe => {
                let (p2c_r, p2c_w) = pipe()?;
                let (c2p_r, c2p_w) = pipe()?;
                (c2p_r, p2c_w, vec![p2c_r, c2p_w])
            }
        };
        let borrowed: Vec<_> = child_fds.iter().map(|f| f.as_fd()).collect();
        let child = spawn_child(case, &sync, &borrowed, None)?;
        drop(borrowed);
        drop(child_fds);
        let result = (|| {
            let mut ep = StreamEndpoint::new(rd, wr, case.mode, &sync, case.payload_bytes)?;
            harness::run_parent(case, &sync, &mut ep)
        })();
        child.complete(result)
    }

    fn child(&self, args: &ChildArgs) -> Result<()> {
        let (rd, wr) = match self.kind {
            Kind::SocketPair => {
                let s = args.take_fd(0)?;
                let s2 = s.try_clone()?;
                (s, s2)
            }
            Kind::Pipe => (args.take_fd(0)?, args.take_fd(1)?),
        };
        let mut ep = StreamEndpoint::new(rd, wr, args.mode, &args.sync, args.payload_bytes)?;
        harness::run_child(&args.sync, args.test, &mut ep)
    }
}
