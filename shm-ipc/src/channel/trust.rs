//! Whether a receiver may use records in place without validating them.

/// How a receiver treats its producer's bytes, chosen when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trust(bool);

impl Trust {
    /// The producer may be broken or hostile: each record is copied out of
    /// shared memory once, validated with bytecheck, and only then handed out.
    /// It is never re-read from memory the peer can still change.
    pub const UNTRUSTED: Trust = Trust(false);

    /// Records are used in place, unchecked.
    ///
    /// # Safety
    /// The producer must be trusted to write only valid archives of the
    /// channel's type and to follow the ring protocol (for example, it is our
    /// own parent process running the same build). Invalid bytes from it would
    /// be undefined behaviour.
    pub const unsafe fn trusted() -> Trust {
        Trust(true)
    }

    pub fn is_trusted(self) -> bool {
        self.0
    }
}
