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
//! Frames may be split across chunks arbitrarily; [`FrameDecoder`] reassembles them.
//! [`StreamReader`] adds the stream's meaning on top: it starts after a given sequence
//! number, skips events it already has (so a resumed stream may overlap), yields each new
//! event decoded exactly once and in order, reports a gap as an error instead of silently
//! skipping events, and tells heartbeats from events. [`read_stream`] runs a reader over an
//! HTTP body (any stream of byte chunks).

use crate::{codec, DecodeError, Seq};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

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
    let mut out = BytesMut::with_capacity(EVENT_HEADER + payload.len());
    out.put_u8(TAG_EVENT);
    out.put_u64_le(seq.0);
    // Payloads are single events, far below 4 GiB; `MAX_PAYLOAD` is enforced on the reader.
    out.put_u32_le(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    out.put_slice(payload);
    out.freeze()
}

/// Encodes a heartbeat frame.
pub fn heartbeat_frame(last_seq: Seq) -> Bytes {
    let mut out = BytesMut::with_capacity(HEARTBEAT_LEN);
    out.put_u8(TAG_HEARTBEAT);
    out.put_u64_le(last_seq.0);
    out.freeze()
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
}

/// Reassembles frames from arbitrarily split chunks.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
}

impl FrameDecoder {
    /// A decoder with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes received from the wire.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// How many bytes are buffered but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let Some(&tag) = self.buf.first() else {
            return Ok(None);
        };
        match tag {
            TAG_HEARTBEAT => {
                if self.buf.len() < HEARTBEAT_LEN {
                    return Ok(None);
                }
                self.buf.advance(1);
                let last_seq = Seq(self.buf.get_u64_le());
                Ok(Some(Frame::Heartbeat { last_seq }))
            }
            TAG_EVENT => {
                if self.buf.len() < EVENT_HEADER {
                    return Ok(None);
                }
                let mut header = &self.buf[1..EVENT_HEADER];
                let seq = Seq(header.get_u64_le());
                let len = header.get_u32_le() as usize;
                if len > MAX_PAYLOAD {
                    return Err(FrameError::TooLarge(len));
                }
                if self.buf.len() < EVENT_HEADER + len {
                    return Ok(None);
                }
                self.buf.advance(EVENT_HEADER);
                let payload = self.buf.split_to(len).freeze();
                Ok(Some(Frame::Event { seq, payload }))
            }
            other => Err(FrameError::UnknownTag(other)),
        }
    }
}

/// What a [`StreamReader`] yields.
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

/// Reads a stream of frames as events of type `T`, resuming after a given sequence number.
#[derive(Debug)]
pub struct StreamReader<T> {
    decoder: FrameDecoder,
    last: Seq,
    _event: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> StreamReader<T> {
    /// A reader that already has every event up to and including `after`.
    pub fn new(after: Seq) -> Self {
        Self {
            decoder: FrameDecoder::new(),
            last: after,
            _event: PhantomData,
        }
    }

    /// The last sequence number this reader has yielded (or started after).
    pub fn last_seq(&self) -> Seq {
        self.last
    }

    /// Adds bytes received from the wire.
    pub fn push(&mut self, chunk: &[u8]) {
        self.decoder.push(chunk);
    }

    /// The next item, `Ok(None)` if more bytes are needed. Events at or below the last
    /// sequence number are skipped; an event beyond the next one is a [`FrameError::Gap`].
    pub fn next_item(&mut self) -> Result<Option<StreamItem<T>>, FrameError> {
        loop {
            match self.decoder.next_frame()? {
                None => return Ok(None),
                Some(Frame::Heartbeat { last_seq }) => {
                    return Ok(Some(StreamItem::Heartbeat { last_seq }))
                }
                Some(Frame::Event { seq, payload }) => {
                    if seq <= self.last {
                        continue;
                    }
                    let expected = self.last.next();
                    if seq != expected {
                        return Err(FrameError::Gap { expected, got: seq });
                    }
                    let event = codec::decode(&payload)
                        .map_err(|source| FrameError::Decode { seq, source })?;
                    self.last = seq;
                    return Ok(Some(StreamItem::Event {
                        seq,
                        event,
                        payload,
                    }));
                }
            }
        }
    }

    /// Call when the body has ended: an error if it ended inside a frame.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.decoder.pending() {
            0 => Ok(()),
            n => Err(FrameError::Truncated(n)),
        }
    }
}

