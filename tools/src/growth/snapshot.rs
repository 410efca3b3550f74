//! Snapshots: what a lagging replica is sent, and how long installing it takes.
//!
//! The generated files hold a snapshot of their N orders and a Raft log purged up to it
//! ([`super::generate`]), so the empty replica of the catch-up step cannot be sent log
//! entries: the leader sends it the snapshot (one `POST /internal/raft/snapshot`), and it
//! installs it (`RaftStateMachine::install_snapshot`: events, projection, last applied and
//! membership replaced in one durable transaction). The catch-up step *is* a snapshot
//! install; this module reads its figures:
//!
//! - `bytes`: the size of the snapshot data the replica installed, read from its file after
//!   it stopped (the current snapshot the storage keeps); it is the leader's snapshot, byte
//!   for byte the one the generator built;
//! - `install_secs`: from the empty replica's `/health` first saying ready (storage open,
//!   Raft running, a voter: it could now receive the snapshot) to it holding N orders —
//!   the leader noticing it lags, sending the snapshot, and the install. The catch-up column
//!   adds the process start before it.
//!
//! [`measure`] fails if the replica's current snapshot does not cover the generated log
//! (it would then have caught up by some other way than installing the snapshot).

use super::replicas::Waited;
use anyhow::{bail, Context};
use openraft::storage::RaftStateMachine;
use serde::Serialize;
use std::path::Path;
use toystore_order::apply::Orders;

/// A snapshot's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SnapshotFigures {
    /// The events the snapshot covers (it is a reference to them: no bytes of its own).
    pub events: u64,
    /// Seconds to bring an empty replica up to date by installing it.
    pub install_secs: f64,
}

/// The figures of the snapshot installed into the stopped replica file `path`, which caught
/// up as `caught` saw it, and must cover log index `last_index` (see the module doc).
pub async fn measure(
    path: &Path,
    caught: &Waited,
    last_index: u64,
) -> anyhow::Result<Option<SnapshotFigures>> {
    let store = {
        let file = path.to_path_buf();
        tokio::task::spawn_blocking(move || toystore_order::replica::open_store(&file))
            .await?
            .with_context(|| format!("opening {}", path.display()))?
    };
    let mut machine = store.state_machine(Orders);
    let current = machine
        .get_current_snapshot()
        .await
        .with_context(|| format!("reading the snapshot of {}", path.display()));
    drop(machine);
    tokio::task::spawn_blocking(move || drop(store)).await?;
    let Some(snapshot) = current? else {
        bail!(
            "{} holds no snapshot: it did not catch up by installing one",
            path.display()
        );
    };
    let covers = snapshot.meta.last_log_id.map_or(0, |id| id.index);
    if covers < last_index {
        bail!(
            "{}: its snapshot covers index {covers}, not the generated log's {last_index}",
            path.display()
        );
    }
    let ready = caught.ready_after.unwrap_or_default();
    Ok(Some(SnapshotFigures {
        events: snapshot.snapshot.last_seq().0,
        install_secs: caught.elapsed.saturating_sub(ready).as_secs_f64(),
    }))
}
