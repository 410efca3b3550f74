//! Finding the order service's Raft leader, and (with the `frontend` election policy)
//! asking for an election when there is none.
//!
//! The leader is whichever replica reports itself leading in its health (the highest term
//! if two do, briefly, after a partition), unless it says it is *isolated*: no quorum has
//! acknowledged it for a while (cut off from its followers, it cannot commit; see
//! `ReplicaStatus::isolated`). Only when no reachable replica leads does the
//! front-end act: with the `frontend` policy it asks the first replica, highest id first,
//! that is live, ready, not an isolated leader and caught up (its last log entry is the
//! highest among those) to campaign (`POST /internal/raft/campaign`), then polls for a leader for a
//! moment; with the `raft` policy the replicas elect on their own and it only waits. A
//! front-end never asks for an election while a reachable replica leads, so two front-ends
//! do not churn a healthy leader, and Raft's vote rules (one vote per term, the leader
//! lease, the up-to-date log check) keep any campaign safe.
//!
//! Lookups are serialised; a caller that saw leader (id, term) fail only looks again if
//! nobody has found another since. The health loop checks every replica each interval,
//! logs each change of a replica's state, and looks again when the leader stops leading.
//!
//! The rules are pure functions over health statuses and (id, term) keys, unit-tested here:
//! `LeaderTracker::leading` (which replica leads), `candidates` (who is asked to campaign),
//! `enough_answers` (when a lookup stops waiting for slow replicas), `ask_for_election` (a
//! lookup's election request; its deadline is the failover loop's `room_to_wait`), `checked` (what a health
//! round does with the leader in use), `hint_applies` and `still_usable` (leader hints and
//! failed leaders).
//!
//! Why one file of this length: the health rounds, the lookup and the election request all
//! read and write the one leader slot; its rules are the small functions above, each
//! unit-tested here.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_config::ClusterToken;
use toystore_config::{Election, Timeouts};
use toystore_order_api::ReplicaClient;
use toystore_order_api::{ReplicaStatus, Role};
use toystore_raft_api::failover::room_to_wait;

/// The leader in use.
#[derive(Debug, Clone)]
pub struct Leader {
    /// Its client.
    pub client: ReplicaClient,
    /// The term it leads (0 when adopted from a leader hint, not yet seen in its health).
    pub term: u64,
}

impl Leader {
    /// (id, term): what a caller reports as failed.
    pub fn key(&self) -> (u32, u64) {
        (self.client.id(), self.term)
    }
}

/// A replica's state as the health loop sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Down,
    Up { role: Role, term: u64 },
}

/// The replicas and who leads them (the front-end's leader tracker).
pub struct LeaderTracker {
    token: ClusterToken,
    election: Election,
    timeouts: Timeouts,
    members: RwLock<Arc<Vec<ReplicaClient>>>,
    leader: RwLock<Option<Leader>>,
    selecting: tokio::sync::Mutex<()>,
    seen: std::sync::Mutex<HashMap<u32, Seen>>,
}

impl LeaderTracker {
    /// A tracker of the replicas given as (id, base URL), under election policy `election`, called with
    /// `timeouts`.
    pub fn new(
        token: ClusterToken,
        election: Election,
        timeouts: Timeouts,
        members: &[(u32, String)],
    ) -> Result<Self, toystore_http::client::ClientError> {
        let replicas = Self {
            token,
            election,
            timeouts,
            members: RwLock::new(Arc::new(Vec::new())),
            leader: RwLock::new(None),
            selecting: tokio::sync::Mutex::new(()),
            seen: std::sync::Mutex::new(HashMap::new()),
        };
        replicas.set_members(members)?;
        Ok(replicas)
    }

