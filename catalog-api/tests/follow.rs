//! The shared follower of the catalog's event stream ([`toystore_catalog_api::follow`]),
//! against a hand-written catalog on loopback whose every subscription sends the next two
//! events and then ends the stream (as a catalog replica that stops does), and a first
//! catalog replica that is not there at all. The follower must fail over to the one that
//! answers, report each end, and resume after the last event it delivered: the events it
//! delivers are consecutive, none missed, none twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::follow::{follow, Followed, Following, OnReplaced, Start};
use toystore_catalog_api::CatalogClient;
use toystore_config::{Backoff, ClusterToken};
use toystore_events::frame::{event_frame, heartbeat_frame};
use toystore_events::{codec, CatalogEvent, Seq};

const DEADLINE: Duration = Duration::from_secs(20);

/// The `after` of a request line `GET /internal/events?after=N HTTP/1.1`.
fn after_of(request: &str) -> Option<u64> {
    let target = request.lines().next()?.split(' ').nth(1)?;
    target.strip_prefix("/internal/events")?;
    target
        .split_once("after=")?
        .1
        .split('&')
        .next()?
        .parse()
        .ok()
}

/// Serves one subscription: the two events after `after`, a heartbeat, then the end.
async fn two_then_end(mut conn: tokio::net::TcpStream, subscriptions: mpsc::Sender<u64>) {
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
    for seq in after + 1..=after + 2 {
        let event = CatalogEvent::Restocked {
            name: "Tux".try_into().unwrap(),
            added: 1,
        };
        body.extend_from_slice(&event_frame(Seq(seq), &codec::encode(&event)));
    }
    body.extend_from_slice(&heartbeat_frame(Seq(after + 2)));
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-toystore-events\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let chunk = format!("{:x}\r\n", body.len());
    let _ = async {
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(chunk.as_bytes()).await?;
        conn.write_all(&body).await?;
        conn.write_all(b"\r\n0\r\n\r\n").await?;
        conn.shutdown().await
    }
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_consecutively_across_ended_streams_and_a_dead_replica() {
    let live = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live_url = format!("http://{}", live.local_addr().unwrap());
    // A port nothing listens on: bound, then closed.
    let dead_url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (subscribed, mut subscriptions) = mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok((conn, _)) = live.accept().await {
            tokio::spawn(two_then_end(conn, subscribed.clone()));
        }
    });
    let catalog = CatalogClient::of_replicas(
        &[(1, dead_url), (2, live_url)],
        ClusterToken::new("follow-test-token").unwrap(),
        &Default::default(),
    )
    .unwrap();
    let stop = CancellationToken::new();
    let following = Following {
        silence: Duration::from_secs(5),
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(50)),
        on_replaced: OnReplaced::ReadAgain,
    };
    let mut heard = follow(catalog, Start::After(Seq(5)), following, stop.clone());

    let mut events = Vec::new();
    let mut connected = Vec::new();
    let mut broken = 0;
    while events.len() < 6 {
        let followed = tokio::time::timeout(DEADLINE, heard.recv())
            .await
            .expect("the follower goes on")
            .expect("the follower runs");
        match followed {
            Followed::Connected { after } => connected.push(after.0),
            Followed::Event { seq, .. } => events.push(seq.0),
            Followed::Broken { .. } => broken += 1,
            Followed::Heartbeat { caught_up, .. } => assert!(caught_up),
            Followed::Replaced { .. } => panic!("nothing was replaced"),
        }
    }
    assert_eq!(events, [6, 7, 8, 9, 10, 11], "consecutive, from after 5");
    assert_eq!(
        connected[..3],
        [5, 7, 9],
        "each connection resumes after the last event"
    );
    assert!(broken >= 2, "each ended stream is reported");
    let asked: Vec<u64> = std::iter::from_fn(|| subscriptions.try_recv().ok()).collect();
    assert_eq!(asked[..3], [5, 7, 9]);

    stop.cancel();
    let ended =
        tokio::time::timeout(DEADLINE, async { while heard.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the follower stops when told");
}
