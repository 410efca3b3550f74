//! [`Group`]: a client of a Raft group's fixed replicas that follows the leader: the
//! catalog's callers (the order leader; the front-end) reach the catalog leader through it.
//! A call is [`crate::failover::call_leader`], the loop the front-end's order client runs
//! too, with the group as its [`Leaders`]: the replica to try is the one believed to lead;
//! after a failure, the next in turn (`after_failure`); a hint naming another member is
//! taken up (`hinted`); a round is as many failures as members.
//!
//! What an answer means (`verdict`): 421 is "not the leader" (with the replica its
//! [`crate::LEADER_HEADER`] names), 503 or no answer a failure, and anything else, a
//! refusal included, the leader's answer: it becomes the believed leader and is returned.
//! When the call's patience runs out, the last failure is the answer. Every move of one
//! call also moves where the next call starts, so a caller cut off before its call
//! succeeds elsewhere does not leave the next caller the same dead replica.

use crate::failover::{call_leader, Gave, Leaders, Member, Patience, Verdict};
use crate::leader_hint;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use toystore_config::ReplicaId;
use toystore_http::client::{read_envelope, ClientError, ServiceClient};

/// The status of "not the leader".
const NOT_LEADER: u16 = 421;

/// A leader-following client of a group's replicas.
#[derive(Debug)]
pub struct Group {
    members: Vec<(ReplicaId, ServiceClient)>,
    /// The index of the member believed to lead.
    leader: AtomicUsize,
    patience: Patience,
}

/// The member after member `at` of `len`, in turn.
fn after_failure(len: usize, at: usize) -> usize {
    (at + 1) % len.max(1)
}

/// The member `hint` names, if it is one of `ids` (the members' ids, in order) other than
/// `refused`.
fn hinted(
    mut ids: impl Iterator<Item = ReplicaId>,
    refused: usize,
    hint: ReplicaId,
) -> Option<usize> {
    ids.position(|m| m == hint).filter(|i| *i != refused)
}

/// A member of a group: its index and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Turn {
    at: usize,
    id: ReplicaId,
}

impl Member for Turn {
    type Key = usize;

    fn key(&self) -> usize {
        self.at
    }

    fn id(&self) -> ReplicaId {
        self.id
    }
}

/// An attempt's error: the error, and the leader the reply named.
type Failed = (ClientError, Option<ReplicaId>);

/// What an attempt's error means (see the module doc).
fn verdict(error: &ClientError, hint: Option<ReplicaId>) -> Verdict {
    match error.status() {
        Some(NOT_LEADER) => Verdict::NotLeader(hint),
        Some(503) => Verdict::Failed,
        None if !matches!(error, ClientError::Malformed(_)) => Verdict::Failed,
        _ => Verdict::Final,
    }
}

impl Group {
    /// A client of `members` (at least one) with this patience: a call looks for the
    /// leader for `total`, an attempt lasts at most `attempt` (the members' own request
    /// timeout), and a round of failures is followed by a pause of `pause`.
    pub fn new(
        members: Vec<(ReplicaId, ServiceClient)>,
        patience: Patience,
    ) -> Result<Self, ClientError> {
        if members.is_empty() {
            return Err(ClientError::BadUrl("a group without members".into()));
        }
        Ok(Self {
            members,
            leader: AtomicUsize::new(0),
            patience,
        })
    }

    /// The members, in order.
    pub fn members(&self) -> &[(ReplicaId, ServiceClient)] {
        &self.members
    }

    fn turn(&self, at: usize) -> Turn {
        Turn {
            at,
            id: self.members[at].0,
        }
    }

    fn believed(&self) -> usize {
        self.leader.load(Ordering::Relaxed) % self.members.len()
    }

    /// The member believed to lead.
    pub fn believed_leader(&self) -> &(ReplicaId, ServiceClient) {
        &self.members[self.believed()]
    }

    /// Sends the request `build` makes for a member to the leader, following hints and
    /// failing over (see the module doc).
    pub async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn(&ServiceClient) -> reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let no_answer = |within| -> Failed {
            let e = ClientError::Unreachable(format!("no answer within {within:?}"));
            (e, None)
        };
        let attempt = |turn: Turn| {
            let request = build(&self.members[turn.at].1);
            async move {
                let reply = request
                    .send()
                    .await
                    .map_err(|e| (ClientError::from(e), None))?;
                let hint = leader_hint(reply.headers());
                read_envelope::<T>(reply).await.map_err(|e| (e, hint))
            }
        };
        let outcome = call_leader(
            self,
            self.patience,
            |(e, hint)| verdict(e, *hint),
            no_answer,
            attempt,
        );
        match outcome.await {
            Ok(answer) => Ok(answer),
            Err(Gave::Refused((e, _)) | Gave::Unavailable(Some((e, _)))) => Err(e),
            Err(Gave::Unavailable(None)) => {
                Err(ClientError::Unreachable("no member was tried".into()))
            }
        }
    }
}

impl Leaders for Group {
    type Member = Turn;

    async fn leader(&self, failed: Option<usize>) -> Option<Turn> {
        let at = self.believed();
        if failed != Some(at) {
            return Some(self.turn(at));
        }
        let next = after_failure(self.members.len(), at);
        // Another call may have moved on meanwhile: then its choice stands.
        let now = match self
            .leader
            .compare_exchange(at, next, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => next,
            Err(moved) => moved % self.members.len(),
        };
        Some(self.turn(now))
    }

    fn follow_hint(&self, refused: usize, hint: ReplicaId) -> bool {
        match hinted(self.members.iter().map(|(id, _)| *id), refused, hint) {
            Some(i) => {
                self.leader.store(i, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn answered(&self, member: &Turn) {
        self.leader.store(member.at, Ordering::Relaxed);
    }

    fn round(&self) -> usize {
        self.members.len()
    }

    fn size(&self) -> usize {
        self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_naming_another_member_is_taken_up() {
        assert_eq!(hinted([1, 2, 3].into_iter(), 0, 3), Some(2));
        assert_eq!(hinted([1, 2, 3].into_iter(), 2, 1), Some(0));
    }

    #[test]
    fn a_hint_naming_the_refuser_or_a_stranger_is_not() {
        assert_eq!(hinted([1, 2, 3].into_iter(), 2, 3), None, "itself");
        assert_eq!(hinted([1, 2, 3].into_iter(), 1, 9), None, "a stranger");
        assert_eq!(hinted([7].into_iter(), 0, 7), None);
    }

    #[test]
    fn a_failure_moves_on_in_turn() {
        assert_eq!(after_failure(3, 0), 1);
        assert_eq!(after_failure(3, 2), 0);
        assert_eq!(after_failure(1, 0), 0);
    }

    #[test]
    fn only_421_503_and_no_answer_are_not_the_leader_s_answer() {
        let status = |status| ClientError::Status {
            status,
            message: String::new(),
        };
        assert_eq!(verdict(&status(421), Some(2)), Verdict::NotLeader(Some(2)));
        assert_eq!(verdict(&status(421), None), Verdict::NotLeader(None));
        assert_eq!(verdict(&status(503), None), Verdict::Failed);
        let unreachable = ClientError::Unreachable("refused".into());
        assert_eq!(verdict(&unreachable, None), Verdict::Failed);
        for answer in [
            status(404),
            status(409),
            status(500),
            ClientError::Malformed("not json".into()),
        ] {
            assert_eq!(verdict(&answer, None), Verdict::Final, "{answer:?}");
        }
    }
}
