//! openraft's `Config` for a service's Raft group, from its [`Timing`].
//!
//! - `elect: false` (the order service's `frontend` policy): no election timer, heartbeats
//!   on; an election starts only when asked (the order replicas' campaign route).
//! - `elect: true`: randomized election timeouts in `[election_timeout_min,
//!   election_timeout_max)`.
//!
//! In both, a follower refuses to vote for another candidate while its leader lease
//! (`election_timeout_max` since it last heard from a leader) lasts, so a healthy leader is
//! never deposed by a campaign. Snapshots are taken every `snapshot_every` applied entries
//! and the log purged behind them, keeping `keep_after_snapshot`.

use openraft::{Config, SnapshotPolicy};
use std::sync::Arc;
use std::time::Duration;
use toystore_config::duration::millis;

/// A Raft group's timing and snapshot policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// openraft's cluster name (e.g. `toystore-orders`).
    pub cluster_name: &'static str,
    /// Leader heartbeat interval.
    pub heartbeat: Duration,
    /// Lower bound of the randomized election timeout.
    pub election_timeout_min: Duration,
    /// Upper bound (and the leader lease followers honour).
    pub election_timeout_max: Duration,
    /// Whether replicas start elections on their own.
    pub elect: bool,
    /// A snapshot every this many applied entries.
    pub snapshot_every: u64,
    /// Entries kept behind a snapshot when the log is purged.
    pub keep_after_snapshot: u64,
}

impl Timing {
    /// The group `cluster_name`'s timing from the cluster file's `[order]` section (the
    /// pacing both groups take), electing on its own if `elect`.
    pub fn of(
        cluster_name: &'static str,
        settings: &toystore_config::OrderConfig,
        elect: bool,
    ) -> Self {
        Self {
            cluster_name,
            heartbeat: settings.heartbeat,
            election_timeout_min: settings.election_timeout_min,
            election_timeout_max: settings.election_timeout_max,
            elect,
            snapshot_every: settings.snapshot_every,
            keep_after_snapshot: settings.keep_after_snapshot,
        }
    }
}

/// openraft's configuration for `timing`.
pub fn raft_config(timing: &Timing) -> Result<Arc<Config>, Box<openraft::ConfigError>> {
    let config = Config {
        cluster_name: timing.cluster_name.into(),
        heartbeat_interval: millis(timing.heartbeat),
        election_timeout_min: millis(timing.election_timeout_min),
        election_timeout_max: millis(timing.election_timeout_max),
        enable_elect: timing.elect,
        enable_heartbeat: true,
        enable_tick: true,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_every),
        max_in_snapshot_log_to_keep: timing.keep_after_snapshot,
        // Purge in batches, but never wait for more entries than a snapshot covers: with a
        // fixed 256, a store snapshotting every 10 entries kept its whole log until 256
        // entries had piled up (and a lagging replica never needed a snapshot).
        purge_batch_size: timing.snapshot_every.clamp(1, 256),
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(Box::new)?))
}
