//! Starting a replica's Raft node: openraft's `Config` from the cluster file's `[order]`
//! section, and the one-time initialisation of the cluster.
//!
//! - `frontend` policy: `enable_elect = false` (no election timer), heartbeats on; an
//!   election starts only when a front-end calls the campaign route.
//! - `raft` policy: `enable_elect = true`, randomized election timeouts in
//!   `[election_timeout_min, election_timeout_max)`.
//!
//! In both, a follower refuses to vote for another candidate while its leader lease
//! (`election_timeout_max` since it last heard from a leader) lasts, so a healthy leader
//! is never deposed by a front-end's campaign. Snapshots are taken every `snapshot_every`
//! applied entries and the log purged behind them, keeping `keep_after_snapshot`.
//!
//! **Initialisation** ([`found_or_join`]). A replica whose storage is pristine asks its peers
//! (`/health`) before it does anything: if one of them holds a log, the cluster exists and
//! the pristine replica waits to receive the log from the leader (it is a voter of the
//! existing membership, or a replica new to the file that the leader adds, see
//! [`crate::membership`]). If a majority of the file's replicas (itself included) answer and
//! all are pristine, it calls `Raft::initialize` with all replicas of the file as voters.
//! Replicas founding together write the same initial membership entry (same log id 0, same
//! content), which openraft allows ("more than one node performing initialize() with the
//! same config is safe"); an already initialised replica's `NotAllowed` is ignored. So a
//! replica added to the file later never founds a second cluster with a different
//! membership.

use crate::types::OrderNode;
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_config::duration::millis;
use toystore_config::{Election, OrderConfig, ReplicaId};
use toystore_order_api::ReplicaClient;

/// openraft's configuration for `settings`.
pub fn raft_config(settings: &OrderConfig) -> Result<Arc<Config>, Box<openraft::ConfigError>> {
    let config = Config {
        cluster_name: "toystore-orders".into(),
        heartbeat_interval: millis(settings.heartbeat),
        election_timeout_min: millis(settings.election_timeout_min),
        election_timeout_max: millis(settings.election_timeout_max),
        enable_elect: settings.election == Election::Raft,
        enable_heartbeat: true,
        enable_tick: true,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_every),
        max_in_snapshot_log_to_keep: settings.keep_after_snapshot,
        // Purge in batches, but never wait for more entries than a snapshot covers: with a
        // fixed 256, a store snapshotting every 10 entries kept its whole log until 256
        // entries had piled up (and a lagging replica never needed a snapshot).
        purge_batch_size: settings.snapshot_every.clamp(1, 256),
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(Box::new)?))
}

/// Initialises the cluster with `members` as voters if this node's storage is pristine.
pub async fn initialize(
    raft: &OrderNode,
    members: BTreeMap<ReplicaId, BasicNode>,
) -> Result<(), RaftError<ReplicaId, InitializeError<ReplicaId, BasicNode>>> {
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

/// What a pristine replica learns from its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Founding {
    /// A peer holds a log: wait for the leader's replication.
    Join,
    /// A majority (itself included) answered, all pristine: initialise.
    Found,
    /// Too few answered: ask again.
    Wait,
}

/// The founding rule as a plain function: `answers` holds, for each peer that answered,
/// whether its log is empty; `cluster` is the number of replicas in the file.
pub fn founding(answers: &[bool], cluster: usize) -> Founding {
    if answers.iter().any(|pristine| !pristine) {
        return Founding::Join;
    }
    if 1 + answers.len() > cluster / 2 {
        Founding::Found
    } else {
        Founding::Wait
    }
}

fn pristine(raft: &OrderNode) -> bool {
    let m = raft.metrics().borrow().clone();
    m.last_log_index.is_none() && m.current_term == 0
}

/// On a pristine replica: founds the cluster with `members` when the founding rule says so,
/// or leaves it to the leader to bring this replica in; returns when done or at `stop`.
pub async fn found_or_join(
    raft: OrderNode,
    members: BTreeMap<ReplicaId, BasicNode>,
    peers: Vec<ReplicaClient>,
    stop: CancellationToken,
) -> Result<(), RaftError<ReplicaId, InitializeError<ReplicaId, BasicNode>>> {
    let cluster = members.len();
    loop {
        if !pristine(&raft) {
            return Ok(());
        }
        let mut answers = Vec::new();
        for peer in &peers {
            if let Ok(Ok(status)) =
                tokio::time::timeout(Duration::from_secs(1), peer.health()).await
            {
                answers.push(status.last_log_index.is_none());
            }
        }
        match founding(&answers, cluster) {
            Founding::Join => {
                tracing::info!(
                    "the cluster exists; waiting for its leader to bring this replica in"
                );
                return Ok(());
            }
            Founding::Found => return initialize(&raft, members).await,
            Founding::Wait => {}
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pristine_replica_founds_only_with_a_pristine_majority_and_joins_a_living_cluster() {
        // Alone in a one-replica file: found.
        assert_eq!(founding(&[], 1), Founding::Found);
        // Three replicas: one pristine peer answering makes a majority.
        assert_eq!(founding(&[true], 3), Founding::Found);
        assert_eq!(founding(&[], 3), Founding::Wait);
        // A peer with a log: the cluster exists, whatever the others say.
        assert_eq!(founding(&[true, false], 3), Founding::Join);
        assert_eq!(founding(&[false], 4), Founding::Join);
        // Four replicas: itself and one peer are not a majority.
        assert_eq!(founding(&[true], 4), Founding::Wait);
        assert_eq!(founding(&[true, true], 4), Founding::Found);
    }
}
