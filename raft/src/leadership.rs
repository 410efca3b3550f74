//! Who may answer, as plain functions of openraft's metrics (unit-tested here), and a
//! replica's [`ReplicaStatus`]: the role for a server state ([`role`]), a leader cut off
//! from its quorum ([`isolated`]), the leader rule of writes and reads ([`must_lead`]), and a
//! confirmation of leadership as a read's outcome ([`confirmed`]), a refused write as its
//! outcome ([`write_refused`], [`written`]).

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, ServerState};
use toystore_config::ReplicaId;
use toystore_raft_api::Role;

/// openraft's refusal of `ensure_linearizable`.
pub type CheckError = RaftError<ReplicaId, CheckIsLeaderError<ReplicaId, BasicNode>>;

/// openraft's refusal of a `client_write`.
pub type WriteError = RaftError<ReplicaId, ClientWriteError<ReplicaId, BasicNode>>;

/// Why a replica may not answer a read or take a write now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unconfirmed {
    /// It does not lead; the leader it knows of, if any.
    #[error("not the leader (leader hint {leader:?})")]
    NotLeader {
        /// The leader it names.
        leader: Option<ReplicaId>,
    },
    /// Its leadership could not be confirmed (no quorum, no answer in time, Raft stopped).
    #[error("{0}")]
    Unavailable(String),
}

/// The role a replica reports for openraft's server state.
pub fn role(state: ServerState) -> Role {
    match state {
        ServerState::Leader => Role::Leader,
        ServerState::Follower => Role::Follower,
        ServerState::Candidate => Role::Candidate,
        ServerState::Learner => Role::Learner,
        ServerState::Shutdown => Role::Shutdown,
    }
}

/// Whether a replica in `role` is a leader cut off from its quorum: it leads, and no
/// majority has acknowledged it for more than `lease_ms` (`millis_since_quorum_ack`, `None`
/// before any acknowledgement, is openraft's).
pub fn isolated(role: Role, millis_since_quorum_ack: Option<u64>, lease_ms: u64) -> bool {
    role == Role::Leader && millis_since_quorum_ack.is_some_and(|ms| ms > lease_ms)
}

/// The leader rule of writes and reads: a replica in `state` goes on only if it leads;
/// otherwise it answers with `Err(the leader it knows of)` (openraft's `current_leader`,
/// passed on as is, `None` when it knows none).
pub fn must_lead(
    state: ServerState,
    current_leader: Option<ReplicaId>,
) -> Result<(), Option<ReplicaId>> {
    if state == ServerState::Leader {
        Ok(())
    } else {
        Err(current_leader)
    }
}

/// `ensure_linearizable`'s answer within a deadline (`None`: no answer in time) as a read's
/// outcome: confirmed, not the leader (with openraft's hint), or unavailable.
pub fn confirmed<T>(answer: Option<Result<T, CheckError>>) -> Result<(), Unconfirmed> {
    match answer {
        None => Err(Unconfirmed::Unavailable(
            "leadership not confirmed in time".into(),
        )),
        Some(Ok(_)) => Ok(()),
        Some(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
            Err(Unconfirmed::NotLeader {
                leader: f.leader_id,
            })
        }
        Some(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
            Err(Unconfirmed::Unavailable(e.to_string()))
        }
        Some(Err(e)) => Err(Unconfirmed::Unavailable(e.to_string())),
    }
}

/// openraft's refusal of a write: forward to the leader is [`Unconfirmed::NotLeader`] with
/// openraft's hint; anything else (a membership refusal, a stopped or failed Raft) is
/// [`Unconfirmed::Unavailable`] with openraft's text.
pub fn write_refused(e: WriteError) -> Unconfirmed {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Unconfirmed::NotLeader {
            leader: f.leader_id,
        },
        other => Unconfirmed::Unavailable(other.to_string()),
    }
}

