//! [`Cluster`]: a whole store as real processes on loopback.
//!
//! Used by `tools up`, `tools eval`, `tools chaos`, `tools growth` and the black-box tests.
//! It writes the cluster file (`<data_dir>/toystore.toml`), starts the catalog, the order
//! replicas and the front-end as child processes of one *node program* (the `tools` binary
//! itself, or the tests' node binary, each of which runs a service given its name as first
//! argument), waits until the store serves, and can kill (SIGKILL), restart and stop
//! (SIGTERM) any service. Children are killed when the `Cluster` is dropped, so nothing
//! outlives a test.
//!
//! Why one file of this length: it is one type, [`Cluster`], and the spec it starts from;
//! every method is about the same set of child processes (start, wait, kill, restart, stop),
//! which must stay in one place to keep the kill-on-drop guarantee.

use crate::netns::Hosts;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use toystore_catalog_api::CatalogClient;
use toystore_config::ReplicaConfig;
use toystore_config::{ClusterConfig, ClusterToken, Timeouts};
use toystore_frontend::api::InternalMetrics;
use toystore_frontend::client::FrontendClient;
use toystore_order_api::ReplicaClient;

/// How long one of the launcher's own requests (health checks, metrics) may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// One service of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// The catalog.
    Catalog,
    /// Order replica with this id.
    Order(u32),
    /// The front-end.
    Frontend,
    /// A second front-end on the same replicas (e.g. one on each side of a partition).
    SecondFrontend,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Service::Catalog => f.write_str("catalog"),
            Service::Order(id) => write!(f, "order-{id}"),
            Service::Frontend => f.write_str("frontend"),
            Service::SecondFrontend => f.write_str("frontend-2"),
        }
    }
}

/// Where the services' log lines go.
#[derive(Debug, Clone)]
pub enum Logs {
    /// To this process's stderr, each line prefixed with the service name.
    Prefixed,
    /// Appended to `<dir>/<service>.log`.
    Files(PathBuf),
}

/// How to start a store.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The program that runs a service: `program [prefix...] catalog|order|frontend ARGS`.
    pub program: PathBuf,
    /// Arguments before the service name.
    pub prefix: Vec<String>,
    /// The cluster file's contents (data dir, addresses, token...).
    pub config: ClusterConfig,
    /// Extra environment for every service (e.g. `RUST_LOG`).
    pub env: Vec<(String, String)>,
    /// Extra environment for one service (e.g. an armed failpoint).
    pub service_env: BTreeMap<Service, Vec<(String, String)>>,
    /// Where logs go.
    pub logs: Logs,
    /// Start the front-end without a cache.
    pub no_cache: bool,
    /// Where a second front-end listens, if there is one.
    pub second_frontend: Option<SocketAddr>,
    /// Each service on a host of its own (network namespaces), if set.
    pub hosts: Option<Arc<Hosts>>,
}

