//! [`follow`]: the one follower of the catalog's event stream, shared by every subscriber
//! (the front-end's cache invalidation and relay, the order replicas' completer).
//!
//! It runs as a task and hands the subscriber what happened, in order, on a channel
//! ([`Followed`]), so the subscriber only decides what each thing means to it. What it
//! guarantees:
//!
//! - **Nothing missed, nothing twice**: each connection resumes after the last event it
//!   delivered (the catalog's log is append-only, and a replicated catalog's replicas hold
//!   the same events at the same seqs), and the stream's reader rejects a gap and skips a
//!   repeat (`toystore_events::frame::read_stream`), so the events delivered are consecutive
//!   across reconnections, catalog replica failovers included. (After a replaced log with
//!   [`OnReplaced::ReadAgain`], the new log's events are delivered from its start: another
//!   history, whose seqs begin again.)
//! - **Failover**: the starting position ([`Start::Now`]) is asked of the replica believed
//!   to lead, or the next that answers ([`CatalogClient::any_health`]), and each stream is
//!   opened the same way ([`CatalogClient::events`]).
//! - **No silent hang**: a stream on which nothing arrives, not even a heartbeat, for the
//!   silence timeout counts as broken and is reopened, as is one that ends or fails; the
//!   reopening waits a backoff, reset once a connection delivers an event or says it is
//!   caught up (so a stream that fails right after one heartbeat keeps backing off).
//! - **A replaced log**: a heartbeat saying a lone catalog's log ends before what was read
//!   ([`CatalogClient::log_replaced`]) is reported, and following resumes where
//!   [`OnReplaced`] says.
//!
//! The subscriber's channel is bounded: a slow subscriber slows the reading, it loses
//! nothing. The task (spawned on the current Tokio runtime) ends when `stop` is cancelled or
//! the receiver is dropped.

use crate::CatalogClient;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use toystore_config::Backoff;
use toystore_events::{CatalogEvent, Seq, StreamItem};

/// Where following starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// After the catalog's last event when first reached (earlier events are not delivered).
    Now,
    /// After this seq.
    After(Seq),
}

/// Where following resumes once the catalog's log turns out replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnReplaced {
    /// From the start of the new log (every event of it is delivered).
    ReadAgain,
    /// From the new log's end (its events so far are not delivered).
    SkipToEnd,
}

/// How the follower behaves.
#[derive(Debug, Clone)]
pub struct Following {
    /// How long a stream may stay silent (no event, no heartbeat) before it is reopened.
    pub silence: Duration,
    /// The waits before reopening a broken stream.
    pub backoff: Backoff,
    /// Where to resume after a replaced log.
    pub on_replaced: OnReplaced,
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Followed {
    /// A stream is open and delivers the events after `after` (first of each connection).
    Connected {
        /// The last event delivered before this connection (for [`Start::Now`], at first,
        /// the catalog's last event when reached).
        after: Seq,
    },
    /// The next event.
    Event {
        /// Its sequence number.
        seq: Seq,
        /// The event.
        event: CatalogEvent,
    },
    /// A heartbeat: the serving replica's log ends at `last_seq`.
    Heartbeat {
        /// Where its log ends.
        last_seq: Seq,
        /// Everything up to there has been delivered.
        caught_up: bool,
    },
    /// The catalog's log ends at `heard`, before `read`, what was delivered: its data was
    /// replaced. Following resumes after `resume_at` ([`OnReplaced`]).
    Replaced {
        /// Where the new log ends.
        heard: Seq,
        /// The last event delivered from the old one.
        read: Seq,
        /// Where following resumes.
        resume_at: Seq,
    },
    /// The stream could not be opened, broke, went silent or ended; it is reopened after
    /// `retry_in`.
    Broken {
        /// Why.
        reason: String,
        /// The wait before reopening.
        retry_in: Duration,
    },
}

/// Starts following `catalog` from `start` (call within a Tokio runtime); the receiver gets
/// what happened, and the task ends (its handle completes) at `stop` or once the receiver
/// is dropped.
pub fn follow(
    catalog: CatalogClient,
    start: Start,
    following: Following,
    stop: CancellationToken,
) -> (mpsc::Receiver<Followed>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(async move {
        let gone = tx.clone();
        tokio::select! {
            () = run(catalog, start, following, tx) => {}
            () = stop.cancelled() => {}
            () = gone.closed() => {}
        }
    });
    (rx, task)
}

/// Why one connection ended: `Ok` when following may go on at once (a replaced log),
/// `Err(reason)` when it broke.
type Ended = Result<(), String>;

async fn run(
    catalog: CatalogClient,
    start: Start,
    following: Following,
    tx: mpsc::Sender<Followed>,
) {
    let Following {
        silence,
        mut backoff,
        on_replaced,
    } = following;
    let mut position = match start {
        Start::After(seq) => Some(seq),
        Start::Now => None,
    };
    loop {
        let ended = connection(
            &catalog,
            &mut position,
            silence,
            on_replaced,
            &mut backoff,
            &tx,
        )
        .await;
        let Some(ended) = ended else {
            return; // the subscriber is gone
        };
        if let Err(reason) = ended {
            let retry_in = backoff.next_wait();
            if tx
                .send(Followed::Broken { reason, retry_in })
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(retry_in).await;
        }
    }
}

/// Follows one connection until it ends; `None` once the subscriber is gone.
async fn connection(
    catalog: &CatalogClient,
    position: &mut Option<Seq>,
    silence: Duration,
    on_replaced: OnReplaced,
    backoff: &mut Backoff,
    tx: &mpsc::Sender<Followed>,
) -> Option<Ended> {
    let after = match *position {
        Some(seq) => seq,
        None => match catalog.any_health().await {
            Ok(health) => health.last_seq,
            Err(e) => return Some(Err(format!("catalog not reachable: {e}"))),
        },
    };
    let stream = match catalog.events(after, silence).await {
        Ok(stream) => stream,
        Err(e) => return Some(Err(format!("cannot open the catalog's event stream: {e}"))),
    };
    *position = Some(after);
    tracing::info!(%after, "following the catalog's events");
    tx.send(Followed::Connected { after }).await.ok()?;
    let mut stream = std::pin::pin!(stream);
    let mut read = after;
    loop {
        let item = match stream.next().await {
            None => return Some(Err("the catalog closed the stream".into())),
            Some(Err(e)) => return Some(Err(e.to_string())),
            Some(Ok(item)) => item,
        };
        let followed = match item {
            StreamItem::Event { seq, event, .. } => {
                backoff.reset();
                read = seq;
                *position = Some(seq);
                Followed::Event { seq, event }
            }
            StreamItem::Heartbeat { last_seq } if catalog.log_replaced(last_seq, read) => {
                let resume_at = match on_replaced {
                    OnReplaced::ReadAgain => Seq::ZERO,
                    OnReplaced::SkipToEnd => last_seq,
                };
                *position = Some(resume_at);
                tx.send(Followed::Replaced {
                    heard: last_seq,
                    read,
                    resume_at,
                })
                .await
                .ok()?;
                return Some(Ok(()));
            }
            StreamItem::Heartbeat { last_seq } => {
                let caught_up = last_seq == read;
                if caught_up {
                    backoff.reset();
                }
                Followed::Heartbeat {
                    last_seq,
                    caught_up,
                }
            }
        };
        tx.send(followed).await.ok()?;
    }
}
