//! Wire types of a replica's endpoints (JSON inside the `data` envelope, except the Raft
//! routes, whose bodies are postcard).
//!
//! | endpoint | body | reply |
//! | --- | --- | --- |
//! | `GET /health` (no token) | | [`ReplicaStatus`] |
//! | `POST /internal/orders` | [`PlaceOrder`] | [`OrderPlacedReply`]; 400, 404, 409, 421 not leader (header [`LEADER_HEADER`]), 422, 503 |
//! | `GET /internal/orders/<n>` | | [`OrderRecord`]; 404 `order not found`, 421, 503 |
//! | `POST /internal/raft/append` | postcard `AppendEntriesRequest` | postcard `AppendEntriesResponse` |
//! | `POST /internal/raft/vote` | postcard `VoteRequest` | postcard `VoteResponse` |
//! | `POST /internal/raft/snapshot` | postcard `InstallSnapshotRequest` (one chunk) | postcard `InstallSnapshotResponse` |
//! | `POST /internal/raft/campaign` | | [`ReplicaStatus`] (the replica starts an election unless it leads) |
//!
//! A Raft route answers 400 (JSON envelope) to a body it cannot decode, and 503 with header
//! [`RAFT_ERROR_HEADER`] and the JSON of openraft's `RaftError` when Raft refused the call.
//! 421 (misdirected request) means "I am not the leader": the caller should ask the leader
//! named in [`LEADER_HEADER`] (or select one again) and retry with the same request id.

use serde::{Deserialize, Serialize};
use toystore_events::{OrderNumber, ProductName, Quantity, RequestId, Seq};

/// Header of a 421 naming the leader the replica knows of.
pub const LEADER_HEADER: &str = "x-toystore-leader";
/// Header marking a Raft route's error reply (its body is the JSON of a `RaftError`).
pub const RAFT_ERROR_HEADER: &str = "x-toystore-raft-error";

/// A purchase forwarded by the front-end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrder {
    /// Idempotency key.
    pub request_id: RequestId,
    /// The toy.
    pub name: ProductName,
    /// Units.
    pub quantity: Quantity,
}

/// A placed order's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlacedReply {
    /// The order number.
    pub order_number: OrderNumber,
    /// True if the request id had been placed before (nothing new was bought).
    pub replayed: bool,
}

/// An order, in API.md's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    /// The order number.
    #[schema(value_type = u64)]
    pub number: OrderNumber,
    /// The toy.
    #[schema(value_type = String, min_length = 1)]
    pub name: ProductName,
    /// Units.
    #[schema(value_type = u32, minimum = 1, maximum = 1_000_000)]
    pub quantity: Quantity,
}

/// A replica's Raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Campaigning.
    Candidate,
    /// Accepts orders.
    Leader,
    /// Receives the log but does not vote.
    Learner,
    /// Raft stopped (storage failure or shutdown).
    Shutdown,
}

/// What a replica says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaStatus {
    /// Its id.
    pub id: u32,
    /// Its role.
    pub role: Role,
    /// True when Raft runs and the replica is a voter of an initialised cluster: it can
    /// vote, follow, and lead if elected. (Not "has a leader": with the `frontend` policy
    /// no leader exists until a front-end asks for an election.)
    pub ready: bool,
    /// Its current Raft term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<u32>,
    /// Index of its last log entry.
    pub last_log_index: Option<u64>,
    /// Index of the last entry its state machine applied.
    pub applied: Option<u64>,
    /// Index of the last entry its current snapshot covers, if it has one.
    pub snapshot: Option<u64>,
    /// Its last event sequence number (= number of orders it holds).
    pub last_seq: Seq,
    /// The voters of the Raft membership it knows (empty before the cluster is initialised).
    pub voters: Vec<u32>,
    /// A leader: milliseconds since a quorum last acknowledged it (`None` otherwise, or
    /// before the first acknowledgement).
    #[serde(default)]
    pub quorum_ack_ms: Option<u64>,
    /// A leader that no quorum has acknowledged for longer than twice the longest election
    /// timeout: cut off from its followers, it cannot commit, and they may have elected
    /// another. Front-ends do not use it (and with the `frontend` policy ask another
    /// replica to campaign).
    #[serde(default)]
    pub isolated: bool,
}

/// The header carrying a snapshot transfer's [`SnapshotHeader`] (hex of its postcard bytes)
/// on `POST /internal/raft/snapshot`, whose body is the event frames it announces.
pub const SNAPSHOT_HEADER: &str = "x-toystore-snapshot";

/// What a snapshot transfer sends before its events: the leader's vote, the snapshot's
/// metadata, and which events follow (`after + 1 ..= last_seq`; the receiver holds the
/// ones up to `after`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SnapshotHeader {
    /// The sending leader's vote.
    pub vote: openraft::Vote<u64>,
    /// The snapshot's metadata.
    pub meta: openraft::SnapshotMeta<u64, openraft::BasicNode>,
    /// The last event the receiver already holds (not sent).
    pub after: toystore_events::Seq,
    /// The snapshot's last event.
    pub last_seq: toystore_events::Seq,
}

impl SnapshotHeader {
    /// The header value: hex of the postcard bytes.
    pub fn encode(&self) -> Result<String, postcard::Error> {
        let bytes = postcard::to_allocvec(self)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads a header value written by [`SnapshotHeader::encode`].
    pub fn decode(text: &str) -> Result<Self, String> {
        if !text.len().is_multiple_of(2) || !text.is_ascii() {
            return Err("not hex".into());
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|e| format!("not hex: {e}"))?;
        postcard::from_bytes(&bytes).map_err(|e| format!("not a snapshot header: {e}"))
    }
}
