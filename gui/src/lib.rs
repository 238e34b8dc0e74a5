//! The GUI library behind `bitcoin-gui`: a desktop wallet window for a
//! node it starts (or attaches to) over shm-ipc.
//!
//! Layers: [`backend`] (the GUI's view of the node: [`ipc`] for the real
//! one, [`fake`] for tests) → [`worker`] (threads that call the node and
//! follow its notifications, so the UI thread never waits) → [`model`]
//! (what the window knows) → [`ui`] (the screens) in [`app`] (the eframe
//! application).

pub mod address;
pub mod amount;
pub mod app;
pub mod backend;
pub mod console;
pub mod error;
pub mod fake;
pub mod ipc;
pub mod model;
pub mod options;
pub mod qr;
pub mod ui;
pub mod worker;

pub use backend::{Backend, Connector, Notification, Notified};
pub use error::BackendError;
