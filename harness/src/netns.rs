//! [`Hosts`]: every service of a store on a host of its own — a Linux network namespace
//! joined to a private bridge by a veth pair — and network partitions between them.
//!
//! Layout of one run (a *slot* `k` of 16, so that several runs, e.g. parallel tests, can
//! coexist; each takes the /28 `10.77.0.16k/28` of 10.77.0.0/24):
//!
//! - namespace `toystore<k>-hub` holds the bridge `br0`; every other link of the run is a
//!   veth whose one end is a port of that bridge;
//! - namespace `toystore<k>-<service>` (`fe`, `fe2`, `cat1`, `cat2`, …, `o1`, `o2`, …)
//!   holds `eth0` with the service's address and nothing else (no route out of
//!   10.77.0.16k/28); a /28 has room for order replicas 1 to 5 and catalog replicas 1 to 6;
//! - the caller's namespace holds `ts<k>host` with `10.77.0.16k+1`, so the tool (the
//!   nemesis, the clients) reaches every service; no other address is configured anywhere.
//!
//! Guarantees: everything is removed when the [`Hosts`] is dropped (deleting the hub
//! namespace destroys the bridge and the host's veth with it), and a run that crashed
//! before it could remove its namespaces is cleaned up by the next run: a slot is owned
//! through an exclusive `flock` on `/run/toystore-netns/<k>.lock`, which the kernel releases
//! when its owner dies, and [`Hosts::create`] deletes the namespaces of every slot it can
//! lock before taking one.
//!
//! Partitions are nftables rules inside the services' namespaces: table `inet toystore`
//! drops every packet to or from the addresses in its set `cut` (both directions, existing
//! connections included, as a pulled cable would). [`Hosts::cut`] adds addresses to the
//! sets of both sides; [`Hosts::heal`] empties every set. The tool's own address is never
//! cut: it observes and drives the store from outside the partition.
//!
//! Names ([`Hosts::write_names`]): each service's host is also `<host>.toystore` (`o1.toystore`,
//! `cat2.toystore`, `fe.toystore`), written into `/etc/netns/<namespace>/hosts` of every
//! namespace of the run, which `ip netns exec` mounts over `/etc/hosts` for the processes it
//! starts; a service moved to a new address ([`Hosts::readdress`]) keeps its name, and the
//! files are rewritten in place (the mounts see the same file), so the next lookup of the
//! name finds the new address. The files go with the namespaces.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and the `ip` (iproute2) and `nft`
//! (nftables) programs.

use crate::service::Service;
use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// How many runs can have hosts at once (16 × /28 = 10.77.0.0/24).
const SLOTS: u8 = 16;
/// Where slot locks live.
const LOCK_DIR: &str = "/run/toystore-netns";
/// Where `ip netns` keeps named namespaces.
const NETNS_DIR: &str = "/run/netns";
/// The nftables table and set of a partition.
const TABLE: &str = "toystore";
/// Where `ip netns exec` finds a namespace's own `/etc` files.
const ETC_NETNS: &str = "/etc/netns";
/// The domain of the services' names.
pub const DOMAIN: &str = "toystore";

/// One service's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The network namespace it runs in.
    pub namespace: String,
    /// Its address.
    pub ip: Ipv4Addr,
}

/// The hosts of one run; removed when dropped.
#[derive(Debug)]
pub struct Hosts {
    slot: u8,
    /// Behind a lock: a service may move to a new address ([`Hosts::readdress`]).
    hosts: Mutex<BTreeMap<Service, Host>>,
    /// Whether the namespaces have hosts files ([`Hosts::write_names`]).
    named: std::sync::atomic::AtomicBool,
    /// Namespaces whose nftables table exists.
    tables: Mutex<BTreeSet<String>>,
    /// Held for the life of the run (released by the kernel if the process dies).
    _lock: Flock<File>,
}

