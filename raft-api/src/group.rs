//! [`Group`]: a client of a Raft group's replicas that follows the leader. Every caller of
//! a replicated service's leader-only routes goes through it (the order leader's catalog
//! client; the front-end's catalog client), so hints and failover behave the same way
//! everywhere.
//!
//! A call goes to the replica believed to lead. A 421 with [`LEADER_HEADER`] naming a
//! member sends it there at once; a 421 without a usable hint, a 503 (no quorum, not
//! committed in time) or no answer sends it to the next member, pausing after every full
//! round without an answer, until the call's patience runs out (then the last failure is the
//! answer; every move also moves where the next call starts; a round is as many attempts as members, hints followed included, so two
//! replicas naming each other cannot spin). Any other answer, a refusal included, is the leader's: it becomes the believed
//! leader and the answer is returned. Retrying is safe only for idempotent calls: every
//! write of the store's services is (a purchase is idempotent by its request id).
//!
//! Which member to ask next is the plain function [`next`], unit-tested here.

use crate::leader_hint;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use toystore_config::ReplicaId;
use toystore_http::client::{read_envelope, ClientError, ServiceClient};

/// The status of "not the leader".
pub const NOT_LEADER: u16 = 421;

/// A leader-following client of a group's replicas.
#[derive(Debug)]
pub struct Group {
    members: Vec<(ReplicaId, ServiceClient)>,
    /// The members' ids, in order (what [`next`] chooses among).
    ids: Vec<ReplicaId>,
    leader: AtomicUsize,
    patience: Duration,
    pause: Duration,
}

/// What one attempt heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// Not the leader; the member it named, if it named one.
    NotLeader(Option<ReplicaId>),
    /// No answer, or "unavailable now" (503).
    Failed,
}

/// The member to ask after member `at` of `ids` heard `heard`: the named leader if it is a
/// member other than `at`, otherwise the next member in order.
pub fn next(ids: &[ReplicaId], at: usize, heard: Heard) -> usize {
    if let Heard::NotLeader(Some(id)) = heard {
        if let Some(i) = ids.iter().position(|m| *m == id).filter(|i| *i != at) {
            return i;
        }
    }
    (at + 1) % ids.len().max(1)
}

impl Group {
    /// A client of `members` (at least one); a call keeps looking for the leader for
    /// `patience`, pausing `pause` after each full round without an answer.
    pub fn new(
        members: Vec<(ReplicaId, ServiceClient)>,
        patience: Duration,
        pause: Duration,
    ) -> Result<Self, ClientError> {
        if members.is_empty() {
            return Err(ClientError::BadUrl("a group without members".into()));
        }
        Ok(Self {
            ids: members.iter().map(|(id, _)| *id).collect(),
            members,
            leader: AtomicUsize::new(0),
            patience,
            pause,
        })
    }

    /// The members, in order.
    pub fn members(&self) -> &[(ReplicaId, ServiceClient)] {
        &self.members
    }

    /// The member believed to lead.
    pub fn believed_leader(&self) -> &(ReplicaId, ServiceClient) {
        let i = self.leader.load(Ordering::Relaxed) % self.members.len();
        &self.members[i]
    }

    /// Sends the request `build` makes for a member to the leader, following hints and
    /// failing over (see the module doc).
    pub async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn(&ServiceClient) -> reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let ids = &self.ids;
        let deadline = Instant::now() + self.patience;
        let mut at = self.leader.load(Ordering::Relaxed) % self.members.len();
        let mut tried_in_round = 0;
        loop {
            let (_, client) = &self.members[at];
            let (heard, error) = match build(client).send().await {
                Err(e) => (Heard::Failed, ClientError::from(e)),
                Ok(resp) => {
                    let hint = leader_hint(resp.headers());
                    match read_envelope::<T>(resp).await {
                        Err(e) if e.status() == Some(NOT_LEADER) => (Heard::NotLeader(hint), e),
                        Err(e) if e.status() == Some(503) => (Heard::Failed, e),
                        Err(e)
                            if e.status().is_none() && !matches!(e, ClientError::Malformed(_)) =>
                        {
                            (Heard::Failed, e)
                        }
                        answer => {
                            self.leader.store(at, Ordering::Relaxed);
                            return answer;
                        }
                    }
                }
            };
            if Instant::now() >= deadline {
                return Err(error);
            }
            at = next(ids, at, heard);
            // Calls made meanwhile start where this one goes next, not at a replica that
            // just failed (a caller cut off before its call succeeds elsewhere, e.g. by its
            // own deadline, would otherwise leave the next caller the same dead replica).
            self.leader.store(at, Ordering::Relaxed);
            tried_in_round += 1;
            if tried_in_round >= ids.len() {
                tried_in_round = 0;
                tokio::time::sleep(
                    self.pause
                        .min(deadline.saturating_duration_since(Instant::now())),
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_naming_another_member_is_followed() {
        assert_eq!(next(&[1, 2, 3], 0, Heard::NotLeader(Some(3))), 2);
        assert_eq!(next(&[1, 2, 3], 2, Heard::NotLeader(Some(1))), 0);
    }

    #[test]
    fn no_hint_a_stranger_or_itself_moves_on_in_order() {
        assert_eq!(next(&[1, 2, 3], 0, Heard::NotLeader(None)), 1);
        assert_eq!(next(&[1, 2, 3], 1, Heard::NotLeader(Some(9))), 2);
        assert_eq!(next(&[1, 2, 3], 2, Heard::NotLeader(Some(3))), 0);
        assert_eq!(next(&[1, 2, 3], 2, Heard::Failed), 0);
        assert_eq!(next(&[7], 0, Heard::Failed), 0);
    }
}
