//! The wire of the Raft routes between replicas (postcard bodies), apart from the callers'
//! API (`toystore_order_api`):
//!
//! | endpoint | body | reply |
//! | --- | --- | --- |
//! | `POST /internal/raft/append` | postcard `AppendEntriesRequest` | postcard `AppendEntriesResponse` |
//! | `POST /internal/raft/vote` | postcard `VoteRequest` | postcard `VoteResponse` |
//! | `POST /internal/raft/snapshot` | header [`SNAPSHOT_HEADER`], body the event frames it announces | postcard `SnapshotResponse` |
//! | `POST /internal/raft/position` | postcard `()` | postcard of the receiver's snapshot position (what a transfer may skip) |
//! | `GET /internal/raft/backup` | none | header [`BACKUP_HEADER`], body the event frames it announces (`crate::backup`) |
//!
//! A Raft route answers 400 (JSON envelope) to a body it cannot decode, and 503 with header
//! [`RAFT_ERROR_HEADER`] and the JSON of openraft's `RaftError` when Raft refused the call.

use toystore_config::ReplicaId;

/// Header marking a Raft route's error reply (its body is the JSON of a `RaftError`).
pub const RAFT_ERROR_HEADER: &str = "x-toystore-raft-error";

/// The header carrying a snapshot transfer's [`SnapshotHeader`] (hex of its postcard bytes)
/// on `POST /internal/raft/snapshot`, whose body is the event frames it announces.
pub const SNAPSHOT_HEADER: &str = "x-toystore-snapshot";

/// Set on a 503 of a replica not admitted yet (`crate::founding`): the sender treats it as
/// unreachable, so openraft backs off instead of resending at once.
pub const NOT_ADMITTED_HEADER: &str = "x-toystore-not-admitted";

/// What a snapshot transfer sends before its events: the leader's vote, the snapshot's
/// metadata, and which events follow (`after + 1 ..= last_seq`; the receiver holds the
/// ones up to `after`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SnapshotHeader {
    /// The sending leader's vote.
    pub vote: openraft::Vote<ReplicaId>,
    /// The snapshot's metadata.
    pub meta: openraft::SnapshotMeta<ReplicaId, openraft::BasicNode>,
    /// The last event the receiver already holds (not sent).
    pub after: toystore_events::Seq,
    /// The snapshot's last event.
    pub last_seq: toystore_events::Seq,
}

impl SnapshotHeader {
    /// The header value: hex of the postcard bytes.
    pub fn encode(&self) -> Result<String, postcard::Error> {
        to_header(self)
    }

    /// Reads a header value written by [`SnapshotHeader::encode`].
    pub fn decode(text: &str) -> Result<Self, String> {
        from_header(text, "a snapshot header")
    }
}

/// The header carrying a backup's [`BackupHeader`] (hex of its postcard bytes) on the reply
/// of `GET /internal/raft/backup`, whose body is the event frames it announces.
pub const BACKUP_HEADER: &str = "x-toystore-backup";

/// What a backup's reply says before its events (1..=`last_seq`): whose copy it is and the
/// state machine position it holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct BackupHeader {
    /// The log kind (`toystore_events::LogEvent::KIND`).
    pub kind: String,
    /// The replica that took it.
    pub replica: ReplicaId,
    /// Whether that replica led, having confirmed its leadership and applied everything
    /// committed before the copy was taken (so it holds every write acknowledged before).
    pub leader: bool,
    /// The state machine's position: last applied log id and membership.
    pub meta: openraft::SnapshotMeta<ReplicaId, openraft::BasicNode>,
    /// Its last event.
    pub last_seq: toystore_events::Seq,
}

impl BackupHeader {
    /// The header value: hex of the postcard bytes.
    pub fn encode(&self) -> Result<String, postcard::Error> {
        to_header(self)
    }

    /// Reads a header value written by [`BackupHeader::encode`].
    pub fn decode(text: &str) -> Result<Self, String> {
        from_header(text, "a backup header")
    }
}

/// `value` as a header value: hex of its postcard bytes.
fn to_header<T: serde::Serialize>(value: &T) -> Result<String, postcard::Error> {
    let bytes = postcard::to_allocvec(value)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Reads a header value written by [`to_header`]; `what` names it in errors.
fn from_header<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, String> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err("not hex".into());
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|e| format!("not hex: {e}"))?;
    postcard::from_bytes(&bytes).map_err(|e| format!("not {what}: {e}"))
}
