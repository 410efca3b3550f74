//! Finding the order service's Raft leader, and (with the `frontend` election policy)
//! asking for an election when there is none.
//!
//! The leader is whichever replica reports itself leading in its health (the highest term
//! if two do, briefly, after a partition), unless it says it is *isolated*: no quorum has
//! acknowledged it for a while (cut off from its followers, it cannot commit; see
//! `ReplicaStatus::isolated`). Only when no reachable replica leads does the
//! front-end act: with the `frontend` policy it asks the first replica, highest id first,
//! that is live, ready, not an isolated leader and caught up (its last log index is the
//! highest among those) to campaign (`POST /internal/raft/campaign`), then polls for a leader for a
//! moment; with the `raft` policy the replicas elect on their own and it only waits. A
//! front-end never asks for an election while a reachable replica leads, so two front-ends
//! do not churn a healthy leader, and Raft's vote rules (one vote per term, the leader
//! lease, the up-to-date log check) keep any campaign safe.
//!
//! Lookups are serialised; a caller that saw leader (id, term) fail only looks again if
//! nobody has found another since. The health loop checks every replica each interval,
//! logs each change of a replica's state, and looks again when the leader stops leading.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_config::ClusterToken;
use toystore_config::{Election, Timeouts};
use toystore_order::api::{ReplicaStatus, Role};
use toystore_order::ReplicaClient;

/// How long one lookup waits for a leader to emerge after asking for an election.
const ELECTION_WAIT: Duration = Duration::from_millis(1_000);
/// Poll interval while waiting for a leader.
const POLL: Duration = Duration::from_millis(25);

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

/// The replicas and who leads them.
pub struct Replicas {
    token: ClusterToken,
    election: Election,
    timeouts: Timeouts,
    members: RwLock<Arc<Vec<ReplicaClient>>>,
    leader: RwLock<Option<Leader>>,
    selecting: tokio::sync::Mutex<()>,
    seen: std::sync::Mutex<HashMap<u32, Seen>>,
}

impl Replicas {
    /// Replicas given as (id, base URL), under election policy `election`, called with
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
    /// someone already replaced the failed one.
    pub fn follow_hint(&self, failed: (u32, u64), hint: u32) {
        if self.current().is_some_and(|l| l.key() != failed) {
            return;
        }
        if let Some(client) = self.members().iter().find(|m| m.id() == hint) {
            tracing::info!(leader = hint, "following the leader hint");
            self.set_current(Some(Leader {
                client: client.clone(),
                term: 0,
            }));
        }
    }

    /// The leader; looks for one if there is none, or if the caller saw leader `failed`
    /// (id, term) fail and nobody has found another since.
    pub async fn leader(&self, failed: Option<(u32, u64)>) -> Option<Leader> {
        let stale = |l: &Leader| failed.is_some_and(|f| l.key() == f);
        if let Some(l) = self.current().filter(|l| !stale(l)) {
            return Some(l);
        }
        let _guard = self.selecting.lock().await;
        if let Some(l) = self.current().filter(|l| !stale(l)) {
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
        let mut answered = 0;
        while let Some((i, status)) = pending.next().await {
            answered += usize::from(status.is_some());
            out[i] = status;
            let leads = out.iter().flatten().any(|s| s.role == Role::Leader);
            if leads && answered > members.len() / 2 {
                break;
            }
        }
        out
    }

    /// The reachable replica that reports leading with the highest term.
    fn leading(members: &[ReplicaClient], statuses: &[Option<ReplicaStatus>]) -> Option<Leader> {
        members
            .iter()
            .zip(statuses)
            .filter_map(|(m, s)| {
                s.as_ref()
                    .filter(|s| s.role == Role::Leader && !s.isolated)
                    .map(|s| Leader {
                        client: m.clone(),
                        term: s.term,
                    })
            })
            .max_by_key(|l| l.term)
    }

    /// See the module doc. Callers hold `selecting`.
    async fn select(&self) -> Option<Leader> {
        let members = self.members();
        let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
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
            if self.election == Election::Frontend && !asked {
                asked = self.ask_to_campaign(&members, &statuses).await;
            }
            if tokio::time::Instant::now() + POLL >= deadline {
                tracing::warn!("no replica leads");
                self.set_current(None);
                return None;
            }
            tokio::time::sleep(POLL).await;
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
        match (&current, &leading) {
            (Some(c), Some(l)) if c.client.id() == l.client.id() => {
                if c.term != l.term {
                    self.set_current(Some(l.clone()));
                }
            }
            (_, Some(l)) => {
                tracing::info!(leader = l.client.id(), term = l.term, "leader changed");
                self.set_current(Some(l.clone()));
            }
            (_, None) => {
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

/// Who may be asked to campaign, in the order to ask (the order of `statuses`, highest id
/// first): live, ready replicas that do not lead (a leader that lost its quorum is no
/// candidate, and its uncommitted entries do not count as newer) whose last log index is
/// the highest among those.
fn candidates(statuses: &[Option<ReplicaStatus>]) -> Vec<usize> {
    let eligible = |s: &ReplicaStatus| s.ready && s.role != Role::Leader;
    let newest = statuses
        .iter()
        .flatten()
        .filter(|s| eligible(s))
        .map(|s| s.last_log_index)
        .max()
        .flatten();
    statuses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .filter(|(_, s)| eligible(s) && s.last_log_index >= newest)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
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
            applied: Some(last),
            snapshot: None,
            last_seq: toystore_events::Seq::ZERO,
            voters: vec![1, 2, 3],
            quorum_ack_ms: None,
            isolated,
        })
    }

    fn members() -> Vec<ReplicaClient> {
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
        assert!(Replicas::leading(&m, &cut_off).is_none());
        let two = [
            status(3, Role::Leader, 4, 9, false),
            status(2, Role::Leader, 5, 8, false),
            status(1, Role::Follower, 5, 8, false),
        ];
        let l = Replicas::leading(&m, &two).unwrap();
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
}
