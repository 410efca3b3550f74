//! [`Cluster`]: a whole store as real processes, on loopback or on netns hosts.
//!
//! Used by `tools up`, `tools eval`, `tools chaos`, `tools growth` and the black-box tests.
//! It writes the cluster file (`<data_dir>/toystore.toml`), starts the catalog replicas
//! (`catalog --id <id>`, one per `[[catalogs]]` entry), the order replicas and the
//! front-end as child processes of one *service program* (the `tools` binary
//! itself, or the tests' `toystore-node` binary, each of which runs a service given its name as first
//! argument, see [`crate::run`]), and can kill (SIGKILL), pause, restart and stop (SIGTERM)
//! any service. Children are killed when the `Cluster` is dropped, so nothing outlives a
//! test. What the store says about itself (health, leaders, convergence) is asked in
//! [`crate::probe`].

use crate::disks::{Disk, Disks};
use crate::logs::{forward, Logs};
use crate::netns::Hosts;
use crate::service::Service;
use crate::spec::ClusterSpec;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use toystore_catalog_api::CatalogClient;
use toystore_config::{ClusterConfig, ClusterToken, ServiceAddr, Timeouts};
use toystore_frontend::client::FrontendClient;
use toystore_order_api::ReplicaClient;

/// How long one of the launcher's own requests (health checks, metrics) may take.
pub(crate) const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// The typed clients the launcher asks its services with.
pub(crate) struct Clients {
    /// The (first) front-end.
    pub(crate) frontend: FrontendClient,
    /// Every catalog replica (each asked by id with `health_of`).
    pub(crate) catalog: CatalogClient,
    pub(crate) replicas: BTreeMap<u32, ReplicaClient>,
}

impl Clients {
    /// Clients of the services `config` describes, every ask limited to [`ASK_TIMEOUT`].
    fn of(config: &ClusterConfig, token: &ClusterToken) -> anyhow::Result<Self> {
        let timeouts = Timeouts {
            request: ASK_TIMEOUT,
            health: ASK_TIMEOUT,
            ..config.timeouts
        };
        let replicas = config
            .replicas
            .iter()
            .map(|r| {
                let client = ReplicaClient::with_timeouts(
                    r.id,
                    &config.url(&r.addr),
                    token.clone(),
                    &timeouts,
                )?;
                Ok((r.id, client))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            frontend: FrontendClient::with_timeout(&config.frontend_url(), ASK_TIMEOUT)?,
            catalog: CatalogClient::of_replicas(&config.catalog_urls(), token.clone(), &timeouts)?,
            replicas,
        })
    }
}

/// A running store.
pub struct Cluster {
    /// First, so that the processes are killed before their hosts are removed. Behind a
    /// lock so that the waits (`&self`) can notice a service that exited.
    children: std::sync::Mutex<BTreeMap<Service, Child>>,
    pub(crate) spec: ClusterSpec,
    config_path: PathBuf,
    /// The launcher's own clients (each ask may take [`ASK_TIMEOUT`]); rebuilt when the
    /// cluster file moves a service.
    pub(crate) clients: Clients,
    /// The cluster file's token, checked once.
    token: ClusterToken,
    /// Each replica's disk of its own, if the spec asks for them (after `children`: the
    /// processes are killed before their disks are unmounted).
    disks: Option<Disks>,
}

