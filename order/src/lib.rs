//! One order replica, replicated with Raft (openraft 0.9).
//!
//! Every order is an `OrderPlaced` event in the replica's redb file, appended by the Raft
//! state machine when a purchase entry is committed and applied ([`apply`]); the orders
//! table and request id → number mapping are its projection ([`projection`]; the index's
//! key layout in `request_index` (re-exported by [`projection`]), its build in key order in [`bulk`]). The Raft log,
//! vote and state machine live in the same file (`toystore_store::raft`). [`types`] holds the
//! Raft type configuration; what any Raft replica of the store runs (the HTTP transport,
//! snapshot transfers, the membership following the cluster file, the founding of the
//! cluster, the Raft routes, failpoints) is `toystore_raft`'s, shared with the catalog.
//! [`replica`] holds the rules, [`proposer`] the batching of purchases into entries,
//! [`complete`] the completion of purchases the catalog sold but no order recorded (resumed
//! from [`checkpoint`]), [`error`] their refusals, [`server`] the endpoints and the group's
//! Raft timing, [`metrics`] the Prometheus metrics, [`cli`] the command line. The callers'
//! wire types, refusal statuses and typed client are in `toystore-order-api`.

pub mod apply;
pub mod bulk;
pub mod checkpoint;
pub mod cli;
pub mod complete;
pub mod error;
pub mod metrics;
pub mod projection;
pub mod proposer;
pub mod replica;
mod request_index;
pub mod server;
pub mod types;

pub use replica::Replica;
