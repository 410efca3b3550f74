//! The completer of half-done purchases follows the catalog's event stream; a stream that
//! goes silent (the connection stays open, nothing arrives, as in a partition that drops
//! packets) is dropped once nothing has come for the silence timeout and reopened after the
//! last event read, not awaited for ever.
//!
//! The catalog here is a hand-written replica on loopback (`toystore_catalog_api::fake`)
//! that answers every event subscription with the events up to 3, a heartbeat, and then
//! says nothing more, holding the connection open; it records the `after` of each
//! subscription.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use tokio::net::TcpListener;
use toystore_catalog_api::fake::{FakeCatalog, Script};
use toystore_config::{ClusterToken, OrderConfig};

const SILENCE: Duration = Duration::from_millis(500);
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_catalog_stream_is_dropped_and_resumed_after_the_last_event() {
    let mut catalog = FakeCatalog::start(Script::silent_after(3)).await.unwrap();
    let catalog_url = catalog.url.clone();

    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = toystore_order::server::ServerConfig {
        id: 1,
        db_path: dir.path().join("order-1.redb"),
        replicas: vec![(1, addr.into())],
        catalogs: vec![(1, catalog_url)],
        catalog_silence: SILENCE,
        token: ClusterToken::new("completer-test-token").unwrap(),
        raft: OrderConfig::default(),
        timeouts: Default::default(),
        watch: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let replica = tokio::spawn(toystore_order::server::run(listener, config, async move {
        let _ = stopped.await;
    }));

    assert_eq!(
        catalog.next_subscription(DEADLINE).await,
        Some(0),
        "the completer follows the catalog from its start"
    );
    let first_silence = tokio::time::Instant::now();
    assert_eq!(
        catalog.next_subscription(DEADLINE).await,
        Some(3),
        "after the silence, resumed after the last event read"
    );
    assert!(
        first_silence.elapsed() >= SILENCE,
        "not before the silence timeout: {:?}",
        first_silence.elapsed()
    );
    // And again: every silent connection is dropped, whatever its position.
    assert_eq!(catalog.next_subscription(DEADLINE).await, Some(3));

    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, replica)
        .await
        .expect("the replica stops")
        .expect("no panic")
        .expect("a clean stop");
}
