//! The GUI library behind `bitcoin-gui`.
//!
//! Status: not started. See the README's status section (issue "bitcoin-gui").
