//! Bitcoin types, their archived (rkyv) forms and the interfaces between the
//! node, wallet and GUI processes.
//!
//! Status: not started. See the README's status section (issue "bitcoin-node").
