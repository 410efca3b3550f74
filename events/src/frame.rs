//! Framing of an event stream over HTTP.
//!
//! A subscriber asks a service for every event after some sequence number; the service
//! answers with a long-lived chunked body of frames:
//!
//! ```text
//! event:     0x01 | seq: u64 LE | len: u32 LE | len bytes (the event as stored, see codec)
//! heartbeat: 0x02 | last_seq: u64 LE          (the sender's last sequence number)
//! ```
//!
//! Frames may be split across chunks arbitrarily. [`FrameCodec`] is their
//! `tokio_util::codec` decoder, the one place that reads the layout ([`event_frame`],
//! [`heartbeat_frame`] and [`put_event`] write it). [`read_stream`] reads an HTTP body (any
//! stream of byte chunks) with `FramedRead` over the codec and adds the stream's meaning: it
//! starts after a given sequence number, skips events it already has (so a resumed stream
//! may overlap), yields each new event decoded exactly once and in order, reports a gap as
//! an error instead of silently skipping events, and tells heartbeats from events.
//! [`read_all`] runs it over chunks already in memory (tests, fuzzing, benches).

use crate::{codec, DecodeError, Seq};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use tokio_util::codec::{Decoder, FramedRead};

const TAG_EVENT: u8 = 0x01;
const TAG_HEARTBEAT: u8 = 0x02;
const EVENT_HEADER: usize = 1 + 8 + 4;
const HEARTBEAT_LEN: usize = 1 + 8;

/// The largest event payload a decoder accepts; a larger length prefix is a protocol error
/// (it protects the reader from allocating what a broken peer claims).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One frame of an event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// An event at `seq`, as its stored bytes.
    Event {
        /// Its sequence number.
        seq: Seq,
        /// The event as encoded by [`codec::encode`].
        payload: Bytes,
    },
    /// Nothing new; the sender's log ends at `last_seq`.
    Heartbeat {
        /// The sender's last sequence number.
        last_seq: Seq,
    },
}

impl Frame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Bytes {
        match self {
            Frame::Event { seq, payload } => event_frame(*seq, payload),
            Frame::Heartbeat { last_seq } => heartbeat_frame(*last_seq),
        }
    }
}

/// Encodes an event frame without copying the payload into a [`Frame`] first.
pub fn event_frame(seq: Seq, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    put_event(&mut out, seq, payload);
    out.freeze()
}

/// Encodes a heartbeat frame.
pub fn heartbeat_frame(last_seq: Seq) -> Bytes {
    let mut out = BytesMut::new();
    put_heartbeat(&mut out, last_seq);
    out.freeze()
}

/// Appends an event frame to `out` (a sender batching several frames into one chunk).
pub fn put_event(out: &mut BytesMut, seq: Seq, payload: &[u8]) {
    out.reserve(EVENT_HEADER + payload.len());
    out.put_u8(TAG_EVENT);
    out.put_u64_le(seq.0);
    // Payloads are single events, far below 4 GiB; `MAX_PAYLOAD` is enforced on the reader.
    out.put_u32_le(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    out.put_slice(payload);
}

fn put_heartbeat(out: &mut BytesMut, last_seq: Seq) {
    out.reserve(HEARTBEAT_LEN);
    out.put_u8(TAG_HEARTBEAT);
    out.put_u64_le(last_seq.0);
}

/// Why a stream could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// A frame starts with a tag this build does not know.
    #[error("unknown frame tag {0:#04x}")]
    UnknownTag(u8),
    /// An event frame claims a payload larger than [`MAX_PAYLOAD`].
    #[error("event payload of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The stream skipped events: the next one expected was `expected`, `got` arrived.
    #[error("gap in event stream: expected seq {expected}, got {got}")]
    Gap {
        /// The sequence number the reader needed next.
        expected: Seq,
        /// The sequence number that arrived.
        got: Seq,
    },
    /// An event's payload could not be decoded.
    #[error("event {seq}: {source}")]
    Decode {
        /// The sequence number of the event.
        seq: Seq,
        /// Why it could not be decoded.
        source: DecodeError,
    },
    /// The body ended in the middle of a frame.
    #[error("stream ended inside a frame ({0} bytes left over)")]
    Truncated(usize),
    /// The underlying body failed.
    #[error("transport: {0}")]
    Transport(String),
    /// Nothing arrived, not even a heartbeat, for this long: the sender or the path to it is
    /// presumed dead (a connection that dies silently never fails by itself).
    #[error("no frame, not even a heartbeat, for {0:?}")]
    Silent(std::time::Duration),
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Transport(e.to_string())
    }
}

