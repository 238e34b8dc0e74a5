//! `bitcoin-gui` (being built: see issue 5).

fn main() {}
