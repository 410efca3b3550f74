//! The decoders never panic on what a peer or a file may hold. proptest feeds them
//! arbitrary bytes, valid encodings with bytes flipped, cut short or extended, and valid
//! frame streams split into arbitrary chunks: the event codec returns an error or a value; the
//! frame codec returns frames, `Ok(None)` (more bytes needed) or an error; the stream reader
//! the services use (`read_stream`, here through `read_all`) yields items and at most one
//! error, last; and a whole valid stream read in any chunking gives the events that were
//! written.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tokio_util::codec::Decoder;
use toystore_events::frame::{event_frame, heartbeat_frame};
use toystore_events::{
    codec, read_all, CatalogEvent, FrameCodec, OrderEvent, OrderNumber, ProductName, Quantity,
    RequestId, Seq, StreamItem, MAX_QUANTITY,
};

fn order_event() -> impl Strategy<Value = OrderEvent> {
    ("[ -~]{1,64}", "\\PC{1,40}", 1..=MAX_QUANTITY, any::<u64>()).prop_map(|(r, n, q, number)| {
        OrderEvent::OrderPlaced {
            number: OrderNumber(number),
            request_id: RequestId::try_from(r).unwrap(),
            name: ProductName::try_from(n).unwrap(),
            quantity: Quantity::try_from(q).unwrap(),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_codec_refuses_or_decodes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = codec::decode::<OrderEvent>(&bytes);
        let _ = codec::decode::<CatalogEvent>(&bytes);
    }

    #[test]
    fn a_damaged_encoding_never_panics(
        event in order_event(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        tail in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let good = codec::encode(&event);
        prop_assert_eq!(codec::decode::<OrderEvent>(&good).ok(), Some(event));
        let mut bad = good.clone();
        for (at, x) in &flips {
            let i = at.index(bad.len());
            bad[i] ^= x;
        }
        let _ = codec::decode::<OrderEvent>(&bad);
        let _ = codec::decode::<OrderEvent>(&good[..cut.index(good.len() + 1)]);
        let mut longer = good.clone();
        longer.extend_from_slice(&tail);
        let _ = codec::decode::<OrderEvent>(&longer);
    }

    #[test]
    fn the_frame_decoder_survives_garbage(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16)) {
        let mut buf = BytesMut::new();
        for chunk in &chunks {
            buf.extend_from_slice(chunk);
            // Drain until more bytes are needed or an error (after which a caller stops).
            while let Ok(Some(_)) = FrameCodec.decode(&mut buf) {}
        }
        let items = read_all::<OrderEvent>(chunks.iter().map(|c| Bytes::copy_from_slice(c)), Seq::ZERO);
        let errors = items.iter().filter(|i| i.is_err()).count();
        prop_assert!(errors <= 1, "the stream ends at its first error: {items:?}");
        prop_assert!(errors == 0 || items.last().is_some_and(Result::is_err));
    }

    #[test]
    fn a_valid_stream_reads_back_in_any_chunking(
        events in prop::collection::vec(order_event(), 0..20),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut wire = Vec::new();
        for (i, e) in events.iter().enumerate() {
            wire.extend_from_slice(&event_frame(Seq(i as u64 + 1), &codec::encode(e)));
            if i % 3 == 0 {
                wire.extend_from_slice(&heartbeat_frame(Seq(i as u64 + 1)));
            }
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        points.push(0);
        points.push(wire.len());
        points.sort_unstable();
        let chunks = points.windows(2).map(|pair| Bytes::copy_from_slice(&wire[pair[0]..pair[1]]));
        let mut got = Vec::new();
        for item in read_all::<OrderEvent>(chunks, Seq::ZERO) {
            prop_assert!(item.is_ok(), "{item:?}");
            if let Ok(StreamItem::Event { event, .. }) = item {
                got.push(event);
            }
        }
        prop_assert_eq!(got, events);
    }
}
