//! Control messages, byte for byte. Little-endian, one message per
//! seqpacket (or per length-prefixed frame on a stream). Decoding never
//! trusts a length: a short or oversized message is `Error::Protocol`.

use crate::error::{Error, Result};

/// First bytes of a hello: tells our protocol from anything else on the socket.
pub const MAGIC: [u8; 8] = *b"SHMIPC\0\x01";
/// Capability bit: this link can carry shared memory (file descriptors).
pub const CAP_SHARED_MEMORY: u64 = 1;
/// Largest call or reply payload in one message; bigger ones travel as
/// [`Msg::Part`]s first.
pub const MAX_CALL_PAYLOAD: usize = 60 * 1024;
/// Largest call or reply payload in all: a peer that sends more is dropped.
pub const MAX_CALL_TOTAL: usize = 256 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    Hello {
        version: u32,
        caps: u64,
        epoch: u64,
    },
    Call {
        id: u64,
        method: u32,
        payload: Vec<u8>,
    },
    Reply {
        id: u64,
        ok: bool,
        payload: Vec<u8>,
    },
    /// A channel the sender produces; carries the ring's memfd over shared memory.
    Offer {
        channel: u32,
        policy: u32,
        capacity: u64,
        type_name: String,
    },
    /// A consumer attaches; carries its cursor page and eventfd over shared memory.
    Attach {
        channel: u32,
    },
    Attached {
        channel: u32,
        start: u64,
        start_seq: u64,
    },
    Refused {
        channel: u32,
        reason: String,
    },
    /// A record on the stream fallback.
    Data {
        channel: u32,
        seq: u64,
        payload: Vec<u8>,
    },
    /// A leading piece of the payload of call `id` (ours, if `reply`, else
    /// the sender's): the `Call` or `Reply` with that id carries the last.
    Part {
        id: u64,
        reply: bool,
        data: Vec<u8>,
    },
    /// Descriptors handed over for the application, with its own tag.
    Fds {
        tag: u32,
    },
    Shutdown,
}

const K_HELLO: u8 = 1;
const K_CALL: u8 = 2;
const K_REPLY: u8 = 3;
const K_OFFER: u8 = 4;
const K_ATTACH: u8 = 5;
const K_ATTACHED: u8 = 6;
const K_REFUSED: u8 = 7;
pub const K_DATA: u8 = 8;
const K_FDS: u8 = 9;
const K_SHUTDOWN: u8 = 10;
const K_PART: u8 = 11;

