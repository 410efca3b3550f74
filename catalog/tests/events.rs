//! The catalog's event stream (`CatalogClient::events(after)`): it yields exactly the events
//! after `after`, in order, then a heartbeat carrying the last sequence number, then every
//! new commit (purchases and restocks) as it happens; resuming with a later `after` skips
//! the earlier events; a subscriber ahead of the log learns the log's real end; and the
//! stream ends cleanly when the catalog shuts down. Restock brings exactly the sold-out toys
//! back to 100 and records one `Restocked` event each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::buy_request as buy;
use common::*;
use futures_util::{Stream, StreamExt};
use toystore_catalog::toys::TOYS;
use toystore_events::{CatalogEvent, FrameError, Seq, StreamItem};

type Item = Result<StreamItem<CatalogEvent>, FrameError>;

async fn next<S: Stream<Item = Item> + Unpin>(stream: &mut S) -> Option<StreamItem<CatalogEvent>> {
    tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("the stream yields within the deadline")
        .map(|item| item.expect("a valid stream item"))
}

/// The next event, skipping heartbeats (which must never claim a position ahead of the
/// events the stream has delivered).
async fn next_event<S: Stream<Item = Item> + Unpin>(
    stream: &mut S,
    delivered: Seq,
) -> (Seq, CatalogEvent) {
    loop {
        match next(stream).await.expect("stream still open") {
            StreamItem::Event { seq, event, .. } => return (seq, event),
            StreamItem::Heartbeat { last_seq } => {
                assert!(
                    last_seq <= delivered,
                    "heartbeat {last_seq} ahead of {delivered}"
                )
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_yields_exactly_the_events_after_then_heartbeats_then_live_commits() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();

    let mut all = Box::pin(client.events(Seq::ZERO, SILENCE).await.expect("subscribe"));
    for (i, (name, price)) in TOYS.iter().enumerate() {
        match next(&mut all).await.expect("open") {
            StreamItem::Event { seq, event, .. } => {
                assert_eq!(seq, Seq(i as u64 + 1));
                assert_eq!(
                    event,
                    CatalogEvent::ProductAdded {
                        name: (*name).try_into().unwrap(),
                        price: *price,
                        quantity: 100
                    }
                );
            }
            other => panic!("expected event {}, got {other:?}", i + 1),
        }
    }
    let seeded = Seq(TOYS.len() as u64);
    assert_eq!(
        next(&mut all).await,
        Some(StreamItem::Heartbeat { last_seq: seeded }),
        "caught up: a heartbeat at once"
    );

    // Live commits arrive as they happen.
    let reply = client.buy(&buy("ev-1", "Tux", 2)).await.expect("buy");
    assert_eq!(reply.seq, seeded.next());
    let (seq, event) = next_event(&mut all, seeded).await;
    assert_eq!(seq, reply.seq);
    assert_eq!(
        event,
        CatalogEvent::Purchased {
            request_id: "ev-1".try_into().unwrap(),
            name: "Tux".try_into().unwrap(),
            quantity: 2u32.try_into().unwrap()
        }
    );
    // A replayed buy appends nothing, so the next event is the next real one.
    client.buy(&buy("ev-1", "Tux", 2)).await.expect("replay");
    client
        .buy(&buy("ev-2", "Uno", 100))
        .await
        .expect("sell out");
    let restocked = client.restock().await.expect("restock");
    assert_eq!(restocked.restocked, vec!["Uno".to_string()]);
    let (s, e) = next_event(&mut all, reply.seq).await;
    assert_eq!((s, e.product().as_str()), (Seq(reply.seq.0 + 1), "Uno"));
    assert!(matches!(e, CatalogEvent::Purchased { quantity, .. } if quantity.get() == 100));
    let (s, e) = next_event(&mut all, s).await;
    assert_eq!(s, Seq(reply.seq.0 + 2));
    assert_eq!(
        e,
        CatalogEvent::Restocked {
            name: "Uno".try_into().unwrap(),
            added: 100
        }
    );
    let last = s;
    assert_eq!(client.health().await.expect("health").last_seq, last);

    // Resuming later skips what came before.
    let mut resumed = Box::pin(client.events(Seq(18), SILENCE).await.expect("subscribe"));
    let mut seqs = Vec::new();
    loop {
        match next(&mut resumed).await.expect("open") {
            StreamItem::Event { seq, .. } => seqs.push(seq.0),
            StreamItem::Heartbeat { last_seq } => {
                assert_eq!(last_seq, last);
                break;
            }
        }
    }
    assert_eq!(seqs, (19..=last.0).collect::<Vec<_>>());

    // Resuming at the end: a heartbeat first, no event.
    let mut at_end = Box::pin(client.events(last, SILENCE).await.expect("subscribe"));
    assert_eq!(
        next(&mut at_end).await,
        Some(StreamItem::Heartbeat { last_seq: last })
    );

    // A subscriber ahead of the log (the catalog's data was reset) learns where it ends.
    let mut ahead = Box::pin(client.events(Seq(1000), SILENCE).await.expect("subscribe"));
    assert_eq!(
        next(&mut ahead).await,
        Some(StreamItem::Heartbeat { last_seq: last })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restock_brings_back_exactly_the_sold_out_toys() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    assert!(client
        .restock()
        .await
        .expect("restock")
        .restocked
        .is_empty());

    client.buy(&buy("w", "Whale", 100)).await.expect("buy");
    client.buy(&buy("b", "Bird", 100)).await.expect("buy");
    client.buy(&buy("c", "Clue", 99)).await.expect("buy");
    let before = client.health().await.expect("health").last_seq;
    let mut events = Box::pin(client.events(before, SILENCE).await.expect("subscribe"));

    let reply = client.restock().await.expect("restock");
    assert_eq!(
        reply.restocked,
        vec!["Bird".to_string(), "Whale".to_string()]
    );
    assert_eq!(quantity(&client, "Whale").await, 100);
    assert_eq!(quantity(&client, "Bird").await, 100);
    assert_eq!(
        quantity(&client, "Clue").await,
        1,
        "not sold out: untouched"
    );
    let (s1, e1) = next_event(&mut events, before).await;
    let (s2, e2) = next_event(&mut events, s1).await;
    assert_eq!((s1, s2), (before.next(), before.next().next()));
    assert_eq!(
        [e1, e2],
        [
            CatalogEvent::Restocked {
                name: "Bird".try_into().unwrap(),
                added: 100
            },
            CatalogEvent::Restocked {
                name: "Whale".try_into().unwrap(),
                added: 100
            },
        ]
    );
    assert!(client
        .restock()
        .await
        .expect("restock")
        .restocked
        .is_empty());
    assert_eq!(client.health().await.expect("health").last_seq, s2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_ends_cleanly_when_the_catalog_stops() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let mut events = Box::pin(client.events(Seq(20), SILENCE).await.expect("subscribe"));
    assert_eq!(
        next(&mut events).await,
        Some(StreamItem::Heartbeat { last_seq: Seq(20) })
    );
    catalog.stop().await.expect("clean stop");
    loop {
        match tokio::time::timeout(DEADLINE, events.next())
            .await
            .expect("ends")
        {
            None => break,
            Some(Ok(StreamItem::Heartbeat { last_seq })) => assert_eq!(last_seq, Seq(20)),
            Some(other) => panic!("expected a clean end, got {other:?}"),
        }
    }
}
