//! Raft storage for openraft 0.9 (`storage-v2`: [`RaftLogStorage`] and [`RaftStateMachine`])
//! in one replica's redb file, next to (and through the same writer as) its event log.
//!
//! [`RaftStore::open`] opens the file; [`RaftStore::log_store`] and
//! [`RaftStore::state_machine`] are the two halves `openraft::Raft::new` takes. The storage is
//! generic over the caller's type configuration `C` ([`RaftTypes`]: entries are
//! [`openraft::Entry`], snapshot data [`SnapshotData`]), over the event type `E` of the state
//! machine's log, and over the application logic, an [`Apply`] implementation. redb stays
//! inside this crate: callers see openraft types, [`crate::Batch`] and [`crate::EventLog`].
//!
//! ```text
//! let store = RaftStore::<OrderConfig, OrderEvent>::open(path, OrderProjection)?;
//! let raft = Raft::new(id, config, network, store.log_store(), store.state_machine(Orders)).await?;
//! // reads: store.event_log().begin_read(), .read_after(), follow(store.event_log().clone(), ..)
//! ```
//!
//! # Tables (one redb file)
//!
//! | table | key → value | written by |
//! | --- | --- | --- |
//! | `events` | seq `u64` → encoded `E` (unchanged: `toystore_events::codec`) | apply, receive, set aside, discard, install |
//! | `meta` | `"kind"` → `E::KIND`; `"projection"` → its version; `"projected"` → the last event the projection covers while a transfer's events are received | open, receive, install |
//! | projection tables (e.g. `request_index`) | the projection's own | apply, install |
//! | `raft_log` | log index `u64` → encoded `Entry<C>` | append, truncate, purge |
//! | `raft_state` | `"format"` → `u32` 1; `"vote"` → `Vote`; `"committed"` → `Option<LogId>`; `"purged"` → `LogId` | open, save_vote, save_committed, purge |
//! | `raft_machine` | `"applied"` → `LogId`; `"membership"` → `StoredMembership`; `"receiving"` → a transfer's `base` while its events are in the log, not yet installed | apply, receive, install |
//! | `raft_snapshot` | `"meta"` → `SnapshotMeta`; `"last_seq"` → its last event | build, install |
//! | `raft_received_aside` | seq → stored bytes of a transfer's events set aside while entries were applied | apply, receive, install |
//!
//! Raft values are encoded as one format-version byte then postcard (`codec`), like events;
//! decoding never panics and every failure names the value. The `events` table keeps its
//! meaning (order number n is the event at seq n + 1 for the order log), so `tools replay`
//! and `tools diff` read a Raft replica's file as before; they ignore the `raft_*` tables.
//! Opening stamps `raft_state.format`; a file with events but no Raft state (an order log from
//! before Raft) is refused as [`crate::StoreError::Foreign`], never adopted.
//!
//! # Writes: one writer, group commit, `Durability::Immediate`
//!
//! Every write (the event log's own, and every Raft write below) is a job of the event log's
//! writer thread, which runs all jobs waiting into one write transaction and commits it with
//! `Durability::Immediate` before anyone hears of the result. Two kinds of job need no fsync
//! of their own: `apply` (its entries are durable in the Raft log, so a lost apply is
//! re-applied on restart) and `save_committed`. A batch of only those commits with
//! `Durability::None`, visible at once and durable with the next durable commit, or within
//! [`crate::SYNC_BEHIND`] by an empty durable commit of the writer's own. Jobs run in the order they were
//! queued, so the log store's writes are serialized as openraft requires, and appends, votes
//! and applies that arrive together share one fsync. If one job fails, its whole batch is
//! aborted and every job in it fails (openraft then stops the node).
//!
//! | openraft call | what it does | returns |
//! | --- | --- | --- |
//! | `append(entries, cb)` | encodes the entries, puts them in the pending overlay (readable at once, as openraft requires) and queues a job inserting them into `raft_log` | at once; `cb` is called on the writer thread after the durable commit (`Ok`) or the failure (`Err`) |
//! | `save_vote` | writes `vote` | after the durable commit |
//! | `save_committed` | queues a write of `committed`, keeps the value in memory for `read_committed` | at once; durable with the next commit (openraft makes it optional; losing it in a crash only means re-applying from last applied) |
//! | `truncate(id)` | deletes entries ≥ `id.index` (overlay and table) | after the durable commit |
//! | `purge(id)` | deletes entries ≤ `id.index`, records `purged` (never backwards) | after the durable commit |
//! | `apply(entries)` | one job for the slice: blank → nothing; normal → [`Apply::apply`] with the transaction's `Batch` (read projections, append events); membership → records it; then `applied` = the last entry's log id, all in one transaction, committed without an fsync of its own (see below) | the replies, after the commit |
//! | `install_snapshot` | sets `applied`, `membership` and the current snapshot for events a transfer wrote into the log (another file's are received first), dropping any after them ([`snapshot`]) | after its durable commit |
//!
//! Reads (`try_get_log_entries`, `get_log_state`, `read_vote`, `read_committed`,
//! `applied_state`, `get_current_snapshot`) use a read transaction; log reads look at the
//! pending overlay first. An entry leaves the overlay only after its commit is visible, so
//! overlay-then-table never misses one. [`LogReader`] is one `Arc`: cloning it is cheap.
//!
//! # Snapshots
//!
//! By reference ([`SnapshotData`]): a snapshot is its metadata and the event log's last
//! sequence number when it was built; the events up to it never change, so building one
//! copies nothing and stores two small values. `get_snapshot_builder` opens a read
//! transaction at once, so the position is the state machine's as of that moment. A
//! snapshot's events are streamed to a lagging replica by the application (openraft's
//! `generic-snapshot-data`; the order crate's `transfer`), only those the receiver lacks,
//! written straight into its log by [`RaftStore::receive_snapshot`] (without their
//! projection rows, in large transactions), and `install_snapshot` then builds their
//! projection rows in bulk and sets the applied position, in one transaction; events
//! received but not installed are set aside before any entry is applied and merged back
//! after, and a transfer cut mid-way is resumed by the next one ([`snapshot`]). The projection is never sent: it is derived from the events.
//!
//! When to snapshot and purge is openraft's `Config`, set by the order crate:
//! `snapshot_policy: SnapshotPolicy::LogsSinceLast(n)` (a snapshot every n applied entries),
//! `max_in_snapshot_log_to_keep` (entries kept after a snapshot, 0 purges everything it
//! covers) and `purge_batch_size`. openraft then calls `purge` itself.
//!
//! # Known limits
//!
//! - A transfer that replaced local events that differed from the snapshot's (a replica whose
//!   applied events diverged, which Raft's committed prefix rules out in normal operation)
//!   cannot be taken back if Raft then does not install it: applying entries fails until a
//!   snapshot is installed.
//! - After a failed log write (append, vote, truncate, purge; also when another job made
//!   their group commit fail), the log store refuses further log writes until the file is
//!   reopened, so a failed append can never leave a hole under a later one. openraft treats
//!   any storage error as fatal anyway.
//! - Between `truncate` being called and its commit, a reader may still see the entries being
//!   truncated (never a hole); openraft does not read them meanwhile (`truncate` is awaited).
//! - An [`Apply`] error aborts the whole group commit, including other callers' jobs in it:
//!   business refusals belong in `C::R`, not in errors.
//! - [`RaftStore::event_log`] could append events outside Raft; it is for reads only.
//! - Keep one [`LogStore`] and one [`StateMachine`] per file (openraft's); more handles share
//!   the same writer and overlay and stay correct, but nothing orders their calls.
//!
//! [`RaftLogStorage`]: openraft::storage::RaftLogStorage
//! [`RaftStateMachine`]: openraft::storage::RaftStateMachine

mod apply;
mod backup;
mod codec;
mod error;
mod jobs;
mod log_store;
mod pending;
mod rejoin;
mod snapshot;
mod snapshot_data;
mod span;
mod state_machine;
mod store;
mod tables;
mod types;

pub use apply::Apply;
pub use backup::Seeded;
pub use log_store::{LogReader, LogStore};
pub use snapshot_data::SnapshotData;
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use store::{RaftStore, Received};
pub use types::RaftTypes;

pub(crate) use pending::Pending;
