//! shm-ipc
