//! What a caller of any Raft replica of the store needs, whatever the service: the status a
//! replica reports ([`ReplicaStatus`], [`Role`]), the header naming the leader
//! ([`LEADER_HEADER`]), the one rule of who leads ([`leader()`]), the one way to reach a group's leader ([`failover::call_leader`]) and the
//! client of a group of fixed replicas that runs it ([`Group`]). The order and catalog API
//! crates re-export it; it links no Raft and no storage.

pub mod failover;
pub mod group;
pub mod leader;
pub mod status;

pub use group::Group;
pub use leader::{leader, leads};
pub use status::{leader_hint, EntryId, ReplicaStatus, Role, LEADER_HEADER};
