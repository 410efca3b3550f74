//! Shared helpers of the front-end's in-process integration tests: the workspace's test kit
//! (`toystore-testkit`: catalogs and front-ends in this process, started the same way as
//! in the catalog's tests and the query-latency bench), plus purchases straight at the
//! catalog and an order replica that leads a cluster of one.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub use toystore_testkit::frontend::*;
pub use toystore_testkit::*;

use serde_json::Value;
use toystore_catalog_api::CatalogClient;
use toystore_events::Seq;

/// Buys through the catalog (the way the order service will), returning the event's seq.
pub async fn buy(catalog: &CatalogClient, request_id: &str, name: &str, quantity: u32) -> Seq {
    let reply = catalog
        .buy(&buy_request(request_id, name, quantity))
        .await
        .expect("buy");
    assert!(!reply.replayed, "fresh request id");
    reply.seq
}

/// Starts one order replica (a cluster of one) on the catalog at `catalog_url` and has it
/// lead; returns its base URL.
pub async fn start_replica(
    dir: &std::path::Path,
    catalog_url: &str,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = toystore_order::server::ServerConfig {
        id: 1,
        db_path: dir.join("order-1.redb"),
        replicas: vec![(1, addr.into())],
        catalogs: vec![(1, catalog_url.to_string())],
        catalog_silence: toystore_config::CatalogConfig::default().stream_silence(),
        token: token(),
        raft: toystore_config::OrderConfig::default(),
        timeouts: Default::default(),
        watch: None,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(toystore_order::server::run(listener, config, async move {
        let _ = rx.await;
    }));
    let url = format!("http://{addr}");
    // It leads, so a request that got past validation would be placed (or refused with
    // 421 if it did not lead): the checks below can tell.
    let http = http();
    wait_until("the replica leads", || {
        let campaign = http
            .post(format!("{url}/internal/raft/campaign"))
            .bearer_auth(token().expose());
        let health = http.get(format!("{url}/health"));
        async move {
            let _ = campaign.send().await;
            let Ok(resp) = health.send().await else {
                return false;
            };
            resp.json::<Value>()
                .await
                .is_ok_and(|h| h["data"]["role"] == "leader")
        }
    })
    .await;
    (url, tx)
}