    /// Replaces the set of replicas (a topology change); `false` if it is the same set.
    /// If the leader was removed or moved, it is forgotten and the next request looks
    /// again.
    pub fn set_members(
        &self,
        members: &[(u32, String)],
    ) -> Result<bool, toystore_http::client::ClientError> {
        let mut clients = members
            .iter()
            .map(|(id, url)| {
                ReplicaClient::with_timeouts(*id, url, self.token.clone(), &self.timeouts)
            })
            .collect::<Result<Vec<_>, _>>()?;
        clients.sort_by_key(|c| std::cmp::Reverse(c.id()));
        let same = |a: &[ReplicaClient], b: &[ReplicaClient]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x.id() == y.id() && x.base() == y.base())
        };
        if same(&clients, &self.members()) {
            return Ok(false);
        }
        let mut leader = self
            .leader
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = leader.as_ref() {
            let kept = clients
                .iter()
                .any(|c| c.id() == l.client.id() && c.base() == l.client.base());
            if !kept {
                tracing::info!(
                    leader = l.client.id(),
                    "leader left the topology; will look again"
                );
                *leader = None;
            }
        }
        *self
            .members
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(clients);
        Ok(true)
    }

    /// The replicas, highest id first.
    pub fn members(&self) -> Arc<Vec<ReplicaClient>> {
        self.members
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The leader in use, if any.
    pub fn current(&self) -> Option<Leader> {
        self.leader
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_current(&self, leader: Option<Leader>) {
        *self
            .leader
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = leader;
    }

    /// Follows a refused write's leader hint: `hint` becomes the leader in use unless
    /// someone already replaced the failed one. Whether the leader in use is now another
    /// replica than the one that refused (the hint taken up, or someone moved on): a hint
    /// naming the refuser itself or a replica this front-end does not know is not.
    pub fn follow_hint(&self, failed: (u32, u64), hint: u32) -> bool {
        if hint_applies(self.current().map(|l| l.key()), failed) {
            if let Some(client) = self.members().iter().find(|m| m.id() == hint) {
                tracing::info!(leader = hint, "following the leader hint");
                self.set_current(Some(Leader {
                    client: client.clone(),
                    term: 0,
                }));
            }
        }
        self.current().is_some_and(|l| l.client.id() != failed.0)
    }

    /// The leader; looks for one if there is none, or if the caller saw leader `failed`
    /// (id, term) fail and nobody has found another since.
    pub async fn leader(&self, failed: Option<(u32, u64)>) -> Option<Leader> {
        let usable = |l: &Leader| still_usable(l.key(), failed);
        if let Some(l) = self.current().filter(usable) {
            return Some(l);
        }
        let _guard = self.selecting.lock().await;
        if let Some(l) = self.current().filter(usable) {
            return Some(l);
        }
        self.select().await
    }

    async fn statuses(members: &[ReplicaClient]) -> Vec<Option<ReplicaStatus>> {
        futures_util::future::join_all(members.iter().map(|m| async move { m.health().await.ok() }))
            .await
    }

    /// The replicas' statuses, not waiting for the slow ones once a majority has answered
    /// and one of them leads (a paused replica then costs nothing; its entry is `None`).
    async fn statuses_for_selection(members: &[ReplicaClient]) -> Vec<Option<ReplicaStatus>> {
        use futures_util::StreamExt;
        let mut pending: futures_util::stream::FuturesUnordered<_> = members
            .iter()
            .enumerate()
            .map(|(i, m)| async move { (i, m.health().await.ok()) })
            .collect();
        let mut out = vec![None; members.len()];
        while let Some((i, status)) = pending.next().await {
            out[i] = status;
            if enough_answers(&out) {
                break;
            }
        }
        out
    }

    /// The reachable replica that leads, by the rule every caller uses
    /// ([`toystore_order_api::leader`]).
    fn leading(members: &[ReplicaClient], statuses: &[Option<ReplicaStatus>]) -> Option<Leader> {
        let s = toystore_order_api::leader(statuses.iter().flatten())?;
        let client = members.iter().find(|m| m.id() == s.id)?;
        Some(Leader {
            client: client.clone(),
            term: s.term,
        })
    }

    /// See the module doc. Callers hold `selecting`.
    async fn select(&self) -> Option<Leader> {
        let members = self.members();
        let deadline = tokio::time::Instant::now() + self.timeouts.election;
        let mut asked = false;
        loop {
            let statuses = Self::statuses_for_selection(&members).await;
            if let Some(leader) = Self::leading(&members, &statuses) {
                tracing::info!(
                    leader = leader.client.id(),
                    term = leader.term,
                    "leader found"
                );
                self.set_current(Some(leader.clone()));
                return Some(leader);
            }
            if ask_for_election(self.election, asked) {
                asked = self.ask_to_campaign(&members, &statuses).await;
            }
            let poll = self.timeouts.leader_poll;
            if !room_to_wait(tokio::time::Instant::now(), poll, deadline) {
                tracing::warn!("no replica leads");
                self.set_current(None);
                return None;
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Asks the first live, ready, caught-up replica (highest id first) to campaign.
    async fn ask_to_campaign(
        &self,
        members: &[ReplicaClient],
        statuses: &[Option<ReplicaStatus>],
    ) -> bool {
        for member in candidates(statuses)
            .into_iter()
            .filter_map(|i| members.get(i))
        {
            match member.campaign().await {
                Ok(s) => {
                    tracing::info!(replica = member.id(), term = s.term, "asked to campaign");
                    return true;
                }
                Err(e) => {
                    tracing::warn!(replica = member.id(), error = %e, "campaign request failed")
                }
            }
        }
        false
    }

    /// One round of health checks (see the module doc).
    pub async fn check(&self) {
        let members = self.members();
        let statuses = Self::statuses(&members).await;
        self.log_changes(&members, &statuses);
        let current = self.current();
        let leading = Self::leading(&members, &statuses);
        match checked(
            current.as_ref().map(Leader::key),
            leading.as_ref().map(Leader::key),
        ) {
            Checked::Same => {}
            Checked::NewTerm => self.set_current(leading),
            Checked::Changed => {
                if let Some(l) = &leading {
                    tracing::info!(leader = l.client.id(), term = l.term, "leader changed");
                }
                self.set_current(leading);
            }
            Checked::LookAgain => {
                if let Some(c) = &current {
                    tracing::warn!(
                        leader = c.client.id(),
                        term = c.term,
                        "leader failed its health check; looking again"
                    );
                }
                self.leader(current.map(|l| l.key())).await;
            }
        }
    }

    fn log_changes(&self, members: &[ReplicaClient], statuses: &[Option<ReplicaStatus>]) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (m, s) in members.iter().zip(statuses) {
            let now = match s {
                Some(s) => Seen::Up {
                    role: s.role,
                    term: s.term,
                },
                None => Seen::Down,
            };
            let before = seen.insert(m.id(), now.clone());
            if before.as_ref() != Some(&now) {
                match (&now, s) {
                    (Seen::Down, _) => tracing::warn!(replica = m.id(), "replica down"),
                    (Seen::Up { role, term }, Some(s)) => {
                        tracing::info!(replica = m.id(), ?role, term, last_seq = %s.last_seq, "replica state")
                    }
                    (Seen::Up { .. }, None) => {}
                }
            }
        }
    }

    /// Runs health checks every `interval` until `stop`.
    pub async fn health_loop(self: Arc<Self>, interval: Duration, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => self.check().await,
                () = stop.cancelled() => return,
            }
        }
    }
}

/// What a health check round does with the leader in use (`current`) and the one the
/// replicas report (`leading`), each as (id, term).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    /// The same replica leads in the same term: nothing to do.
    Same,
    /// The same replica leads in another term: record the term (quietly).
    NewTerm,
    /// Another replica leads (or none was in use): use it.
    Changed,
    /// No reachable replica leads: look for the leader (with `current` as failed).
    LookAgain,
}

