//! SIGTERM and SIGINT as an orderly stop: they are blocked in every thread
//! (so none is interrupted) and one thread waits for them.

use nix::sys::signal::{SigSet, Signal};

/// The blocked termination signals.
#[derive(Clone, Copy)]
pub struct Termination {
    set: SigSet,
}

/// Blocks SIGTERM and SIGINT in this thread and the threads it starts
/// afterwards. Call before starting any thread.
pub fn block_termination() -> nix::Result<Termination> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block()?;
    Ok(Termination { set })
}

impl Termination {
    /// Waits for one of the signals; `false` if waiting failed.
    pub fn wait(&self) -> bool {
        self.set.wait().is_ok()
    }
}
