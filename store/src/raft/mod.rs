//! Raft storage on redb for openraft 0.9 (design note below).

mod apply;
mod codec;
mod error;
mod jobs;
mod log_store;
mod pending;
mod snapshot;
mod span;
mod state_machine;
mod store;
mod tables;
mod types;

pub use apply::Apply;
pub use log_store::{LogReader, LogStore};
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use store::RaftStore;
pub use types::RaftTypes;

pub(crate) use pending::Pending;
