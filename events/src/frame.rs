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
//! `tokio_util::codec` decoder and encoder, the one place that knows the layout;
//! [`FrameDecoder`] drives it by hand over pushed chunks (for synchronous callers, fuzzing
//! and benches). [`StreamReader`] adds the stream's meaning on top: it starts after a given
//! sequence number, skips events it already has (so a resumed stream may overlap), yields
//! each new event decoded exactly once and in order, reports a gap as an error instead of
//! silently skipping events, and tells heartbeats from events. [`read_stream`] does the same
//! over an HTTP body (any stream of byte chunks) with `FramedRead`.

use crate::{codec, DecodeError, Seq};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use tokio_util::codec::{Decoder, Encoder, FramedRead};

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
    put_event(&mut out, seq, payload);
    out.freeze()
}

/// Encodes a heartbeat frame.
pub fn heartbeat_frame(last_seq: Seq) -> Bytes {
    let mut out = BytesMut::with_capacity(HEARTBEAT_LEN);
    put_heartbeat(&mut out, last_seq);
    out.freeze()
}

fn put_event(out: &mut BytesMut, seq: Seq, payload: &[u8]) {
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
}

impl From<std::io::Error> for FrameError {
    fn from(e: std::io::Error) -> Self {
        FrameError::Transport(e.to_string())
    }
}

/// The frames' codec (`tokio_util::codec`): decodes frames from bytes split anywhere, and
/// encodes them.
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

impl Encoder<&Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, out: &mut BytesMut) -> Result<(), FrameError> {
        match frame {
            Frame::Event { seq, payload } => put_event(out, *seq, payload),
            Frame::Heartbeat { last_seq } => put_heartbeat(out, *last_seq),
        }
        Ok(())
    }
}

/// Reassembles frames from chunks pushed by hand ([`FrameCodec`] over a buffer).
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
        FrameCodec.decode(&mut self.buf)
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

/// Reads a stream of frames as events of type `T`, resuming after a given sequence number.
#[derive(Debug)]
pub struct StreamReader<T> {
    decoder: FrameDecoder,
    sequencer: Sequencer<T>,
}

impl<T: DeserializeOwned> StreamReader<T> {
    /// A reader that already has every event up to and including `after`.
    pub fn new(after: Seq) -> Self {
        Self {
            decoder: FrameDecoder::new(),
            sequencer: Sequencer::new(after),
        }
    }

    /// The last sequence number this reader has yielded (or started after).
    pub fn last_seq(&self) -> Seq {
        self.sequencer.last
    }

    /// Adds bytes received from the wire.
    pub fn push(&mut self, chunk: &[u8]) {
        self.decoder.push(chunk);
    }

    /// The next item, `Ok(None)` if more bytes are needed. Events at or below the last
    /// sequence number are skipped; an event beyond the next one is a [`FrameError::Gap`].
    pub fn next_item(&mut self) -> Result<Option<StreamItem<T>>, FrameError> {
        while let Some(frame) = self.decoder.next_frame()? {
            if let Some(item) = self.sequencer.accept(frame)? {
                return Ok(Some(item));
            }
        }
        Ok(None)
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
        let chunks: Vec<Result<Bytes, String>> =
            vec![Ok(Bytes::copy_from_slice(a)), Ok(Bytes::copy_from_slice(b))];
        let items: Vec<_> = futures_executor_block_on(
            read_stream::<OrderEvent, _, _, _>(futures_util::stream::iter(chunks), Seq(0))
                .collect::<Vec<_>>(),
        );
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.is_ok()));

        let cut = Bytes::copy_from_slice(&bytes[..bytes.len() - 1]);
        let chunks: Vec<Result<Bytes, String>> = vec![Ok(cut)];
        let items: Vec<_> = futures_executor_block_on(
            read_stream::<OrderEvent, _, _, _>(futures_util::stream::iter(chunks), Seq(0))
                .collect::<Vec<_>>(),
        );
        assert!(matches!(items.last(), Some(Err(FrameError::Truncated(_)))));

        // A transport error ends the stream with that error, after what came before it.
        let chunks: Vec<Result<Bytes, String>> = vec![
            Ok(Bytes::copy_from_slice(&bytes[..bytes.len() / 2 + 1])),
            Err("connection reset".to_string()),
            Ok(Bytes::copy_from_slice(&bytes[bytes.len() / 2 + 1..])),
        ];
        let items: Vec<_> = futures_executor_block_on(
            read_stream::<OrderEvent, _, _, _>(futures_util::stream::iter(chunks), Seq(0))
                .collect::<Vec<_>>(),
        );
        assert!(
            matches!(items.last(), Some(Err(FrameError::Transport(m))) if m.contains("connection reset")),
            "{items:?}"
        );
        // Encoder and decoder agree.
        let mut out = BytesMut::new();
        let frame = Frame::Event {
            seq: Seq(7),
            payload: Bytes::from_static(b"abc"),
        };
        FrameCodec
            .encode(&frame, &mut out)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.as_ref(), frame.encode().as_ref());
        assert_eq!(FrameCodec.decode(&mut out), Ok(Some(frame)));
        assert!(out.is_empty());
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
