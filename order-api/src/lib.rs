//! What a caller of an order replica needs, apart from the replica itself: the wire types of
//! its endpoints ([`wire`]), the statuses its refusals travel as ([`Refusal`]: the one table
//! its server answers with and its client reads), and the typed client ([`ReplicaClient`],
//! whose failures are [`CallError`]s), and the one rule of who leads ([`leader`], `toystore_raft_api`'s). The front-end and the tools depend on this crate,
//! not on the replica's Raft and storage.

pub mod client;
pub mod refusal;
pub mod wire;

pub use client::{CallError, ReplicaClient};
pub use refusal::Refusal;
pub use toystore_raft_api::{leader, leads, EntryId};
pub use wire::{OrderPlacedReply, OrderRecord, ReplicaStatus, Role, LEADER_HEADER};
