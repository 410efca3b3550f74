//! Snapshots: what a lagging replica is sent, and how long receiving and installing it take.
//!
//! The generated files hold a snapshot of their N orders and a Raft log purged up to it
//! ([`super::generate`]), so the empty replica of the catch-up step cannot be sent log
//! entries: the leader sends it the snapshot (the events it lacks, streamed from a read
//! transaction, written straight into its log), and it installs it (the request-id index
//! built in key order, then last applied and membership). The catch-up step *is* a
//! snapshot transfer and install; this module reads its figures:
//!
//! - `events`: the events the installed snapshot covers, read from the replica's file
//!   after it stopped;
//! - `transfer_secs`: from the empty replica first answering `/health` to its log holding
//!   the N events: the leader noticing it lags, and streaming the events;
//! - `install_secs`: from then to the replica having applied the snapshot (the index build
//!   and the install). The catch-up column adds the process start before both.
//!
//! [`measure`] fails if the replica's current snapshot does not cover the generated log
//! (it would then have caught up by some other way than installing the snapshot).

use super::replicas::Waited;
use anyhow::{bail, Context};
use openraft::storage::RaftStateMachine;
use serde::Serialize;
use std::path::Path;
use std::time::Duration;
use toystore_order::apply::Orders;

/// A snapshot's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SnapshotFigures {
    /// The events the snapshot covers (it is a reference to them: no bytes of its own).
    pub events: u64,
    /// Seconds from the empty replica answering to its log holding the snapshot's events.
    pub transfer_secs: f64,
    /// Seconds from then to the snapshot applied (the index built, the install done).
    pub install_secs: f64,
}

/// The figures of the snapshot installed into the stopped replica file `path`, which caught
/// up as `caught` saw it (its log held the events `received` after the start), and must
/// cover log index `last_index` (see the module doc).
pub async fn measure(
    path: &Path,
    caught: &Waited,
    received: Option<Duration>,
    last_index: u64,
) -> anyhow::Result<SnapshotFigures> {
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
    let answered = caught.answered_after.unwrap_or_default();
    let received = received.unwrap_or(caught.elapsed);
    Ok(SnapshotFigures {
        events: snapshot.snapshot.last_seq().0,
        transfer_secs: received.saturating_sub(answered).as_secs_f64(),
        install_secs: caught.elapsed.saturating_sub(received).as_secs_f64(),
    })
}
