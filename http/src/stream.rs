//! Streaming response bodies (event streams) through warp.
//!
//! warp 0.4 has no public way to build a streaming body other than server-sent events. A
//! handler that streams returns [`reply`]: an empty response that carries the stream in an
//! extension, and [`crate::serve`] swaps the stream in as the chunked body before the response
//! leaves. Headers, status, routing and auth stay ordinary warp. (Outside [`crate::serve`],
//! e.g. under `warp::test`, such a response has an empty body.)
//!
//! On the reading side, [`until_silent`] ends a stream of frames that has gone quiet for too
//! long, since a connection whose peer vanished (a partition that drops packets) never fails
//! by itself.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body_util::{Either, StreamBody};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use toystore_events::{FrameError, StreamItem};
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::HeaderValue;
use warp::reply::Response;

/// The error type of response bodies served by [`crate::serve`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// MIME type of event streams (and of replication pushes, which carry the same frames).
pub const EVENT_STREAM_TYPE: &str = "application/x-toystore-events";

type ByteStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

#[derive(Clone)]
struct Slot(Arc<Mutex<Option<ByteStream>>>);

/// A `200` response whose body is `stream`, sent chunk by chunk as it yields, with the
/// given content type. The body ends when the stream ends.
pub fn reply(
    stream: impl Stream<Item = Bytes> + Send + 'static,
    content_type: &'static str,
) -> Response {
    let mut resp = Response::new(Bytes::new().into());
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.extensions_mut()
        .insert(Slot(Arc::new(Mutex::new(Some(Box::pin(stream))))));
    resp
}

/// Turns warp's response into the served one, swapping in a stream from [`reply`]. An
/// ordinary response keeps warp's body as it is (no further boxing per request).
pub(crate) fn into_served(
    resp: Response,
) -> http::Response<impl http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static> {
    let (mut parts, body) = resp.into_parts();
    let stream = parts
        .extensions
        .remove::<Slot>()
        .and_then(|slot| slot.0.lock().ok().and_then(|mut s| s.take()));
    let body = match stream {
        Some(stream) => {
            Either::Left(StreamBody::new(stream.map(|b| {
                Ok::<_, std::convert::Infallible>(http_body::Frame::data(b))
            })))
        }
        None => Either::Right(body),
    };
    http::Response::from_parts(parts, body)
}

/// The query of an event-stream endpoint: `?after=<seq>`.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterQuery {
    /// Send events after this sequence number (default 0: all).
    #[serde(default)]
    pub after: u64,
}

/// `items` as they come, until nothing (not even a heartbeat) has arrived for `silence`:
/// then one [`FrameError::Silent`] and the end. Every frame, event or heartbeat, restarts
/// the wait; the stream's own end or error passes through unchanged.
pub fn until_silent<T>(
    items: impl Stream<Item = Result<StreamItem<T>, FrameError>>,
    silence: Duration,
) -> impl Stream<Item = Result<StreamItem<T>, FrameError>> {
    futures_util::stream::unfold(Some(Box::pin(items)), move |items| async move {
        let mut items = items?;
        match tokio::time::timeout(silence, items.next()).await {
            Ok(Some(item)) => Some((item, Some(items))),
            Ok(None) => None,
            Err(_) => Some((Err(FrameError::Silent(silence)), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use toystore_events::Seq;

    type Item = Result<StreamItem<()>, FrameError>;

    fn beat(n: u64) -> Item {
        Ok(StreamItem::Heartbeat { last_seq: Seq(n) })
    }

    #[tokio::test(start_paused = true)]
    async fn frames_closer_than_the_silence_pass_and_a_quiet_stream_ends_silent() {
        let silence = Duration::from_millis(300);
        // Three heartbeats 200 ms apart, then nothing for ever.
        let beats = futures_util::stream::iter(1..=3u64)
            .then(|n| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                beat(n)
            })
            .chain(futures_util::stream::pending());
        let got: Vec<Item> = until_silent(beats, silence).collect().await;
        assert_eq!(
            got,
            vec![beat(1), beat(2), beat(3), Err(FrameError::Silent(silence))]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_ends_or_fails_ends_as_it_did() {
        let silence = Duration::from_millis(300);
        let ended: Vec<Item> = until_silent(futures_util::stream::iter([beat(1)]), silence)
            .collect()
            .await;
        assert_eq!(ended, vec![beat(1)]);
        let failed: Vec<Item> = until_silent(
            futures_util::stream::iter([beat(1), Err(FrameError::Truncated(3))]),
            silence,
        )
        .collect()
        .await;
        assert_eq!(failed, vec![beat(1), Err(FrameError::Truncated(3))]);
    }
}
