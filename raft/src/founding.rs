//! The one-time initialisation of a Raft group, and the admission of a replica that starts
//! with an empty log ([`admit`]).
//!
//! A replica whose storage is pristine (no log, no vote in a term above 0) asks its peers where they stand
//! (`POST /internal/raft/pristine`, answered with a [`Standing`]) before it takes any part
//! in the group. Until it is admitted its Raft routes refuse votes, entries and snapshots
//! ([`Gate`]), because an empty log says nothing about what it held before: it may be a
//! replica whose file was wiped, which voted and acknowledged as a member and has forgotten
//! it. Granting a vote with an empty log could elect a candidate that lacks committed
//! entries, and a forgotten vote could let two candidates win one election. What its peers say
//! decides ([`admission`], a plain function):
//!
//! - **Found**: a majority of the file's replicas (itself included) answered, all pristine:
//!   it calls `Raft::initialize` with all replicas of the file as voters. Replicas founding
//!   together write the same initial membership entry (same log id 0, same content), which
//!   openraft allows; an already initialised replica's `NotAllowed` is ignored.
//! - **Admit**: a majority of the file's replicas, not counting itself, answered, and each
//!   holds at most the founding membership entry and has never seen a leader (no committed
//!   vote). No entry beyond the founding one exists anywhere, and no election has been won
//!   (with three replicas both others answered, so a winner would have said so), so it has
//!   forgotten no entry that counted. It initialises like a founder (the same membership
//!   entry; openraft's `initialize` campaigns at once, in term 1), then votes, through Raft
//!   itself, for a phantom candidate (id [`PHANTOM`], above every replica's) in the highest
//!   term its peers reported: openraft persists that vote, refuses every vote request of
//!   that term or below from then on, after a restart too, and its own elections start
//!   above it. So it cannot vote twice in a term it may have voted in before, except for
//!   itself in term 1 by `initialize`, which could matter only if a peer that answered
//!   uncommitted had in fact just won with its forgotten vote (with three replicas, a
//!   winner commits its vote long before a killed, wiped and restarted replica asks).
//!   Founders that started together are at term 1 or more within milliseconds of
//!   initialising; a replica that asks them a moment later is admitted this way.
//! - **Rejoin**: a peer has a log and it cannot be admitted as above: the group exists and
//!   may have counted on this replica. It asks its peers (`POST /internal/raft/rejoin`)
//!   until the leader answers that its committed membership does not hold this replica;
//!   the leader first removes it ([`crate::rejoin`]), with a majority of the others. Only
//!   then is it admitted. The leader's membership task then adds it back as
//!   a learner (a fresh replication, from nothing) and makes it a voter once it has caught
//!   up ([`crate::membership`]), as for a replica new to the file.
//! - **Wait**: too few answered: ask again.
//!
//! A replica whose file was restored from a backup into a running group
//! ([`rejoin_restored`]) rejoins the same way, whatever its peers say: its backup does not
//! hold the votes it cast since. Until then it does not campaign either.
//!
//! Any other replica that is not pristine when it starts is admitted at once. A crash before
//! admission leaves the file pristine (nothing is written meanwhile; the voter floor,
//! recorded as it is admitted, is no log and no vote), so the next start asks again. A group
//! cannot found itself twice: a replica added to the file later finds a peer with a log.

use crate::campaigning::Campaigning;
use crate::network::Network;
use crate::Types;
use openraft::error::{InitializeError, RaftError};
use openraft::raft::VoteRequest;
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, LogId, Raft, Vote};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_config::ReplicaId;
use toystore_events::LogEvent;
use toystore_store::raft::RaftStore;

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

/// What a replica says of itself to a pristine peer: read from its storage, not from Raft's
/// metrics (which may not have caught up with the storage just after a start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The term of its vote (0: it never voted nor campaigned).
    pub term: u64,
    /// Whether its vote is committed: it has led or followed an elected leader.
    pub committed: bool,
    /// Its last log index (`None`: no log; `Some(0)`: only the founding membership).
    pub last_index: Option<u64>,
}

impl Standing {
    /// No log and no vote beyond term 0.
    pub fn pristine(&self) -> bool {
        self.last_index.is_none() && self.term == 0
    }
}

