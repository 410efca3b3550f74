//! Hostile input against a running store (every service its own process, as `tools up` runs
//! them), generated: proptest strategies drawn with a fixed seed (a failure is
//! reproducible; `toystore_tests::hostile`) from families of bad input: malformed JSON,
//! wrong types, out-of-range and float quantities, missing and unknown fields, deep
//! nesting, bodies over the limit, bad content types and idempotency keys, names with
//! control characters, percent signs and non-ASCII, numbers that are not numbers, unknown
//! paths, wrong methods, missing or wrong tokens, Raft messages that do not decode. They
//! fire at the front-end, the catalog and the leading replica over real sockets, with the
//! store's own cluster token where a request carries one, and raw garbage goes on each
//! socket.
//!
//! Every answer must be a 4xx with the JSON error shape whose code is the status (a read
//! that finds something, such as a real toy or the list at `/products/`, may answer 200);
//! raw garbage gets a 4xx or a closed connection. Afterwards no process has died, every toy
//! has its full stock, no replica holds an order, the store still sells (one order) and
//! every service stops cleanly.
//!
//! Two stores: the usual one (three replicas) with 2,000 requests per service, and one
//! replica behind a front-end whose cache holds 8 toys with 10,000 per service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use toystore_catalog::toys::TOYS;
use toystore_harness::{ClusterSpec, Service};
use toystore_tests::hostile::{
    catalog_request, draw, fire, frontend_request, garbage_on, replica_request,
};
use toystore_tests::{start_with, READY};

/// How many requests, and the seeds they are drawn with.
struct Run {
    /// Requests per service.
    requests: usize,
    /// Seeds of the front-end's, the catalog's and the replica's requests.
    seeds: [u8; 3],
    /// Garbage byte strings on each socket, and their seed.
    garbage: (usize, u8),
}

async fn scenario(tweak: impl FnOnce(&mut ClusterSpec), run: Run) {
    let mut store = start_with(env!("CARGO_BIN_EXE_toystore-node"), tweak)
        .await
        .unwrap();
    let shop = store.shop.clone();
    let ids = shop.replica_ids();
    let leader = store.cluster.wait_replica_leader(READY).await.unwrap();

    let http = shop.http.clone();
    // The catalog's leader: a follower answers a valid product query 421, not 200.
    let catalog_leader = store.cluster.wait_catalog_leader(READY).await.unwrap();
    let catalog = store.cluster.url(Service::Catalog(catalog_leader));
    let replica = shop.replica(leader);
    let [fe_seed, catalog_seed, replica_seed] = run.seeds;
    let requests = draw(frontend_request(), run.requests, fe_seed);
    fire(&http, &shop.base(), requests).await;
    let requests = draw(catalog_request(&shop.token), run.requests, catalog_seed);
    fire(&http, &catalog, requests).await;
    let requests = draw(replica_request(&shop.token), run.requests, replica_seed);
    fire(&http, &replica, requests).await;
    let (garbage, garbage_seed) = run.garbage;
    garbage_on(&[&shop.base(), &catalog, &replica], garbage, garbage_seed).await;

    let catalogs = store.cluster.catalog_ids();
    let services = [Service::Frontend]
        .into_iter()
        .chain(catalogs.iter().map(|id| Service::Catalog(*id)))
        .chain(ids.iter().map(|id| Service::Order(*id)));
    for service in services {
        assert!(store.cluster.is_running(service), "{service} died");
    }
    for (name, _) in TOYS {
        assert_eq!(shop.quantity(name).await.unwrap(), 100, "{name}");
    }
    for id in &ids {
        let h = shop.health(*id).await.expect("the replica answers");
        assert_eq!(h.last_seq.0, 0, "replica {id} holds an order: {h:?}");
    }
    // And it still sells.
    let (number, _) = shop
        .buy_until_placed("after-fuzz", "Tux", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(number, 0);
    shop.wait_converged(1, READY).await.unwrap();
    let logs = store.stop_and_read_logs().await.unwrap();
    for (id, log) in ids.iter().zip(&logs) {
        assert_eq!(log.len(), 1, "replica {id} holds more than the one order");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_running_store_answers_hostile_requests_with_4xx_and_changes_nothing() {
    let run = Run {
        requests: 2_000,
        seeds: [21, 23, 29],
        garbage: (100, 31),
    };
    scenario(|_| {}, run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_hostile_requests_each_to_one_replica_and_a_small_cache_change_nothing() {
    let run = Run {
        requests: 10_000,
        seeds: [7, 11, 13],
        garbage: (300, 17),
    };
    scenario(
        |spec| {
            // A cluster of one, and a cache that hostile names keep evicting.
            spec.config.replicas.truncate(1);
            spec.config.frontend.cache_capacity = 8;
        },
        run,
    )
    .await;
}
