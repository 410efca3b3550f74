//! One order replica.
//!
//! Every order is an `OrderPlaced` event in the replica's own redb log; the orders table
//! and the request id → order number mapping are its projection ([`projection`]). Three
//! replicas make the order service: the front-end picks the highest ready id as leader
//! for a new epoch; the leader buys through the catalog, appends, replicates to the
//! followers and waits for their durable acks before answering ([`replication`]); a replica
//! that starts, or falls out of step, catches up from its peers before it serves
//! ([`recovery`]); epochs fence off deposed leaders ([`fence`]). [`replica`] holds the rules,
//! [`server`] the endpoints, [`client`] the typed client, [`api`] the wire types, [`cli`] the
//! command line.

pub mod api;
pub mod cli;
pub mod client;
pub mod failpoint;
pub mod fence;
pub mod projection;
pub mod recovery;
pub mod replica;
pub mod replication;
pub mod server;

pub use client::ReplicaClient;
pub use replica::{Replica, Timing};
