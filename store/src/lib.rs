//! The event log on redb, generic over the event type.
//!
//! One [`EventLog`] owns one redb file holding:
//! - `events`: sequence number → the event's encoded bytes ([`toystore_events::codec`]), an
//!   append-only, gap-free log starting at 1;
//! - `meta`: the log's kind ([`LogEvent::KIND`]), so a file of another kind is refused,
//!   the version of its projection, and how far the projection goes while it lags the
//!   events (a snapshot's events being received);
//! - the tables of its [`Projection`], which are updated in the same write transaction as
//!   the events that cause them: an event and its effect commit together or not at all.
//!
//! The definitions of `events` and `meta` (and the helpers for `meta`'s rows) are in the
//! private `schema` module, which depends on no other module here: the writer, the typed
//! tables ([`table`]) and [`EventLog`] all open them through it, without depending on one
//! another for them.
//!
//! Writes go through one writer thread that drains every waiting request into a single
//! transaction and commits it with `Durability::Immediate` (group commit). A caller learns
//! its result only after that commit, so an acknowledged append survives any crash. A request
//! is a closure run inside the transaction ([`EventLog::execute`]): it can read the
//! projections (seeing the effects of requests earlier in the batch), decide, and append, so
//! check-then-act logic like "buy if enough stock" needs no lock of its own.
//!
//! [`follow`] turns a log into the frames of an event stream (catch-up, then live commits
//! and heartbeats), for subscribers and replicas.
//!
//! [`raft`] is openraft 0.9's storage (Raft log, vote, state machine, snapshots) in the same
//! file, written through the same writer: a replicated log whose state machine is an event log.

pub mod check;
mod error;
mod follow;
pub mod inspect;
pub mod integrity;
mod log;
mod projection;
pub mod raft;
mod schema;
pub mod table;
#[cfg(any(test, feature = "tamper"))]
pub mod tamper;
mod writer;

pub use check::Check;
pub use error::StoreError;
pub use follow::follow;
pub use log::EventLog;
pub use projection::{NoProjection, Projection, APPLY_CHUNK};
pub use table::{
    Column, EventReader, Events, KeyColumn, RawIter, ReadTables, Rows, Table, TableMut, TableRef,
    TableSpace, WriteTables,
};
pub use toystore_events::{LogEvent, Seq};
pub use writer::{Batch, Commits, SYNC_BEHIND};
