//! [`FakeCatalog`]: a hand-written catalog replica on loopback, for the tests of the event
//! stream's subscribers (the shared follower, the completer). Built with the `fake` feature
//! only; nothing in the store uses it.
//!
//! It answers `GET /health` with a status whose log ends at [`Script::last_seq`], and each
//! `GET /internal/events?after=N` with the events after N (at most
//! [`Script::per_subscription`] of them, none past `last_seq`), then a heartbeat carrying
//! the last event sent (or `last_seq`, if N is past it: a log that was replaced), then what
//! [`Script::then`] says: the end of the stream, or silence with the connection held open.
//! It reports the `after` of each subscription. Anything else gets a 404.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use toystore_events::frame::{event_frame, heartbeat_frame};
use toystore_events::{codec, CatalogEvent, ProductName, Seq};
use toystore_http::stream::EVENT_STREAM_TYPE;
use toystore_raft_api::{ReplicaStatus, Role};

/// What a subscription gets after its events and heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// The stream ends (as when a replica stops).
    End,
    /// Nothing more, the connection held open (as in a partition that drops packets).
    Silence,
}

/// How the fake catalog answers.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    /// Where its log ends (`GET /health`, and the last event it ever sends).
    pub last_seq: u64,
    /// The most events one subscription gets.
    pub per_subscription: u64,
    /// What follows them.
    pub then: Then,
}

impl Script {
    /// A replica whose log ends at `last_seq`: a subscription gets every event after its
    /// position, then silence on an open connection (a partition that drops packets).
    pub fn silent_after(last_seq: u64) -> Self {
        Self {
            last_seq,
            per_subscription: u64::MAX,
            then: Then::Silence,
        }
    }
}

/// A running fake catalog replica (it stops when the test's runtime does).
#[derive(Debug)]
pub struct FakeCatalog {
    /// Its base URL.
    pub url: String,
    subscriptions: mpsc::UnboundedReceiver<u64>,
}

impl FakeCatalog {
    /// Starts one on a free loopback port.
    pub async fn start(script: Script) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (subscribed, subscriptions) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, script, subscribed.clone()));
            }
        });
        Ok(Self { url, subscriptions })
    }

    /// The `after` of the next subscription, waiting at most `deadline` (`None`: none came).
    pub async fn next_subscription(&mut self, deadline: Duration) -> Option<u64> {
        tokio::time::timeout(deadline, self.subscriptions.recv())
            .await
            .ok()
            .flatten()
    }

    /// The `after` of every subscription so far, not waiting.
    pub fn subscriptions_so_far(&mut self) -> Vec<u64> {
        std::iter::from_fn(|| self.subscriptions.try_recv().ok()).collect()
    }
}

/// The path and query of a request's first line, once its head has been read.
async fn request_target(conn: &mut TcpStream) -> Option<String> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    Some(text.lines().next()?.split(' ').nth(1)?.to_string())
}

/// The `after` of `/internal/events?after=N`.
fn after_of(target: &str) -> Option<u64> {
    target.strip_prefix("/internal/events")?;
    target
        .split_once("after=")?
        .1
        .split('&')
        .next()?
        .parse()
        .ok()
}

async fn serve(mut conn: TcpStream, script: Script, subscribed: mpsc::UnboundedSender<u64>) {
    let Some(target) = request_target(&mut conn).await else {
        return;
    };
    if target == "/health" {
        let body = health(script.last_seq);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = conn.write_all(head.as_bytes()).await;
        let _ = conn.write_all(body.as_bytes()).await;
        return;
    }
    let Some(after) = after_of(&target) else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    };
    let _ = subscribed.send(after);
    let last = after
        .saturating_add(script.per_subscription)
        .min(script.last_seq);
    let Ok(name) = ProductName::try_from("Tux") else {
        return;
    };
    let mut body = Vec::new();
    for seq in after + 1..=last {
        let event = CatalogEvent::Restocked {
            name: name.clone(),
            added: 1,
        };
        body.extend_from_slice(&event_frame(Seq(seq), &codec::encode(&event)));
    }
    // The last event sent (or `after`); below `after` only if the log ends before it.
    body.extend_from_slice(&heartbeat_frame(Seq(last)));
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {EVENT_STREAM_TYPE}\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
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
    match script.then {
        Then::End => {
            let _ = conn.write_all(b"0\r\n\r\n").await;
            let _ = conn.shutdown().await;
        }
        Then::Silence => {
            // Held open until the client drops it.
            let mut buf = [0u8; 64];
            let _ = conn.read(&mut buf).await;
        }
    }
}

/// A ready leader's health whose log ends at `last_seq`, in the reply envelope.
fn health(last_seq: u64) -> String {
    let status = ReplicaStatus {
        id: 1,
        role: Role::Leader,
        ready: true,
        term: 1,
        leader: Some(1),
        last_log_index: Some(last_seq),
        last_log_id: None,
        applied: Some(last_seq),
        snapshot: None,
        last_seq: Seq(last_seq),
        voters: vec![1],
        quorum_ack_ms: None,
        isolated: false,
        storage: None,
    };
    serde_json::json!({ "data": status }).to_string()
}
