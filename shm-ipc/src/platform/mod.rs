//! Everything that talks to the operating system directly.
//!
//! The rest of the crate sees only these functions: anonymous sealed memory
//! segments, the double mapping of a ring, futex wait/wake, eventfds, control
//! sockets with descriptor passing, and spawning a child that inherits one end
//! of a socketpair. A port to another OS replaces this module only (see the
//! README's "Porting" section for what a Windows port needs).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!("shm-ipc supports Linux only for now; see the README's porting notes");
