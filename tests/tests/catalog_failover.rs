//! The catalog on Raft (three catalog replicas) loses nothing when its leader dies or
//! stalls under load: clients buy through the front-end while the catalog leader is
//! killed with SIGKILL (and later restarted), and then the next catalog leader is paused
//! (SIGSTOP) and resumed. Buys resume on a new catalog leader; every purchase a client saw
//! succeed is an order, readable and identical; order numbers are unique and gap-free;
//! every request id was bought once in the catalog (one `Purchased` each, none without an
//! order); stock accounting is exact on every catalog replica (initial + restocked − sold
//! = current); and the three catalog files end equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use toystore_events::CatalogEvent;
use toystore_harness::Service;
use toystore_tests::{buying_clients, start_catalogs, wait_placed, Election, READY};

const TOYS: [&str; 4] = ["Tux", "Whale", "Uno", "Jenga"];
const CLIENTS: usize = 4;
const PER_CLIENT: usize = 30;
const STOCK: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_and_pausing_the_catalog_leader_while_buying_loses_nothing() {
    let mut store = start_catalogs(
        env!("CARGO_BIN_EXE_toystore-node"),
        3,
        Election::Raft,
        |_| {},
    )
    .await
    .unwrap();
    let placed = Arc::new(AtomicU64::new(0));
    let clients = buying_clients(&store.shop, CLIENTS, PER_CLIENT, &TOYS, &placed);

    let total = (CLIENTS * PER_CLIENT) as u64;
    wait_placed(&placed, total / 4).await;
    let leader = store.cluster.wait_catalog_leader(READY).await.unwrap();
    store.cluster.kill(Service::Catalog(leader)).await.unwrap();
    wait_placed(&placed, total / 2).await;
    let next = store.cluster.wait_catalog_leader(READY).await.unwrap();
    assert_ne!(next, leader, "a killed catalog replica cannot lead");
    store
        .cluster
        .restart(Service::Catalog(leader), READY)
        .await
        .unwrap();
    store.cluster.pause(Service::Catalog(next)).unwrap();
    let at = placed.load(Ordering::SeqCst);
    wait_placed(&placed, (at + 10).min(total)).await;
    store.cluster.resume(Service::Catalog(next)).unwrap();

    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    let mut numbers: Vec<u64> = all.iter().map(|p| p.number).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..total).collect::<Vec<_>>(), "unique, gap-free");
    for p in &all {
        let got = store.shop.order(p.number).await.unwrap();
        assert_eq!(
            (got.name.as_str(), got.quantity.get()),
            (p.name, p.quantity),
            "order {} ({}) altered",
            p.number,
            p.key
        );
    }

    store.cluster.converge(READY).await.unwrap();
    store.shop.wait_converged(total, READY).await.unwrap();
    let ended = store.stop_with_equal_catalogs().await.unwrap();
    assert_eq!(ended.catalogs.len(), 3, "every catalog replica is checked");
    for catalog in &ended.catalogs {
        let mut bought = BTreeSet::new();
        let mut stock: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for event in &catalog.events {
            match event {
                CatalogEvent::ProductAdded { name, quantity, .. } => {
                    assert_eq!(u64::from(*quantity), STOCK);
                    stock.insert(name.as_str().to_owned(), (STOCK, 0, 0));
                }
                CatalogEvent::Purchased {
                    request_id,
                    name,
                    quantity,
                } => {
                    assert!(
                        bought.insert(request_id.as_str().to_owned()),
                        "{}: request id {request_id} bought twice",
                        catalog.name
                    );
                    stock.get_mut(name.as_str()).unwrap().2 += u64::from(quantity.get());
                }
                CatalogEvent::Restocked { name, added } => {
                    stock.get_mut(name.as_str()).unwrap().1 += u64::from(*added);
                }
            }
        }
        assert_eq!(
            bought, ended.ordered,
            "every purchase has exactly one order"
        );
        for toy in TOYS {
            assert!(
                stock.contains_key(toy),
                "{}: {toy} not accounted",
                catalog.name
            );
        }
        for (name, (initial, restocked, sold)) in &stock {
            let sold_in_orders: u64 = all
                .iter()
                .filter(|p| p.name == name)
                .map(|p| u64::from(p.quantity))
                .sum();
            assert_eq!(
                *sold, sold_in_orders,
                "{name}: sold in the catalog vs ordered"
            );
            assert!(initial + restocked >= *sold, "{name}: oversold");
            assert_eq!(
                catalog.stock.get(name).copied(),
                Some(initial + restocked - sold),
                "{}: {name}: initial + restocked - sold = current",
                catalog.name
            );
        }
    }
}