impl Hosts {
    /// Creates a host for each of `services` in a free slot, after deleting whatever stale
    /// namespaces of earlier runs it finds in unowned slots.
    pub fn create(services: &[Service]) -> anyhow::Result<Self> {
        if !nix::unistd::geteuid().is_root() {
            bail!("separate hosts (--netns) need root: network namespaces, veths and nftables");
        }
        require("ip", &["-V"])?;
        std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("creating {LOCK_DIR}"))?;
        let mut ours = None;
        for slot in 0..SLOTS {
            let Some(lock) = try_lock(slot)? else {
                continue; // another live run owns it
            };
            remove_slot(slot);
            if ours.is_none() {
                ours = Some((slot, lock));
            }
        }
        let Some((slot, lock)) = ours else {
            bail!("all {SLOTS} network slots are in use by other toystore runs");
        };
        let mut hosts = BTreeMap::new();
        for service in services {
            let ip = Ipv4Addr::new(10, 77, 0, slot * 16 + offset(*service)?);
            let namespace = format!("toystore{slot}-{}", host_name(*service));
            hosts.insert(*service, Host { namespace, ip });
        }
        let this = Self {
            slot,
            hosts: Mutex::new(hosts),
            named: std::sync::atomic::AtomicBool::new(false),
            tables: Mutex::new(BTreeSet::new()),
            _lock: lock,
        };
        // On an error, dropping `this` removes what was built.
        this.build()?;
        tracing::info!(slot, "separate hosts up");
        Ok(this)
    }

    fn hub(&self) -> String {
        format!("toystore{}-hub", self.slot)
    }

    /// The address of the tool itself on the bridge.
    pub fn own_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, self.slot * 16 + 1)
    }

    fn build(&self) -> anyhow::Result<()> {
        let hub = self.hub();
        let prefix = |ip: Ipv4Addr| format!("{ip}/28");
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        // The tool's end: created here, its peer moved into the hub.
        let own = format!("ts{}host", self.slot);
        ip(&[
            "link", "add", &own, "type", "veth", "peer", "name", "host", "netns", &hub,
        ])?;
        ip(&["-n", &hub, "link", "set", "host", "master", "br0", "up"])?;
        ip(&["addr", "add", &prefix(self.own_ip()), "dev", &own])?;
        ip(&["link", "set", &own, "up"])?;
        for (service, host) in &self.all() {
            let port = host_name(*service);
            ip(&["netns", "add", &host.namespace])?;
            ip(&[
                "-n",
                &hub,
                "link",
                "add",
                &port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &host.namespace,
            ])?;
            ip(&["-n", &hub, "link", "set", &port, "master", "br0", "up"])?;
            let ns = host.namespace.as_str();
            ip(&["-n", ns, "addr", "add", &prefix(host.ip), "dev", "eth0"])?;
            ip(&["-n", ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Every service's host.
    fn all(&self) -> BTreeMap<Service, Host> {
        // A panic while the lock was held changed nothing half-way (each change is one
        // assignment): the map is still right.
        self.hosts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The host of a service, if it has one.
    pub fn host(&self, service: Service) -> Option<Host> {
        self.all().remove(&service)
    }

    /// The services with hosts.
    pub fn services(&self) -> Vec<Service> {
        self.all().into_keys().collect()
    }

    /// A service's name: `<host>.toystore` (`o1.toystore`), which [`Hosts::write_names`]
    /// makes every namespace resolve to its address.
    pub fn name(service: Service) -> String {
        format!("{}.{DOMAIN}", host_name(service))
    }

    /// Every address a service of this run may have (the slot's /28 but the tool's own and
    /// the broadcast): what a certificate for a service that may move must name.
    pub fn slot_ips(&self) -> Vec<Ipv4Addr> {
        (2..15)
            .map(|o| Ipv4Addr::new(10, 77, 0, self.slot * 16 + o))
            .collect()
    }

    /// Writes (again) every namespace's hosts file: `localhost`, and each service's name at
    /// its address. A file is rewritten in place, never replaced, because running processes
    /// see it through a bind mount of that very file.
    pub fn write_names(&self) -> anyhow::Result<()> {
        use std::io::Write;
        let hosts = self.all();
        let mut text = String::from("127.0.0.1 localhost\n");
        for (service, host) in &hosts {
            text.push_str(&format!("{} {}\n", host.ip, Self::name(*service)));
        }
        for host in hosts.values() {
            let dir = Path::new(ETC_NETNS).join(&host.namespace);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join("hosts");
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            file.write_all(text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
        }
        self.named.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Moves a service's host to a new address of the slot, one no other service has (the
    /// service should be stopped: its connections die with the old address), and, if the
    /// namespaces have names, rewrites their hosts files. Returns the new address.
    pub fn readdress(&self, service: Service) -> anyhow::Result<Ipv4Addr> {
        let mut hosts = self.hosts.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let taken: BTreeSet<Ipv4Addr> = hosts.values().map(|h| h.ip).collect();
        let new = self
            .slot_ips()
            .into_iter()
            .find(|ip| !taken.contains(ip))
            .context("no free address left in the slot")?;
        let host = hosts
            .get_mut(&service)
            .with_context(|| format!("{service} has no host of its own"))?;
        let ns = host.namespace.clone();
        ip(&["-n", &ns, "addr", "flush", "dev", "eth0"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{new}/28"),
            "dev",
            "eth0",
        ])?;
        host.ip = new;
        drop(hosts);
        if self.named.load(std::sync::atomic::Ordering::SeqCst) {
            self.write_names()?;
        }
        Ok(new)
    }

    /// The command prefix that runs a program in a service's namespace
    /// (`ip netns exec <ns>`, which execs the program: same process id, so signals reach it).
    pub fn launcher(&self, service: Service) -> Option<Vec<String>> {
        self.host(service).map(|h| {
            ["ip", "netns", "exec", h.namespace.as_str()]
                .map(String::from)
                .to_vec()
        })
    }

    /// Cuts `a` off from each of `others`, both ways: packets between them are dropped.
    pub fn cut(&self, a: Service, others: &[Service]) -> anyhow::Result<()> {
        for b in others {
            if *b == a {
                continue;
            }
            let (ha, hb) = (self.known(a)?, self.known(*b)?);
            self.drop_from(&ha, hb.ip)?;
            self.drop_from(&hb, ha.ip)?;
        }
        Ok(())
    }

    /// Cuts `a` off from every other service (the tool still reaches it).
    pub fn isolate(&self, a: Service) -> anyhow::Result<()> {
        self.cut(a, &self.services())
    }

    /// Removes every cut.
    pub fn heal(&self) -> anyhow::Result<()> {
        let tables = self
            .tables
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        for ns in tables.iter() {
            nft(ns, &format!("flush set inet {TABLE} cut"))?;
        }
        Ok(())
    }

    fn known(&self, service: Service) -> anyhow::Result<Host> {
        self.host(service)
            .with_context(|| format!("{service} has no host of its own"))
    }

    /// In `host`'s namespace, drops packets to and from `ip`.
    fn drop_from(&self, host: &Host, ip: Ipv4Addr) -> anyhow::Result<()> {
        let mut tables = self
            .tables
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        if !tables.contains(&host.namespace) {
            require("nft", &["--version"])?;
            nft(
                &host.namespace,
                &format!(
                    "add table inet {TABLE}\n\
                     add set inet {TABLE} cut {{ type ipv4_addr; }}\n\
                     add chain inet {TABLE} input {{ type filter hook input priority 0; policy accept; }}\n\
                     add chain inet {TABLE} output {{ type filter hook output priority 0; policy accept; }}\n\
                     add rule inet {TABLE} input ip saddr @cut drop\n\
                     add rule inet {TABLE} output ip daddr @cut drop"
                ),
            )?;
            tables.insert(host.namespace.clone());
        }
        nft(
            &host.namespace,
            &format!("add element inet {TABLE} cut {{ {ip} }}"),
        )
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        remove_slot(self.slot);
    }
}

/// A slot of 10.77.0.0/24 held for a network that is not made of [`Hosts`] (a container
/// network): while it is held, no run of [`Hosts`] takes its addresses. Released when
/// dropped (or when its process dies).
#[derive(Debug)]
pub struct Reserved {
    slot: u8,
    _lock: Flock<File>,
}

impl Reserved {
    /// Takes a free slot, from the top of the range (runs of [`Hosts`] take from the
    /// bottom).
    pub fn take() -> anyhow::Result<Self> {
        std::fs::create_dir_all(LOCK_DIR).with_context(|| format!("creating {LOCK_DIR}"))?;
        for slot in (0..SLOTS).rev() {
            if let Some(lock) = try_lock(slot)? {
                remove_slot(slot);
                return Ok(Self { slot, _lock: lock });
            }
        }
        bail!("all {SLOTS} network slots are in use by other toystore runs")
    }

    /// The slot's subnet, e.g. `10.77.0.240/28`.
    pub fn subnet(&self) -> String {
        format!("10.77.0.{}/28", self.slot * 16)
    }

    /// The slot's number.
    pub fn slot(&self) -> u8 {
        self.slot
    }
}

/// Takes slot `slot`'s lock if nobody holds it.
fn try_lock(slot: u8) -> anyhow::Result<Option<Flock<File>>> {
    let path = Path::new(LOCK_DIR).join(format!("{slot}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// Deletes every namespace of a slot (and so its veths and bridge), after killing whatever
/// still runs in it (the services of a run whose tool was killed). Best effort: what is not
/// there is fine.
fn remove_slot(slot: u8) {
    let prefix = format!("toystore{slot}-");
    let namespaces = std::fs::read_dir(NETNS_DIR).into_iter().flatten();
    for entry in namespaces.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) {
            kill_inside(&name);
            if let Err(e) = ip(&["netns", "delete", &name]) {
                tracing::warn!(namespace = %name, error = %e, "could not delete a namespace");
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(ETC_NETNS) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let own = format!("ts{slot}host");
    if Path::new("/sys/class/net").join(&own).exists() {
        let _ = ip(&["link", "delete", &own]);
    }
}

/// SIGKILLs every process in a namespace (`ip netns pids`).
fn kill_inside(namespace: &str) {
    let Ok(out) = Command::new("ip")
        .args(["netns", "pids", namespace])
        .output()
    else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            tracing::warn!(
                namespace,
                pid,
                "killing a process left in a stale namespace"
            );
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// The name of a service's host: its namespace's suffix and its port on the bridge.
fn host_name(service: Service) -> String {
    match service {
        Service::Frontend => "fe".into(),
        Service::SecondFrontend => "fe2".into(),
        Service::Catalog(id) => format!("cat{id}"),
        Service::Order(id) => format!("o{id}"),
    }
}

/// A service's host number within its slot's /28 (1 is the tool, 15 the broadcast):
/// front-end 2, catalog 1 at 3, order replicas 1–5 at 4–8, the second front-end 9, catalogs
/// 2–6 at 10–14.
fn offset(service: Service) -> anyhow::Result<u8> {
    Ok(match service {
        Service::Frontend => 2,
        Service::Catalog(1) => 3,
        Service::Catalog(id @ 2..=6) => 8 + id as u8,
        Service::Catalog(id) => bail!("separate hosts support catalog ids 1 to 6, not {id}"),
        Service::Order(id @ 1..=5) => 3 + id as u8,
        Service::Order(id) => bail!("separate hosts support replica ids 1 to 5, not {id}"),
        Service::SecondFrontend => 9,
    })
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    run(
        Command::new("ip").args(args),
        &format!("ip {}", args.join(" ")),
    )
}

fn nft(namespace: &str, script: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", namespace, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running nft (apt-get install nftables)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft in {namespace} failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn require(program: &str, probe: &[&str]) -> anyhow::Result<()> {
    let found = Command::new(program)
        .args(probe)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        bail!("{program} is needed for separate hosts (apt-get install iproute2 nftables)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_supported_service_has_its_own_address_and_name() {
        let mut services = vec![Service::Frontend, Service::SecondFrontend];
        services.extend((1..=6).map(Service::Catalog));
        services.extend((1..=5).map(Service::Order));
        let offsets: BTreeSet<u8> = services.iter().map(|s| offset(*s).unwrap()).collect();
        assert_eq!(offsets.len(), services.len(), "{offsets:?}");
        // Not the network (0), the tool (1) nor the broadcast (15) address.
        assert!(offsets.iter().all(|o| (2..=14).contains(o)), "{offsets:?}");
        let names: BTreeSet<String> = services.iter().map(|s| host_name(*s)).collect();
        assert_eq!(names.len(), services.len(), "{names:?}");
        assert!(offset(Service::Catalog(7)).is_err());
        assert!(offset(Service::Order(6)).is_err());
    }
}
