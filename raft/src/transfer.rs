//! Snapshot transfer between replicas (openraft's `generic-snapshot-data`): a snapshot is a
//! reference to the sender's events 1..=S (`toystore_store::raft::SnapshotData`), and only
//! the events the receiver lacks cross the network.
//!
//! 1. The sender asks `POST /internal/raft/position`: the receiver's last sequence number k
//!    and the bytes of its event k.
//! 2. If the sender's own event k is the same (the receiver's log is a prefix of the
//!    snapshot's), it sends events k+1..=S; otherwise all of them (the receiver keeps what
//!    matches byte for byte and replaces the rest).
//! 3. `POST /internal/raft/snapshot` carries the [`SnapshotHeader`] in a header and the events
//!    as stream frames (`toystore_events::frame`), read from one read transaction on a
//!    blocking thread in chunks of [`SEND_CHUNK`] and sent through a small channel, so memory
//!    stays bounded on both sides. The receiver writes them into its log (in large
//!    transactions) and hands the snapshot to `Raft::install_full_snapshot`, whose answer
//!    (or `Fatal`) is the reply. A stream that stalls for [`STALL`] is dropped; the leader tries again.

use crate::counts::Counts;
use crate::node::Node;
use crate::wire::SnapshotHeader;
use crate::Types;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use openraft::error::Fatal;
use openraft::raft::SnapshotResponse;
use openraft::Snapshot;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use toystore_config::ReplicaId;
use toystore_events::frame::{put_event, read_stream};
use toystore_events::{LogEvent, Seq, StreamItem};
use toystore_store::raft::SnapshotData;

/// Events per chunk of a transfer's body.
pub const SEND_CHUNK: usize = 4096;

/// The longest a whole transfer (stream and install) may take before the sender gives up.
pub const LONGEST: Duration = Duration::from_secs(3600);

/// How long a transfer's body may stall before the receiver drops it.
pub const STALL: Duration = Duration::from_secs(10);

/// Where the sender starts: after the receiver's last event `k` if the snapshot holds the
/// same bytes there, else from the beginning.
pub fn start_after(
    data: &SnapshotData,
    theirs: Seq,
    their_last: Option<&[u8]>,
) -> Result<Seq, toystore_store::StoreError> {
    if theirs == Seq::ZERO || theirs > data.last_seq() {
        return Ok(Seq::ZERO);
    }
    let ours = data
        .events_after(Seq(theirs.0 - 1))?
        .next()
        .transpose()?
        .map(|(_, bytes)| bytes);
    Ok(if ours.as_deref() == their_last {
        theirs
    } else {
        Seq::ZERO
    })
}

/// The body of a transfer: frames of the snapshot's events after `after` ([`frames`]),
/// each event counted as sent.
pub fn body(data: SnapshotData, after: Seq, counts: Arc<Counts>) -> reqwest::Body {
    reqwest::Body::wrap_stream(frames(data, after, move || {
        counts.events_sent.fetch_add(1, Ordering::Relaxed);
    }))
}

/// Frames of the snapshot's events after `after`, [`SEND_CHUNK`] events per item, produced
/// on a blocking thread (a read transaction per snapshot) and handed over a bounded
/// channel, so memory stays bounded; `sent` is called per event. A read error is the last
/// item.
pub fn frames(
    data: SnapshotData,
    after: Seq,
    sent: impl Fn() + Send + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let events = match data.events_after(after) {
            Ok(events) => events,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let mut out = BytesMut::new();
        let mut in_chunk = 0;
        for item in events {
            match item {
                Ok((seq, bytes)) => put_event(&mut out, seq, &bytes),
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            }
            in_chunk += 1;
            sent();
            if in_chunk == SEND_CHUNK {
                in_chunk = 0;
                if tx.blocking_send(Ok(out.split().freeze())).is_err() {
                    return; // the request was dropped
                }
            }
        }
        if !out.is_empty() {
            let _ = tx.blocking_send(Ok(out.freeze()));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })
}

