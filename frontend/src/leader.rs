//! Leader selection and health checks of the order replicas, as the handout says.
//!
//! Selection asks every replica for its health (to learn the newest epoch any of them has
//! seen), then goes down the ids from the highest: the first replica that answers and is
//! ready is announced leader of a new epoch (it first pulls anything newer from its peers
//! and only answers once it leads), then every other replica is told. Selections are
//! serialised, and a caller that saw leader epoch `e` fail only reselects if nobody has
//! done so since.
//!
//! The health loop checks every replica each interval, logs each change of a replica's
//! state, reselects when the leader stops answering or stops leading, and re-announces the
//! current leader to ready replicas that have not heard of its epoch (e.g. restarted ones).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_net::ClusterToken;
use toystore_order::api::{LeaderNotice, ReplicaStatus, Role};
use toystore_order::ReplicaClient;

/// The elected leader.
#[derive(Debug, Clone)]
pub struct Leader {
    /// Its client.
    pub client: ReplicaClient,
    /// The epoch it leads.
    pub epoch: u64,
}

/// A replica's state as the health loop sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Down,
    Up { role: Role, epoch: u64 },
}

/// The replicas and who leads them.
pub struct Replicas {
    token: ClusterToken,
    members: RwLock<Arc<Vec<ReplicaClient>>>,
    leader: RwLock<Option<Leader>>,
    selecting: tokio::sync::Mutex<()>,
    seen: std::sync::Mutex<HashMap<u32, Seen>>,
}

impl Replicas {
    /// Replicas given as (id, base URL).
    pub fn new(
        token: ClusterToken,
        members: &[(u32, String)],
    ) -> Result<Self, toystore_net::client::ClientError> {
        let replicas = Self {
            token,
            members: RwLock::new(Arc::new(Vec::new())),
            leader: RwLock::new(None),
            selecting: tokio::sync::Mutex::new(()),
            seen: std::sync::Mutex::new(HashMap::new()),
        };
        replicas.set_members(members)?;
        Ok(replicas)
    }

    /// Replaces the set of replicas (a topology change); `false` if it is the same set.
    /// If the leader was removed or moved, it is forgotten and the next request selects
    /// again.
    pub fn set_members(
        &self,
        members: &[(u32, String)],
    ) -> Result<bool, toystore_net::client::ClientError> {
        let mut clients = members
            .iter()
            .map(|(id, url)| ReplicaClient::new(*id, url, self.token.clone()))
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
                    "leader left the topology; will reselect"
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

    /// The current leader, if one is selected.
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

    /// The leader; selects one if there is none, or if the caller saw leader epoch `failed`
    /// fail and nobody has reselected since.
    pub async fn leader(&self, failed: Option<u64>) -> Option<Leader> {
        let stale = |l: &Leader| failed.is_some_and(|e| l.epoch <= e);
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

    /// The handout's selection (see the module doc). Callers hold `selecting`.
    async fn select(&self) -> Option<Leader> {
        let members = self.members();
        let statuses = Self::statuses(&members).await;
        let mut epoch = statuses
            .iter()
            .flatten()
            .map(|s| s.epoch)
            .chain(self.current().map(|l| l.epoch))
            .max()
            .unwrap_or(0);
        for (member, status) in members.iter().zip(&statuses) {
            if !status.as_ref().is_some_and(|s| s.ready) {
                continue;
            }
            epoch += 1;
            let notice = LeaderNotice {
                epoch,
                leader: member.id(),
            };
            match member.announce(notice).await {
                Ok(s) if s.role == Role::Leader && s.epoch == epoch => {
                    tracing::info!(leader = member.id(), epoch, last_seq = %s.last_seq, "leader selected");
                    let leader = Leader {
                        client: member.clone(),
                        epoch,
                    };
                    self.set_current(Some(leader.clone()));
                    let others: Vec<ReplicaClient> = members
                        .iter()
                        .filter(|m| m.id() != member.id())
                        .cloned()
                        .collect();
                    tokio::spawn(async move {
                        for other in others {
                            if let Err(e) = other.announce(notice).await {
                                tracing::debug!(replica = other.id(), error = %e, "announcement not delivered");
                            }
                        }
                    });
                    return Some(leader);
                }
                Ok(s) => {
                    tracing::warn!(replica = member.id(), status = ?s, "announced replica did not take the lead")
                }
                Err(e) => {
                    tracing::warn!(replica = member.id(), error = %e, "leader announcement failed")
                }
            }
        }
        tracing::warn!("no replica is ready to lead");
        self.set_current(None);
        None
    }

    /// One round of health checks (see the module doc).
    pub async fn check(&self) {
        let members = self.members();
        let statuses = Self::statuses(&members).await;
        self.log_changes(&members, &statuses);
        let current = self.current();
        let leader_ok = current.as_ref().is_some_and(|l| {
            members.iter().zip(&statuses).any(|(m, s)| {
                m.id() == l.client.id()
                    && s.as_ref()
                        .is_some_and(|s| s.role == Role::Leader && s.epoch == l.epoch)
            })
        });
        if !leader_ok {
            if let Some(l) = &current {
                tracing::warn!(
                    leader = l.client.id(),
                    epoch = l.epoch,
                    "leader failed its health check; reselecting"
                );
            }
            self.leader(current.map(|l| l.epoch)).await;
            return;
        }
        if let Some(l) = current {
            let notice = LeaderNotice {
                epoch: l.epoch,
                leader: l.client.id(),
            };
            for (m, s) in members.iter().zip(&statuses) {
                if s.as_ref().is_some_and(|s| s.ready && s.epoch < l.epoch) {
                    if let Err(e) = m.announce(notice).await {
                        tracing::debug!(replica = m.id(), error = %e, "re-announcement failed");
                    }
                }
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
                    epoch: s.epoch,
                },
                None => Seen::Down,
            };
            let before = seen.insert(m.id(), now.clone());
            if before.as_ref() != Some(&now) {
                match (&now, s) {
                    (Seen::Down, _) => tracing::warn!(replica = m.id(), "replica down"),
                    (Seen::Up { role, epoch }, Some(s)) => {
                        tracing::info!(replica = m.id(), ?role, epoch, last_seq = %s.last_seq, "replica state")
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
