//! The stale-insert race, made deterministic end to end. A test proxy sits between the
//! front-end and a real catalog and can hold one product reply: a query of Tux misses, the
//! catalog answers it (at sequence number S, quantity 100), and the proxy holds that answer
//! while the test buys Tux (S+1) and then Whale (S+2) through the catalog. Whale's entry being
//! invalidated proves the in-order stream has delivered Tux's invalidation too; only then is
//! the held reply released. The front-end must refuse to cache the value read at S (counted
//! in `stale_inserts_refused`), so the next query misses and shows the new quantity instead
//! of the stale 100.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures_util::StreamExt;
use std::future::ready;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

/// Holds the next reply for Tux: tells the test once the catalog has answered, then waits.
type Gate = Arc<Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>;

/// A forwarding proxy for the catalog endpoints the front-end uses.
struct Proxy {
    url: String,
    gate: Gate,
    _shutdown: oneshot::Sender<()>,
}

async fn forward(req: reqwest::RequestBuilder) -> Response {
    match req.send().await {
        Ok(resp) => {
            let status = StatusCode::from_u16(resp.status().as_u16()).expect("status");
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            let reply = warp::reply::with_header(body, "content-type", "application/json");
            warp::reply::with_status(reply, status).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

impl Proxy {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.to_string();
        let calls = http();
        let streams = reqwest::Client::new();
        let gate: Gate = Arc::new(Mutex::new(None));
        let auth = || warp::header::optional::<String>("authorization");

        let health = {
            let (calls, upstream) = (calls.clone(), upstream.clone());
            warp::path!("health")
                .and(warp::get())
                .then(move || forward(calls.get(format!("{upstream}/health"))))
        };
        let product = {
            let (calls, upstream, gate) = (calls.clone(), upstream.clone(), gate.clone());
            warp::path!("internal" / "products")
                .and(warp::get())
                .and(warp::query::<toystore_catalog_api::ByName>())
                .and(auth())
                .then(
                    move |q: toystore_catalog_api::ByName, auth: Option<String>| {
                        let name = q.name;
                        let req = calls
                            .get(format!("{upstream}/internal/products"))
                            .query(&[("name", &name)])
                            .header("authorization", auth.unwrap_or_default());
                        let held = if name == "Tux" {
                            gate.lock().expect("gate").take()
                        } else {
                            None
                        };
                        async move {
                            let reply = forward(req).await;
                            if let Some((fetched, release)) = held {
                                let _ = fetched.send(());
                                let _ = release.await;
                            }
                            reply
                        }
                    },
                )
        };
        let events = {
            let upstream = upstream.clone();
            warp::path!("internal" / "events")
                .and(warp::get())
                .and(warp::query::raw())
                .and(auth())
                .then(move |query: String, auth: Option<String>| {
                    let req = streams
                        .get(format!("{upstream}/internal/events?{query}"))
                        .header("authorization", auth.unwrap_or_default());
                    async move {
                        match req.send().await {
                            Ok(resp) if resp.status().is_success() => {
                                let body = resp
                                    .bytes_stream()
                                    .take_while(|chunk| ready(chunk.is_ok()))
                                    .filter_map(|chunk| ready(chunk.ok()));
                                toystore_http::stream::reply(body, "application/x-toystore-events")
                            }
                            Ok(resp) => StatusCode::from_u16(resp.status().as_u16())
                                .expect("status")
                                .into_response(),
                            Err(_) => StatusCode::BAD_GATEWAY.into_response(),
                        }
                    }
                })
        };

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = oneshot::channel::<()>();
        let routes = health.or(product).unify().or(events).unify();
        tokio::spawn(toystore_http::serve(listener, routes, async move {
            let _ = rx.await;
        }));
        Self {
            url,
            gate,
            _shutdown: tx,
        }
    }

    /// Holds the next reply for Tux. Returns a receiver that completes once the catalog has
    /// answered it, and the sender that releases it.
    fn hold_tux(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (fetched_tx, fetched_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        *self.gate.lock().expect("gate") = Some((fetched_tx, release_rx));
        (fetched_rx, release_tx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_miss_cannot_reinsert_a_value_older_than_a_delivered_invalidation() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let proxy = Proxy::start(&catalog.url).await;
    let frontend = TestFrontend::start_active(&proxy.url, 8).await;

    // Whale is cached: its invalidation will be the marker.
    assert_eq!(frontend.quantity("Whale").await, 100);
    assert_eq!(frontend.quantity("Whale").await, 100);
    assert_eq!(frontend.stats().await.entries, 1);

    // A query of Tux misses; the catalog answers (quantity 100) and the proxy holds it.
    let (fetched, release) = proxy.hold_tux();
    let slow = {
        let client = frontend.client.clone();
        tokio::spawn(async move { client.product("Tux").await })
    };
    tokio::time::timeout(DEADLINE, fetched)
        .await
        .expect("the catalog answered the slow miss")
        .expect("gate");

    // Meanwhile Tux is bought, then Whale.
    let tux_seq = buy(&client, "race-tux", "Tux", 1).await;
    let whale_seq = buy(&client, "race-whale", "Whale", 1).await;
    assert!(whale_seq > tux_seq);
    wait_until("Whale's invalidation (after Tux's) is applied", || async {
        frontend.stats().await.invalidations == 1
    })
    .await;
    assert_eq!(frontend.stats().await.stale_inserts_refused, 0);

    // Now the slow miss completes. Its request was concurrent with the purchase, so its own
    // answer may be the value read before it; what matters is that it is not cached.
    release.send(()).expect("release");
    let held = slow.await.expect("task").expect("the held reply");
    assert_eq!(held.quantity, 100);
    let s = frontend.stats().await;
    assert_eq!(
        s.stale_inserts_refused, 1,
        "the stale value was refused: {s:?}"
    );
    assert_eq!(s.entries, 0, "nothing cached: {s:?}");

    assert_eq!(
        frontend.quantity("Tux").await,
        99,
        "the next query is not stale"
    );
    let after = frontend.stats().await;
    assert_eq!(after.misses, s.misses + 1, "it missed");
    assert_eq!(frontend.quantity("Tux").await, 99);
    assert_eq!(frontend.quantity("Whale").await, 99);
}
