//! CPU cost of turning events into bytes and back: the value codec (a version byte, then
//! postcard) and the framing of event streams.
//!
//! What it measures, on realistic events (a UUID request id of 36 characters, the toy name
//! "Rubik's Cube", an order number in the hundred thousands):
//!
//! - `codec/encode/*`, `codec/decode/*`: [`toystore_events::encode`] and
//!   [`toystore_events::decode`] of one `OrderEvent::OrderPlaced` (what an order replica
//!   stores) and one `CatalogEvent::Purchased` (what the catalog stores);
//! - `frame/encode_event`: one event frame (tag, seq, length, the stored bytes) as sent on
//!   an event stream;
//! - `frame/decode_stream/*`: a stream of 1000 `OrderPlaced` event frames arriving in 8 KiB
//!   chunks, read back with [`FrameCodec`] (frames only) and with
//!   [`toystore_events::read_all`] (the services' `read_stream`: `FramedRead`, sequence
//!   checks, and decoding each event, as the front-end's cache and an order replica's catalog
//!   follower do).
//!
//! Run it (release, about a minute):
//!
//! ```text
//! cargo bench -p toystore-events --bench codec
//! cargo bench -p toystore-events --bench codec -- decode_stream   # only matching benches
//! ```
//!
//! Reading the result: `time` is per operation (one event, or one stream of 1000 frames);
//! `thrpt` is printed twice, in elements per second (events or frames) and in bytes per
//! second of encoded data (the bytes one event takes in a log value, or on the wire). For the
//! stream benches, time / 1000 is the cost per frame. Criterion also prints the change against
//! the previous run on this machine (kept under `target/criterion`).
//!
//! Under `cargo test --benches` each bench runs once as a smoke test, without measuring.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;
use tokio_util::codec::Decoder;
use toystore_events::frame::event_frame;
use toystore_events::{
    decode, encode, read_all, CatalogEvent, Frame, FrameCodec, OrderEvent, OrderNumber,
    ProductName, Quantity, RequestId, Seq, StreamItem,
};

/// How many frames one stream bench reads.
const STREAM_FRAMES: u64 = 1000;

/// The size of the chunks the stream arrives in (a typical HTTP body chunk).
const CHUNK: usize = 8 * 1024;

/// A UUID request id (36 characters), distinct for each `n`, as the front-end makes.
fn request_id(n: u64) -> RequestId {
    RequestId::from(uuid::Uuid::from_u64_pair(
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        n,
    ))
}

#[allow(clippy::expect_used)] // a constant that is a valid name
fn cube() -> ProductName {
    ProductName::try_from("Rubik's Cube").expect("a name")
}

#[allow(clippy::expect_used)] // a constant that is a valid quantity
fn two() -> Quantity {
    Quantity::try_from(2u32).expect("a quantity")
}

fn order_placed(n: u64) -> OrderEvent {
    OrderEvent::OrderPlaced {
        number: OrderNumber(100_000 + n),
        request_id: request_id(n),
        name: cube(),
        quantity: two(),
    }
}

fn purchased(n: u64) -> CatalogEvent {
    CatalogEvent::Purchased {
        request_id: request_id(n),
        name: cube(),
        quantity: two(),
    }
}

/// Encode and decode of one event of each log's hot variant.
fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let order = order_placed(7);
    let order_bytes = encode(&order);
    let purchase = purchased(7);
    let purchase_bytes = encode(&purchase);
    let one = |bytes: &[u8]| Throughput::ElementsAndBytes {
        elements: 1,
        bytes: bytes.len() as u64,
    };

    group.throughput(one(&order_bytes));
    group.bench_function(BenchmarkId::new("encode", "OrderPlaced"), |b| {
        b.iter(|| encode(black_box(&order)))
    });
    group.bench_function(BenchmarkId::new("decode", "OrderPlaced"), |b| {
        b.iter(|| decode::<OrderEvent>(black_box(&order_bytes)))
    });

    group.throughput(one(&purchase_bytes));
    group.bench_function(BenchmarkId::new("encode", "Purchased"), |b| {
        b.iter(|| encode(black_box(&purchase)))
    });
    group.bench_function(BenchmarkId::new("decode", "Purchased"), |b| {
        b.iter(|| decode::<CatalogEvent>(black_box(&purchase_bytes)))
    });
    group.finish();
}

/// Encoding one frame, and reading a stream of frames back.
fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let payload = encode(&order_placed(7));
    let frame_len = event_frame(Seq(8), &payload).len() as u64;
    group.throughput(Throughput::ElementsAndBytes {
        elements: 1,
        bytes: frame_len,
    });
    group.bench_function("encode_event", |b| {
        b.iter(|| event_frame(black_box(Seq(8)), black_box(&payload)))
    });

    // The wire bytes of events 1..=STREAM_FRAMES, as a follower would receive them.
    let wire: Vec<u8> = (1..=STREAM_FRAMES)
        .flat_map(|seq| {
            Frame::Event {
                seq: Seq(seq),
                payload: encode(&order_placed(seq - 1)).into(),
            }
            .encode()
        })
        .collect();
    group.throughput(Throughput::ElementsAndBytes {
        elements: STREAM_FRAMES,
        bytes: wire.len() as u64,
    });
    group.bench_function(BenchmarkId::new("decode_stream", "FrameCodec"), |b| {
        b.iter(|| {
            let mut buf = BytesMut::new();
            let mut frames = 0u64;
            for chunk in black_box(&wire).chunks(CHUNK) {
                buf.extend_from_slice(chunk);
                while let Ok(Some(frame)) = FrameCodec.decode(&mut buf) {
                    black_box(frame);
                    frames += 1;
                }
            }
            assert_eq!(frames, STREAM_FRAMES, "every frame decodes");
        })
    });
    group.bench_function(BenchmarkId::new("decode_stream", "read_stream"), |b| {
        b.iter(|| {
            let chunks = black_box(&wire).chunks(CHUNK).map(Bytes::copy_from_slice);
            let mut last = Seq::ZERO;
            for item in read_all::<OrderEvent>(chunks, Seq::ZERO) {
                if let Ok(StreamItem::Event { seq, event, .. }) = item {
                    black_box(event);
                    last = seq;
                }
            }
            assert_eq!(last, Seq(STREAM_FRAMES), "every event is read");
        })
    });
    group.finish();
}

criterion_group!(benches, codec, frames);
criterion_main!(benches);