/// The frames' decoder (`tokio_util::codec`): frames from bytes split anywhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameCodec;

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let Some(&tag) = buf.first() else {
            return Ok(None);
        };
        match tag {
            TAG_HEARTBEAT => {
                if buf.len() < HEARTBEAT_LEN {
                    return Ok(None);
                }
                buf.advance(1);
                let last_seq = Seq(buf.get_u64_le());
                Ok(Some(Frame::Heartbeat { last_seq }))
            }
            TAG_EVENT => {
                if buf.len() < EVENT_HEADER {
                    return Ok(None);
                }
                let mut header = &buf[1..EVENT_HEADER];
                let seq = Seq(header.get_u64_le());
                let len = header.get_u32_le() as usize;
                if len > MAX_PAYLOAD {
                    return Err(FrameError::TooLarge(len));
                }
                if buf.len() < EVENT_HEADER + len {
                    buf.reserve(EVENT_HEADER + len - buf.len());
                    return Ok(None);
                }
                buf.advance(EVENT_HEADER);
                let payload = buf.split_to(len).freeze();
                Ok(Some(Frame::Event { seq, payload }))
            }
            other => Err(FrameError::UnknownTag(other)),
        }
    }

    /// At the end of the body: a frame cut short is [`FrameError::Truncated`].
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() => Ok(None),
            None => Err(FrameError::Truncated(buf.len())),
        }
    }
}

/// What [`read_stream`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem<T> {
    /// The next event, exactly once and in order.
    Event {
        /// Its sequence number.
        seq: Seq,
        /// The decoded event.
        event: T,
        /// The event's bytes as the sender stores them (so a replica can store them as is).
        payload: Bytes,
    },
    /// The sender is alive; its log ends at `last_seq`.
    Heartbeat {
        /// The sender's last sequence number.
        last_seq: Seq,
    },
}

/// The stream's meaning: starts after a sequence number, drops events it already has,
/// refuses a gap, decodes each new event once.
#[derive(Debug)]
struct Sequencer<T> {
    last: Seq,
    _event: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Sequencer<T> {
    fn new(after: Seq) -> Self {
        Self {
            last: after,
            _event: PhantomData,
        }
    }

    /// What `frame` means; `Ok(None)` for an event already had.
    fn accept(&mut self, frame: Frame) -> Result<Option<StreamItem<T>>, FrameError> {
        match frame {
            Frame::Heartbeat { last_seq } => Ok(Some(StreamItem::Heartbeat { last_seq })),
            Frame::Event { seq, .. } if seq <= self.last => Ok(None),
            Frame::Event { seq, payload } => {
                let expected = self.last.next();
                if seq != expected {
                    return Err(FrameError::Gap { expected, got: seq });
                }
                let event =
                    codec::decode(&payload).map_err(|source| FrameError::Decode { seq, source })?;
                self.last = seq;
                Ok(Some(StreamItem::Event {
                    seq,
                    event,
                    payload,
                }))
            }
        }
    }
}

/// Reads an HTTP body (a stream of byte chunks) as a stream of [`StreamItem`]s, starting
/// after `after`: [`FrameCodec`] under `FramedRead`, then the stream's meaning. The stream
/// ends when the body ends cleanly; a transport error, a malformed frame or a body that ends
/// inside a frame ends it with one error.
pub fn read_stream<T, S, B, E>(
    body: S,
    after: Seq,
) -> impl Stream<Item = Result<StreamItem<T>, FrameError>>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<B, E>> + Unpin,
    B: Buf,
    E: std::fmt::Display,
{
    let bytes = body.map_err(|e| std::io::Error::other(e.to_string()));
    let frames = FramedRead::new(tokio_util::io::StreamReader::new(bytes), FrameCodec);
    let state = Some((frames, Sequencer::<T>::new(after)));
    futures_util::stream::unfold(state, |state| async move {
        let (mut frames, mut sequencer) = state?;
        loop {
            let accepted = match frames.next().await? {
                Ok(frame) => sequencer.accept(frame),
                Err(e) => Err(e),
            };
            match accepted {
                Ok(None) => continue,
                Ok(Some(item)) => return Some((Ok(item), Some((frames, sequencer)))),
                Err(e) => return Some((Err(e), None)),
            }
        }
    })
}

/// [`read_stream`] over chunks already in memory: every item it yields, up to and including
/// its error if it ends with one (for tests, fuzzing and benches: a body that never waits).
pub fn read_all<T: DeserializeOwned>(
    chunks: impl IntoIterator<Item = Bytes>,
    after: Seq,
) -> Vec<Result<StreamItem<T>, FrameError>> {
    use futures_util::FutureExt;
    let body =
        futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    // An in-memory body is always ready, so the whole read completes on its first poll.
    read_stream(body, after)
        .collect::<Vec<_>>()
        .now_or_never()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode, OrderEvent, OrderNumber, ProductName, Quantity, RequestId};
    use futures_util::FutureExt;

