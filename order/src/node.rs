//! Starting a replica's Raft node: openraft's `Config` from the cluster file's `[order]`
//! section, and the one-time initialisation of the cluster.
//!
//! - `frontend` policy: `enable_elect = false` (no election timer), heartbeats on; an
//!   election starts only when a front-end calls the campaign route.
//! - `raft` policy: `enable_elect = true`, randomized election timeouts in
//!   `[election_timeout_min_ms, election_timeout_max_ms)`.
//!
//! In both, a follower refuses to vote for another candidate while its leader lease
//! (`election_timeout_max_ms` since it last heard from a leader) lasts, so a healthy leader
//! is never deposed by a front-end's campaign. Snapshots are taken every `snapshot_every`
//! applied entries and the log purged behind them, keeping `keep_after_snapshot`.
//!
//! **Initialisation.** Every replica whose storage is pristine calls `Raft::initialize`
//! with all replicas of the cluster file as voters. The initial membership entry has the
//! same log id (0) and content on every replica, so concurrent or repeated initialisation
//! is safe (openraft: "more than one node performing initialize() with the same config is
//! safe"); an already initialised replica refuses it with `NotAllowed`, which is ignored.
//! Known limit: a replica added to the file later must not start on a pristine file while
//! the others run with a different membership (see docs/DESIGN.md).

use crate::types::OrderNode;
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};
use std::collections::BTreeMap;
use std::sync::Arc;
use toystore_net::config::{Election, OrderConfig};

/// openraft's configuration for `settings`.
pub fn raft_config(settings: &OrderConfig) -> Result<Arc<Config>, Box<openraft::ConfigError>> {
    let config = Config {
        cluster_name: "toystore-orders".into(),
        heartbeat_interval: settings.heartbeat_ms,
        election_timeout_min: settings.election_timeout_min_ms,
        election_timeout_max: settings.election_timeout_max_ms,
        enable_elect: settings.election == Election::Raft,
        enable_heartbeat: true,
        enable_tick: true,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_every),
        max_in_snapshot_log_to_keep: settings.keep_after_snapshot,
        purge_batch_size: 256,
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(Box::new)?))
}

/// Initialises the cluster with `members` as voters if this node's storage is pristine.
pub async fn initialize(
    raft: &OrderNode,
    members: BTreeMap<u64, BasicNode>,
) -> Result<(), RaftError<u64, InitializeError<u64, BasicNode>>> {
    match raft.initialize(members).await {
        Ok(()) => {
            tracing::info!("initialised the order cluster");
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
            tracing::debug!("order cluster already initialised");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
