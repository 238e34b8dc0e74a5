//! The GUI library behind `bitcoin-gui` (being built: see issue 5).
