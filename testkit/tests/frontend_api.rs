//! The product side of the public API (API.md) through the front-end, compared as exact JSON:
//! `GET /products/<name>` (200 `{"data":{"name","price","quantity"}}` for every toy, from the
//! catalog and again from the cache; 404 `product not found`; percent-encoded names),
//! `GET /products` (every toy, ≥ 15 including the handout's ten, sorted by name, at 100),
//! `GET /health`, unknown paths (404) and wrong methods (405) as JSON errors, and
//! `GET /internal/metrics`, which demands the cluster token. With caching off the front-end answers
//! the same and every purchase is visible at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use toystore_catalog::toys::TOYS;

/// The path segment of a toy's name, percent-encoded the way a client would.
fn encoded(name: &str) -> String {
    name.replace('%', "%25")
        .replace(' ', "%20")
        .replace('\'', "%27")
}

fn product_json(name: &str, price: f64, quantity: u32) -> Value {
    json!({ "name": name, "price": price, "quantity": quantity })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_queries_return_the_exact_json_of_api_md() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let frontend = TestFrontend::start_active(&catalog.url, 32).await;

    assert_eq!(
        frontend.product("Tux").await,
        (
            200,
            json!({"data": {"name": "Tux", "price": 25.99, "quantity": 100}})
        )
    );
    assert_eq!(
        frontend.product("Rubik%27s%20Cube").await,
        (
            200,
            json!({"data": {"name": "Rubik's Cube", "price": 11.99, "quantity": 100}})
        )
    );
    // Any percent-escape decodes, not only those of spaces and quotes.
    assert_eq!(
        frontend.product("%54ux").await,
        (
            200,
            json!({"data": {"name": "Tux", "price": 25.99, "quantity": 100}})
        )
    );
    // Every toy, twice: the first answer comes from the catalog, the second from the cache,
    // and both are the same exact JSON.
    for round in 0..2 {
        for (name, price) in TOYS {
            let (status, body) = frontend.product(&encoded(name)).await;
            assert_eq!(status, 200, "{name}");
            assert_eq!(
                body,
                json!({ "data": product_json(name, *price, 100) }),
                "round {round}"
            );
        }
    }
    let stats = frontend.stats().await;
    assert!(
        stats.hits >= TOYS.len() as u64,
        "second round hit the cache: {stats:?}"
    );

    let not_found = (404, error_body(404, "product not found"));
    for missing in ["tux", "TUX", "Nope", "Tux%20", "%ff", "Rubik's%20Cube%20"] {
        assert_eq!(frontend.product(missing).await, not_found, "{missing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_list_has_every_toy_sorted_by_name_at_full_stock() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let frontend = TestFrontend::start(&catalog.url, Some(8)).await;

    let (status, body) = frontend.get("/products").await;
    assert_eq!(status, 200);
    let list = body["data"].as_array().expect("data is an array");
    assert!(list.len() >= 15, "at least 15 toys");
    let names: Vec<&str> = list
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
    for toy in HANDOUT_TOYS {
        assert!(names.contains(&toy), "{toy} listed");
    }

    let mut expected: Vec<(&str, f64)> = TOYS.to_vec();
    expected.sort_by(|a, b| a.0.cmp(b.0));
    let expected = json!({
        "data": expected
            .iter()
            .map(|(name, price)| product_json(name, *price, 100))
            .collect::<Vec<_>>()
    });
    assert_eq!(body, expected, "exactly name, price, quantity per toy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_unknown_paths_wrong_methods_and_metrics_auth() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let frontend = TestFrontend::start(&catalog.url, Some(8)).await;
    let http = http();
    let base = &frontend.url;

    assert_eq!(
        frontend.get("/health").await,
        (200, json!({"data": {"status": "ok"}}))
    );

    // `/` is the storefront (HTML, embedded), `/cluster` the cluster page.
    for (path, marker) in [
        ("/", "<title>toystore</title>"),
        ("/cluster", "id=\"replicas\""),
    ] {
        let resp = reqwest::get(format!("{}{path}", frontend.url))
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(resp.text().await.unwrap().contains(marker), "{path}");
    }

    for path in [
        "/nope",
        "/assets/nope.js",
        "/product/Tux",
        "/products/Tux/extra",
        "/internal/products",
    ] {
        let (status, body) = frontend.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_error_envelope(status, &body);
    }
    let wrong_methods = [
        http.post(format!("{base}/products")),
        http.delete(format!("{base}/products")),
        http.post(format!("{base}/products/Tux")),
        http.put(format!("{base}/products/Tux")),
        http.delete(format!("{base}/health")),
        http.post(format!("{base}/metrics")),
    ];
    for req in wrong_methods {
        let (status, body) = send_json(req).await;
        assert_eq!(status, 405, "{body}");
        assert_error_envelope(status, &body);
    }
    // RFC 9110 (15.5.6): a 405 names the methods the resource answers.
    for (req, allow) in [
        (http.post(format!("{base}/products")), "GET"),
        (http.put(format!("{base}/products/Tux")), "GET"),
        (http.get(format!("{base}/orders")), "POST"),
        (http.post(format!("{base}/orders/3")), "GET"),
        (http.delete(format!("{base}/health")), "GET"),
    ] {
        let resp = req.send().await.expect("the front-end answers");
        assert_eq!(resp.status(), 405);
        let header = resp.headers().get("allow").and_then(|v| v.to_str().ok());
        assert_eq!(header, Some(allow), "{:?}", resp.url());
    }

    // /internal/metrics: the cluster token or 401.
    let unauthorized = error_body(401, "missing or invalid cluster token");
    let metrics = format!("{base}/internal/metrics");
    let refused = [
        http.get(&metrics),
        http.get(&metrics).header("authorization", "Bearer wrong"),
        http.get(&metrics)
            .header("authorization", format!("Bearer {TOKEN}x")),
        http.get(&metrics).header("authorization", TOKEN),
    ];
    for req in refused {
        assert_eq!(send_json(req).await, (401, unauthorized.clone()));
    }
    assert_eq!(frontend.stats().await.capacity, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_caching_off_every_answer_comes_from_the_catalog() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let frontend = TestFrontend::start(&catalog.url, None).await;
    let client = catalog.client();

    assert_eq!(
        frontend.product("Whale").await,
        (
            200,
            json!({"data": {"name": "Whale", "price": 34.99, "quantity": 100}})
        )
    );
    buy(&client, "off-1", "Whale", 4).await;
    // No cache, so no waiting for an invalidation: the next answer is current.
    assert_eq!(frontend.quantity("Whale").await, 96);
    assert_eq!(
        frontend.product("Nope").await,
        (404, error_body(404, "product not found"))
    );

    let metrics = frontend.client.internal_metrics(&token()).await.unwrap();
    assert_eq!(metrics.cache, None, "no cache: {metrics:?}");
}
