//! Single-producer, multi-consumer rings of variable-size records in shared memory.

pub mod consumer;
pub mod layout;
pub mod producer;
pub mod segment;
pub mod subscribers;

pub use layout::Policy;
