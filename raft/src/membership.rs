//! The Raft membership follows the cluster file's replica list.
//!
//! Every replica watches the cluster file (`toystore_config::watch`; the service picks its own
//! list out of it, the order replicas or the catalog replicas): a new version replaces its
//! peers' addresses at once ([`crate::network::AddressBook`]) and becomes the desired
//! membership. The leader (only the leader: membership changes go through it) compares the
//! desired replicas with the Raft membership every `reconcile_every` ([`Pace`]) and after each change
//! of the file, and takes one [`Step`] at a time ([`next_step`], a plain function):
//!
//! 1. a replica whose address changed: its `BasicNode` is updated (`SetNodes`);
//! 2. a replica new to the file: added as a **learner** (`add_learner`), which receives the
//!    log without voting;
//! 3. a learner no longer in the file: removed (`RemoveNodes`);
//! 4. once every new learner has caught up (its replicated index within [`CATCH_UP_SLACK`]
//!    of the leader's applied index), the voters become exactly the file's replicas
//!    (`change_membership`, joint consensus; removed voters leave the membership).
//!
//! A file with no replicas is ignored (a cluster cannot vote itself away). A step that fails
//! or times out is retried in the next round, possibly by the next leader. A replica added
//! to the file but not started stays a learner that is not caught up, so it is never promoted
//! to voter (which would make the majority larger without a live member to count).

use crate::network::AddressBook;
use crate::Types;
use openraft::{BasicNode, ChangeMembers, Raft, ServerState};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use toystore_config::{ReplicaId, ServiceAddr};

/// How far (in entries) a learner may trail the leader's applied index and still be promoted.
pub const CATCH_UP_SLACK: u64 = 64;

/// How often the leader compares the membership with the file, and how long one
/// membership call may take before the round gives up (it is retried): the cluster file's
/// `[order] reconcile_every` and `[timeouts] membership`.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Between two comparisons.
    pub every: Duration,
    /// One membership call.
    pub call_timeout: Duration,
}

/// Replica id → node, as the file lists them.
pub type Members = BTreeMap<ReplicaId, BasicNode>;

/// The file's replicas as Raft nodes.
pub fn members_of(replicas: &[(ReplicaId, ServiceAddr)]) -> Members {
    replicas
        .iter()
        .map(|(id, addr)| (*id, BasicNode::new(addr.to_string())))
        .collect()
}

/// The file's replicas as base URLs, for the address book.
pub fn book_of(replicas: &[(ReplicaId, ServiceAddr)]) -> BTreeMap<ReplicaId, String> {
    replicas
        .iter()
        .map(|(id, addr)| (*id, toystore_http::tls::base_url(addr)))
        .collect()
}

/// The Raft membership as the leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    /// Voter ids.
    pub voters: BTreeSet<ReplicaId>,
    /// Every node (voters and learners).
    pub nodes: Members,
    /// The leader's replication progress: node → matched log index.
    pub matched: BTreeMap<ReplicaId, Option<u64>>,
    /// The leader's last applied index.
    pub applied: Option<u64>,
}

/// One change towards the file's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Update these nodes' addresses.
    SetNodes(Members),
    /// Add this replica as a learner.
    AddLearner(ReplicaId, BasicNode),
    /// Remove these learners.
    RemoveNodes(BTreeSet<ReplicaId>),
    /// Make these the voters.
    SetVoters(BTreeSet<ReplicaId>),
    /// Nothing to do until these learners catch up.
    WaitFor(BTreeSet<ReplicaId>),
}

