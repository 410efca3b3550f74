//! `tools client` against a real store and against a lying front-end.
//!
//! - Against a real store (every service a `tools` process): [`run_clients`] makes exactly
//!   `clients x iterations` queries, buys, reads every order back identical with no errors,
//!   and reports sane statistics; the CLI prints the same as JSON or as a table and exits 0.
//! - Against a fake front-end whose first attempt at every purchase fails with 503 and which
//!   then loses every fifth order and alters the one after it: every buy is retried once with the same
//!   `Idempotency-Key` (so it is not bought twice), and the check finds exactly the missing
//!   and the altered orders; the CLI exits 1 and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{start, stop, tools};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use toystore_http::reply::respond;
use toystore_http::ApiError;
use toystore_tools::client::{run_clients, ClientConfig, ClientReport};
use warp::Filter;

fn check_latencies(report: &ClientReport) {
    for st in [&report.query, &report.buy, &report.order_check] {
        if st.count > st.errors {
            assert!(st.p50_ms > 0.0, "{st:?}");
            assert!(
                st.p50_ms <= st.p90_ms && st.p90_ms <= st.p99_ms && st.p99_ms <= st.max_ms,
                "{st:?}"
            );
            assert!(st.mean_ms > 0.0 && st.mean_ms <= st.max_ms, "{st:?}");
            assert!(st.throughput > 0.0, "{st:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_buy_and_verify_against_a_real_store() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start(common::spec(&dir.path().join("data"))).await;
    let url = cluster.frontend_url();

    let mut config = ClientConfig::new(url.clone(), 0.5, 30, 4);
    config.seed = 42;
    let report = run_clients(config).await.unwrap();
    let text = report.to_text();
    assert!(report.verification.ok, "{text}");
    assert_eq!(report.query.count, 120, "{text}");
    assert_eq!(
        (
            report.query.errors,
            report.buy.errors,
            report.order_check.errors
        ),
        (0, 0, 0),
        "{text}"
    );
    assert!(
        report.buy.count > 0 && report.buy.count < 120,
        "p = 0.5 buys some: {text}"
    );
    assert_eq!(
        report.verification.orders,
        report.buy.count - report.buy.rejected,
        "{text}"
    );
    assert_eq!(
        report.order_check.count, report.verification.orders,
        "{text}"
    );
    assert_eq!(
        report.verification.matched, report.verification.orders,
        "{text}"
    );
    assert!(report.toys >= 10, "{text}");
    check_latencies(&report);
    assert!(text.contains("verification: OK"), "{text}");

    // The CLI, as JSON: p = 1 buys after every query (stock is plentiful).
    let cli = tokio::task::spawn_blocking({
        let url = url.clone();
        move || {
            tools([
                "client",
                "--frontend",
                &url,
                "--p",
                "1",
                "--iterations",
                "10",
                "--clients",
                "2",
                "--seed",
                "7",
                "--json",
            ])
        }
    })
    .await
    .unwrap();
    cli.expect_code(0);
    let v = cli.json();
    assert_eq!(v["query"]["count"], 20, "{cli}");
    assert_eq!(v["buy"]["count"], 20, "{cli}");
    assert_eq!(v["order_check"]["count"], 20, "{cli}");
    assert_eq!(v["verification"]["ok"], true, "{cli}");
    assert_eq!(v["seed"], 7, "{cli}");
    for key in [
        "mean_ms",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "throughput",
        "errors",
    ] {
        assert!(v["buy"][key].is_number(), "{key} missing: {cli}");
    }

    // The CLI, as a table: p = 0 never buys.
    let cli = tokio::task::spawn_blocking(move || {
        tools([
            "client",
            "--frontend",
            &url,
            "--p",
            "0",
            "--iterations",
            "5",
            "--clients",
            "1",
        ])
    })
    .await
    .unwrap();
    cli.expect_code(0)
        .stdout_has("query")
        .stdout_has("p99 ms")
        .stdout_has("order check")
        .stdout_has("verification: OK: all 0 orders");

    stop(cluster).await;
}

/// What the fake front-end saw of each idempotency key: the order number it assigned (on
/// the second attempt), the toy, and how many attempts carried the key.
#[derive(Default)]
struct Fake {
    keys: HashMap<String, (Option<u64>, String, u32)>,
    next: u64,
}

#[derive(Serialize)]
struct Toy {
    name: &'static str,
    price: f64,
    quantity: u32,
}

const TOYS: [&str; 2] = ["Tux", "Rubik's Cube"];

fn toy(name: &str) -> Option<Toy> {
    TOYS.iter().find(|t| **t == name).map(|name| Toy {
        name,
        price: 1.5,
        quantity: 10,
    })
}

/// A front-end that fails the first attempt of every purchase with 503, has lost orders
/// 0, 5, 10... and returns orders 1, 6, 11... with another toy.
async fn serve_fake(state: Arc<Mutex<Fake>>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let with = move || {
        let s = state.clone();
        warp::any().map(move || s.clone())
    };
    let list = warp::path!("products")
        .and(warp::get())
        .map(|| respond(Ok(TOYS.iter().filter_map(|t| toy(t)).collect::<Vec<_>>())));
    let product = warp::path!("products" / String)
        .and(warp::get())
        .map(|raw: String| {
            let name = toystore_http::path::decode_segment(&raw).unwrap_or_default();
            respond(toy(&name).ok_or_else(|| ApiError::not_found("product not found")))
        });
    #[derive(serde::Deserialize)]
    struct Body {
        name: String,
        quantity: u32,
    }
    let buy = warp::path!("orders")
        .and(warp::post())
        .and(warp::header::<String>("idempotency-key"))
        .and(warp::body::json())
        .and(with())
        .map(|key: String, body: Body, state: Arc<Mutex<Fake>>| {
            assert_eq!(body.quantity, 1);
            let mut fake = state.lock().unwrap();
            let next = fake.next;
            let entry = fake.keys.entry(key).or_insert((None, body.name, 0));
            entry.2 += 1;
            if entry.2 == 1 {
                return respond::<()>(Err(ApiError::unavailable("order service unavailable")));
            }
            let number = *entry.0.get_or_insert(next);
            if number == next {
                fake.next += 1;
            }
            respond(Ok(serde_json::json!({ "order_number": number })))
        });
    let get = warp::path!("orders" / u64)
        .and(warp::get())
        .and(with())
        .map(|n: u64, state: Arc<Mutex<Fake>>| {
            let fake = state.lock().unwrap();
            let found = fake.keys.values().find(|(number, _, _)| *number == Some(n));
            match found {
                Some(_) if n.is_multiple_of(5) => {
                    respond::<()>(Err(ApiError::not_found("order not found")))
                }
                Some((_, name, _)) => {
                    let name = if n % 5 == 1 {
                        format!("not {name}")
                    } else {
                        name.clone()
                    };
                    respond(Ok(
                        serde_json::json!({ "number": n, "name": name, "quantity": 1 }),
                    ))
                }
                None => respond::<()>(Err(ApiError::not_found("order not found"))),
            }
        });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let routes = list.or(product).unify().or(buy).unify().or(get).unify();
    tokio::spawn(toystore_http::serve(listener, routes, async move {
        let _ = rx.await;
    }));
    (url, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_finds_lost_and_altered_orders_and_buys_retry_with_the_same_key() {
    let state = Arc::new(Mutex::new(Fake::default()));
    let (url, _stop) = serve_fake(state.clone()).await;

    let mut config = ClientConfig::new(url.clone(), 1.0, 5, 2);
    config.seed = 3;
    let report = run_clients(config).await.unwrap();
    let text = report.to_text();
    assert_eq!(report.buy.count, 10, "{text}");
    assert_eq!(report.buy.retries, 10, "one retry per buy: {text}");
    assert_eq!(report.buy.errors, 0, "{text}");
    {
        let fake = state.lock().unwrap();
        assert_eq!(fake.keys.len(), 10, "one key per purchase");
        assert!(fake.keys.values().all(|(_, _, attempts)| *attempts == 2));
        assert_eq!(fake.next, 10, "each purchase got one order number");
    }
    let v = &report.verification;
    assert!(!v.ok, "{text}");
    assert_eq!(
        (v.orders, v.matched, v.missing, v.mismatched, v.unchecked),
        (10, 6, 2, 2, 0),
        "{text}"
    );
    assert!(text.contains("verification: FAILED"), "{text}");
    assert!(text.contains("order 0: missing"), "{text}");
    assert!(text.contains("order 1: acknowledged"), "{text}");

    let cli = tokio::task::spawn_blocking(move || {
        tools([
            "client",
            "--frontend",
            &url,
            "--p",
            "1",
            "--iterations",
            "2",
            "--clients",
            "1",
        ])
    })
    .await
    .unwrap();
    cli.expect_code(1).stdout_has("verification: FAILED");
}
