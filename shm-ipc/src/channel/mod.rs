//! Typed channels over rings: `Sender<T>` writes rkyv archives in place,
//! `Receiver<T>` reads them in place.

pub mod message;
pub mod receiver;
pub mod sender;
pub mod stream;
pub mod trust;

pub use message::{Message, SlotWriter};
pub use receiver::{Receiver, Record};
pub use sender::{ChannelConfig, Loan, Sender, Uninit, WriteError, Written};
pub use trust::Trust;
