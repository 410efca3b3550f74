//! `GET /events` on the front-end: browsers get the catalog's stock changes as Server-Sent
//! Events, live, without the buyer's request id, through one upstream subscription however
//! many listen (the catalog serves no new event stream when browsers connect).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use std::time::Duration;
use toystore_harness::Service;
use toystore_tests::{start_with, Shop, READY};

/// Event streams the catalog has answered so far (from its Prometheus counters).
async fn catalog_streams(shop: &Shop, catalog: &str) -> f64 {
    let text = shop
        .http
        .get(format!("{catalog}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("toystore_http_requests_total{route=\"/internal/events\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reads SSE frames from `resp` until one with `event: stock` names `toy`; returns it.
async fn next_stock_event(
    stream: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buffer: &mut String,
    toy: &str,
) -> String {
    let deadline = tokio::time::Instant::now() + READY;
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.contains("event:stock") && frame.contains(&format!("\"name\":\"{toy}\"")) {
                return frame;
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("no stock event in time")
            .expect("the event stream ended")
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browsers_get_stock_changes_through_one_upstream_subscription() {
    let store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    let catalog = store.cluster.url(Service::Catalog(1));
    let streams_before = catalog_streams(&shop, &catalog).await;
    assert!(streams_before >= 1.0, "the front-end follows the catalog");

    let mut listeners = Vec::new();
    for _ in 0..3 {
        let resp = shop.http.get(shop.url("/events")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        listeners.push((Box::pin(resp.bytes_stream()), String::new()));
    }

    shop.buy("relay-secret-key", "Whale", 3).await.unwrap();
    for (stream, buffer) in &mut listeners {
        let frame = next_stock_event(stream, buffer, "Whale").await;
        assert!(frame.contains("\"kind\":\"purchased\""), "{frame}");
        assert!(
            !frame.contains("relay-secret-key"),
            "a request id was relayed: {frame}"
        );
    }
    // The stock a browser reads after the event is already the new one.
    assert_eq!(shop.quantity("Whale").await.unwrap(), 97);

    // A moment for a stream a browser's connection might have opened on the catalog to be
    // counted (an observation window: the assertion is that none is).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        catalog_streams(&shop, &catalog).await,
        streams_before,
        "browsers must not open streams of their own on the catalog"
    );
}