/// A replica's [`Standing`], from its storage.
pub async fn standing<C: Types, E: LogEvent>(
    store: &RaftStore<C, E>,
) -> Result<Standing, std::io::Error> {
    let mut log = store.log_store();
    let state = log
        .get_log_state()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let vote = log
        .read_vote()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Standing {
        term: vote.map_or(0, |v| v.leader_id().term),
        committed: vote.is_some_and(|v| v.is_committed()),
        last_index: state.last_log_id.map(|l| l.index),
    })
}

/// What a pristine replica does after hearing its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A majority (itself included) answered, all pristine: initialise.
    Found,
    /// A majority of the others answered from the founding: initialise too, vote for
    /// [`PHANTOM`] in term `floor` and take part.
    Admit {
        /// The highest term its peers reported.
        floor: u64,
    },
    /// The group exists: be taken out of the voters by its leader first.
    Rejoin,
    /// Too few answered: ask again.
    Wait,
}

/// The admission rule as a plain function: `answers` holds what each peer that answered
/// said; `cluster` is the number of replicas in the file (this one included).
pub fn admission(answers: &[Standing], cluster: usize) -> Admission {
    let majority = cluster / 2 + 1;
    if answers.iter().all(Standing::pristine) && 1 + answers.len() >= majority {
        return Admission::Found;
    }
    let founding = |s: &Standing| !s.committed && s.last_index.is_none_or(|i| i == 0);
    if answers.len() >= majority && answers.iter().all(founding) {
        let floor = answers.iter().map(|s| s.term).max().unwrap_or(0);
        return Admission::Admit { floor };
    }
    if answers.iter().any(|s| !s.pristine()) {
        Admission::Rejoin
    } else {
        Admission::Wait
    }
}

/// Whether this replica takes part in its group's Raft yet: its routes refuse votes,
/// entries and snapshots until it is admitted ([`admit`]); and, once it has rejoined its
/// group, its voter floor (`RaftStore::voter_floor`): the membership entries its catch-up
/// replays up to that index list it as a voter, but the group holds it as none. Cheap to
/// clone (a handle).
#[derive(Debug, Clone)]
pub struct Gate(Arc<GateState>);

#[derive(Debug)]
struct GateState {
    open: AtomicBool,
    /// The voter floor plus one; 0: none. Only ever raised ([`AtomicU64::fetch_max`]).
    floor: AtomicU64,
}

impl Gate {
    /// A gate, open or not, with the voter floor the replica's file holds, if any.
    pub fn new(open: bool, floor: Option<u64>) -> Self {
        let gate = Self(Arc::new(GateState {
            open: AtomicBool::new(open),
            floor: AtomicU64::new(0),
        }));
        if let Some(floor) = floor {
            gate.raise_floor(floor);
        }
        gate
    }

    /// Whether the replica is admitted.
    pub fn is_open(&self) -> bool {
        self.0.open.load(Ordering::Acquire)
    }

    /// Whether a membership whose entry has index `index` (`None`: no entry yet) makes this
    /// replica a voter, as far as the gate goes: it is admitted, and the entry is above its
    /// voter floor if it has one. The gate is read first: one seen open was opened after
    /// its floor was set ([`Gate::open_above`]).
    pub fn admits_voter_at(&self, index: Option<u64>) -> bool {
        self.is_open()
            && match self.0.floor.load(Ordering::Acquire) {
                0 => true,
                above => index.is_some_and(|i| i >= above),
            }
    }

    fn open(&self) {
        self.0.open.store(true, Ordering::Release);
    }

    /// Raises the voter floor to `floor` (a floor is never lowered: a replica that rejoined
    /// again after a restart, before its first entry, has two, and the higher one holds).
    fn raise_floor(&self, floor: u64) {
        self.0
            .floor
            .fetch_max(floor.saturating_add(1), Ordering::AcqRel);
    }

    /// Opens the gate of a replica the leader holds as no voter in its membership entry at
    /// `floor`: the floor first, so that no status in between counts the older entries.
    fn open_above(&self, floor: u64) {
        self.raise_floor(floor);
        self.open();
    }
}