/// The next step from `current` towards `desired`; `None` when they agree (or `desired` is
/// empty).
pub fn next_step(current: &Current, desired: &Members) -> Option<Step> {
    if desired.is_empty() {
        return None;
    }
    let moved: Members = desired
        .iter()
        .filter(|(id, node)| current.nodes.get(id).is_some_and(|n| n != *node))
        .map(|(id, node)| (*id, node.clone()))
        .collect();
    if !moved.is_empty() {
        return Some(Step::SetNodes(moved));
    }
    if let Some((id, node)) = desired
        .iter()
        .find(|(id, _)| !current.nodes.contains_key(id))
    {
        return Some(Step::AddLearner(*id, node.clone()));
    }
    let stray: BTreeSet<ReplicaId> = current
        .nodes
        .keys()
        .filter(|id| !current.voters.contains(id) && !desired.contains_key(id))
        .copied()
        .collect();
    if !stray.is_empty() {
        return Some(Step::RemoveNodes(stray));
    }
    let want: BTreeSet<ReplicaId> = desired.keys().copied().collect();
    if want == current.voters {
        return None;
    }
    let floor = current.applied.unwrap_or(0).saturating_sub(CATCH_UP_SLACK);
    let behind: BTreeSet<ReplicaId> = want
        .difference(&current.voters)
        .filter(|id| {
            current
                .matched
                .get(id)
                .copied()
                .flatten()
                .is_none_or(|m| m < floor)
        })
        .copied()
        .collect();
    if !behind.is_empty() {
        return Some(Step::WaitFor(behind));
    }
    Some(Step::SetVoters(want))
}

fn current_of<C: Types>(raft: &Raft<C>) -> Option<Current> {
    let m = raft.metrics().borrow().clone();
    if m.state != ServerState::Leader {
        return None;
    }
    let membership = m.membership_config.membership();
    Some(Current {
        voters: membership.voter_ids().collect(),
        nodes: membership
            .nodes()
            .map(|(id, node)| (*id, node.clone()))
            .collect(),
        matched: m
            .replication
            .as_ref()
            .map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.as_ref().map(|l| l.index)))
                    .collect()
            })
            .unwrap_or_default(),
        applied: m.last_applied.map(|l| l.index),
    })
}

type RaftWriteError =
    openraft::error::RaftError<ReplicaId, openraft::error::ClientWriteError<ReplicaId, BasicNode>>;

