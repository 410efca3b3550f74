//! The replicas under measurement: real order services (the `tools order` node
//! subcommand) started one by one through [`toystore_harness::cluster`] on free loopback ports,
//! watched through `GET /health` (`ready`, `last_seq`), and their memory read from
//! `/proc/<pid>/status` ([`toystore_harness::memory`]). No catalog and no front-end run: a replica needs neither to start
//! or to catch up. The cluster file sets the `raft` election policy (`[order] election`), so
//! the replicas elect a leader themselves, with no front-end asking one to campaign.
//!
//! Every process is killed when [`Replicas`] is dropped.

use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use toystore_config::ClusterToken;
use toystore_config::Election;
use toystore_harness::memory::Memory;
use toystore_harness::{Cluster, ClusterSpec, Service};
use toystore_order_api::ReplicaClient;
use toystore_order_api::ReplicaStatus;

/// How often `/health` is asked while waiting.
const POLL: Duration = Duration::from_millis(5);

/// What a wait saw.
#[derive(Debug, Clone)]
pub struct Waited {
    /// From the start of the wait (for a start: the spawn) to the status that satisfied it.
    pub elapsed: Duration,
    /// When the replica first answered `/health`, from the same start.
    pub answered_after: Option<Duration>,
    /// When the replica first said it was ready, from the same start.
    pub ready_after: Option<Duration>,
    /// That status.
    pub status: ReplicaStatus,
}

/// Three replicas of one store, started on demand.
pub struct Replicas {
    cluster: Cluster,
    clients: BTreeMap<u32, ReplicaClient>,
    logs: PathBuf,
    timeout: Duration,
}

impl Replicas {
    /// Writes the cluster file of a three-replica store with its data in `data_dir` (the
    /// replicas' files are `order-<id>.redb` there, logs under `logs/`) and the `raft`
    /// election policy, starting nothing.
    /// `program` runs a service given its name (the `tools` binary). Every wait gives up
    /// after `timeout`.
    pub fn prepare(program: &Path, data_dir: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let mut spec = ClusterSpec::on_free_ports(program.to_path_buf(), Vec::new(), data_dir)?;
        spec.config.order.election = Election::Raft;
        let token =
            ClusterToken::new(spec.config.token.clone()).context("the cluster token is empty")?;
        let clients = spec
            .config
            .replicas
            .iter()
            .map(|r| {
                let client = ReplicaClient::with_timeouts(
                    r.id,
                    &spec.config.url(&r.addr),
                    token.clone(),
                    &spec.config.timeouts,
                )?;
                Ok((r.id, client))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            cluster: Cluster::prepare(spec)?,
            clients,
            logs: data_dir.join("logs"),
            timeout,
        })
    }

    /// The cluster file's contents.
    pub fn config(&self) -> &toystore_config::ClusterConfig {
        self.cluster.config()
    }

    /// Replica `id`'s redb file.
    pub fn db(&self, id: u32) -> PathBuf {
        self.cluster.config().order_db(id)
    }

    /// The replicas' Raft membership as `order` initialises it from the cluster file: every
    /// replica a voter, at its address.
    pub fn members(&self) -> BTreeMap<toystore_config::ReplicaId, openraft::BasicNode> {
        super::generate::members(
            self.cluster
                .config()
                .replicas
                .iter()
                .map(|r| (r.id, r.addr.to_string())),
        )
    }

    fn client(&self, id: u32) -> anyhow::Result<&ReplicaClient> {
        self.clients
            .get(&id)
            .with_context(|| format!("no replica {id}"))
    }

    /// Starts replica `id` and waits until its status satisfies `done`; the time counts
    /// from just before the process is spawned. `watch` sees every status on the way, and when
    /// it came (from the same start).
    pub async fn start(
        &mut self,
        id: u32,
        done: impl Fn(&ReplicaStatus) -> bool,
        watch: impl FnMut(&ReplicaStatus, Duration),
    ) -> anyhow::Result<Waited> {
        let since = Instant::now();
        self.cluster.spawn(Service::Order(id))?;
        self.wait(id, since, done, watch).await
    }

    /// Waits until replica `id`'s status satisfies `done`, timing from `since`.
    pub async fn wait(
        &mut self,
        id: u32,
        since: Instant,
        done: impl Fn(&ReplicaStatus) -> bool,
        mut watch: impl FnMut(&ReplicaStatus, Duration),
    ) -> anyhow::Result<Waited> {
        let client = self.client(id)?.clone();
        let mut answered_after = None;
        let mut ready_after = None;
        loop {
            if let Ok(status) = client.health().await {
                let elapsed = since.elapsed();
                answered_after.get_or_insert(elapsed);
                if status.ready && ready_after.is_none() {
                    ready_after = Some(elapsed);
                }
                watch(&status, elapsed);
                if done(&status) {
                    return Ok(Waited {
                        elapsed,
                        answered_after,
                        ready_after,
                        status,
                    });
                }
            }
            if !self.cluster.is_running(Service::Order(id)) {
                bail!("order-{id} exited; see {}", self.log(id).display());
            }
            if since.elapsed() > self.timeout {
                bail!(
                    "order-{id} did not get there within {:?}; see {}",
                    self.timeout,
                    self.log(id).display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Replica `id`'s log file.
    pub fn log(&self, id: u32) -> PathBuf {
        self.logs.join(format!("{}.log", Service::Order(id)))
    }

    /// The memory of running replica `id`.
    pub fn memory(&self, id: u32) -> anyhow::Result<Memory> {
        let pid = self
            .cluster
            .pid(Service::Order(id))
            .with_context(|| format!("order-{id} is not running"))?;
        Memory::of(pid)
    }

    /// Stops replica `id` with SIGTERM; fails if it did not exit cleanly.
    pub async fn stop_one(&mut self, id: u32) -> anyhow::Result<()> {
        let clean = self
            .cluster
            .terminate(Service::Order(id), Duration::from_secs(30))
            .await;
        anyhow::ensure!(
            clean,
            "order-{id} did not stop cleanly; see {}",
            self.log(id).display()
        );
        Ok(())
    }

    /// Stops every replica with SIGTERM; fails if one did not exit cleanly.
    pub async fn stop(self) -> anyhow::Result<()> {
        let unclean = self.cluster.stop(Duration::from_secs(30)).await;
        anyhow::ensure!(
            unclean.is_empty(),
            "replicas did not stop cleanly: {unclean:?}"
        );
        Ok(())
    }
}
