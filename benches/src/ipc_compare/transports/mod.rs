//! The transports implemented here (the project's own engine lives in
//! `../shm_ipc.rs`).

pub mod capnp_sock;
pub mod futex;
pub mod iox;
pub mod ipc_chan;
pub mod shmem;
pub mod stream;
