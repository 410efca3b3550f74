//! Buying through the catalog's `POST /internal/buy`: concurrent buys of the last units sell
//! exactly the stock and never more (each loser gets `409 insufficient stock`), a repeated
//! request id returns the first result and decrements nothing (also when the repeats race),
//! a reused id for another purchase is refused, an unknown toy is 404, and a catalog
//! restarted on the same file keeps its stock and its request ids.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::buy_request as buy;
use common::*;
use serde_json::json;
use std::collections::HashSet;
use toystore_catalog_api::BuyReply;
use toystore_events::Seq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_buys_of_the_last_units_sell_exactly_the_stock() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    assert_eq!(quantity(&client, "Risk").await, 100);
    let before = client.health().await.expect("health").last_seq;

    let http = http();
    let url = format!("{}/internal/buy", catalog.url);
    let attempts = (0..64).map(|i| {
        let req = http
            .post(&url)
            .header("authorization", bearer())
            .json(&json!({ "request_id": format!("race-{i}"), "name": "Risk", "quantity": 2 }));
        tokio::spawn(send_json(req))
    });
    let mut ok_seqs = Vec::new();
    let mut refused = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        let (status, body) = attempt.await.expect("task");
        match status {
            200 => {
                let reply: BuyReply =
                    serde_json::from_value(body["data"].clone()).expect("buy reply");
                assert!(!reply.replayed, "fresh request ids are never replays");
                ok_seqs.push(reply.seq);
            }
            409 => {
                assert_eq!(body, error_body(409, "insufficient stock"));
                refused += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(ok_seqs.len(), 50, "exactly 100 / 2 buys succeed");
    assert_eq!(refused, 14);
    assert_eq!(
        quantity(&client, "Risk").await,
        0,
        "sold out, never negative"
    );

    // Each success is its own event, and nothing else was appended.
    let distinct: HashSet<Seq> = ok_seqs.iter().copied().collect();
    assert_eq!(distinct.len(), 50);
    let after = client.health().await.expect("health").last_seq;
    assert_eq!(after.0 - before.0, 50, "one Purchased event per success");

    // A further buy of even one unit is refused and changes nothing.
    let err = client
        .buy(&buy("late", "Risk", 1))
        .await
        .expect_err("sold out");
    assert_eq!(err.status(), Some(409));
    assert_eq!(client.health().await.expect("health").last_seq, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_request_id_returns_the_first_result_and_buys_nothing_more() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();

    let first = client.buy(&buy("order-1", "Tux", 3)).await.expect("buy");
    assert!(!first.replayed);
    assert_eq!(quantity(&client, "Tux").await, 97);
    let seq_after_first = client.health().await.expect("health").last_seq;
    assert_eq!(first.seq, seq_after_first);

    for _ in 0..3 {
        let again = client.buy(&buy("order-1", "Tux", 3)).await.expect("replay");
        assert_eq!(again.seq, first.seq, "same result as the first attempt");
        assert!(again.replayed, "a replay says so");
    }
    assert_eq!(quantity(&client, "Tux").await, 97, "decremented once");
    assert_eq!(
        client.health().await.expect("health").last_seq,
        seq_after_first
    );

    // The same id for another purchase is refused and buys nothing.
    for other in [buy("order-1", "Tux", 4), buy("order-1", "Whale", 3)] {
        let err = client.buy(&other).await.expect_err("conflict");
        assert_eq!(err.status(), Some(422), "{err}");
    }
    assert_eq!(quantity(&client, "Tux").await, 97);
    assert_eq!(quantity(&client, "Whale").await, 100);
    assert_eq!(
        client.health().await.expect("health").last_seq,
        seq_after_first
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_repeats_of_one_request_id_buy_once() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();

    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.buy(&buy("same-id", "Uno", 5)).await })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.expect("task").expect("every attempt succeeds"));
    }
    let fresh = replies.iter().filter(|r| !r.replayed).count();
    assert_eq!(fresh, 1, "exactly one attempt bought");
    assert!(replies.iter().all(|r| r.seq == replies[0].seq), "one event");
    assert_eq!(quantity(&client, "Uno").await, 95);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buying_an_unknown_toy_is_404_and_changes_nothing() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let before = catalog.client().health().await.expect("health").last_seq;
    let (status, body) = send_json(
        http()
            .post(format!("{}/internal/buy", catalog.url))
            .header("authorization", bearer())
            .json(&json!({ "request_id": "x", "name": "tux", "quantity": 1 })),
    )
    .await;
    assert_eq!((status, body), (404, error_body(404, "product not found")));
    assert_eq!(
        catalog.client().health().await.expect("health").last_seq,
        before
    );
    assert_eq!(
        quantity(&catalog.client(), "Tux").await,
        100,
        "names are case-sensitive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_catalog_keeps_its_stock_and_request_ids() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let bought = client.buy(&buy("keep-1", "Jenga", 7)).await.expect("buy");
    client
        .buy(&buy("keep-2", "Pinball", 100))
        .await
        .expect("buy");
    let seq = client.health().await.expect("health").last_seq;
    catalog.stop().await.expect("clean stop");

    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    assert_eq!(
        client.health().await.expect("health").last_seq,
        seq,
        "no re-seeding"
    );
    assert_eq!(quantity(&client, "Jenga").await, 93);
    assert_eq!(quantity(&client, "Pinball").await, 0);
    assert_eq!(quantity(&client, "Tux").await, 100);
    let list = client.products().await.expect("list");
    assert_eq!(list.products.len(), 20, "seeded once, not twice");

    let replay = client
        .buy(&buy("keep-1", "Jenga", 7))
        .await
        .expect("replay");
    assert_eq!((replay.seq, replay.replayed), (bought.seq, true));
    assert_eq!(quantity(&client, "Jenga").await, 93);
}