/// The events of a body of frames ([`frames`]) that starts after `after`, as each one's
/// sequence number and stored bytes, `received` called per event. The reader checks the
/// framing, the order and that each event decodes as an `E`; the bytes are passed on as
/// sent. A body silent for [`STALL`] ends with an error.
pub fn events_of<E, B, X, Er>(
    body: B,
    after: Seq,
    received: impl Fn() + Clone,
) -> impl futures_util::Stream<Item = Result<(Seq, Bytes), toystore_events::FrameError>>
where
    E: LogEvent,
    B: futures_util::Stream<Item = Result<X, Er>> + Unpin,
    X: bytes::Buf,
    Er: std::fmt::Display,
{
    let items = read_stream::<E, _, _, _>(body, after);
    toystore_http::stream::until_silent(items, STALL).filter_map(move |item| {
        let received = received.clone();
        async move {
            match item {
                Ok(StreamItem::Event { seq, payload, .. }) => {
                    received();
                    Some(Ok((seq, payload)))
                }
                Ok(StreamItem::Heartbeat { .. }) => None,
                Err(e) => Some(Err(e)),
            }
        }
    })
}

/// Why a received transfer was not installed (other than Raft refusing it).
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The header is missing or does not decode.
    #[error("bad snapshot header: {0}")]
    Header(String),
    /// The events could not be received (a broken or malformed stream, or storage).
    #[error(transparent)]
    Store(#[from] toystore_store::StoreError),
}

/// Receives a transfer on `replica`: writes its events into the log and installs it. `Ok(Err(fatal))`:
/// Raft refused it.
///
/// It runs in a task of its own, so a sender that gives up (a dropped connection drops this
/// future) never leaves an install half-awaited: the transfer's hold on the received events
/// lasts until Raft has installed them or refused. While it runs this replica does not
/// campaign (if it elects on its own at all): its leader is busy sending it the snapshot
/// and sends no heartbeats meanwhile, and a campaign would depose that leader and waste
/// the transfer.
pub async fn receive<C: Types, E: LogEvent, B, X>(
    replica: Arc<Node<C, E>>,
    header: String,
    body: B,
) -> Result<Result<SnapshotResponse<ReplicaId>, Fatal<ReplicaId>>, ReceiveError>
where
    B: futures_util::Stream<Item = Result<X, warp::Error>> + Send + Unpin + 'static,
    X: bytes::Buf + Send + 'static,
{
    let task = tokio::spawn(async move {
        let counts = replica.transfers().clone();
        // Elections are held off while any transfer is being received.
        counts.receiving.fetch_add(1, Ordering::SeqCst);
        replica.campaigning().update();
        let received = receive_here(&replica, &header, body).await;
        counts.receiving.fetch_sub(1, Ordering::SeqCst);
        replica.campaigning().update();
        received
    });
    task.await
        .map_err(|e| ReceiveError::Store(toystore_store::StoreError::Snapshot(e.to_string())))?
}

async fn receive_here<C: Types, E: LogEvent, B, X>(
    replica: &Node<C, E>,
    header: &str,
    body: B,
) -> Result<Result<SnapshotResponse<ReplicaId>, Fatal<ReplicaId>>, ReceiveError>
where
    B: futures_util::Stream<Item = Result<X, warp::Error>> + Send + Unpin,
    X: bytes::Buf,
{
    let header = SnapshotHeader::decode(header).map_err(ReceiveError::Header)?;
    let counts = replica.transfers().clone();
    let events = events_of::<E, _, _, _>(body, header.after, move || {
        crate::failpoint::hit("snapshot-receiving");
        counts.events_received.fetch_add(1, Ordering::Relaxed);
    });
    // A disk that goes below the reserve stops the transfer (what it wrote is kept, and
    // the next transfer resumes after it) before a write can meet a full disk.
    let disk = replica.disk().clone();
    let events = events.map(move |item| match disk.check() {
        Ok(()) => item.map_err(|e| e.to_string()),
        Err(low) => Err(low.to_string()),
    });
    let received = replica
        .store()
        .receive_snapshot(&header.meta, header.after, header.last_seq, events)
        .await?;
    tracing::info!(snapshot = %header.meta, after = %header.after, last_seq = %header.last_seq, "snapshot received; installing");
    let snapshot = Snapshot {
        meta: header.meta,
        snapshot: Box::new(received.data.clone()),
    };
    let installed = replica
        .raft()
        .install_full_snapshot(header.vote, snapshot)
        .await;
    // Raft either installed it (which removed the transfer's marker) or did not take it
    // (refused, or no newer than its own state): then its events go back out.
    match replica.store().discard_received(&received).await? {
        None => {
            replica
                .transfers()
                .installed
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(after = %header.after, to = %header.last_seq, "snapshot installed");
        }
        Some(removed) => {
            tracing::info!(removed, last_seq = %header.last_seq, "snapshot not installed; its received events were taken back out");
        }
    }
    Ok(installed)
}
