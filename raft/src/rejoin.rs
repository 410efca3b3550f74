//! The leader's side of a rejoin ([`take_out`]): a replica that started with an empty log
//! while its group exists asks to be held as no voter before it takes any part
//! ([`crate::founding`]).
//!
//! Only a leader that has confirmed its leadership answers `Ok`, and only once its
//! committed membership has no voter of that id: if the replica is a voter, the leader
//! first removes it (`change_membership`, joint consensus, committed by a majority of the
//! others, since the replica takes no entries meanwhile), removing its node too so that its
//! replication restarts from nothing when the membership task adds it back as a learner.
//! The replica's old votes and acknowledgements then no longer count anywhere: a candidate
//! whose membership still has it as a voter lacks the committed removal, so the voters that
//! hold the removal refuse it.

use crate::node::Node;
use crate::Types;
use openraft::ChangeMembers;
use std::collections::BTreeSet;
use std::time::Duration;
use toystore_config::ReplicaId;
use toystore_events::LogEvent;

/// How long a rejoin may take on the leader (confirming, then the membership change).
pub const TAKE_OUT_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether `id` is a voter of the effective membership, and whether that membership is
/// committed (applied).
fn voter_and_committed<C: Types, E: LogEvent>(node: &Node<C, E>, id: ReplicaId) -> (bool, bool) {
    let metrics = node.raft().metrics();
    let m = metrics.borrow();
    let voter = m
        .membership_config
        .membership()
        .voter_ids()
        .any(|v| v == id);
    let committed = m.membership_config.log_id() <= &m.last_applied;
    (voter, committed)
}

/// On the leader: makes sure replica `id` is no voter of the committed membership (taking
/// it out if it is one) and answers `Ok`; a refusal says why not (not the leader, no quorum,
/// a membership change in progress, `id` is this replica).
pub async fn take_out<C: Types, E: LogEvent>(
    node: &Node<C, E>,
    id: ReplicaId,
    timeout: Duration,
) -> Result<(), String> {
    if id == node.id() {
        return Err(format!("replica {id} cannot take itself out"));
    }
    node.linearize(timeout).await.map_err(|e| e.to_string())?;
    if voter_and_committed(node, id).0 {
        tracing::warn!(
            replica = id,
            "a voter came back with an empty log: taking it out of the voters"
        );
        let change = node
            .raft()
            .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false);
        match tokio::time::timeout(timeout, change).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("taking replica {id} out of the voters: {e}")),
            Err(_) => return Err(format!("taking replica {id} out of the voters timed out")),
        }
        node.linearize(timeout).await.map_err(|e| e.to_string())?;
    }
    match voter_and_committed(node, id) {
        (false, true) => Ok(()),
        (true, _) => Err(format!("replica {id} is still a voter")),
        (false, false) => Err("a membership change is not committed yet".into()),
    }
}
