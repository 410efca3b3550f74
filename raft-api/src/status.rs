//! What a Raft replica of the store (an order replica, a catalog replica) says about itself
//! on `GET /health` ([`ReplicaStatus`], its [`Role`]), and the header a non-leader names the
//! leader in ([`LEADER_HEADER`]).

use serde::{Deserialize, Serialize};
use toystore_config::ReplicaId;
use toystore_events::Seq;

/// Header of a 421 naming the leader the replica knows of.
pub const LEADER_HEADER: &str = "x-toystore-leader";

/// The leader a reply names in its [`LEADER_HEADER`], if it names one (a 421's hint).
pub fn leader_hint(headers: &reqwest::header::HeaderMap) -> Option<ReplicaId> {
    headers
        .get(LEADER_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A replica's Raft role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Campaigning.
    Candidate,
    /// Accepts writes.
    Leader,
    /// Receives the log but does not vote.
    Learner,
    /// Raft stopped (storage failure or shutdown).
    Shutdown,
}

/// A Raft log entry's id as a vote compares two logs' last entries: by the leader that wrote
/// it (its term, then its id: openraft 0.9 may elect two leaders in one term, ordered by
/// id), then by index. The field order is that comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntryId {
    /// The term of the leader that wrote it.
    pub term: u64,
    /// That leader's id.
    pub leader: ReplicaId,
    /// Its index in the log.
    pub index: u64,
}

/// What a replica says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaStatus {
    /// Its id.
    pub id: ReplicaId,
    /// Its role.
    pub role: Role,
    /// True when Raft runs and the replica is a voter of an initialised cluster (of every
    /// configuration, during a membership change): it can vote, follow, and lead if
    /// elected. (Not "has a leader": with the `frontend` policy
    /// no leader exists until a front-end asks for an election.)
    pub ready: bool,
    /// Its current Raft term.
    pub term: u64,
    /// The leader it knows of.
    pub leader: Option<ReplicaId>,
    /// Index of its last log entry.
    pub last_log_index: Option<u64>,
    /// Its last log entry's id as a vote's up-to-date check compares it (`None`: no entry,
    /// or a replica of an older version that does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_log_id: Option<EntryId>,
    /// Index of the last entry its state machine applied.
    pub applied: Option<u64>,
    /// Index of the last entry its current snapshot covers, if it has one.
    pub snapshot: Option<u64>,
    /// Its last event sequence number (for the order log, the number of orders it holds).
    pub last_seq: Seq,
    /// The voters of the Raft membership it knows (empty before the cluster is initialised).
    pub voters: Vec<ReplicaId>,
    /// A leader: milliseconds since a quorum last acknowledged it (`None` otherwise, or
    /// before the first acknowledgement).
    #[serde(default)]
    pub quorum_ack_ms: Option<u64>,
    /// A leader that no quorum has acknowledged for longer than twice the longest election
    /// timeout: cut off from its followers, it cannot commit, and they may have elected
    /// another. Front-ends do not use it (and with the `frontend` policy ask another
    /// replica to campaign).
    #[serde(default)]
    pub isolated: bool,
    /// Why it takes no writes now, if it does not (e.g. `insufficient disk space: …`): it
    /// is then neither ready nor, as a leader, used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

impl ReplicaStatus {
    /// Why the replica should take no traffic now (what `GET /ready` answers with a 503),
    /// or `None` when it is ready: a voter with Raft running, its storage taking writes,
    /// and, if it leads, acknowledged by a quorum.
    pub fn not_ready(&self) -> Option<String> {
        if let Some(storage) = &self.storage {
            return Some(storage.clone());
        }
        if self.role == Role::Shutdown {
            return Some("its Raft node stopped (see its log)".into());
        }
        if self.isolated {
            return Some("it leads, but no quorum has acknowledged it lately".into());
        }
        if !self.ready {
            return Some(format!(
                "{} and not a voter of an initialised group yet (voters {:?})",
                match self.role {
                    Role::Learner => "a learner",
                    Role::Candidate => "a candidate",
                    _ => "starting",
                },
                self.voters
            ));
        }
        None
    }
}

#[cfg(test)]
mod ready_tests {
    use super::*;

    fn status() -> ReplicaStatus {
        ReplicaStatus {
            id: 2,
            role: Role::Follower,
            ready: true,
            term: 3,
            leader: Some(1),
            last_log_index: Some(10),
            last_log_id: None,
            applied: Some(10),
            snapshot: None,
            last_seq: Seq(4),
            voters: vec![1, 2, 3],
            quorum_ack_ms: None,
            isolated: false,
            storage: None,
        }
    }

    #[test]
    fn a_voter_is_ready_and_each_reason_not_to_be_is_said() {
        assert_eq!(status().not_ready(), None);
        let learner = ReplicaStatus {
            role: Role::Learner,
            ready: false,
            ..status()
        };
        assert!(learner
            .not_ready()
            .is_some_and(|why| why.contains("learner")));
        let full = ReplicaStatus {
            storage: Some("insufficient disk space".into()),
            ..status()
        };
        assert_eq!(full.not_ready().as_deref(), Some("insufficient disk space"));
        let cut_off = ReplicaStatus {
            role: Role::Leader,
            isolated: true,
            ..status()
        };
        assert!(cut_off
            .not_ready()
            .is_some_and(|why| why.contains("quorum")));
        let stopped = ReplicaStatus {
            role: Role::Shutdown,
            ..status()
        };
        assert!(stopped.not_ready().is_some());
    }
}