impl Msg {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(32);
        match self {
            Msg::Hello {
                version,
                caps,
                epoch,
            } => {
                b.push(K_HELLO);
                b.extend_from_slice(&MAGIC);
                put32(&mut b, *version);
                put64(&mut b, *caps);
                put64(&mut b, *epoch);
            }
            Msg::Call {
                id,
                method,
                payload,
            } => {
                b.push(K_CALL);
                put64(&mut b, *id);
                put32(&mut b, *method);
                b.extend_from_slice(payload);
            }
            Msg::Reply { id, ok, payload } => {
                b.push(K_REPLY);
                put64(&mut b, *id);
                b.push(*ok as u8);
                b.extend_from_slice(payload);
            }
            Msg::Offer {
                channel,
                policy,
                capacity,
                type_name,
            } => {
                b.push(K_OFFER);
                put32(&mut b, *channel);
                put32(&mut b, *policy);
                put64(&mut b, *capacity);
                b.extend_from_slice(type_name.as_bytes());
            }
            Msg::Attach { channel } => {
                b.push(K_ATTACH);
                put32(&mut b, *channel);
            }
            Msg::Attached {
                channel,
                start,
                start_seq,
            } => {
                b.push(K_ATTACHED);
                put32(&mut b, *channel);
                put64(&mut b, *start);
                put64(&mut b, *start_seq);
            }
            Msg::Refused { channel, reason } => {
                b.push(K_REFUSED);
                put32(&mut b, *channel);
                b.extend_from_slice(reason.as_bytes());
            }
            Msg::Data {
                channel,
                seq,
                payload,
            } => {
                b.extend_from_slice(&data_header(*channel, *seq));
                b.extend_from_slice(payload);
            }
            Msg::Part { id, reply, data } => {
                b.push(K_PART);
                put64(&mut b, *id);
                b.push(*reply as u8);
                b.extend_from_slice(data);
            }
            Msg::Fds { tag } => {
                b.push(K_FDS);
                put32(&mut b, *tag);
            }
            Msg::Shutdown => b.push(K_SHUTDOWN),
        }
        b
    }

    pub fn decode(bytes: &[u8]) -> Result<Msg> {
        let mut r = Reader(bytes);
        let kind = r.u8()?;
        let m = match kind {
            K_HELLO => {
                if r.take(8)? != MAGIC {
                    return Err(Error::Protocol("not an shm-ipc peer (bad magic)".into()));
                }
                Msg::Hello {
                    version: r.u32()?,
                    caps: r.u64()?,
                    epoch: r.u64()?,
                }
            }
            K_CALL => Msg::Call {
                id: r.u64()?,
                method: r.u32()?,
                payload: r.rest().to_vec(),
            },
            K_REPLY => Msg::Reply {
                id: r.u64()?,
                ok: r.u8()? != 0,
                payload: r.rest().to_vec(),
            },
            K_OFFER => Msg::Offer {
                channel: r.u32()?,
                policy: r.u32()?,
                capacity: r.u64()?,
                type_name: r.string()?,
            },
            K_ATTACH => Msg::Attach { channel: r.u32()? },
            K_ATTACHED => Msg::Attached {
                channel: r.u32()?,
                start: r.u64()?,
                start_seq: r.u64()?,
            },
            K_REFUSED => Msg::Refused {
                channel: r.u32()?,
                reason: r.string()?,
            },
            K_DATA => Msg::Data {
                channel: r.u32()?,
                seq: r.u64()?,
                payload: r.rest().to_vec(),
            },
            K_FDS => Msg::Fds { tag: r.u32()? },
            K_PART => Msg::Part {
                id: r.u64()?,
                reply: r.u8()? != 0,
                data: r.rest().to_vec(),
            },
            K_SHUTDOWN => Msg::Shutdown,
            k => return Err(Error::Protocol(format!("unknown control message kind {k}"))),
        };
        Ok(m)
    }
}

/// The fixed part of a data frame: kind, channel, sequence number.
pub fn data_header(channel: u32, seq: u64) -> [u8; 13] {
    let mut h = [0u8; 13];
    h[0] = K_DATA;
    h[1..5].copy_from_slice(&channel.to_le_bytes());
    h[5..13].copy_from_slice(&seq.to_le_bytes());
    h
}

/// Parses the fixed part of a data frame: (channel, seq).
pub fn parse_data_header(h: &[u8; 13]) -> (u32, u64) {
    let mut r = Reader(&h[1..]);
    // 12 bytes are always there: these reads cannot fail.
    (r.u32().unwrap_or(0), r.u64().unwrap_or(0))
}

fn put32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(Error::Protocol("truncated control message".into()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        let mut a = [0; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }
    fn u64(&mut self) -> Result<u64> {
        let mut a = [0; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.rest().to_vec())
            .map_err(|_| Error::Protocol("control message string is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            Msg::Hello {
                version: 1,
                caps: 3,
                epoch: 99,
            },
            Msg::Part {
                id: 5,
                reply: true,
                data: vec![1, 2, 3],
            },
            Msg::Call {
                id: 7,
                method: 2,
                payload: b"abc".to_vec(),
            },
            Msg::Reply {
                id: 7,
                ok: false,
                payload: b"no".to_vec(),
            },
            Msg::Offer {
                channel: 1,
                policy: 2,
                capacity: 4096,
                type_name: "T".into(),
            },
            Msg::Attach { channel: 1 },
            Msg::Attached {
                channel: 1,
                start: 64,
                start_seq: 4,
            },
            Msg::Refused {
                channel: 1,
                reason: "why".into(),
            },
            Msg::Data {
                channel: 3,
                seq: 5,
                payload: vec![1, 2, 3],
            },
            Msg::Fds { tag: 8 },
            Msg::Shutdown,
        ];
        for m in msgs {
            assert_eq!(Msg::decode(&m.encode()).unwrap(), m);
        }
    }

    proptest! {
        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Msg::decode(&bytes);
        }
    }
}
