//! `ipc-channel` (Servo's crate): the child connects back through an
//! `IpcOneShotServer` (its name passed as `extra`) and hands over the two
//! byte channels; messages are pre-serialized postcard bytes sent with
//! `IpcBytesSender` and deserialized into a `BlockPayload` on receipt.
//! Spin mode polls `try_recv`; blocking mode uses `recv`.

use std::sync::mpsc;

use anyhow::{anyhow, bail, Context, Result};
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use ipc_channel::TryRecvError;

use crate::ipc_compare::harness::{self, Consumer, PingPong, Producer};
use crate::ipc_compare::payload::{make_payload, BlockPayload};
use crate::ipc_compare::{spawn_child, Case, ChildArgs, Measurement, Mode, SyncChannel, Transport};

/// The ipc-channel transport.
pub struct IpcChannel;

/// What the child sends through the one-shot server: the parent→child
/// sender and the child→parent receiver.
type Bootstrap = (IpcBytesSender, IpcBytesReceiver);

struct IpcEndpoint {
    tx: IpcBytesSender,
    rx: IpcBytesReceiver,
    mode: Mode,
    sync: SyncChannel,
    payload: BlockPayload,
    out: Vec<u8>,
    last: Option<BlockPayload>,
}

impl IpcEndpoint {
    fn new(
        tx: IpcBytesSender,
        rx: IpcBytesReceiver,
        mode: Mode,
        sync: SyncChannel,
        payload_bytes: usize,
    ) -> Self {
        Self {
            tx,
            rx,
            mode,
            sync,
            payload: make_payload(payload_bytes),
            out: Vec::new(),
            last: None,
        }
    }

    fn recv_value(&mut self) -> Result<BlockPayload> {
        let bytes = match self.mode {
            Mode::Blocking => self.rx.recv().map_err(|e| anyhow!("ipc recv: {e:?}"))?,
            Mode::Spin => loop {
                match self.rx.try_recv() {
                    Ok(b) => break b,
                    Err(TryRecvError::Empty) => {
                        std::hint::spin_loop();
                        self.sync.check()?;
                    }
                    Err(TryRecvError::IpcError(e)) => bail!("ipc try_recv: {e:?}"),
                }
            },
        };
        postcard::from_bytes(&bytes).context("postcard decode")
    }
}

impl PingPong for IpcEndpoint {
    fn prepare(&mut self) -> Result<()> {
        self.last = None;
        self.out = postcard::to_stdvec(&self.payload)?;
        Ok(())
    }

    fn send(&mut self) -> Result<()> {
        self.tx.send(&self.out).context("ipc send")
    }

    fn recv(&mut self) -> Result<usize> {
        let v = self.recv_value()?;
        let n = v.txs.len();
        self.last = Some(v);
        Ok(n)
    }
}

impl Producer for IpcEndpoint {
    fn send_value(&mut self, value: &BlockPayload) -> Result<()> {
        self.out.clear();
        let out = postcard::to_extend(value, std::mem::take(&mut self.out))?;
        self.out = out;
        self.tx.send(&self.out).context("ipc send")
    }
}

impl Consumer for IpcEndpoint {
    fn recv(&mut self) -> Result<usize> {
        Ok(self.recv_value()?.txs.len())
    }
}

impl Transport for IpcChannel {
    fn name(&self) -> &'static str {
        "ipc-channel"
    }

    fn run(&self, case: &Case<'_>) -> Result<Measurement> {
        let sync = SyncChannel::create(case.cfg.child_timeout)?;
        let (server, name) = IpcOneShotServer::<Bootstrap>::new().context("one-shot server")?;
        let child = spawn_child(case, &sync, &[], Some(&name))?;
        let result = (|| {
            // `accept` has no timeout: run it on a thread and give up on it
            // (it stays blocked in accept, harmlessly) if the child never
            // connects.
            let (done_tx, done_rx) = mpsc::channel();
            std::thread::spawn(move || {
                let _ = done_tx.send(server.accept().map(|(_, boot)| boot));
            });
            let (tx, rx) = done_rx
                .recv_timeout(sync.remaining())
                .context("the child never connected")?
                .map_err(|e| anyhow!("accept: {e:?}"))?;
            let mut ep = IpcEndpoint::new(tx, rx, case.mode, sync.clone(), case.payload_bytes);
            harness::run_parent(case, &sync, &mut ep)
        })();
        child.complete(result)
    }

    fn child(&self, args: &ChildArgs) -> Result<()> {
        let (p2c_tx, p2c_rx) = ipc::bytes_channel()?;
        let (c2p_tx, c2p_rx) = ipc::bytes_channel()?;
        let boot = IpcSender::<Bootstrap>::connect(args.extra()?.to_string())
            .context("connecting to the one-shot server")?;
        boot.send((p2c_tx, c2p_rx))
            .map_err(|e| anyhow!("bootstrap send: {e:?}"))?;
        let mut ep = IpcEndpoint::new(
            c2p_tx,
            p2c_rx,
            args.mode,
            args.sync.clone(),
            args.payload_bytes,
        );
        harness::run_child(&args.sync, args.test, &mut ep)
    }
}