    fn order(n: u64) -> OrderEvent {
        OrderEvent::OrderPlaced {
            number: OrderNumber(n),
            request_id: RequestId::try_from(format!("r{n}")).unwrap(),
            name: ProductName::try_from("Tux").unwrap(),
            quantity: Quantity::ONE,
        }
    }

    fn wire(frames: &[Frame]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.encode().to_vec()).collect()
    }

    fn ev(seq: u64) -> Frame {
        Frame::Event {
            seq: Seq(seq),
            payload: encode(&order(seq - 1)).into(),
        }
    }

    fn chunk(bytes: &[u8]) -> Bytes {
        Bytes::copy_from_slice(bytes)
    }

    #[test]
    fn reassembles_frames_split_at_every_byte() {
        let frames = vec![ev(1), Frame::Heartbeat { last_seq: Seq(1) }, ev(2)];
        let bytes = wire(&frames);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in &bytes {
            buf.extend_from_slice(std::slice::from_ref(b));
            while let Some(f) = FrameCodec.decode(&mut buf).expect("valid frames") {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert_eq!(buf.len(), 0);
        // Written by `put_event` into one chunk, they read back the same.
        let mut out = BytesMut::new();
        put_event(&mut out, Seq(7), b"abc");
        put_heartbeat(&mut out, Seq(7));
        assert_eq!(
            FrameCodec.decode(&mut out),
            Ok(Some(Frame::Event {
                seq: Seq(7),
                payload: Bytes::from_static(b"abc")
            }))
        );
        assert_eq!(
            FrameCodec.decode(&mut out),
            Ok(Some(Frame::Heartbeat { last_seq: Seq(7) }))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn reader_resumes_after_seq_skips_duplicates_and_tells_heartbeats() {
        let bytes = wire(&[ev(1), ev(2), Frame::Heartbeat { last_seq: Seq(3) }, ev(3)]);
        let items: Vec<StreamItem<OrderEvent>> = read_all([chunk(&bytes)], Seq(1))
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("valid stream");
        assert_eq!(items.len(), 3);
        assert!(
            matches!(&items[0], StreamItem::Event { seq: Seq(2), event, .. } if *event == order(1))
        );
        assert_eq!(items[1], StreamItem::Heartbeat { last_seq: Seq(3) });
        assert!(matches!(&items[2], StreamItem::Event { seq: Seq(3), .. }));
    }

    #[test]
    fn reader_reports_gaps_bad_payloads_tags_and_lengths() {
        let items = read_all::<OrderEvent>([chunk(&wire(&[ev(2)]))], Seq(0));
        assert_eq!(
            items,
            vec![Err(FrameError::Gap {
                expected: Seq(1),
                got: Seq(2)
            })]
        );

        let items = read_all::<OrderEvent>([event_frame(Seq(1), &[9, 9])], Seq(0));
        assert!(matches!(
            items.as_slice(),
            [Err(FrameError::Decode { seq: Seq(1), .. })]
        ));

        let mut buf = BytesMut::from(&[0x7f][..]);
        assert_eq!(
            FrameCodec.decode(&mut buf),
            Err(FrameError::UnknownTag(0x7f))
        );

        let mut buf =
            BytesMut::from(&[TAG_EVENT, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            FrameCodec.decode(&mut buf),
            Err(FrameError::TooLarge(_))
        ));
    }

    #[test]
    fn read_stream_over_chunks_and_truncation() {
        let bytes = wire(&[ev(1), ev(2)]);
        let (a, b) = bytes.split_at(5);
        let items = read_all::<OrderEvent>([chunk(a), chunk(b)], Seq(0));
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.is_ok()));

        let items = read_all::<OrderEvent>([chunk(&bytes[..bytes.len() - 1])], Seq(0));
        assert!(matches!(items.last(), Some(Err(FrameError::Truncated(_)))));

        // A transport error ends the stream with that error, after what came before it.
        let half = bytes.len() / 2 + 1;
        let chunks: Vec<Result<Bytes, String>> = vec![
            Ok(chunk(&bytes[..half])),
            Err("connection reset".to_string()),
            Ok(chunk(&bytes[half..])),
        ];
        let items: Vec<_> =
            read_stream::<OrderEvent, _, _, _>(futures_util::stream::iter(chunks), Seq(0))
                .collect::<Vec<_>>()
                .now_or_never()
                .expect("an in-memory body never waits");
        assert!(
            matches!(items.last(), Some(Err(FrameError::Transport(m))) if m.contains("connection reset")),
            "{items:?}"
        );
    }
}
