//! A refused buy changes nothing, so it costs nothing durable: no Raft entry, no commit
//! (no fsync), no event, and it does not disturb the event stream. While buys of a sold-out toy are refused
//! in a tight loop, a subscriber still hears a heartbeat every interval, so it never takes
//! the catalog for dead (the front-end once suspended its cache every few seconds this
//! way). A replayed buy (same request id, same purchase) costs no commit either.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::buy_request as buy;
use common::*;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use toystore_events::StreamItem;

/// The catalog's durable commits so far, from its `/metrics`.
async fn durable_commits(catalog: &TestCatalog) -> u64 {
    let text = http()
        .get(format!("{}/metrics", catalog.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let line = text
        .lines()
        .find(|l| l.starts_with("toystore_log_commits_total{kind=\"durable\"}"))
        .unwrap_or_else(|| panic!("no durable commits in:\n{text}"));
    line.rsplit(' ')
        .next()
        .and_then(|n| n.parse::<f64>().ok())
        .expect("a number") as u64
}

/// The durable commits once the writer has made everything applied so far durable: an
/// applied Raft entry commits without an fsync of its own and is made durable by the next
/// durable commit, at most `SYNC_BEHIND` later; the count is read until it stays put for
/// several times that (a quiet-period check: the sleep is the period), within the kit's
/// deadline.
async fn settled_commits(catalog: &TestCatalog) -> u64 {
    let deadline = tokio::time::Instant::now() + toystore_testkit::DEADLINE;
    let mut last = durable_commits(catalog).await;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(toystore_store::SYNC_BEHIND * 5).await;
        let now = durable_commits(catalog).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the durable commits never settled (last {last})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_replayed_buys_commit_nothing() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    client.buy(&buy("all", "Uno", 100)).await.expect("sell out");
    let seq = client.health().await.expect("health").last_seq;
    let before = settled_commits(&catalog).await;

    let refused = refuse_until(&client, 2, Duration::from_millis(300)).await;
    assert!(refused > 10, "{refused} refused");
    let replay = client.buy(&buy("all", "Uno", 100)).await.expect("replay");
    assert_eq!(replay.seq, seq);

    assert_eq!(
        durable_commits(&catalog).await,
        before,
        "{refused} refusals and a replay made no commit"
    );
    assert_eq!(
        client.health().await.expect("health").last_seq,
        seq,
        "no event"
    );
    // A buy that sells still commits: its Raft entry (durable before it is acknowledged),
    // then its apply (made durable shortly after, or with the entry's commit): one or two.
    client.buy(&buy("tux", "Tux", 1)).await.expect("buy");
    let after = settled_commits(&catalog).await;
    assert!(
        (before + 1..=before + 2).contains(&after),
        "a sale made {} durable commits",
        after - before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_hears_every_heartbeat_while_buys_are_refused_in_a_tight_loop() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    client.buy(&buy("all", "Uno", 100)).await.expect("sell out");
    let seq = client.health().await.expect("health").last_seq;

    let events = client.events(seq, SILENCE).await.expect("subscribe");
    let listening = tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        let mut beats = Vec::new();
        while let Some(item) = events.next().await {
            match item.expect("the stream stays up") {
                StreamItem::Heartbeat { last_seq } => beats.push((Instant::now(), last_seq)),
                StreamItem::Event { seq, .. } => panic!("a refusal appended event {seq}"),
            }
        }
        beats
    });
    let spell = HEARTBEAT * 15;
    let refused = refuse_until(&client, 4, spell).await;
    catalog.stop().await.expect("clean stop");
    let beats = listening.await.expect("listener");

    assert!(refused > 50, "the loop ran: {refused} refused");
    // 15 intervals: at least 10 heartbeats even on a slow machine (before the fix: the one
    // sent on catching up, then none while refusals kept the writer busy).
    assert!(
        beats.len() >= 10,
        "{} heartbeats during {refused} refusals in {spell:?}",
        beats.len()
    );
    assert!(beats.iter().all(|(_, s)| *s == seq));
}
