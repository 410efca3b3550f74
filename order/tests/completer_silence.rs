//! The completer of half-done purchases follows the catalog's event stream; a stream that
//! goes silent (the connection stays open, nothing arrives, as in a partition that drops
//! packets) is dropped once nothing has come for the silence timeout and reopened after the
//! last event read, not awaited for ever.
//!
//! The catalog here is a hand-written HTTP server on loopback that answers every event
//! subscription with a few frames and then says nothing more, holding the connection open;
//! it records the `after` of each subscription.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use toystore_config::{ClusterToken, OrderConfig};
use toystore_events::frame::{event_frame, heartbeat_frame};
use toystore_events::{codec, CatalogEvent, Seq};

const SILENCE: Duration = Duration::from_millis(500);
const DEADLINE: Duration = Duration::from_secs(20);

/// The `after` of a request line `GET /internal/events?after=N HTTP/1.1`.
fn after_of(request: &str) -> Option<u64> {
    let line = request.lines().next()?;
    let target = line.split(' ').nth(1)?;
    if !target.starts_with("/internal/events") {
        return None;
    }
    target
        .split_once("after=")?
        .1
        .split('&')
        .next()?
        .parse()
        .ok()
}

/// Serves one connection: the events after `after` up to 3, a heartbeat, then silence.
async fn silent_stream(mut conn: tokio::net::TcpStream, subscriptions: mpsc::Sender<u64>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let Some(after) = after_of(&String::from_utf8_lossy(&request)) else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            .await;
        return;
    };
    let _ = subscriptions.send(after).await;
    let mut body = Vec::new();
    let mut last = after;
    for seq in after + 1..=3 {
        let event = CatalogEvent::Restocked {
            name: "Tux".try_into().unwrap(),
            added: 1,
        };
        body.extend_from_slice(&event_frame(Seq(seq), &codec::encode(&event)));
        last = seq;
    }
    body.extend_from_slice(&heartbeat_frame(Seq(last)));
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-toystore-events\r\n\
                transfer-encoding: chunked\r\n\r\n";
    let chunk = format!("{:x}\r\n", body.len());
    let sent = async {
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(chunk.as_bytes()).await?;
        conn.write_all(&body).await?;
        conn.write_all(b"\r\n").await
    };
    if sent.await.is_err() {
        return;
    }
    // Silence, with the connection held open until the client drops it.
    let _ = conn.read(&mut buf).await;
}

/// The `after` of the next subscription.
async fn next(subscriptions: &mut mpsc::Receiver<u64>) -> Option<u64> {
    tokio::time::timeout(DEADLINE, subscriptions.recv())
        .await
        .expect("a subscription within the deadline")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_catalog_stream_is_dropped_and_resumed_after_the_last_event() {
    let catalog = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let catalog_url = format!("http://{}", catalog.local_addr().unwrap());
    let (subscribed, mut subscriptions) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((conn, _)) = catalog.accept().await {
            tokio::spawn(silent_stream(conn, subscribed.clone()));
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = toystore_order::server::ServerConfig {
        id: 1,
        db_path: dir.path().join("order-1.redb"),
        replicas: vec![(1, addr)],
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
        next(&mut subscriptions).await,
        Some(0),
        "the completer follows the catalog from its start"
    );
    let first_silence = tokio::time::Instant::now();
    assert_eq!(
        next(&mut subscriptions).await,
        Some(3),
        "after the silence, resumed after the last event read"
    );
    assert!(
        first_silence.elapsed() >= SILENCE,
        "not before the silence timeout: {:?}",
        first_silence.elapsed()
    );
    // And again: every silent connection is dropped, whatever its position.
    assert_eq!(next(&mut subscriptions).await, Some(3));

    let _ = stop.send(());
    tokio::time::timeout(DEADLINE, replica)
        .await
        .expect("the replica stops")
        .expect("no panic")
        .expect("a clean stop");
}