/// The candidate a replica admitted from a group's founding votes for first, in the
/// highest term its peers reported: an id above every replica's, so that the vote outranks
/// any other candidate's in that term (openraft 0.9 orders a term's candidates by id). It
/// never campaigns; the vote only makes openraft refuse that term and those below.
pub const PHANTOM: ReplicaId = ReplicaId::MAX;

/// Why a pristine replica could not be admitted (it stays out of its group).
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// `Raft::initialize` failed.
    #[error("initialising the Raft cluster: {0}")]
    Initialize(#[from] RaftError<ReplicaId, InitializeError<ReplicaId, BasicNode>>),
    /// Raft did not take the vote for the phantom candidate.
    #[error("voting for the phantom candidate in term {term}: {why}")]
    Phantom {
        /// The term.
        term: u64,
        /// Raft's answer.
        why: String,
    },
}

/// Makes `raft`, whose last log id is `last_log_id`, vote for [`PHANTOM`] in `term`
/// (persisted by openraft before it answers). The request carries the node's own last log
/// id, so that its log is not more up to date than the phantom's.
pub async fn vote_phantom<C: Types>(
    raft: &Raft<C>,
    term: u64,
    last_log_id: Option<LogId<ReplicaId>>,
) -> Result<(), AdmitError> {
    let refused = |why: String| AdmitError::Phantom { term, why };
    let request = VoteRequest::new(Vote::new(term, PHANTOM), last_log_id);
    let response = raft
        .vote(request)
        .await
        .map_err(|e| refused(e.to_string()))?;
    if response.vote_granted {
        Ok(())
    } else {
        Err(refused(format!(
            "not granted; its vote is {}",
            response.vote
        )))
    }
}

/// How often a waiting replica asks again.
const ASK_EVERY: Duration = Duration::from_millis(200);

/// How long one question about a peer's standing may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one rejoin request may take (the leader confirms its leadership, changes the
/// membership and confirms again, each within [`crate::rejoin::TAKE_OUT_TIMEOUT`]).
const REJOIN_TIMEOUT: Duration = Duration::from_secs(10);

/// On a replica that started pristine (its `gate` closed): asks its peers until the
/// [`admission`] rule admits it (founding the cluster with `members` when it says so, or
/// after the leader took it out of the voters, its voter floor then recorded in `store`),
/// then opens the gate; returns when done or at `stop`.
pub async fn admit<C: Types, E: LogEvent>(
    raft: Raft<C>,
    store: RaftStore<C, E>,
    members: BTreeMap<ReplicaId, BasicNode>,
    network: Network<C>,
    gate: Gate,
    stop: CancellationToken,
) -> Result<(), AdmitError> {
    let cluster = members.len();
    let own = raft.metrics().borrow().id;
    let peers: Vec<ReplicaId> = members.keys().copied().filter(|id| *id != own).collect();
    let mut said_rejoin = false;
    loop {
        let asked = async {
            let mut answers = Vec::new();
            for peer in &peers {
                if let Some(standing) = network.standing(*peer, ASK_TIMEOUT).await {
                    answers.push(standing);
                }
            }
            answers
        };
        let answers = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            answers = asked => answers,
        };
        match admission(&answers, cluster) {
            Admission::Found => {
                initialize(&raft, members).await?;
                gate.open();
                return Ok(());
            }
            Admission::Admit { floor } => {
                tracing::info!(floor, "the group is being founded; taking part");
                initialize(&raft, members).await?;
                // Its log is the founding entry alone: it takes no entries before admission.
                let founding_entry = Some(LogId::default());
                if floor > 0 {
                    if let Err(e) = vote_phantom(&raft, floor, founding_entry).await {
                        // It may already follow (or lead) an elected leader, whose term
                        // is then above any it could have voted in before.
                        tracing::warn!(error = %e, "the phantom vote was not taken");
                    }
                }
                gate.open();
                return Ok(());
            }
            Admission::Rejoin => {
                if !said_rejoin {
                    tracing::warn!(
                        replica = own,
                        "this replica's log is empty but its group exists: it neither votes \
                         nor takes entries until the leader has taken it out of the voters \
                         (it then comes back as a learner and becomes a voter once caught up)"
                    );
                    said_rejoin = true;
                }
                let leader = tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    leader = ask_to_rejoin(&network, &store, &peers, own) => leader,
                };
                if let Some((leader, floor)) = leader {
                    tracing::info!(
                        replica = own,
                        leader,
                        floor,
                        "the leader holds this replica as no voter: taking part"
                    );
                    gate.open_above(floor);
                    return Ok(());
                }
            }
            Admission::Wait => {}
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(ASK_EVERY) => {}
        }
    }
}

