//! Following a log: the push side of an event stream.
//!
//! [`follow`] yields the log's events after a sequence number as wire frames
//! ([`toystore_events::frame`]): first everything already committed, then each new commit
//! as it happens, and heartbeats carrying the last sequence number. The first heartbeat is
//! sent as soon as the subscriber has caught up, so it learns at once that it is current;
//! after that one goes out every `heartbeat`, on a fixed schedule that nothing postpones
//! (neither events nor wake-ups), whenever the subscriber has every event sent. A
//! subscriber that hears nothing for a few intervals may therefore declare the stream dead,
//! and one that is current learns it within an interval even while events keep coming. A
//! heartbeat never claims a position ahead of the events sent. It ends when `stop`
//! completes, or with the log's writer.

use crate::{EventLog, StoreError};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use toystore_events::frame::{heartbeat_frame, put_event};
use toystore_events::{LogEvent, Seq};

/// Most events sent in one chunk while catching up.
const CHUNK_EVENTS: usize = 512;

/// A stream of frames: the events of `log` after `after`, then live commits and heartbeats.
/// A storage error ends the stream (the subscriber reconnects and resumes).
pub fn follow<E: LogEvent>(
    log: Arc<EventLog<E>>,
    after: Seq,
    heartbeat: Duration,
    stop: impl Future<Output = ()> + Send + 'static,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let state = State {
        commits: log.subscribe(),
        log,
        sent: after,
        heartbeat,
        // Due at once: the first heartbeat goes out as soon as the subscriber has caught up.
        next_beat: Instant::now(),
        stop: Box::pin(stop),
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.next_chunk().await {
            Ok(Some(chunk)) => Some((chunk, Some(state))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "event stream ended by a storage error");
                None
            }
        }
    })
}

struct State<E: LogEvent> {
    log: Arc<EventLog<E>>,
    commits: tokio::sync::watch::Receiver<Seq>,
    sent: Seq,
    heartbeat: Duration,
    /// When the next heartbeat is due: moved on only by sending one.
    next_beat: Instant,
    stop: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl<E: LogEvent> State<E> {
    /// The next chunk to send; `None` when the stream should end.
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, StoreError> {
        loop {
            let committed = *self.commits.borrow_and_update();
            if committed > self.sent {
                return self.events_up_to(committed).map(Some);
            }
            if Instant::now() >= self.next_beat {
                return Ok(Some(self.beat(committed)));
            }
            tokio::select! {
                changed = self.commits.changed() => {
                    if changed.is_err() {
                        return Ok(None);
                    }
                }
                () = tokio::time::sleep_until(self.next_beat) => {}
                () = &mut self.stop => return Ok(None),
            }
        }
    }

    /// A heartbeat at `last` (everything up to it sent); the next one is due an interval
    /// from now.
    fn beat(&mut self, last: Seq) -> Bytes {
        self.next_beat = Instant::now() + self.heartbeat;
        heartbeat_frame(last)
    }

    /// Frames for events after `sent`, at most [`CHUNK_EVENTS`] and none beyond `committed`.
    fn events_up_to(&mut self, committed: Seq) -> Result<Bytes, StoreError> {
        let mut out = BytesMut::new();
        for item in self.log.read_raw_after(self.sent)?.take(CHUNK_EVENTS) {
            let (seq, bytes) = item?;
            if seq > committed {
                break;
            }
            put_event(&mut out, seq, &bytes);
            self.sent = seq;
        }
        Ok(out.freeze())
    }
}
