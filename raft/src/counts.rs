//! [`Counts`]: what a replica's snapshot transfers moved since it started (events sent and
//! received, snapshots installed) and how many are being received now, shared by the
//! replica (metrics, health), its Raft network (the sender) and the transfer route (the
//! receiver). Only counters: it depends on nothing else in the crate.

use std::sync::atomic::{AtomicU64, AtomicUsize};

/// What this replica's snapshot transfers moved (since it started), for metrics and tests.
#[derive(Debug, Default)]
pub struct Counts {
    /// Events sent to lagging replicas.
    pub events_sent: AtomicU64,
    /// Events received from a leader.
    pub events_received: AtomicU64,
    /// Snapshots installed from a leader.
    pub installed: AtomicU64,
    /// Transfers being received now (elections are held off while any is).
    pub receiving: AtomicUsize,
}
