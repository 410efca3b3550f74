//! Every internal endpoint of the catalog rejects a caller without the cluster token, or with
//! a wrong one, with `401` and the JSON error, and such a request changes nothing; `/health`
//! needs no token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_endpoints_refuse_missing_and_wrong_tokens() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let before = client.products().await.expect("list");
    let http = http();
    let base = &catalog.url;
    let unauthorized = error_body(401, "missing or invalid cluster token");
    let wrong_tokens: [Option<String>; 6] = [
        None,
        Some("Bearer wrong".into()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(TOKEN.to_string()),
        Some(format!("Basic {TOKEN}")),
    ];
    // Sold out so that an unauthenticated restock would have something to do.
    client
        .buy(&toystore_events::Purchase {
            request_id: "sell-out".try_into().unwrap(),
            name: "Sand".try_into().unwrap(),
            quantity: 100u32.try_into().unwrap(),
        })
        .await
        .expect("buy");
    let seq = client.health().await.expect("health").last_seq;

    for auth in &wrong_tokens {
        let requests = [
            http.get(format!("{base}/internal/products")),
            http.get(format!("{base}/internal/products/Tux")),
            http.get(format!("{base}/internal/products/Nope")),
            http.post(format!("{base}/internal/buy"))
                .json(&json!({"request_id": "thief", "name": "Tux", "quantity": 1})),
            http.post(format!("{base}/internal/restock")),
            http.get(format!("{base}/internal/events?after=0")),
        ];
        for req in requests {
            let req = match auth {
                Some(value) => req.header("authorization", value),
                None => req,
            };
            let (status, body) = send_json(req).await;
            assert_eq!((status, &body), (401, &unauthorized), "auth {auth:?}");
        }
    }

    assert_eq!(
        client.health().await.expect("health").last_seq,
        seq,
        "nothing appended"
    );
    assert_eq!(
        quantity(&client, "Tux").await,
        100,
        "no unauthenticated buy"
    );
    assert_eq!(
        quantity(&client, "Sand").await,
        0,
        "no unauthenticated restock"
    );
    assert_eq!(
        client.products().await.expect("list").products.len(),
        before.products.len()
    );

    // The right token passes, and /health needs none.
    let (status, body) = send_json(http.get(format!("{base}/health"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["ready"], true);
    assert_eq!(body["data"]["role"], "leader");
    assert_eq!(body["data"]["last_seq"], json!(seq.0));
    let (status, _) = send_json(
        http.get(format!("{base}/internal/products/Tux"))
            .header("authorization", bearer()),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_the_wrong_token_gets_401() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let wrong = toystore_catalog_api::CatalogClient::new(
        &catalog.url,
        toystore_config::ClusterToken::new("not-the-token").expect("token"),
    )
    .expect("client");
    assert_eq!(
        wrong.product("Tux").await.expect_err("401").status(),
        Some(401)
    );
    assert_eq!(wrong.products().await.expect_err("401").status(), Some(401));
    assert_eq!(wrong.restock().await.expect_err("401").status(), Some(401));
    let err = wrong
        .events(toystore_events::Seq::ZERO, SILENCE)
        .await
        .err()
        .expect("401");
    assert_eq!(err.status(), Some(401));
    assert!(wrong.health().await.is_ok(), "health needs no token");
}
