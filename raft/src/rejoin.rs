//! The leader's side of a rejoin ([`take_out`]): a replica that started with an empty log
//! while its group exists asks to be held as no member before it takes any part
//! ([`crate::founding`]).
//!
//! Only a leader that has confirmed its leadership answers `Ok`, and only once its
//! committed membership does not hold that id at all: if the replica is a voter, the leader
//! first removes it (`change_membership`, joint consensus, committed by a majority of the
//! others, since the replica takes no entries meanwhile), node and all; a learner's node is
//! removed too. Either way the leader forgets how far it had replicated to the replica, so
//! its replication restarts from nothing when the membership task adds it back as a
//! learner (a learner kept with its old progress would look caught up at once). The
//! replica's old votes and acknowledgements then no longer count anywhere: a candidate
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

/// Where a replica stands in the effective membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Voter,
    Learner,
    Absent,
}

/// Where `id` stands in the effective membership, whether that membership is committed
/// (applied), and its entry's index.
fn held<C: Types, E: LogEvent>(node: &Node<C, E>, id: ReplicaId) -> (Held, bool, u64) {
    let metrics = node.raft().metrics();
    let m = metrics.borrow();
    let membership = m.membership_config.membership();
    let held = if membership.voter_ids().any(|v| v == id) {
        Held::Voter
    } else if membership.get_node(&id).is_some() {
        Held::Learner
    } else {
        Held::Absent
    };
    let log_id = m.membership_config.log_id();
    let index = log_id.map_or(0, |l| l.index);
    (held, log_id <= &m.last_applied, index)
}

/// On the leader: makes sure replica `id` is not in the committed membership (removing it
/// if it is, voter or learner) and answers with the index of that membership's entry (the
/// replica's *voter floor*: no membership at or below it makes it a voter again,
/// `toystore_store::raft::RaftStore::voter_floor`); a refusal says why not (not the
/// leader, no quorum, a membership change in progress, `id` is this replica).
pub async fn take_out<C: Types, E: LogEvent>(
    node: &Node<C, E>,
    id: ReplicaId,
    timeout: Duration,
) -> Result<u64, String> {
    if id == node.id() {
        return Err(format!("replica {id} cannot take itself out"));
    }
    node.linearize(timeout).await.map_err(|e| e.to_string())?;
    let change = match held(node, id).0 {
        Held::Voter => {
            tracing::warn!(
                replica = id,
                "a voter came back with an empty log: taking it out of the voters"
            );
            Some(ChangeMembers::RemoveVoters(BTreeSet::from([id])))
        }
        Held::Learner => {
            tracing::warn!(
                replica = id,
                "a learner came back with an empty log: removing it, to replicate to it afresh"
            );
            Some(ChangeMembers::RemoveNodes(BTreeSet::from([id])))
        }
        Held::Absent => None,
    };
    let removed = change.is_some();
    if let Some(change) = change {
        match tokio::time::timeout(timeout, node.raft().change_membership(change, false)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("removing replica {id}: {e}")),
            Err(_) => return Err(format!("removing replica {id} timed out")),
        }
        node.linearize(timeout).await.map_err(|e| e.to_string())?;
    }
    // After a removal, the membership task may already have added it back as a learner:
    // with fresh progress, which is what the removal was for.
    match held(node, id) {
        (Held::Voter, _, _) => Err(format!("replica {id} is still a voter")),
        (Held::Learner, _, _) if !removed => Err(format!("replica {id} is still a learner")),
        (_, false, _) => Err("a membership change is not committed yet".into()),
        (_, true, floor) => Ok(floor),
    }
}
