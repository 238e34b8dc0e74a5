//! Creating and opening the two kinds of shared segment: a ring (header page
//! plus double-mapped records) and a consumer's cursor page.
//!
//! The creator maps a segment writable, initializes it, then seals it against
//! resizing (so no peer can ever make us fault) and against new writable
//! mappings (so the peer it is sent to can only map it read-only). The opener
//! checks those seals before trusting the mapping's size.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering::Relaxed;

use memmap2::{MmapOptions, MmapRaw};

use super::layout::{
    CursorPage, Policy, RingHeader, CURSOR_MAGIC, HEADER_PAGE, NO_PIN, RING_MAGIC,
};
use crate::error::{Error, Result};
use crate::platform::{self, DoubleMapping, Seals};
use crate::PROTOCOL_VERSION;

/// Seals every shared segment carries once it leaves its creator.
const SHARED_SEALS: Seals = Seals::FIXED_SIZE
    .union(Seals::FUTURE_WRITE)
    .union(Seals::SEAL);

/// A ring's memory: the header page and the double-mapped record area.
pub struct RingSegment {
    fd: OwnedFd,
    header: MmapRaw,
    data: DoubleMapping,
    capacity: u64,
    policy: Policy,
    epoch: u64,
    writable: bool,
}

impl RingSegment {
    /// Creates a ring of `capacity` bytes (a power of two, at least a page).
    pub fn create(capacity: u64, policy: Policy, epoch: u64) -> Result<RingSegment> {
        let page = platform::page_size() as u64;
        if !capacity.is_power_of_two() || capacity < page || capacity > (1 << 40) {
            return Err(Error::Config(format!(
                "ring capacity {capacity} must be a power of two between {page} and 2^40"
            )));
        }
        let fd = platform::memfd_create(c"shm-ipc-ring", HEADER_PAGE + capacity as usize)?;
        let header = MmapOptions::new()
            .len(HEADER_PAGE)
            .map_raw(fd.as_raw_fd())?;
        let data = DoubleMapping::new(fd.as_fd(), HEADER_PAGE, capacity as usize, true)?;
        let seg = RingSegment {
            fd,
            header,
            data,
            capacity,
            policy,
            epoch,
            writable: true,
        };
        let m = &seg.header().meta.0;
        m.magic.store(RING_MAGIC, Relaxed);
        m.version.store(PROTOCOL_VERSION, Relaxed);
        m.policy.store(policy as u32, Relaxed);
        m.capacity.store(capacity, Relaxed);
        m.epoch.store(epoch, Relaxed);
        platform::add_seals(seg.fd.as_fd(), SHARED_SEALS)?;
        Ok(seg)
    }

    /// Maps a ring received from a peer, read-only, after checking its seals
    /// and header. `epoch` is the epoch the peer announced at the handshake.
    pub fn open(fd: OwnedFd, epoch: u64) -> Result<RingSegment> {
        let seals = platform::get_seals(fd.as_fd())
            .map_err(|_| Error::Protocol("ring segment is not a memfd".into()))?;
        if !seals.contains(Seals::FIXED_SIZE) || !seals.contains(Seals::FUTURE_WRITE) {
            return Err(Error::Protocol("ring segment is not sealed".into()));
        }
        let len = platform::fd_len(fd.as_fd())?;
        let capacity = len.saturating_sub(HEADER_PAGE as u64);
        if !capacity.is_power_of_two() || capacity < platform::page_size() as u64 {
            return Err(Error::Protocol(format!(
                "ring segment has a bad size {len}"
            )));
        }
        let header = MmapOptions::new()
            .len(HEADER_PAGE)
            .map_raw_read_only(fd.as_raw_fd())?;
        // SAFETY: see `header()`; the mapping is HEADER_PAGE long and page aligned.
        let h = unsafe { &*header.as_ptr().cast::<RingHeader>() };
        let m = &h.meta.0;
        let (magic, version) = (m.magic.load(Relaxed), m.version.load(Relaxed));
        if magic != RING_MAGIC {
            return Err(Error::Protocol("ring header has a bad magic".into()));
        }
        if version != PROTOCOL_VERSION {
            return Err(Error::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: version,
            });
        }
        if m.capacity.load(Relaxed) != capacity {
            return Err(Error::Protocol(
                "ring header disagrees with its size".into(),
            ));
        }
        let found = m.epoch.load(Relaxed);
        if found != epoch {
            return Err(Error::StaleEpoch {
                expected: epoch,
                found,
            });
        }
        let policy = Policy::from_u32(m.policy.load(Relaxed))
            .ok_or_else(|| Error::Protocol("ring header has a bad policy".into()))?;
        let data = DoubleMapping::new(fd.as_fd(), HEADER_PAGE, capacity as usize, false)?;
        Ok(RingSegment {
            fd,
            header,
            data,
            capacity,
            policy,
            epoch,
            writable: false,
        })
    }

    pub fn header(&self) -> &RingHeader {
        // SAFETY: the mapping is page aligned and HEADER_PAGE >= size_of::<RingHeader>()
        // bytes long (checked at compile time); it lives as long as `self`. Every
        // field is an atomic, valid for any bit pattern, so concurrent writes by
        // the peer are well defined. Read-only holders only ever load.
        unsafe { &*self.header.as_ptr().cast::<RingHeader>() }
    }

    /// Start of the record area (which continues for a second copy).
    pub fn data(&self) -> *mut u8 {
        self.data.as_ptr()
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The descriptor to send to a consumer.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// A consumer's cursor page.
pub struct CursorSegment {
    fd: OwnedFd,
    map: MmapRaw,
}

impl CursorSegment {
    /// Creates a cursor page, writable by the caller only once sealed.
    pub fn create() -> Result<CursorSegment> {
        let fd = platform::memfd_create(c"shm-ipc-cursor", HEADER_PAGE)?;
        let map = MmapOptions::new()
            .len(HEADER_PAGE)
            .map_raw(fd.as_raw_fd())?;
        let seg = CursorSegment { fd, map };
        let p = seg.page();
        p.magic.0.store(CURSOR_MAGIC, Relaxed);
        p.pin.0.store(NO_PIN, Relaxed);
        platform::add_seals(seg.fd.as_fd(), SHARED_SEALS)?;
        Ok(seg)
    }

    /// Maps a consumer's cursor page read-only, after checking seals and magic.
    pub fn open(fd: OwnedFd) -> Result<CursorSegment> {
        let seals = platform::get_seals(fd.as_fd())
            .map_err(|_| Error::Protocol("cursor segment is not a memfd".into()))?;
        if !seals.contains(Seals::FIXED_SIZE) || !seals.contains(Seals::FUTURE_WRITE) {
            return Err(Error::Protocol("cursor segment is not sealed".into()));
        }
        if platform::fd_len(fd.as_fd())? != HEADER_PAGE as u64 {
            return Err(Error::Protocol("cursor segment has a bad size".into()));
        }
        let map = MmapOptions::new()
            .len(HEADER_PAGE)
            .map_raw_read_only(fd.as_raw_fd())?;
        let seg = CursorSegment { fd, map };
        if seg.page().magic.0.load(Relaxed) != CURSOR_MAGIC {
            return Err(Error::Protocol("cursor page has a bad magic".into()));
        }
        Ok(seg)
    }

    pub fn page(&self) -> &CursorPage {
        // SAFETY: page-aligned mapping of HEADER_PAGE bytes, at least
        // size_of::<CursorPage>() (checked at compile time), alive as long as
        // `self`; all fields are atomics, valid for any bytes a peer writes.
        unsafe { &*self.map.as_ptr().cast::<CursorPage>() }
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}
