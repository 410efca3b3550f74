//! [`ClusterSpec`]: how to start a store (program, cluster file, environment, logs, hosts),
//! and [`free_ports`], the loopback ports a store on one machine listens on.

use crate::logs::Logs;
use crate::netns::Hosts;
use crate::service::Service;
use anyhow::Context;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toystore_config::{ClusterConfig, ReplicaConfig, ServiceAddr};

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
    /// With `hosts`: the services know each other by name only. The cluster file they read
    /// gives every address as `<host>.toystore:<port>` ([`Hosts::name`]), resolved through
    /// each namespace's hosts file; `config` keeps the addresses (the harness's own view,
    /// from outside every namespace).
    pub names: bool,
    /// Each replica's file on a filesystem of its own of this many bytes
    /// ([`crate::disks::Disks`], root), if set.
    pub disks: Option<u64>,
}

impl ClusterSpec {
    /// The cluster file the services read: `config`, or with [`ClusterSpec::names`], `config`
    /// with every address on a host given by the host's name.
    pub fn service_config(&self) -> anyhow::Result<ClusterConfig> {
        let mut config = self.config.clone();
        let Some(_) = self.hosts.as_ref().filter(|_| self.names) else {
            return Ok(config);
        };
        let named = |service: Service, port: u16| -> anyhow::Result<ServiceAddr> {
            let text = format!("{}:{port}", Hosts::name(service));
            text.parse()
                .with_context(|| format!("{service}'s name {text:?}"))
        };
        config.frontend.addr = named(Service::Frontend, config.frontend.addr.port())?;
        for c in &mut config.catalogs {
            c.addr = named(Service::Catalog(c.id), c.addr.port())?;
        }
        for r in &mut config.replicas {
            r.addr = named(Service::Order(r.id), r.addr.port())?;
        }
        Ok(config)
    }
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
    /// A store on free loopback ports with data in `data_dir`, a random token, one
    /// catalog, three order replicas, and logs in `<data_dir>/logs`.
    pub fn on_free_ports(
        program: PathBuf,
        prefix: Vec<String>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::on_free_ports_with_catalogs(program, prefix, data_dir, 1)
    }

    /// [`ClusterSpec::on_free_ports`] with `catalogs` catalog replicas (ids 1 to
    /// `catalogs`), each on a free port of its own.
    pub fn on_free_ports_with_catalogs(
        program: PathBuf,
        prefix: Vec<String>,
        data_dir: &Path,
        catalogs: u32,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(catalogs >= 1, "a store needs at least one catalog replica");
        let catalog_count = usize::try_from(catalogs)?;
        // The front-end's port, the catalogs', then the order replicas'.
        let ports = free_ports(1 + catalog_count + 3)?;
        let addr = ServiceAddr::loopback;
        let mut config = ClusterConfig {
            token: toystore_config::token::generate(),
            data_dir: data_dir.to_path_buf(),
            ..ClusterConfig::default()
        };
        config.frontend.addr = addr(ports[0]);
        config.catalogs = (1..=catalogs)
            .zip(&ports[1..=catalog_count])
            .map(|(id, port)| ReplicaConfig {
                id,
                addr: addr(*port),
            })
            .collect();
        config.replicas = (1..=3)
            .zip(&ports[1 + catalog_count..])
            .map(|(id, port)| ReplicaConfig {
                id,
                addr: addr(*port),
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
            names: false,
            disks: None,
        })
    }

    /// Moves every service onto a host of its own (see [`Hosts`]): each listens on its
    /// host's address with the port it had (every catalog replica and every order replica
    /// on a host of its own), and with `second_frontend` a second front-end (port of the
    /// first) joins the store on a host of its own.
    pub fn place_on_hosts(&mut self, second_frontend: bool) -> anyhow::Result<()> {
        let mut services = vec![Service::Frontend];
        services.extend(self.config.catalogs.iter().map(|c| Service::Catalog(c.id)));
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
        let at_addr = |service: Service, port: u16| at(service, port).map(ServiceAddr::from);
        let c = &mut self.config;
        c.frontend.addr = at_addr(Service::Frontend, c.frontend.addr.port())?;
        for catalog in &mut c.catalogs {
            catalog.addr = at_addr(Service::Catalog(catalog.id), catalog.addr.port())?;
        }
        for r in &mut c.replicas {
            r.addr = at_addr(Service::Order(r.id), r.addr.port())?;
        }
        self.second_frontend = match second_frontend {
            true => Some(at(Service::SecondFrontend, c.frontend.addr.port())?),
            false => None,
        };
        self.hosts = Some(Arc::new(hosts));
        Ok(())
    }
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
    fn a_spec_has_one_catalog_unless_asked_for_more_each_on_its_own_port() {
        let dir = tempfile::tempdir().unwrap();
        let one = ClusterSpec::on_free_ports(PathBuf::new(), Vec::new(), dir.path()).unwrap();
        assert_eq!(one.config.catalogs.len(), 1);
        assert_eq!(one.config.catalogs[0].id, 1);
        one.config.validate().unwrap();
        let three =
            ClusterSpec::on_free_ports_with_catalogs(PathBuf::new(), Vec::new(), dir.path(), 3)
                .unwrap();
        let ids: Vec<u32> = three.config.catalogs.iter().map(|c| c.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(three.config.replicas.len(), 3);
        // Validation refuses any address shared between services.
        three.config.validate().unwrap();
        assert!(ClusterSpec::on_free_ports_with_catalogs(
            PathBuf::new(),
            Vec::new(),
            dir.path(),
            0
        )
        .is_err());
    }
}
