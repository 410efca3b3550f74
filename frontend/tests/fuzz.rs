//! Hostile input, generated: 10,000 requests each to the front-end, the catalog and an order
//! replica,
//! drawn by proptest strategies (a fixed seed, so a failure is reproducible) from families
//! of bad input: malformed JSON, wrong types, out-of-range and float quantities, missing and
//! unknown fields, deep nesting, bodies over the limit, bad content types and idempotency
//! keys, names with control characters, percent signs and non-ASCII, numbers that are not
//! numbers, unknown paths, wrong methods, missing or wrong tokens, Raft messages that do not
//! decode; and raw garbage written on each service's socket.
//!
//! Every answer must be a 4xx with the JSON error shape whose code is the status (a read
//! that finds something, such as a real toy or the list at `/products/`, may answer 200);
//! afterwards every toy still has its full stock, the replica holds no order and every
//! service still answers. Raw garbage on the socket gets a 4xx or a closed connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod hostile;

use common::{token, TestCatalog, TestFrontend};
use hostile::{catalog_request, draw, fire, frontend_request, garbage_on, replica_request};
use serde_json::Value;
use toystore_catalog::toys::TOYS;

/// Requests per service.
const REQUESTS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_hostile_requests_get_4xx_json_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = TestCatalog::start(&dir.path().join("catalog.redb")).await;
    let frontend = TestFrontend::start(&catalog.url, Some(8)).await;
    let (replica, stop_replica) = common::start_replica(dir.path(), &catalog.url).await;

    let http = common::http();
    let token = token();
    fire(&http, &frontend.url, draw(frontend_request(), REQUESTS, 7)).await;
    let catalog_requests = draw(catalog_request(token.expose()), REQUESTS, 11);
    fire(&http, &catalog.url, catalog_requests).await;
    let replica_requests = draw(replica_request(token.expose()), REQUESTS, 13);
    fire(&http, &replica, replica_requests).await;

    garbage_on(&[&frontend.url, &catalog.url, &replica], 300, 17).await;

    for (name, _) in TOYS {
        assert_eq!(frontend.quantity(name).await, 100, "{name}");
    }
    let health: Value = reqwest::get(format!("{replica}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["data"]["last_seq"], 0, "{health}");
    let _ = stop_replica.send(());
    frontend.stop().await.unwrap();
}