/// Asks `peers` in turn to take replica `own` out of the voters; the one that answered yes
/// (the leader, whose committed membership then holds `own` as no voter), if any, with the
/// index of that membership's entry (the voter floor), once `store` has recorded it. A file
/// that cannot take the record (a full disk) is `None`, as a refusal is: the replica asks
/// again later rather than stay out for good.
async fn ask_to_rejoin<C: Types, E: LogEvent>(
    network: &Network<C>,
    store: &RaftStore<C, E>,
    peers: &[ReplicaId],
    own: ReplicaId,
) -> Option<(ReplicaId, u64)> {
    for peer in peers {
        match network.rejoin(*peer, own, REJOIN_TIMEOUT).await {
            Ok(floor) => {
                return match store.rejoined(floor).await {
                    Ok(()) => Some((*peer, floor)),
                    Err(e) => {
                        tracing::warn!(
                            replica = own,
                            error = %e,
                            "could not record the rejoin in the file; asking again"
                        );
                        None
                    }
                };
            }
            Err(refusal) => tracing::debug!(peer, %refusal, "rejoin refused"),
        }
    }
    None
}

/// How long a restored replica, once admitted, waits to hear from its leader before it may
/// campaign again (if its policy elects): the leader re-adds it as a learner at its next
/// membership round and replicates to it at once.
const HEAR_FROM_LEADER: Duration = Duration::from_secs(30);

