//! A store whose services know each other by name only, on hosts of their own (network
//! namespaces with their own hosts files), with a replica that moves to a new address
//! under its name mid-run: shared by `names.rs` (plaintext) and `names_tls.rs` (TLS on).
//! One binary each, since a process speaks TLS or not (`toystore_http::tls`).

use super::tools;
use std::collections::BTreeMap;
use std::time::Duration;
use toystore_frontend::client::FrontendClient;
use toystore_harness::buyer::{Bought, Buyer, Retry};
use toystore_harness::netns::Hosts;
use toystore_harness::{Cluster, ClusterSpec, Service};

/// How long the store may take to start, elect, or converge.
pub const READY: Duration = Duration::from_secs(60);
const TOYS: [&str; 4] = ["Tux", "Whale", "Elephant", "Bird"];

/// A started named store and what it was started from.
pub struct Named {
    /// The store (its `config` holds the hosts' addresses, the services' file names).
    pub cluster: Cluster,
    /// Its data directory.
    pub dir: tempfile::TempDir,
}

/// Starts a store of `catalogs` catalog replicas on hosts of their own, named; with `tls`,
/// a CA and a certificate per service (valid for its name and every address of the run, so
/// that it stays valid when the service moves) turn TLS on everywhere.
pub async fn start(catalogs: u32, tls: bool) -> Named {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::on_free_ports_with_catalogs(
        super::tools_bin(),
        Vec::new(),
        dir.path(),
        catalogs,
    )
    .unwrap();
    spec.config.catalog.stock = 10_000;
    spec.place_on_hosts(false)
        .expect("separate hosts need root, iproute2 and nftables");
    spec.names = true;
    if tls {
        let hosts = spec.hosts.clone().unwrap();
        let ips: Vec<String> = hosts.slot_ips().iter().map(|ip| ip.to_string()).collect();
        let specs: Vec<toystore_tools::certs::HostSpec> = hosts
            .services()
            .into_iter()
            .map(|s| toystore_tools::certs::HostSpec {
                host: Hosts::name(s),
                alternatives: ips.clone(),
            })
            .collect();
        let made = toystore_tools::certs::make(&dir.path().join("tls"), &specs).unwrap();
        spec.config.tls = Some(made.tls_config());
    }
    let file = spec.service_config().unwrap();
    assert!(
        file.replicas.iter().all(|r| r.addr.is_name())
            && file.catalogs.iter().all(|c| c.addr.is_name())
            && file.frontend.addr.is_name(),
        "the services' cluster file must hold names only: {}",
        file.to_toml()
    );
    let cluster = Cluster::start(spec, READY).await.unwrap();
    Named { cluster, dir }
}

/// Buys `n` orders under keys `<tag>-<i>` through the front-end, each retried under its key
/// until placed; returns key → (order number, toy, units).
pub async fn buy(
    frontend: &FrontendClient,
    tag: &str,
    n: usize,
) -> BTreeMap<String, (u64, String, u32)> {
    let buyer = Buyer::new(
        frontend.clone(),
        Retry::within(READY, Duration::from_millis(50)),
    );
    let mut placed = BTreeMap::new();
    for i in 0..n {
        let key = format!("{tag}-{i}");
        let toy = TOYS[i % TOYS.len()];
        let units = 1 + (i % 2) as u32;
        match buyer.buy(&key, toy, units).await.bought {
            Bought::Placed(number) => {
                placed.insert(key, (number, toy.to_owned(), units));
            }
            other => panic!("{key} was not placed: {other:?}"),
        }
    }
    placed
}

/// The whole scenario: orders before, while the order leader is away and being moved to a
/// new address under its name, and after it is back; then it must have caught up, every
/// order must be readable as bought, and the replicas' files must be equal.
pub async fn move_the_leader(named: Named) {
    let Named { mut cluster, dir } = named;
    let frontend = cluster.frontend().clone();
    let mut acked = buy(&frontend, "before", 10).await;
    let leader = cluster.wait_leader(READY).await.unwrap();
    let old = cluster
        .hosts()
        .unwrap()
        .host(Service::Order(leader))
        .unwrap()
        .ip;
    cluster.kill(Service::Order(leader)).await.unwrap();
    let new = cluster.readdress(Service::Order(leader)).unwrap();
    assert_ne!(old, new);
    // The services' file still names it, nothing else: they must find it by its name.
    let file = toystore_config::ClusterConfig::load(cluster.config_path()).unwrap();
    let moved = file.replica(leader).unwrap();
    assert!(moved.addr.is_name(), "{}", file.to_toml());
    eprintln!("replica {leader} moves from {old} to {new} under its name");
    acked.extend(buy(&frontend, "away", 10).await);
    cluster.spawn(Service::Order(leader)).unwrap();
    cluster
        .wait_healthy(Service::Order(leader), READY)
        .await
        .unwrap();
    acked.extend(buy(&frontend, "after", 10).await);
    // The moved replica catches up through its peers, which find it by name.
    cluster.converge(READY).await.unwrap();
    for (key, (number, toy, units)) in &acked {
        let order = frontend.order(*number).await.unwrap();
        assert_eq!(
            (order.name.as_str(), order.quantity.get()),
            (toy.as_str(), *units),
            "order {number} ({key})"
        );
    }
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    assert!(unclean.is_empty(), "did not stop cleanly: {unclean:?}");
    let files: Vec<String> = (1..=3)
        .map(|id| {
            dir.path()
                .join(format!("order-{id}.redb"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["diff".to_owned()];
    args.extend(files);
    tools(&args).expect_code(0);
}
