//! Comparison harnesses.