/// Why a membership step did not happen (it is retried on the next change or tick).
#[derive(Debug, thiserror::Error)]
enum StepError {
    /// Raft refused it (not the leader, a change already in progress…).
    #[error(transparent)]
    Raft(#[from] Box<RaftWriteError>),
    /// Raft did not answer within [`Pace::call_timeout`].
    #[error("timed out")]
    TimedOut,
}

/// Takes one step with the Raft API.
async fn take<C: Types>(
    raft: &Raft<C>,
    step: Step,
    call_timeout: Duration,
) -> Result<(), StepError> {
    let (change, retain) = match step {
        Step::AddLearner(id, node) => {
            let added = raft.add_learner(id, node, false);
            return match tokio::time::timeout(call_timeout, added).await {
                Ok(added) => added.map(drop).map_err(|e| StepError::from(Box::new(e))),
                Err(_) => Err(StepError::TimedOut),
            };
        }
        Step::WaitFor(_) => return Ok(()),
        Step::SetNodes(nodes) => (ChangeMembers::SetNodes(nodes), true),
        Step::RemoveNodes(ids) => (ChangeMembers::RemoveNodes(ids), false),
        Step::SetVoters(ids) => (ChangeMembers::ReplaceAllVoters(ids), false),
    };
    match tokio::time::timeout(call_timeout, raft.change_membership(change, retain)).await {
        Ok(changed) => changed.map(drop).map_err(|e| StepError::from(Box::new(e))),
        Err(_) => Err(StepError::TimedOut),
    }
}

/// The cluster file's replicas: (id, address).
pub type Replicas = Vec<(ReplicaId, ServiceAddr)>;

/// Watches the file's replicas until `stop`: keeps `book` up to date, and on the leader,
/// steps the Raft membership towards them.
pub async fn follow<C: Types>(
    raft: Raft<C>,
    book: AddressBook,
    mut desired: watch::Receiver<Replicas>,
    pace: Pace,
    stop: CancellationToken,
) {
    loop {
        let replicas = desired.borrow_and_update().clone();
        book.replace(book_of(&replicas));
        let members = members_of(&replicas);
        while let Some(current) = current_of(&raft) {
            let Some(step) = next_step(&current, &members) else {
                break;
            };
            if let Step::WaitFor(ids) = &step {
                tracing::debug!(learners = ?ids, "waiting for learners to catch up");
                break;
            }
            tracing::info!(step = ?step, "changing the Raft membership to match the cluster file");
            if let Err(e) = take(&raft, step.clone(), pace.call_timeout).await {
                tracing::warn!(step = ?step, error = %e, "membership change failed; will retry");
                break;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = desired.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(pace.every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(port: u16) -> BasicNode {
        BasicNode::new(format!("127.0.0.1:{port}"))
    }

    fn members(ids: &[(ReplicaId, u16)]) -> Members {
        ids.iter().map(|(id, p)| (*id, node(*p))).collect()
    }

    fn current(
        voters: &[ReplicaId],
        nodes: &[(ReplicaId, u16)],
        matched: &[(ReplicaId, u64)],
        applied: u64,
    ) -> Current {
        Current {
            voters: voters.iter().copied().collect(),
            nodes: members(nodes),
            matched: matched.iter().map(|(id, m)| (*id, Some(*m))).collect(),
            applied: Some(applied),
        }
    }

    #[test]
    fn the_same_membership_needs_nothing_and_an_empty_file_is_ignored() {
        let c = current(&[1, 2, 3], &[(1, 1), (2, 2), (3, 3)], &[], 10);
        assert_eq!(next_step(&c, &members(&[(1, 1), (2, 2), (3, 3)])), None);
        assert_eq!(next_step(&c, &Members::new()), None);
    }

    #[test]
    fn a_new_replica_is_a_learner_first_and_a_voter_once_caught_up() {
        let want = members(&[(1, 1), (2, 2), (3, 3), (4, 4)]);
        let c = current(&[1, 2, 3], &[(1, 1), (2, 2), (3, 3)], &[], 500);
        assert_eq!(next_step(&c, &want), Some(Step::AddLearner(4, node(4))));
        let learning = current(
            &[1, 2, 3],
            &[(1, 1), (2, 2), (3, 3), (4, 4)],
            &[(4, 100)],
            500,
        );
        assert_eq!(
            next_step(&learning, &want),
            Some(Step::WaitFor(BTreeSet::from([4])))
        );
        let unknown = Current {
            matched: BTreeMap::from([(4, None)]),
            ..learning.clone()
        };
        assert_eq!(
            next_step(&unknown, &want),
            Some(Step::WaitFor(BTreeSet::from([4])))
        );
        let caught_up = current(
            &[1, 2, 3],
            &[(1, 1), (2, 2), (3, 3), (4, 4)],
            &[(4, 500 - CATCH_UP_SLACK)],
            500,
        );
        assert_eq!(
            next_step(&caught_up, &want),
            Some(Step::SetVoters(BTreeSet::from([1, 2, 3, 4])))
        );
    }

    #[test]
    fn a_removed_voter_leaves_and_a_removed_learner_is_dropped() {
        let c = current(&[1, 2, 3], &[(1, 1), (2, 2), (3, 3)], &[], 10);
        assert_eq!(
            next_step(&c, &members(&[(2, 2), (3, 3)])),
            Some(Step::SetVoters(BTreeSet::from([2, 3])))
        );
        let with_learner = current(&[1, 2, 3], &[(1, 1), (2, 2), (3, 3), (4, 4)], &[], 10);
        assert_eq!(
            next_step(&with_learner, &members(&[(1, 1), (2, 2), (3, 3)])),
            Some(Step::RemoveNodes(BTreeSet::from([4])))
        );
    }

    #[test]
    fn a_moved_replica_gets_its_new_address_before_anything_else() {
        let c = current(&[1, 2, 3], &[(1, 1), (2, 2), (3, 3)], &[], 10);
        assert_eq!(
            next_step(&c, &members(&[(1, 1), (2, 20), (3, 3), (4, 4)])),
            Some(Step::SetNodes(members(&[(2, 20)])))
        );
    }
}
