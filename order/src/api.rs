//! Wire types of a replica's endpoints (JSON inside the `data` envelope).
//!
//! | endpoint | body | reply `data` |
//! | --- | --- | --- |
//! | `GET /health` (no token) | | [`ReplicaStatus`] |
//! | `POST /internal/orders` | [`PlaceOrder`] | [`OrderPlacedReply`]; 404, 409, 421 not leader, 503 |
//! | `GET /internal/orders/<n>` | | [`OrderRecord`]; 404 `order not found`, 421 |
//! | `POST /internal/leader` | [`LeaderNotice`] | [`ReplicaStatus`]; 409 stale epoch |
//! | `POST /internal/replicate` | event frames; headers [`EPOCH_HEADER`], [`LEADER_HEADER`], [`LAST_HEADER`] | [`ReplicateReply`]; 409 stale epoch, 503 recovering |
//! | `GET /internal/events?after=<seq>` | | a frame stream of the replica's order log |
//!
//! 421 (misdirected request) means "I am not the leader": the caller should select a
//! leader again and retry with the same request id.

use serde::{Deserialize, Serialize};
use toystore_events::Seq;

/// Header carrying the sender's epoch on replication pushes.
pub const EPOCH_HEADER: &str = "x-toystore-epoch";
/// Header carrying the sender's replica id on replication pushes.
pub const LEADER_HEADER: &str = "x-toystore-leader";
/// Header carrying the leader's last sequence number on replication pushes.
pub const LAST_HEADER: &str = "x-toystore-leader-last";

/// A purchase forwarded by the front-end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// Idempotency key.
    pub request_id: String,
    /// The toy.
    pub name: String,
    /// Units.
    pub quantity: u32,
}

/// A placed order's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlacedReply {
    /// The order number.
    pub order_number: u64,
    /// True if the request id had been placed before (nothing new was bought).
    pub replayed: bool,
}

/// An order, in API.md's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    /// The order number.
    pub number: u64,
    /// The toy.
    pub name: String,
    /// Units.
    pub quantity: u32,
}

/// The front-end's announcement of a leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderNotice {
    /// The new epoch; must be higher than any the replica has seen.
    pub epoch: u64,
    /// The id of the leader of that epoch.
    pub leader: u32,
}

/// A replica's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Catching up from its peers; refuses reads, writes and replication.
    Recovering,
    /// Accepts replication from the leader of its epoch.
    Follower,
    /// Accepts orders.
    Leader,
}

/// What a replica says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaStatus {
    /// Its id.
    pub id: u32,
    /// Its role.
    pub role: Role,
    /// True once it has caught up from its peers (role is not recovering).
    pub ready: bool,
    /// The newest epoch it has seen.
    pub epoch: u64,
    /// The leader of that epoch, if known.
    pub leader: Option<u32>,
    /// Its last sequence number (= number of orders it holds).
    pub last_seq: Seq,
    /// The epoch of the leader its last entry came from: with `last_seq`, how up to date
    /// its log is.
    pub last_epoch: u64,
}

/// A follower's answer to a replication push: where its log ends now, durably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicateReply {
    /// Its last sequence number after appending what it could.
    pub last_seq: Seq,
}