/// Reads an HTTP body (a stream of byte chunks) as a stream of [`StreamItem`]s, starting
/// after `after`. The stream ends when the body ends cleanly; a transport error, a malformed
/// frame or a body that ends inside a frame ends it with one error.
pub fn read_stream<T, S, B, E>(
    body: S,
    after: Seq,
) -> impl Stream<Item = Result<StreamItem<T>, FrameError>>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let state = Some((body, StreamReader::<T>::new(after)));
    futures_util::stream::unfold(state, |state| async move {
        let (mut body, mut reader) = state?;
        loop {
            match reader.next_item() {
                Ok(Some(item)) => return Some((Ok(item), Some((body, reader)))),
                Err(e) => return Some((Err(e), None)),
                Ok(None) => {}
            }
            match body.next().await {
                Some(Ok(chunk)) => reader.push(chunk.as_ref()),
                Some(Err(e)) => return Some((Err(FrameError::Transport(e.to_string())), None)),
                None => return reader.finish().err().map(|e| (Err(e), None)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode, OrderEvent};

    fn order(n: u64) -> OrderEvent {
        OrderEvent::OrderPlaced {
            number: n,
            request_id: format!("r{n}"),
            name: "Tux".into(),
            quantity: 1,
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

    #[test]
    fn reassembles_frames_split_at_every_byte() {
        let frames = vec![ev(1), Frame::Heartbeat { last_seq: Seq(1) }, ev(2)];
        let bytes = wire(&frames);
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &bytes {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame().expect("valid frames") {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn reader_resumes_after_seq_skips_duplicates_and_tells_heartbeats() {
        let bytes = wire(&[ev(1), ev(2), Frame::Heartbeat { last_seq: Seq(3) }, ev(3)]);
        let mut r = StreamReader::<OrderEvent>::new(Seq(1));
        r.push(&bytes);
        let mut items = Vec::new();
        while let Some(item) = r.next_item().expect("valid stream") {
            items.push(item);
        }
        assert_eq!(items.len(), 3);
        assert!(
            matches!(&items[0], StreamItem::Event { seq: Seq(2), event, .. } if *event == order(1))
        );
        assert_eq!(items[1], StreamItem::Heartbeat { last_seq: Seq(3) });
        assert!(matches!(&items[2], StreamItem::Event { seq: Seq(3), .. }));
        assert_eq!(r.last_seq(), Seq(3));
    }

    #[test]
    fn reader_reports_gaps_bad_payloads_tags_and_lengths() {
        let mut r = StreamReader::<OrderEvent>::new(Seq(0));
        r.push(&wire(&[ev(2)]));
        assert_eq!(
            r.next_item(),
            Err(FrameError::Gap {
                expected: Seq(1),
                got: Seq(2)
            })
        );

        let mut r = StreamReader::<OrderEvent>::new(Seq(0));
        r.push(&event_frame(Seq(1), &[9, 9]));
        assert!(matches!(
            r.next_item(),
            Err(FrameError::Decode { seq: Seq(1), .. })
        ));

        let mut d = FrameDecoder::new();
        d.push(&[0x7f]);
        assert_eq!(d.next_frame(), Err(FrameError::UnknownTag(0x7f)));

        let mut d = FrameDecoder::new();
        d.push(&[TAG_EVENT, 1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn read_stream_over_chunks_and_truncation() {
        let bytes = wire(&[ev(1), ev(2)]);
        let (a, b) = bytes.split_at(5);
        let chunks: Vec<Result<Vec<u8>, String>> = vec![Ok(a.to_vec()), Ok(b.to_vec())];
        let items: Vec<_> = futures_executor_block_on(
            read_stream::<OrderEvent, _, _, _>(futures_util::stream::iter(chunks), Seq(0))
                .collect::<Vec<_>>(),
        );
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.is_ok()));

        let cut = bytes[..bytes.len() - 1].to_vec();
        let chunks: Vec<Result<Vec<u8>, String>> = vec![Ok(cut)];
        let items: Vec<_> = futures_executor_block_on(
            read_stream::<OrderEvent, _, _, _>(futures_util::stream::iter(chunks), Seq(0))
                .collect::<Vec<_>>(),
        );
        assert!(matches!(items.last(), Some(Err(FrameError::Truncated(_)))));
    }

    /// A minimal executor: the streams above never pend, so polling in a loop suffices.
    fn futures_executor_block_on<F: std::future::Future>(fut: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut fut = std::pin::pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
