//! Hostile input against a running store (every service its own process, as `tools up` runs
//! them): the generators of the in-process fuzz test (`frontend/tests/hostile`) fire at the
//! front-end, the catalog and the leading replica over real sockets, with the store's own
//! cluster token where a request carries one, and raw garbage goes on each socket. Every
//! answer is a 4xx JSON error (or a read that found something); afterwards no process has
//! died, every toy has its full stock, no replica holds an order and the store still sells.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../frontend/tests/hostile/mod.rs"]
mod hostile;

use hostile::{catalog_request, draw, fire, frontend_request, garbage_on, replica_request};
use std::time::Duration;
use toystore_catalog::toys::TOYS;
use toystore_harness::Service;
use toystore_tests::{start_with, READY};

/// Requests per service (the in-process test sends 10,000 each; these cross processes).
const REQUESTS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_store_answers_hostile_requests_with_4xx_and_changes_nothing() {
    let mut store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    let ids: Vec<u32> = shop.replicas.iter().map(|(id, _)| *id).collect();
    let leader = store.cluster.wait_replica_leader(READY).await.unwrap();

    let http = shop.http.clone();
    let catalog = store.cluster.url(Service::Catalog);
    let replica = shop.replica(leader);
    fire(&http, &shop.base(), draw(frontend_request(), REQUESTS, 21)).await;
    fire(
        &http,
        &catalog,
        draw(catalog_request(&shop.token), REQUESTS, 23),
    )
    .await;
    fire(
        &http,
        &replica,
        draw(replica_request(&shop.token), REQUESTS, 29),
    )
    .await;
    garbage_on(&[&shop.base(), &catalog, &replica], 100, 31).await;

    let services = [Service::Catalog, Service::Frontend]
        .into_iter()
        .chain(ids.iter().map(|id| Service::Order(*id)));
    for service in services {
        assert!(store.cluster.is_running(service), "{service} died");
    }
    for (name, _) in TOYS {
        assert_eq!(shop.quantity(name).await.unwrap(), 100, "{name}");
    }
    for id in &ids {
        let h = shop.health(*id).await.expect("the replica answers");
        assert_eq!(h["last_seq"], 0, "replica {id} holds an order: {h}");
    }
    // And it still sells.
    let (number, _) = shop
        .buy_until_placed("after-fuzz", "Tux", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(number, 0);
}
