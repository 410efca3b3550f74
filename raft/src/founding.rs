//! The one-time initialisation of a Raft group ([`found_or_join`]).
//!
//! A replica whose storage is pristine asks its peers
//! (`POST /internal/raft/pristine`) before it does anything: if one of them holds a log, the cluster exists and
//! the pristine replica waits to receive the log from the leader (it is a voter of the
//! existing membership, or a replica new to the file that the leader adds, see
//! [`crate::membership`]). If a majority of the file's replicas (itself included) answer and
//! all are pristine, it calls `Raft::initialize` with all replicas of the file as voters.
//! Replicas founding together write the same initial membership entry (same log id 0, same
//! content), which openraft allows ("more than one node performing initialize() with the
//! same config is safe"); an already initialised replica's `NotAllowed` is ignored. So a
//! replica added to the file later never founds a second cluster with a different
//! membership.

use crate::network::Network;
use crate::Types;
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Raft};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_config::ReplicaId;

/// Initialises the cluster with `members` as voters if this node's storage is pristine.
pub async fn initialize<C: Types>(
    raft: &Raft<C>,
    members: BTreeMap<ReplicaId, BasicNode>,
) -> Result<(), RaftError<ReplicaId, InitializeError<ReplicaId, BasicNode>>> {
    match raft.initialize(members).await {
        Ok(()) => {
            tracing::info!(cluster = %raft.config().cluster_name, "initialised the Raft cluster");
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
            tracing::debug!("Raft cluster already initialised");
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

/// Whether this node has never had a log or a vote.
pub fn pristine<C: Types>(raft: &Raft<C>) -> bool {
    let metrics = raft.metrics();
    let m = metrics.borrow();
    m.last_log_index.is_none() && m.current_term == 0
}

/// On a pristine replica: founds the cluster with `members` when the founding rule says so,
/// or leaves it to the leader to bring this replica in; returns when done or at `stop`.
pub async fn found_or_join<C: Types>(
    raft: Raft<C>,
    members: BTreeMap<ReplicaId, BasicNode>,
    network: Network<C>,
    stop: CancellationToken,
) -> Result<(), RaftError<ReplicaId, InitializeError<ReplicaId, BasicNode>>> {
    let cluster = members.len();
    let own = raft.metrics().borrow().id;
    loop {
        if !pristine(&raft) {
            return Ok(());
        }
        let mut answers = Vec::new();
        for peer in members.keys().filter(|id| **id != own) {
            if let Ok(Some(pristine)) =
                tokio::time::timeout(Duration::from_secs(1), network.pristine(*peer)).await
            {
                answers.push(pristine);
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
