//! Probes: what a running store says about itself, asked through the services' typed
//! clients, and [`poll_until`], the one way the harness, the tools and the tests wait for
//! something to hold.
//!
//! Guarantees: every wait has a deadline and fails with what it waited for; a wait on one
//! service fails at once if that service's process has exited (waiting would only time
//! out); "who leads" is [`toystore_order_api::leader`], the rule the front-end uses too.

use crate::cluster::{Cluster, ASK_TIMEOUT};
use crate::service::Service;
use anyhow::{bail, Context};
use std::future::Future;
use std::time::Duration;
use toystore_frontend::api::InternalMetrics;
use toystore_frontend::client::FrontendClient;
use toystore_order_api::ReplicaStatus;

/// How often [`poll_until`] asks.
pub const POLL_EVERY: Duration = Duration::from_millis(25);

/// Asks `f` every [`POLL_EVERY`] until it gives a value, for at most `timeout`; then fails
/// with "`what` within `timeout`".
pub async fn poll_until<T, Fut>(
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> Fut,
) -> anyhow::Result<T>
where
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{what} within {timeout:?}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

impl Cluster {
    /// [`poll_until`], failing at once if `watched`'s process has exited.
    async fn poll_service<T, Fut>(
        &self,
        timeout: Duration,
        watched: Option<Service>,
        what: &str,
        mut f: impl FnMut() -> Fut,
    ) -> anyhow::Result<T>
    where
        Fut: Future<Output = Option<T>>,
    {
        let outcome = poll_until(timeout, what, || {
            let asked = f();
            async move {
                if let Some(value) = asked.await {
                    return Some(Ok(value));
                }
                // A watched service that exited ends the wait with its exit as the answer.
                let exited = watched.and_then(|service| self.ensure_alive(service).err());
                exited.map(|e| Err(e.context(what.to_string())))
            }
        })
        .await?;
        outcome
    }

    /// Waits until `service` answers `/health` (a replica: and says it is ready); fails at
    /// once if its process exits meanwhile.
    pub async fn wait_healthy(&self, service: Service, timeout: Duration) -> anyhow::Result<()> {
        let what = format!("{service} did not become healthy");
        let frontend = match service {
            Service::Frontend => Some(self.clients.frontend.clone()),
            Service::SecondFrontend => Some(FrontendClient::with_timeout(
                &self.url(service),
                ASK_TIMEOUT,
            )?),
            Service::Catalog(_) | Service::Order(_) => None,
        };
        if let Some(frontend) = frontend {
            let healthy = || async { frontend.health().await.ok().map(drop) };
            return self
                .poll_service(timeout, Some(service), &what, healthy)
                .await;
        }
        let healthy = || async {
            let ready = match service {
                Service::Order(id) => self.clients.replicas.get(&id)?.health().await.ok()?.ready,
                Service::Catalog(id) => self.clients.catalog.health_of(Some(id)).await.ok()?.ready,
                // (Asked above.)
                Service::Frontend | Service::SecondFrontend => false,
            };
            ready.then_some(())
        };
        self.poll_service(timeout, Some(service), &what, healthy)
            .await
    }

    /// The replica that says it leads — role leader and not isolated from its quorum, the
    /// highest term if two say so — asked directly, not through a front-end.
    pub async fn replica_leader(&self) -> Option<u32> {
        let statuses = self.replica_statuses().await;
        toystore_order_api::leader(statuses.iter().flatten()).map(|s| s.id)
    }

    /// Every replica's `/health`, asked at once, in id order (`None`: no answer).
    pub async fn replica_statuses(&self) -> Vec<Option<ReplicaStatus>> {
        let asks = self
            .clients
            .replicas
            .values()
            .map(|client| async move { client.health().await.ok() });
        futures_util::future::join_all(asks).await
    }

    /// Every catalog replica's `/health`, asked at once, in the order of
    /// [`Cluster::catalog_ids`] (`None`: no answer).
    pub async fn catalog_statuses(&self) -> Vec<Option<ReplicaStatus>> {
        let catalog = &self.clients.catalog;
        let asks = self
            .catalog_ids()
            .into_iter()
            .map(|id| async move { catalog.health_of(Some(id)).await.ok() });
        futures_util::future::join_all(asks).await
    }

    /// The catalog replica that says it leads (the same rule as for order replicas).
    pub async fn catalog_leader(&self) -> Option<u32> {
        let statuses = self.catalog_statuses().await;
        toystore_order_api::leader(statuses.iter().flatten()).map(|s| s.id)
    }

    /// Waits until a catalog replica says it leads (see [`Cluster::catalog_leader`]).
    pub async fn wait_catalog_leader(&self, timeout: Duration) -> anyhow::Result<u32> {
        let leader = || self.catalog_leader();
        self.poll_service(timeout, None, "no catalog replica led", leader)
            .await
    }

    /// Waits until a replica says it leads (see [`Cluster::replica_leader`]).
    pub async fn wait_replica_leader(&self, timeout: Duration) -> anyhow::Result<u32> {
        let leader = || self.replica_leader();
        self.poll_service(timeout, None, "no replica led", leader)
            .await
    }

    /// The id of the replica the front-end currently uses as leader (from its metrics).
    pub async fn leader(&self) -> Option<u32> {
        Some(self.metrics().await.ok()?.leader?.id)
    }

    /// The front-end's `GET /internal/metrics`: cache counters, leader, replicas.
    pub async fn metrics(&self) -> anyhow::Result<InternalMetrics> {
        Ok(self.clients.frontend.internal_metrics(self.token()).await?)
    }

    /// Waits until the front-end has a leader and returns its id.
    /// Fails at once if the front-end's process has exited.
    pub async fn wait_leader(&self, timeout: Duration) -> anyhow::Result<u32> {
        let leader = || self.leader();
        let what = "no order leader was selected";
        self.poll_service(timeout, Some(Service::Frontend), what, leader)
            .await
    }

    /// Waits until every service answers and the front-end has a leader.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let services: Vec<Service> = self.children().keys().copied().collect();
        for service in services {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.wait_healthy(service, left).await?;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.wait_leader(left).await.map(|_| ())
    }

    /// Waits until every order replica is ready and holds the same events, and every
    /// catalog replica likewise (asked through each replica's typed client): the store has
    /// converged after a run of faults.
    pub async fn converge(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.converge_group("order replicas", || self.replica_statuses(), timeout)
            .await?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.converge_group("catalog replicas", || self.catalog_statuses(), left)
            .await
    }

    /// Waits until every replica of a group (its statuses asked by `statuses`) is ready and
    /// holds the same events.
    async fn converge_group<Fut>(
        &self,
        group: &str,
        statuses: impl Fn() -> Fut,
        timeout: Duration,
    ) -> anyhow::Result<()>
    where
        Fut: Future<Output = Vec<Option<ReplicaStatus>>>,
    {
        // The last answers, for the error if they never agree.
        let seen = std::sync::Mutex::new(Vec::new());
        let what = format!("the {group} did not converge");
        let converged = poll_until(timeout, &what, || async {
            let now: Vec<Option<(bool, u64)>> = statuses()
                .await
                .into_iter()
                .map(|s| s.map(|s| (s.ready, s.last_seq.0)))
                .collect();
            let first = now.first().copied().flatten();
            let same = first.is_some_and(|(ready, _)| ready) && now.iter().all(|s| *s == first);
            *seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
            same.then_some(())
        })
        .await;
        converged.with_context(|| {
            let seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            format!("{group}: last seen (ready, events held) per replica: {seen:?}")
        })
    }
}
