//! **Not measured yet: snapshots.** The hand-made replication has none: a replica that
//! joins empty streams the whole log from a peer (the catch-up measurement). With openraft
//! a leader builds a snapshot of its state machine and sends it to a follower that is too
//! far behind, and the measurement belongs here:
//!
//! - `bytes`: the size of the leader's snapshot of N orders (what `build_snapshot` writes);
//! - `install_secs`: from starting an empty replica to its `/health` saying ready with
//!   `last_seq` = N, when it is brought up to date by installing that snapshot.
//!
//! [`measure`] is called with the replicas running, after the catch-up measurement, and its
//! figures already have their columns in the CSV, the JSON and the table (`n/a` until then).
//! Once it returns `Some`, re-running `tools growth` with the same arguments fills them.

use super::replicas::Replicas;
use serde::Serialize;

/// A snapshot's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SnapshotFigures {
    /// The snapshot's size.
    pub bytes: u64,
    /// Seconds to bring an empty replica up to date by installing it.
    pub install_secs: f64,
}

/// Measures the snapshot of a store holding `orders` orders. Today: `None` (there are no
/// snapshots before the move to openraft; see the module doc).
pub async fn measure(
    _replicas: &mut Replicas,
    _orders: u64,
) -> anyhow::Result<Option<SnapshotFigures>> {
    // RAFT: trigger a snapshot on the leader, read its size, start an empty replica that
    // must install it, and time it to ready with last_seq = orders.
    Ok(None)
}
