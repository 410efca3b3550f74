//! A full disk (issue 26), under both election policies: each order replica's and catalog
//! replica's file lives on a small tmpfs of its own (`toystore_harness::disks`), so filling
//! one touches nothing else. Needs root (`mount`).
//!
//! Under load: the order leader's disk is filled past its reserve: it says so in `/health`
//! (`storage`, not ready), takes no writes, steps down, and another replica leads and sells.
//! Then the catalog's disks fill: purchases are refused (503) while product queries are
//! answered. Both freed: the store sells again, by itself. Nothing acknowledged is lost and
//! the order replicas' files end equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use toystore_harness::Service;
use toystore_order_api::Role;
use toystore_tests::{start_in, Election, READY};

/// Size of each replica's filesystem.
const DISK: u64 = 32 << 20;
/// Free bytes a replica keeps.
const RESERVE: u64 = 8 << 20;
const TOYS: [&str; 4] = ["Tux", "Whale", "Elephant", "Bird"];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_a_full_disk_refuses_writes_then_sells_again_once_freed() {
    scenario(Election::Raft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_a_full_disk_refuses_writes_then_sells_again_once_freed() {
    scenario(Election::Frontend).await;
}

async fn scenario(election: Election) {
    let mut store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |spec| {
        spec.config.order.disk_reserve = RESERVE;
        spec.disks = Some(DISK);
    })
    .await
    .unwrap();
    let disk = |service: Service| store.cluster.disk(service).unwrap();
    let shop = store.shop.clone();

    // Buyers that run until told to stop, recording each acknowledged order.
    let acked: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let stop_buying = Arc::new(AtomicBool::new(false));
    let mut buyers = Vec::new();
    for (b, toy) in TOYS.iter().enumerate() {
        let (shop, acked, count, stop) = (
            shop.clone(),
            acked.clone(),
            count.clone(),
            stop_buying.clone(),
        );
        buyers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                match shop.buy(&format!("disk-{b}-{i}"), toy, 1).await {
                    Ok(n) => {
                        acked.lock().unwrap().insert(n, toy.to_string());
                        count.fetch_add(1, Ordering::SeqCst);
                        i += 1;
                    }
                    // Refused (503) or sold out: try again under the same key.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }));
    }
    let wait_count = |n: u64| {
        let count = count.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while count.load(Ordering::SeqCst) < n {
                assert!(
                    Instant::now() < deadline,
                    "fewer than {n} orders in a minute"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_count(30).await;

    // The order leader's disk fills: it says so, takes no writes and gives up the lead;
    // another replica leads and the store sells on.
    let leader = store.cluster.wait_leader(READY).await.unwrap();
    disk(Service::Order(leader))
        .fill_until(RESERVE / 2)
        .unwrap();
    let ids = store.cluster.replica_ids();
    let said = shop
        .wait_health(&ids, READY, |said| {
            let full = said.iter().flatten().find(|s| s.id == leader);
            let other_leads = said
                .iter()
                .flatten()
                .any(|s| s.id != leader && s.role == Role::Leader);
            full.is_some_and(|s| s.storage.is_some()) && other_leads
        })
        .await
        .unwrap();
    let full = said.iter().flatten().find(|s| s.id == leader).unwrap();
    assert!(
        full.storage
            .as_deref()
            .unwrap()
            .contains("insufficient disk space"),
        "{full:?}"
    );
    assert!(!full.ready, "{full:?}");
    // Its readiness probe says so (a load balancer takes it out), a peer's does not.
    let probe = |id: u32| {
        let url = format!("{}/ready", shop.replica(id));
        let http = shop.http.clone();
        async move {
            let resp = http.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, body) = probe(leader).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("insufficient disk space"), "{body}");
    let peer = ids.iter().copied().find(|id| *id != leader).unwrap();
    let (status, body) = probe(peer).await;
    assert_eq!(status, 200, "{body}");
    let scrape = shop.scrape(&shop.replica(leader)).await.unwrap();
    assert_eq!(
        toystore_tests::metric_value(&scrape, "toystore_disk_low", &[]),
        1.0
    );
    let now = count.load(Ordering::SeqCst);
    wait_count(now + 20).await;

    // The catalogs' disks fill: purchases are refused, product queries answered.
    let catalogs = store.cluster.catalog_ids();
    for id in &catalogs {
        disk(Service::Catalog(*id)).fill_until(RESERVE / 2).unwrap();
    }
    let catalog = store.cluster.catalog().unwrap();
    for id in &catalogs {
        let deadline = Instant::now() + READY;
        loop {
            let said = catalog.health_of(Some(*id)).await.unwrap();
            if said.storage.is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "catalog {id}: {said:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let refused = shop.buy("refused-while-full", "Tux", 1).await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(shop.quantity("Tux").await.is_ok());
    // A purchase whose catalog step committed just before may still be acknowledged (the
    // order step is the order leader's, whose disk is fine): let those finish, then none
    // may be acknowledged while the catalog's disk is full.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled = count.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        count.load(Ordering::SeqCst),
        stalled,
        "orders were acknowledged while the catalog's disk was full"
    );

    // Both freed: the store sells again by itself.
    for id in &catalogs {
        disk(Service::Catalog(*id)).free().unwrap();
    }
    disk(Service::Order(leader)).free().unwrap();
    let freed = Instant::now();
    wait_count(stalled + 1).await;
    eprintln!(
        "first sale {:?} after the disks were freed",
        freed.elapsed()
    );
    wait_count(stalled + 30).await;
    stop_buying.store(true, Ordering::SeqCst);
    for buyer in buyers {
        buyer.await.unwrap();
    }
    let said = shop.health(leader).await.unwrap();
    assert_eq!(said.storage, None, "{said:?}");
    let (status, body) = probe(leader).await;
    assert_eq!(status, 200, "{body}");

    // Nothing acknowledged is lost; the replicas' files end equal.
    let acked = acked.lock().unwrap().clone();
    let last = *acked.keys().max().unwrap();
    shop.wait_converged(last + 1, Duration::from_secs(60))
        .await
        .unwrap();
    for (n, toy) in &acked {
        let record = shop.order(*n).await.unwrap();
        assert_eq!(record.name.to_string(), *toy, "order {n}");
    }
    // The disks outlive the processes, so that their files can be read.
    let disks = store.cluster.take_disks();
    let logs = store.stop_and_read_logs().await.unwrap();
    drop(disks);
    assert_eq!(logs[0], logs[1], "replicas' files differ");
    assert_eq!(logs[0], logs[2], "replicas' files differ");
}