/// A write's answer within a deadline (`None`: no answer in time) as its outcome: the
/// answer, [`Unconfirmed::Unavailable`] when it came too late, or [`write_refused`].
pub fn written<T>(answer: Option<Result<T, WriteError>>) -> Result<T, Unconfirmed> {
    answer
        .ok_or_else(|| Unconfirmed::Unavailable("not committed in time".into()))
        .and_then(|r| r.map_err(write_refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::error::{
        ChangeMembershipError, EmptyMembership, Fatal, ForwardToLeader, QuorumNotEnough,
    };

    fn forward(leader: Option<ReplicaId>) -> CheckError {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(match leader {
            Some(id) => ForwardToLeader::new(id, BasicNode::new("127.0.0.1:9003")),
            None => ForwardToLeader::empty(),
        }))
    }

    #[test]
    fn each_server_state_has_its_role() {
        assert_eq!(role(ServerState::Leader), Role::Leader);
        assert_eq!(role(ServerState::Follower), Role::Follower);
        assert_eq!(role(ServerState::Candidate), Role::Candidate);
        assert_eq!(role(ServerState::Learner), Role::Learner);
        assert_eq!(role(ServerState::Shutdown), Role::Shutdown);
    }

    #[test]
    fn a_leader_is_isolated_only_after_its_lease_without_a_quorum_ack() {
        assert!(isolated(Role::Leader, Some(601), 600));
        assert!(!isolated(Role::Leader, Some(600), 600), "the lease itself");
        assert!(!isolated(Role::Leader, Some(0), 600));
        assert!(!isolated(Role::Leader, None, 600), "no ack measured yet");
        for other in [
            Role::Follower,
            Role::Candidate,
            Role::Learner,
            Role::Shutdown,
        ] {
            assert!(!isolated(other, Some(10_000), 600), "{other:?}");
        }
    }

    #[test]
    fn only_a_leader_goes_on() {
        assert_eq!(must_lead(ServerState::Leader, Some(3)), Ok(()));
        assert_eq!(must_lead(ServerState::Leader, None), Ok(()));
    }

    #[test]
    fn a_non_leader_answers_with_the_leader_it_knows() {
        assert_eq!(must_lead(ServerState::Follower, Some(3)), Err(Some(3)));
        assert_eq!(must_lead(ServerState::Learner, Some(1)), Err(Some(1)));
        assert_eq!(must_lead(ServerState::Candidate, None), Err(None));
        assert_eq!(must_lead(ServerState::Follower, None), Err(None));
        assert_eq!(must_lead(ServerState::Shutdown, Some(2)), Err(Some(2)));
    }

    #[test]
    fn a_confirmed_leadership_goes_on() {
        assert!(confirmed::<()>(Some(Ok(()))).is_ok());
    }

    #[test]
    fn no_confirmation_in_time_is_unavailable() {
        assert_eq!(
            confirmed::<()>(None),
            Err(Unconfirmed::Unavailable(
                "leadership not confirmed in time".into()
            ))
        );
    }

    #[test]
    fn a_refused_confirmation_names_the_leader() {
        assert_eq!(
            confirmed::<()>(Some(Err(forward(Some(2))))),
            Err(Unconfirmed::NotLeader { leader: Some(2) })
        );
        assert_eq!(
            confirmed::<()>(Some(Err(forward(None)))),
            Err(Unconfirmed::NotLeader { leader: None })
        );
    }

    #[test]
    fn no_quorum_or_a_stopped_raft_is_unavailable_with_openraft_s_text() {
        let quorum = QuorumNotEnough {
            cluster: "{1,2,3}".into(),
            got: [3].into_iter().collect(),
        };
        let e = confirmed::<()>(Some(Err(RaftError::APIError(
            CheckIsLeaderError::QuorumNotEnough(quorum),
        ))));
        assert_eq!(
            e,
            Err(Unconfirmed::Unavailable(
                "not enough for a quorum, cluster: {1,2,3}, got: {3}".into()
            ))
        );
        let e = confirmed::<()>(Some(Err(RaftError::Fatal(Fatal::Stopped))));
        assert_eq!(e, Err(Unconfirmed::Unavailable("raft stopped".into())));
    }

    fn forward_write(leader: Option<ReplicaId>) -> WriteError {
        RaftError::APIError(ClientWriteError::ForwardToLeader(match leader {
            Some(id) => ForwardToLeader::new(id, BasicNode::new("127.0.0.1:9002")),
            None => ForwardToLeader::empty(),
        }))
    }

    #[test]
    fn a_write_forwarded_to_the_leader_is_not_leader_with_the_hint() {
        assert_eq!(
            write_refused(forward_write(Some(2))),
            Unconfirmed::NotLeader { leader: Some(2) }
        );
        assert_eq!(
            write_refused(forward_write(None)),
            Unconfirmed::NotLeader { leader: None }
        );
    }

    #[test]
    fn other_write_refusals_are_unavailable_with_openraft_s_text() {
        assert_eq!(
            write_refused(RaftError::Fatal(Fatal::Stopped)),
            Unconfirmed::Unavailable("raft stopped".into())
        );
        assert_eq!(
            write_refused(RaftError::Fatal(Fatal::Panicked)),
            Unconfirmed::Unavailable("panicked".into())
        );
        assert_eq!(
            write_refused(RaftError::APIError(
                ClientWriteError::ChangeMembershipError(ChangeMembershipError::EmptyMembership(
                    EmptyMembership {}
                ))
            )),
            Unconfirmed::Unavailable("new membership can not be empty".into())
        );
    }

    #[test]
    fn a_write_without_an_answer_in_time_is_unavailable() {
        assert_eq!(
            written::<u8>(None),
            Err(Unconfirmed::Unavailable("not committed in time".into()))
        );
    }

    #[test]
    fn a_write_answered_in_time_is_its_answer_or_its_refusal() {
        assert_eq!(written(Some(Ok(7_u8))), Ok(7));
        assert_eq!(
            written::<u8>(Some(Err(forward_write(Some(3))))),
            Err(Unconfirmed::NotLeader { leader: Some(3) })
        );
        assert_eq!(
            written::<u8>(Some(Err(RaftError::Fatal(Fatal::Stopped)))),
            Err(Unconfirmed::Unavailable("raft stopped".into()))
        );
    }
}