/// See [`Checked`]. LeaderTracker are compared by id.
fn checked(current: Option<(u32, u64)>, leading: Option<(u32, u64)>) -> Checked {
    match (current, leading) {
        (Some((c, c_term)), Some((l, l_term))) if c == l => {
            if c_term == l_term {
                Checked::Same
            } else {
                Checked::NewTerm
            }
        }
        (_, Some(_)) => Checked::Changed,
        (_, None) => Checked::LookAgain,
    }
}

/// Whether a refused write's hint replaces the leader in use (`current`, as (id, term)):
/// only if none is in use or it is still the one that failed (`failed`); someone else
/// having found another since wins.
fn hint_applies(current: Option<(u32, u64)>, failed: (u32, u64)) -> bool {
    current.is_none_or(|c| c == failed)
}

/// Whether the leader in use (`key`, as (id, term)) may be handed out to a caller that saw
/// `failed` fail: yes unless it is that very leader in that very term.
fn still_usable(key: (u32, u64), failed: Option<(u32, u64)>) -> bool {
    failed != Some(key)
}

/// Whether a selection may stop waiting for the replicas that have not answered yet
/// (`None` entries): a majority of all replicas answered and one of them says it leads
/// (isolated or not: whether it is used is [`LeaderTracker::leading`]'s business).
fn enough_answers(statuses: &[Option<ReplicaStatus>]) -> bool {
    let answered = statuses.iter().flatten().count();
    let leads = statuses.iter().flatten().any(|s| s.role == Role::Leader);
    leads && answered > statuses.len() / 2
}