impl Cluster {
    /// Writes the cluster file, starts every service and waits until the front-end serves
    /// and a leader has been selected (at most `timeout`).
    pub async fn start(spec: ClusterSpec, timeout: Duration) -> anyhow::Result<Self> {
        let mut cluster = Self::prepare(spec)?;
        let deadline = tokio::time::Instant::now() + timeout;
        for id in cluster.catalog_ids() {
            cluster.spawn(Service::Catalog(id))?;
        }
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
        spec.config.validate().map_err(anyhow::Error::msg)?;
        let data_dir = spec.config.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        if let Logs::Files(dir) = &spec.logs {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let config_path = data_dir.join("toystore.toml");
        std::fs::write(&config_path, spec.service_config()?.to_toml())
            .with_context(|| format!("writing {}", config_path.display()))?;
        if let Some(hosts) = spec.hosts.as_ref().filter(|_| spec.names) {
            hosts.write_names()?;
        }
        let token =
            ClusterToken::new(spec.config.token.clone()).context("the cluster token is empty")?;
        // This process's clients (the harness's own, and the caller's) trust the store's CA.
        toystore_http::tls::install(&spec.config, None).context("setting up TLS")?;
        let disks = match spec.disks {
            Some(size) => Some(Disks::mount(&spec.config, size)?),
            None => None,
        };
        Ok(Self {
            clients: Clients::of(&spec.config, &token)?,
            token,
            spec,
            config_path,
            children: std::sync::Mutex::new(BTreeMap::new()),
            disks,
        })
    }

    /// The disk of `service`'s file, if the spec gave each replica one of its own.
    pub fn disk(&self, service: Service) -> Option<&Disk> {
        self.disks.as_ref()?.get(service)
    }

    /// Takes the replicas' disks out of the cluster, so that they outlive it (read the
    /// files after [`Cluster::stop`]; they are unmounted when the [`Disks`] is dropped).
    pub fn take_disks(&mut self) -> Option<Disks> {
        self.disks.take()
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
        self.spec.config.frontend_url()
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

    /// The catalog replicas' ids, in the cluster file's order.
    pub fn catalog_ids(&self) -> Vec<u32> {
        self.spec.config.catalogs.iter().map(|c| c.id).collect()
    }

    /// The id of the cluster file's first catalog replica: the one to name where a caller
    /// knows of one catalog only (catalog 1 in every store the harness builds). The file is
    /// validated, so it lists at least one.
    pub fn first_catalog_id(&self) -> u32 {
        self.spec.config.catalogs.first().map_or(1, |c| c.id)
    }

    /// A typed client of the whole catalog: every catalog replica, leader-only calls going
    /// to whichever leads (`toystore_raft_api::Group`).
    pub fn catalog(&self) -> anyhow::Result<CatalogClient> {
        Ok(CatalogClient::of_replicas(
            &self.spec.config.catalog_urls(),
            self.token.clone(),
            &self.spec.config.timeouts,
        )?)
    }

    /// The base URL of a service.
    pub fn url(&self, service: Service) -> String {
        let c = &self.spec.config;
        let addr = match service {
            Service::Catalog(id) => c.catalog(id).map(|r| c.url(&r.addr)),
            Service::Frontend => Some(c.frontend_url()),
            Service::SecondFrontend => self
                .spec
                .second_frontend
                .map(|a| ServiceAddr::from(a).url(c.public_tls())),
            Service::Order(id) => c.replica(id).map(|r| c.url(&r.addr)),
        };
        addr.unwrap_or_default()
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
            Service::Catalog(id) => cmd.arg("catalog").arg("--id").arg(id.to_string()),
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

    pub(crate) fn children(&self) -> std::sync::MutexGuard<'_, BTreeMap<Service, Child>> {
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An error if `service` was started and its process has exited (a port taken by
    /// someone else, a bad flag, a crash): waiting for it to answer would only time out.
    pub(crate) fn ensure_alive(&self, service: Service) -> anyhow::Result<()> {
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
        std::fs::write(&tmp, self.spec.service_config()?.to_toml())?;
        std::fs::rename(&tmp, &self.config_path)?;
        Ok(())
    }

    /// Moves a service that runs on a host of its own to a new address (stop it first;
    /// start it again after): the host's address changes, and so does the service's address
    /// in the harness's view. With [`ClusterSpec::names`], the services' cluster file keeps
    /// its name and only the namespaces' hosts files change; without, the file gets the new
    /// address. Returns the new address.
    pub fn readdress(&mut self, service: Service) -> anyhow::Result<std::net::Ipv4Addr> {
        let hosts = self
            .spec
            .hosts
            .clone()
            .context("the store does not run on hosts")?;
        let ip = hosts.readdress(service)?;
        let moved = |addr: &mut ServiceAddr| {
            *addr = ServiceAddr::from(std::net::SocketAddr::from((ip, addr.port())));
        };
        self.update_config(|c| match service {
            Service::Frontend => moved(&mut c.frontend.addr),
            Service::Catalog(id) => c
                .catalogs
                .iter_mut()
                .filter(|r| r.id == id)
                .for_each(|r| moved(&mut r.addr)),
            Service::Order(id) => c
                .replicas
                .iter_mut()
                .filter(|r| r.id == id)
                .for_each(|r| moved(&mut r.addr)),
            Service::SecondFrontend => {}
        })?;
        if service == Service::SecondFrontend {
            if let Some(addr) = &mut self.spec.second_frontend {
                addr.set_ip(ip.into());
            }
        }
        Ok(ip)
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

    /// Whether a second front-end is part of the store.
    pub fn has_second_frontend(&self) -> bool {
        self.spec.second_frontend.is_some()
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
                Service::Catalog(_) => 2,
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