/// On a replica whose file was restored from a backup into a running group
/// (`RaftStore::must_rejoin`; its gate closed, its campaigns held off): its backup says
/// nothing of the terms it voted in since, so like a wiped replica it asks its peers until
/// the leader holds it as no voter. Then it clears the mark and opens the gate; it may
/// campaign again once it has heard from a leader (its backup's membership still lists it
/// as a voter, and its election timer ran out long ago: a campaign now would depose the
/// leader). Returns when done or at `stop`.
pub async fn rejoin_restored<C: Types, E: LogEvent>(
    raft: Raft<C>,
    store: RaftStore<C, E>,
    peers: Vec<ReplicaId>,
    network: Network<C>,
    gate: Gate,
    campaigning: Arc<Campaigning<C>>,
    stop: CancellationToken,
) -> Result<(), AdmitError> {
    let own = raft.metrics().borrow().id;
    tracing::warn!(
        replica = own,
        "this replica's file was restored from a backup: it neither votes nor takes entries \
         until the leader has taken it out of the voters (it then comes back as a learner and \
         becomes a voter once caught up)"
    );
    let (leader, floor) = loop {
        let leader = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            leader = ask_to_rejoin(&network, &store, &peers, own) => leader,
        };
        if let Some(rejoined) = leader {
            break rejoined;
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(ASK_EVERY) => {}
        }
    };
    tracing::info!(
        replica = own,
        leader,
        floor,
        "the leader holds this restored replica as no voter: taking part"
    );
    gate.open_above(floor);
    let mut metrics = raft.metrics();
    let heard =
        metrics.wait_for(|m| m.current_leader.is_some_and(|l| l != own) && m.vote.is_committed());
    tokio::select! {
        () = stop.cancelled() => return Ok(()),
        heard = tokio::time::timeout(HEAR_FROM_LEADER, heard) => {
            if heard.is_err() {
                tracing::warn!(replica = own, "no word from a leader since the rejoin; campaigns allowed again");
            }
        }
    }
    campaigning.heard_from_leader();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRISTINE: Standing = Standing {
        term: 0,
        committed: false,
        last_index: None,
    };
    /// A founder that initialised and campaigned in `term`, no leader yet.
    fn founded(term: u64) -> Standing {
        Standing {
            term,
            committed: false,
            last_index: Some(0),
        }
    }
    /// A member of a group that has elected a leader in `term` and written entries.
    fn member(term: u64) -> Standing {
        Standing {
            term,
            committed: true,
            last_index: Some(5),
        }
    }

    #[test]
    fn a_rejoined_replica_counts_only_memberships_above_its_voter_floor() {
        let fresh = Gate::new(true, None);
        assert!(fresh.admits_voter_at(Some(0)) && fresh.admits_voter_at(None));
        assert!(
            !Gate::new(false, None).admits_voter_at(Some(3)),
            "not admitted"
        );
        let rejoined = Gate::new(false, None);
        rejoined.open_above(40);
        assert!(rejoined.is_open());
        assert!(!rejoined.admits_voter_at(None), "no membership yet");
        assert!(
            !rejoined.admits_voter_at(Some(0)),
            "the founding membership"
        );
        assert!(
            !rejoined.admits_voter_at(Some(40)),
            "the one that took it out"
        );
        assert!(rejoined.admits_voter_at(Some(41)));
        // Read back from the file after a restart mid-way.
        let restarted = Gate::new(true, Some(40));
        assert!(!restarted.admits_voter_at(Some(12)) && restarted.admits_voter_at(Some(57)));
        // Rejoined again after that restart, before its first entry: the higher floor holds,
        // whichever came first.
        let again = Gate::new(false, Some(40));
        again.open_above(52);
        assert!(!again.admits_voter_at(Some(52)) && again.admits_voter_at(Some(53)));
        let lower = Gate::new(false, Some(52));
        lower.open_above(40);
        assert!(!lower.admits_voter_at(Some(45)) && lower.admits_voter_at(Some(53)));
    }

    #[test]
    fn a_pristine_majority_founds() {
        // Alone in a one-replica file: found.
        assert_eq!(admission(&[], 1), Admission::Found);
        // Three replicas: one pristine peer answering makes a majority.
        assert_eq!(admission(&[PRISTINE], 3), Admission::Found);
        assert_eq!(admission(&[], 3), Admission::Wait);
        // Four replicas: itself and one peer are not a majority.
        assert_eq!(admission(&[PRISTINE], 4), Admission::Wait);
        assert_eq!(admission(&[PRISTINE, PRISTINE], 4), Admission::Found);
    }

    #[test]
    fn a_group_being_founded_admits_when_a_majority_of_the_others_answer_from_the_founding() {
        // Founders that initialised (and split their first vote) before this one asked:
        // it takes part, refusing votes up to the highest term they reported.
        assert_eq!(
            admission(&[founded(1), founded(2)], 3),
            Admission::Admit { floor: 2 }
        );
        assert_eq!(
            admission(&[founded(1), PRISTINE], 3),
            Admission::Admit { floor: 1 }
        );
        // The third did not answer: it may have won an election with this replica's
        // forgotten vote, so the group may exist.
        assert_eq!(admission(&[founded(1)], 3), Admission::Rejoin);
        // Five replicas: three others are a majority of the group; two are not.
        assert_eq!(
            admission(&[founded(1), PRISTINE, PRISTINE], 5),
            Admission::Admit { floor: 1 }
        );
        assert_eq!(admission(&[founded(1), PRISTINE], 5), Admission::Rejoin);
    }

    #[test]
    fn a_group_that_has_elected_takes_a_wiped_replica_out_of_its_voters_first() {
        assert_eq!(admission(&[member(3), member(3)], 3), Admission::Rejoin);
        assert_eq!(admission(&[member(3)], 3), Admission::Rejoin);
        assert_eq!(admission(&[member(1), PRISTINE], 3), Admission::Rejoin);
        // A leader elected (committed vote) even if no entry is written yet, or an entry
        // written beyond the founding one: the group may have counted on this replica.
        let elected = Standing {
            last_index: Some(0),
            ..member(2)
        };
        assert_eq!(admission(&[elected, founded(2)], 3), Admission::Rejoin);
        let written = Standing {
            committed: false,
            ..member(2)
        };
        assert_eq!(admission(&[written, founded(2)], 3), Admission::Rejoin);
        // Nobody with a log answered: nothing to rejoin yet.
        assert_eq!(admission(&[PRISTINE], 5), Admission::Wait);
    }
}