/// Free loopback ports for services started a moment later.
///
/// A port is released between being found and being bound by the child, so it is picked
/// below the kernel's ephemeral range (`ip_local_port_range`): ports there are what every
/// outgoing connection of every test running alongside takes, and one of them taking a
/// service's port in that window left a whole store unable to start. Each candidate is
/// random and checked by binding it; all are held until every one is found (no
/// duplicates). Where the range cannot be read or nothing below it is free, the OS picks
/// (port 0) as before.
pub fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let below = ephemeral_low().unwrap_or(0);
    let mut held: Vec<std::net::TcpListener> = Vec::with_capacity(n);
    let mut rng = rand::rng();
    let mut tries = 0;
    while held.len() < n && below > 10_000 && tries < 1_000 {
        tries += 1;
        let port = rand::Rng::random_range(&mut rng, 10_000..below);
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    while held.len() < n {
        held.push(std::net::TcpListener::bind("127.0.0.1:0").context("finding free ports")?);
    }
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// The first port of the kernel's ephemeral range, if it can be read.
fn ephemeral_low() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

impl ClusterSpec {
    /// A store on free loopback ports with data in `data_dir`, a random token, three
    /// replicas, and logs in `<data_dir>/logs`.
    pub fn on_free_ports(
        program: PathBuf,
        prefix: Vec<String>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let ports = free_ports(5)?;
        let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        let mut config = ClusterConfig {
            token: uuid::Uuid::new_v4().simple().to_string(),
            data_dir: data_dir.to_path_buf(),
            ..ClusterConfig::default()
        };
        config.frontend.addr = addr(ports[0]);
        config.catalog.addr = addr(ports[1]);
        config.replicas = (1..=3)
            .map(|id| ReplicaConfig {
                id,
                addr: addr(ports[1 + id as usize]),
            })
            .collect();
        Ok(Self {
            program,
            prefix,
            config,
            env: Vec::new(),
            service_env: BTreeMap::new(),
            logs: Logs::Files(data_dir.join("logs")),
            no_cache: false,
            second_frontend: None,
            hosts: None,
        })
    }

    /// Moves every service onto a host of its own (see [`Hosts`]): each listens on its
    /// host's address with the port it had, and with `second_frontend` a second front-end
    /// (port of the first) joins the store on a host of its own.
    pub fn place_on_hosts(&mut self, second_frontend: bool) -> anyhow::Result<()> {
        let mut services = vec![Service::Frontend, Service::Catalog];
        services.extend(self.config.replicas.iter().map(|r| Service::Order(r.id)));
        if second_frontend {
            services.push(Service::SecondFrontend);
        }
        let hosts = Hosts::create(&services)?;
        let at = |service: Service, port: u16| -> anyhow::Result<SocketAddr> {
            let host = hosts
                .host(service)
                .with_context(|| format!("{service} has no host"))?;
            Ok(SocketAddr::from((host.ip, port)))
        };
        let c = &mut self.config;
        c.frontend.addr = at(Service::Frontend, c.frontend.addr.port())?;
        c.catalog.addr = at(Service::Catalog, c.catalog.addr.port())?;
        for r in &mut c.replicas {
            r.addr = at(Service::Order(r.id), r.addr.port())?;
        }
        self.second_frontend = match second_frontend {
            true => Some(at(Service::SecondFrontend, c.frontend.addr.port())?),
            false => None,
        };
        self.hosts = Some(Arc::new(hosts));
        Ok(())
    }
}

/// The typed clients the launcher asks its services with.
struct Clients {
    /// The (first) front-end.
    frontend: FrontendClient,
    catalog: CatalogClient,
    replicas: BTreeMap<u32, ReplicaClient>,
}

impl Clients {
    /// Clients of the services `config` describes, every ask limited to [`ASK_TIMEOUT`].
    fn of(config: &ClusterConfig, token: &ClusterToken) -> anyhow::Result<Self> {
        let timeouts = Timeouts {
            request: ASK_TIMEOUT,
            health: ASK_TIMEOUT,
            ..config.timeouts
        };
        let base = |addr: SocketAddr| format!("http://{addr}");
        let replicas = config
            .replicas
            .iter()
            .map(|r| {
                let client =
                    ReplicaClient::with_timeouts(r.id, &base(r.addr), token.clone(), &timeouts)?;
                Ok((r.id, client))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            frontend: FrontendClient::with_timeout(&base(config.frontend.addr), ASK_TIMEOUT)?,
            catalog: CatalogClient::with_timeouts(
                &base(config.catalog.addr),
                token.clone(),
                &timeouts,
            )?,
            replicas,
        })
    }
}

/// A running store.
pub struct Cluster {
    /// First, so that the processes are killed before their hosts are removed. Behind a
    /// lock so that the waits (`&self`) can notice a service that exited.
    children: std::sync::Mutex<BTreeMap<Service, Child>>,
    spec: ClusterSpec,
    config_path: PathBuf,
    /// The launcher's own clients (each ask may take [`ASK_TIMEOUT`]); rebuilt when the
    /// cluster file moves a service.
    clients: Clients,
    /// The cluster file's token, checked once.
    token: ClusterToken,
}

impl Cluster {
    /// Writes the cluster file, starts every service and waits until the front-end serves
    /// and a leader has been selected (at most `timeout`).
    pub async fn start(spec: ClusterSpec, timeout: Duration) -> anyhow::Result<Self> {
        let mut cluster = Self::prepare(spec)?;
        let deadline = tokio::time::Instant::now() + timeout;
        cluster.spawn(Service::Catalog)?;
        for id in cluster.replica_ids() {
            cluster.spawn(Service::Order(id))?;
        }
        // The front-end starts once the replicas are ready, so its first selection sees
        // them all and picks the highest id, as the handout describes.
        for id in cluster.replica_ids() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            cluster.wait_healthy(Service::Order(id), left).await?;
        }
        cluster.spawn(Service::Frontend)?;
        if cluster.spec.second_frontend.is_some() {
            cluster.spawn(Service::SecondFrontend)?;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        cluster.wait_ready(left).await?;
        Ok(cluster)
    }

    /// Writes the cluster file and creates the data (and log) directories, but starts no
    /// service: the caller starts the ones it wants with [`Cluster::spawn`] (e.g. `tools
    /// growth`, which runs replicas alone). Dropping it kills whatever was started.
    pub fn prepare(spec: ClusterSpec) -> anyhow::Result<Self> {
        let data_dir = spec.config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        if let Logs::Files(dir) = &spec.logs {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let config_path = data_dir.join("toystore.toml");
        std::fs::write(&config_path, spec.config.to_toml())
            .with_context(|| format!("writing {}", config_path.display()))?;
        let token =
            ClusterToken::new(spec.config.token.clone()).context("the cluster token is empty")?;
        Ok(Self {
            clients: Clients::of(&spec.config, &token)?,
            token,
            spec,
            config_path,
            children: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The cluster file in use.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The cluster description.
    pub fn config(&self) -> &ClusterConfig {
        &self.spec.config
    }

    /// Each service's host, when the store runs on separate hosts.
    pub fn hosts(&self) -> Option<&Hosts> {
        self.spec.hosts.as_deref()
    }

    /// The front-end's base URL.
    pub fn frontend_url(&self) -> String {
        format!("http://{}", self.spec.config.frontend.addr)
    }

    /// The typed client of the (first) front-end that the launcher itself uses (requests
    /// time out after 2 s).
    pub fn frontend(&self) -> &FrontendClient {
        &self.clients.frontend
    }

    /// The cluster token.
    pub fn token(&self) -> &ClusterToken {
        &self.token
    }

    /// A typed client of replica `id`, with the cluster file's timeouts.
    pub fn replica_client(&self, id: u32) -> anyhow::Result<ReplicaClient> {
        let url = self.url(Service::Order(id));
        let timeouts = &self.spec.config.timeouts;
        Ok(ReplicaClient::with_timeouts(
            id,
            &url,
            self.token.clone(),
            timeouts,
        )?)
    }

    /// The replicas' ids.
    pub fn replica_ids(&self) -> Vec<u32> {
        self.spec.config.replicas.iter().map(|r| r.id).collect()
    }

    /// The base URL of a service.
    pub fn url(&self, service: Service) -> String {
        let c = &self.spec.config;
        let addr = match service {
            Service::Catalog => Some(c.catalog.addr),
            Service::Frontend => Some(c.frontend.addr),
            Service::SecondFrontend => self.spec.second_frontend,
            Service::Order(id) => c.replica(id).map(|r| r.addr),
        };
        addr.map(|a| format!("http://{a}")).unwrap_or_default()
    }

    /// Starts (or restarts) one service.
    pub fn spawn(&mut self, service: Service) -> anyhow::Result<()> {
        let launcher = self.spec.hosts.as_ref().and_then(|h| h.launcher(service));
        let mut cmd = match &launcher {
            Some(launcher) => {
                let mut cmd = Command::new(&launcher[0]);
                cmd.args(&launcher[1..]).arg(&self.spec.program);
                cmd
            }
            None => Command::new(&self.spec.program),
        };
        cmd.args(&self.spec.prefix);
        match service {
            Service::Catalog => cmd.arg("catalog"),
            Service::Order(id) => cmd.arg("order").arg("--id").arg(id.to_string()),
            Service::Frontend | Service::SecondFrontend => cmd.arg("frontend"),
        };
        cmd.arg("--config").arg(&self.config_path);
        if let (Service::SecondFrontend, Some(addr)) = (service, self.spec.second_frontend) {
            cmd.arg("--addr").arg(addr.to_string());
        }
        if matches!(service, Service::Frontend | Service::SecondFrontend) && self.spec.no_cache {
            cmd.arg("--no-cache");
        }
        cmd.envs(self.spec.env.iter().cloned());
        if let Some(extra) = self.spec.service_env.get(&service) {
            cmd.envs(extra.iter().cloned());
        }
        cmd.env_remove("TOYSTORE_TOKEN");
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        match &self.spec.logs {
            Logs::Files(dir) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{service}.log")))?;
                cmd.stdout(file.try_clone()?).stderr(file);
            }
            Logs::Prefixed => {
                cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {service} ({})", self.spec.program.display()))?;
        if let Logs::Prefixed = self.spec.logs {
            forward(service, child.stdout.take());
            forward(service, child.stderr.take());
        }
        self.children().insert(service, child);
        Ok(())
    }

    fn children(&self) -> std::sync::MutexGuard<'_, BTreeMap<Service, Child>> {
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An error if `service` was started and its process has exited (a port taken by
    /// someone else, a bad flag, a crash): waiting for it to answer would only time out.
    fn ensure_alive(&self, service: Service) -> anyhow::Result<()> {
        let exited = self
            .children()
            .get_mut(&service)
            .and_then(|c| c.try_wait().ok().flatten());
        match exited {
            Some(status) => bail!("{service} exited ({status}); see its log"),
            None => Ok(()),
        }
    }

    /// Kills a service with SIGKILL (a crash) and reaps it.
    pub async fn kill(&mut self, service: Service) -> anyhow::Result<()> {
        let child = self.children().remove(&service);
        if let Some(mut child) = child {
            child.start_kill().ok();
            child.wait().await?;
        }
        Ok(())
    }

    /// Changes the cluster description and rewrites the cluster file atomically (a
    /// temporary file renamed over it), as an operator editing the file would.
    pub fn update_config(&mut self, change: impl FnOnce(&mut ClusterConfig)) -> anyhow::Result<()> {
        change(&mut self.spec.config);
        self.spec.config.validate().map_err(anyhow::Error::msg)?;
        self.clients = Clients::of(&self.spec.config, &self.token)?;
        let tmp = self.config_path.with_extension("toml.tmp");
        std::fs::write(&tmp, self.spec.config.to_toml())?;
        std::fs::rename(&tmp, &self.config_path)?;
        Ok(())
    }

    /// Freezes a service (SIGSTOP): a paused process, like a stalled old leader.
    pub fn pause(&self, service: Service) -> anyhow::Result<()> {
        self.signal(service, nix::sys::signal::Signal::SIGSTOP)
    }

    /// Lets a paused service run again (SIGCONT).
    pub fn resume(&self, service: Service) -> anyhow::Result<()> {
        self.signal(service, nix::sys::signal::Signal::SIGCONT)
    }

    fn signal(&self, service: Service, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let pid = self
            .children()
            .get(&service)
            .and_then(|c| c.id())
            .and_then(|p| i32::try_from(p).ok())
            .with_context(|| format!("{service} is not running"))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .with_context(|| format!("signalling {service}"))?;
        Ok(())
    }

    /// The process id of a running service (e.g. to read its `/proc/<pid>/status`).
    pub fn pid(&self, service: Service) -> Option<u32> {
        self.children().get(&service).and_then(Child::id)
    }

    /// Whether a service's process is running.
    pub fn is_running(&mut self, service: Service) -> bool {
        self.children()
            .get_mut(&service)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Restarts a killed or stopped service and waits until it answers `/health` (for a
    /// replica: until it is ready).
    pub async fn restart(&mut self, service: Service, timeout: Duration) -> anyhow::Result<()> {
        self.kill(service).await?;
        self.spawn(service)?;
        self.wait_healthy(service, timeout).await
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
            Service::Catalog | Service::Order(_) => None,
        };
        if let Some(frontend) = frontend {
            let healthy = || async { frontend.health().await.ok().map(drop) };
            return self
                .poll_until(timeout, Some(service), &what, healthy)
                .await;
        }
        let healthy = || async {
            let ready = match service {
                Service::Order(id) => self.clients.replicas.get(&id)?.health().await.ok()?.ready,
                _ => self.clients.catalog.health().await.is_ok(),
            };
            ready.then_some(())
        };
        self.poll_until(timeout, Some(service), &what, healthy)
            .await
    }

    /// Polls `f` every 25 ms until it gives a value, for at most `timeout` (then fails with
    /// `what`); fails at once if `watched`'s process has exited.
    async fn poll_until<T, Fut>(
        &self,
        timeout: Duration,
        watched: Option<Service>,
        what: &str,
        mut f: impl FnMut() -> Fut,
    ) -> anyhow::Result<T>
    where
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = f().await {
                return Ok(value);
            }
            if let Some(service) = watched {
                self.ensure_alive(service).context(what.to_string())?;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("{what} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether a second front-end is part of the store.
    pub fn has_second_frontend(&self) -> bool {
        self.spec.second_frontend.is_some()
    }

    /// The replica that says it leads — role leader and not isolated from its quorum, the
    /// highest term if two say so — asked directly, not through a front-end.
    pub async fn replica_leader(&self) -> Option<u32> {
        let asks = self
            .clients
            .replicas
            .values()
            .map(|client| async move { client.health().await.ok() });
        let statuses = futures_util::future::join_all(asks).await;
        toystore_order_api::leader(statuses.iter().flatten()).map(|s| s.id)
    }

    /// Waits until a replica says it leads (see [`Cluster::replica_leader`]).
    pub async fn wait_replica_leader(&self, timeout: Duration) -> anyhow::Result<u32> {
        let leader = || self.replica_leader();
        self.poll_until(timeout, None, "no replica led", leader)
            .await
    }

    /// The id of the replica the front-end currently uses as leader (from its metrics).
    pub async fn leader(&self) -> Option<u32> {
        Some(self.metrics().await.ok()?.leader?.id)
    }

    /// The front-end's `GET /internal/metrics`: cache counters, leader, replicas.
    pub async fn metrics(&self) -> anyhow::Result<InternalMetrics> {
        Ok(self.clients.frontend.internal_metrics(&self.token).await?)
    }

    /// Waits until the front-end has a leader and returns its id.
    /// Fails at once if the front-end's process has exited.
    pub async fn wait_leader(&self, timeout: Duration) -> anyhow::Result<u32> {
        let leader = || self.leader();
        let what = "no order leader was selected";
        self.poll_until(timeout, Some(Service::Frontend), what, leader)
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

    /// Stops one service with SIGTERM and waits for it to exit (SIGKILL after `grace`).
    /// Returns whether it exited cleanly (a service that was not running did).
    pub async fn terminate(&mut self, service: Service, grace: Duration) -> bool {
        let child = self.children().remove(&service);
        let Some(mut child) = child else {
            return true;
        };
        if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(Ok(status)) if status.success() => true,
            _ => {
                child.start_kill().ok();
                let _ = child.wait().await;
                false
            }
        }
    }

    /// Stops every service with SIGTERM (front-end first) and waits for them to exit
    /// (SIGKILL after `grace`). Returns the services that did not exit cleanly.
    pub async fn stop(mut self, grace: Duration) -> Vec<Service> {
        let mut unclean = Vec::new();
        let order: Vec<Service> = {
            let mut v: Vec<Service> = self.children().keys().copied().collect();
            v.sort_by_key(|s| match s {
                Service::Frontend | Service::SecondFrontend => 0,
                Service::Order(_) => 1,
                Service::Catalog => 2,
            });
            v
        };
        for service in order {
            if !self.terminate(service, grace).await {
                unclean.push(service);
            }
        }
        unclean
    }
}

/// A service's log line as `tools up` prints it: a JSON object line (`--log-format json`)
/// gains a `"service"` field and stays one JSON object; any other line gets the name in
/// front.
fn labelled(service: Service, line: &str) -> String {
    match line.strip_prefix('{') {
        Some(rest) if line.ends_with('}') => format!("{{\"service\":\"{service}\",{rest}"),
        _ => format!("[{service:>8}] {line}"),
    }
}

fn forward<R: tokio::io::AsyncRead + Unpin + Send + 'static>(service: Service, pipe: Option<R>) {
    let Some(pipe) = pipe else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{}", labelled(service, &line));
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() {
        let ports = free_ports(5).unwrap();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5, "{ports:?}");
        // Below the ephemeral range where there is room for it (as `free_ports` chooses).
        if let Some(low) = ephemeral_low().filter(|low| *low > 10_000) {
            assert!(ports.iter().all(|p| *p < low), "{ports:?} vs {low}");
        }
        for p in ports {
            drop(std::net::TcpListener::bind(("127.0.0.1", p)).unwrap());
        }
    }

    #[test]
    fn json_log_lines_stay_json_with_the_service_named() {
        let line = labelled(
            Service::Catalog,
            r#"{"level":"INFO","message":"catalog serving"}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["service"], "catalog");
        assert_eq!(v["message"], "catalog serving");
        assert_eq!(labelled(Service::Order(2), "plain"), "[order-2] plain");
    }
}
