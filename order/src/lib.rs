//! One order replica, replicated with Raft (openraft 0.9).
//!
//! Every order is an `OrderPlaced` event in the replica's redb file, appended by the Raft
//! state machine when a purchase entry is committed and applied ([`apply`]); the orders
//! table and request id → number mapping are its projection ([`projection`]; the index's
//! key layout in `request_index` (re-exported by [`projection`]), its build in key order in [`bulk`]). The Raft log,
//! vote and state machine live in the same file (`toystore_store::raft`). [`types`] holds the
//! Raft type configuration, [`raft_node`] openraft's settings and the cluster's initialisation, [`membership`] the
//! membership following the cluster file,
//! [`network`] the HTTP transport between replicas, [`transfer`] a snapshot's transfer and install (counted in [`transfer_counts`]), [`replica`] the rules, [`proposer`] the batching of purchases into entries, [`complete`] the completion of
//! purchases the catalog sold but no order recorded (resumed from [`checkpoint`]), [`error`] their
//! refusals, [`server`] the endpoints, [`raft_wire`] the wire of the Raft routes between replicas, [`metrics`] the Prometheus metrics,
//! [`cli`] the command line, [`failpoint`] the crash hooks of the black-box tests. The
//! callers' wire types, refusal statuses and typed client are in `toystore-order-api`.

pub mod apply;
pub mod bulk;
pub mod checkpoint;
pub mod cli;
pub mod complete;
pub mod error;
pub mod failpoint;
pub mod membership;
pub mod metrics;
pub mod network;
pub mod projection;
pub mod proposer;
pub mod raft_node;
pub mod raft_wire;
pub mod replica;
mod request_index;
pub mod server;
pub mod transfer;
pub mod transfer_counts;
pub mod types;

pub use replica::Replica;