/// Whether a lookup that found no leader asks for an election now: only under the
/// `frontend` policy, and once per lookup.
fn ask_for_election(election: Election, asked: bool) -> bool {
    election == Election::Frontend && !asked
}

/// Who may be asked to campaign, in the order to ask (the order of `statuses`, highest id
/// first): live, ready replicas that do not lead (a leader that lost its quorum is no
/// candidate, and its uncommitted entries do not count as newer) whose last log entry is
/// the newest among those, as Raft's vote compares them ([`toystore_order_api::EntryId`]:
/// the leader that wrote it, then its index). By index alone, a deposed leader's
/// uncommitted entry at the same index as its successor's made it a candidate whom the
/// others refused for ever.
fn candidates(statuses: &[Option<ReplicaStatus>]) -> Vec<usize> {
    let eligible = |s: &ReplicaStatus| s.ready && s.role != Role::Leader;
    let last = |s: &ReplicaStatus| s.last_log_id;
    let newest = statuses
        .iter()
        .flatten()
        .filter(|s| eligible(s))
        .map(last)
        .max();
    statuses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .filter(|(_, s)| eligible(s) && Some(last(s)) >= newest)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn status(id: u32, role: Role, term: u64, last: u64, isolated: bool) -> Option<ReplicaStatus> {
        Some(ReplicaStatus {
            id,
            role,
            ready: true,
            term,
            leader: None,
            last_log_index: Some(last),
            last_log_id: Some(toystore_order_api::EntryId {
                term: 1,
                leader: 1,
                index: last,
            }),
            applied: Some(last),
            snapshot: None,
            last_seq: toystore_events::Seq::ZERO,
            voters: vec![1, 2, 3],
            quorum_ack_ms: None,
            isolated,
            storage: None,
        })
    }

    /// Clients of replicas 3, 2 and 1 (highest first, as `LeaderTracker` keeps them) on
    /// addresses nobody serves; for the unit tests here and in `orders`.
    pub(crate) fn members() -> Vec<ReplicaClient> {
        let token = ClusterToken::new("t").unwrap();
        [3, 2, 1]
            .map(|id| {
                ReplicaClient::new(
                    id,
                    &format!("http://127.0.0.1:{}", 9000 + id),
                    token.clone(),
                )
                .unwrap()
            })
            .to_vec()
    }

    #[test]
    fn an_isolated_leader_is_not_used_and_the_newer_term_wins() {
        let m = members();
        let cut_off = [
            status(3, Role::Leader, 4, 9, true),
            status(2, Role::Follower, 4, 7, false),
            None,
        ];
        assert!(LeaderTracker::leading(&m, &cut_off).is_none());
        let two = [
            status(3, Role::Leader, 4, 9, false),
            status(2, Role::Leader, 5, 8, false),
            status(1, Role::Follower, 5, 8, false),
        ];
        let l = LeaderTracker::leading(&m, &two).unwrap();
        assert_eq!((l.client.id(), l.term), (2, 5));
    }

    #[test]
    fn campaign_candidates_skip_leaders_the_behind_and_the_unready() {
        // Replica 3 leads without a quorum, with entries nobody else has: 2 and 1 are the
        // candidates (2 first), not "behind" it.
        let s = [
            status(3, Role::Leader, 4, 9, true),
            status(2, Role::Follower, 4, 7, false),
            status(1, Role::Follower, 4, 7, false),
        ];
        assert_eq!(candidates(&s), vec![1, 2]);
        // The same index written in an older term (a deposed leader's uncommitted entry) is
        // behind: the others would refuse its campaign.
        let mut older = [
            status(3, Role::Follower, 5, 7, false),
            status(2, Role::Follower, 5, 7, false),
            status(1, Role::Follower, 5, 7, false),
        ];
        for (s, term) in older.iter_mut().zip([3, 4, 4]) {
            if let Some(s) = s.as_mut() {
                s.last_log_id = Some(toystore_order_api::EntryId {
                    term,
                    leader: 3,
                    index: 7,
                });
            }
        }
        assert_eq!(candidates(&older), vec![1, 2]);
        // A follower behind another is not asked; an unready or silent one neither.
        let mut behind = [
            status(3, Role::Follower, 4, 6, false),
            status(2, Role::Follower, 4, 7, false),
            None,
        ];
        assert_eq!(candidates(&behind), vec![1]);
        if let Some(s) = behind[1].as_mut() {
            s.ready = false;
        }
        assert_eq!(candidates(&behind), vec![0]);
    }

    #[test]
    fn no_leader_when_nobody_reachable_leads() {
        let m = members();
        assert!(LeaderTracker::leading(&m, &[None, None, None]).is_none());
        let followers = [
            status(3, Role::Follower, 2, 5, false),
            status(2, Role::Candidate, 3, 5, false),
            status(1, Role::Learner, 2, 5, false),
        ];
        assert!(LeaderTracker::leading(&m, &followers).is_none());
    }

    #[test]
    fn the_one_reachable_leader_is_used_with_its_term() {
        let m = members();
        let one = [
            None,
            status(2, Role::Follower, 6, 5, false),
            status(1, Role::Leader, 6, 5, false),
        ];
        let l = LeaderTracker::leading(&m, &one).unwrap();
        assert_eq!(l.key(), (1, 6));
        // An isolated leader in a newer term does not beat a live one in an older term.
        let stale = [
            status(3, Role::Leader, 8, 9, true),
            status(2, Role::Leader, 7, 9, false),
            None,
        ];
        assert_eq!(LeaderTracker::leading(&m, &stale).unwrap().key(), (2, 7));
    }

    #[test]
    fn two_leaders_in_one_term_pick_the_higher_id() {
        // Cannot happen in Raft (one leader per term), but statuses read at different
        // moments can show it.
        let m = members();
        let tie = [
            status(3, Role::Leader, 5, 9, false),
            status(2, Role::Leader, 5, 9, false),
            None,
        ];
        assert_eq!(LeaderTracker::leading(&m, &tie).unwrap().key(), (3, 5));
    }

    #[test]
    fn campaign_candidates_are_none_without_a_live_ready_follower() {
        assert!(candidates(&[None, None, None]).is_empty());
        let leaders_only = [status(3, Role::Leader, 4, 9, true), None, None];
        assert!(candidates(&leaders_only).is_empty());
        let mut unready = [status(3, Role::Follower, 4, 9, false), None];
        if let Some(s) = unready[0].as_mut() {
            s.ready = false;
        }
        assert!(candidates(&unready).is_empty());
    }

    #[test]
    fn campaign_candidates_keep_id_order_and_include_candidates() {
        let s = [
            status(3, Role::Candidate, 5, 8, false),
            status(2, Role::Follower, 4, 8, false),
            status(1, Role::Follower, 4, 8, false),
        ];
        assert_eq!(candidates(&s), vec![0, 1, 2]);
    }

    #[test]
    fn a_replica_with_an_empty_log_is_behind_any_with_entries() {
        let mut s = [
            status(3, Role::Follower, 1, 0, false),
            status(2, Role::Follower, 1, 4, false),
            None,
        ];
        if let Some(s) = s[0].as_mut() {
            s.last_log_index = None;
            s.last_log_id = None;
        }
        assert_eq!(candidates(&s), vec![1]);
        // All empty: all are caught up.
        if let Some(s) = s[1].as_mut() {
            s.last_log_index = None;
            s.last_log_id = None;
        }
        assert_eq!(candidates(&s), vec![0, 1]);
    }

    #[test]
    fn a_health_round_keeps_refreshes_replaces_or_looks_again() {
        assert_eq!(checked(Some((3, 4)), Some((3, 4))), Checked::Same);
        assert_eq!(checked(Some((3, 4)), Some((3, 5))), Checked::NewTerm);
        assert_eq!(checked(Some((3, 4)), Some((2, 5))), Checked::Changed);
        assert_eq!(checked(None, Some((2, 5))), Checked::Changed);
        assert_eq!(checked(Some((3, 4)), None), Checked::LookAgain);
        assert_eq!(checked(None, None), Checked::LookAgain);
    }

    #[test]
    fn a_hint_replaces_only_the_failed_leader_or_none() {
        assert!(hint_applies(None, (3, 4)));
        assert!(hint_applies(Some((3, 4)), (3, 4)));
        assert!(!hint_applies(Some((2, 5)), (3, 4)), "someone found another");
        assert!(
            !hint_applies(Some((3, 5)), (3, 4)),
            "same replica, newer term"
        );
    }

    #[test]
    fn a_hint_is_taken_up_only_if_it_names_another_known_replica() {
        let tracker = LeaderTracker::new(
            ClusterToken::new("t").unwrap(),
            Election::Raft,
            Timeouts::default(),
            &[
                (1, "http://127.0.0.1:9001".into()),
                (2, "http://127.0.0.1:9002".into()),
            ],
        )
        .unwrap();
        let lead = |id| {
            let client = tracker.members().iter().find(|m| m.id() == id).cloned();
            tracker.set_current(client.map(|client| Leader { client, term: 4 }));
        };
        lead(1);
        assert!(!tracker.follow_hint((1, 4), 9), "a stranger");
        assert_eq!(tracker.current().map(|l| l.key()), Some((1, 4)));
        assert!(!tracker.follow_hint((1, 4), 1), "the refuser itself");
        lead(1);
        assert!(tracker.follow_hint((1, 4), 2), "another known replica");
        assert_eq!(tracker.current().map(|l| l.key()), Some((2, 0)));
        lead(2);
        assert!(tracker.follow_hint((1, 4), 1), "someone moved on already");
        assert_eq!(tracker.current().map(|l| l.key()), Some((2, 4)));
    }

    #[test]
    fn a_leader_is_handed_out_unless_the_caller_saw_it_fail() {
        assert!(still_usable((3, 4), None));
        assert!(!still_usable((3, 4), Some((3, 4))));
        assert!(
            still_usable((3, 5), Some((3, 4))),
            "found again in a newer term"
        );
        assert!(still_usable((2, 4), Some((3, 4))));
        assert!(still_usable((3, 0), Some((3, 4))), "adopted from a hint");
    }

    #[test]
    fn a_selection_waits_for_a_majority_with_a_leader() {
        let leader = || status(3, Role::Leader, 4, 9, false);
        let follower = || status(2, Role::Follower, 4, 9, false);
        assert!(!enough_answers(&[None, None, None]));
        assert!(!enough_answers(&[leader(), None, None]), "one of three");
        assert!(enough_answers(&[leader(), follower(), None]));
        assert!(enough_answers(&[None, follower(), leader()]));
        assert!(
            !enough_answers(&[follower(), follower(), None]),
            "nobody leads"
        );
        assert!(!enough_answers(&[follower(), follower(), follower()]));
        assert!(enough_answers(&[leader(), follower(), follower()]));
        // Four replicas: two is not a majority.
        assert!(!enough_answers(&[leader(), follower(), None, None]));
        assert!(enough_answers(&[leader(), follower(), follower(), None]));
        // An isolated leader still ends the wait; `leading` then refuses it.
        let cut_off = status(3, Role::Leader, 4, 9, true);
        assert!(enough_answers(&[cut_off, follower(), None]));
    }

    #[test]
    fn only_the_frontend_policy_asks_for_an_election_and_once() {
        assert!(ask_for_election(Election::Frontend, false));
        assert!(!ask_for_election(Election::Frontend, true));
        assert!(!ask_for_election(Election::Raft, false));
        assert!(!ask_for_election(Election::Raft, true));
    }
}
