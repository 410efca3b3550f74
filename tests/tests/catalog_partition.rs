//! A catalog replica partitioned away acknowledges nothing, and converges after the heal.
//!
//! Three catalog replicas on separate hosts (network namespaces, nftables drop rules; see
//! `toystore_harness::netns`). The catalog leader is cut off from every other service;
//! the test's own host still reaches it. While it is cut off:
//! - buys sent straight to it (with the cluster token, as an order leader would) are never
//!   acknowledged: it cannot commit without a majority, so each one is refused or gets no
//!   answer;
//! - the store keeps selling through the front-end (the two others elect a new leader).
//!
//! After the heal the old leader rejoins as a follower and converges: the catalog files
//! end equal, none of the buys sent to it while cut off is in any of them, and every order
//! has exactly one purchase behind it, the stock exact (initial − sold, no restock at this
//! stock).
//!
//! Needs root (as CI runs): the test fails with the reason if it cannot build the hosts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::Instant;
use toystore_events::{CatalogEvent, ProductName, Purchase, Quantity, RequestId};
use toystore_harness::Service;
use toystore_tests::{start_catalogs, Election, READY};

const NODE: &str = env!("CARGO_BIN_EXE_toystore-node");
/// How long the leader stays cut off.
const PARTITION: Duration = Duration::from_secs(4);
const STOCK: u64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catalog_replica_cut_off_acknowledges_nothing_and_converges_after_the_heal() {
    let store = start_catalogs(NODE, 3, Election::Raft, |spec| {
        spec.config.catalog.stock = STOCK as u32;
        spec.place_on_hosts(false)
            .expect("separate hosts need root, iproute2 and nftables");
    })
    .await
    .unwrap();
    let shop = store.shop.clone();
    shop.buy_until_placed("before", "Tux", 1, READY)
        .await
        .unwrap();
    let leader = store.cluster.wait_catalog_leader(READY).await.unwrap();
    let hosts = store.cluster.hosts().expect("the store runs on hosts");
    hosts.isolate(Service::Catalog(leader)).unwrap();
    let cut = Instant::now();

    // Straight to the cut-off leader, one buy after another, each with a fresh request id.
    let url = format!(
        "{}/internal/buy",
        store.cluster.url(Service::Catalog(leader))
    );
    let http = reqwest::Client::new();
    let token = store.cluster.token().expose().to_owned();
    let direct = tokio::spawn(async move {
        let mut sent = Vec::new();
        let mut answers = Vec::new();
        let mut i = 0;
        while cut.elapsed() < PARTITION {
            let purchase = Purchase {
                request_id: RequestId::try_from(format!("direct-{i}")).unwrap(),
                name: ProductName::try_from("Whale").unwrap(),
                quantity: Quantity::try_from(1u32).unwrap(),
            };
            i += 1;
            let answer = http
                .post(&url)
                .bearer_auth(&token)
                .json(&purchase)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            sent.push(purchase.request_id.as_str().to_owned());
            // 0: no answer in time (held, waiting for a commit that cannot come). Any other
            // failure (refused, reset) means the request never reached it: the test fails.
            answers.push(match answer {
                Ok(resp) => resp.status().as_u16(),
                Err(e) if e.is_timeout() => 0,
                Err(e) => panic!("a buy sent to the cut-off leader did not reach it: {e}"),
            });
        }
        (sent, answers)
    });
    // Through the front-end: the store sells on (a fresh key per purchase, each retried
    // until placed, so that every sale has its order).
    let mut acked = vec!["before".to_owned()];
    while cut.elapsed() < PARTITION {
        let key = format!("through-{}", acked.len());
        shop.buy_until_placed(&key, "Tux", 1, READY).await.unwrap();
        acked.push(key);
    }
    let sold_during = acked.len() - 1;
    let (sent, answers) = direct.await.unwrap();
    hosts.heal().unwrap();

    assert!(!sent.is_empty(), "no buy was sent to the cut-off leader");
    eprintln!(
        "the cut-off leader's answers to {} buys: {answers:?}",
        sent.len()
    );
    // No acknowledgement; and each refusal is one of leadership (not 401, 400 or 404: the
    // buys were well-formed and authorised, so a refusal was the partition's doing).
    assert!(
        answers.iter().all(|status| [0, 421, 503].contains(status)),
        "the cut-off catalog replica acknowledged a buy, or refused it for another reason: {answers:?}"
    );
    assert!(
        sold_during > 0,
        "the store sold nothing while one catalog replica was cut off"
    );
    // After the heal: the store sells, and every replica converges.
    shop.buy_until_placed("after", "Tux", 1, READY)
        .await
        .unwrap();
    acked.push("after".to_owned());
    store.cluster.converge(READY).await.unwrap();

    let ended = store.stop_with_equal_catalogs().await.unwrap();
    for key in &acked {
        assert!(
            ended.ordered.contains(key),
            "acknowledged order {key} is lost"
        );
    }
    let mut bought = BTreeSet::new();
    let mut sold = 0;
    for event in &ended.catalogs[0].events {
        match event {
            CatalogEvent::Purchased {
                request_id,
                quantity,
                ..
            } => {
                assert!(bought.insert(request_id.as_str().to_owned()));
                sold += u64::from(quantity.get());
            }
            CatalogEvent::Restocked { name, .. } => panic!("{name} restocked at stock {STOCK}"),
            CatalogEvent::ProductAdded { .. } => {}
        }
    }
    for id in &sent {
        assert!(
            !bought.contains(id),
            "{id}, sent only to the cut-off replica, was sold"
        );
    }
    assert_eq!(
        bought, ended.ordered,
        "every purchase has exactly one order"
    );
    let stock = &ended.catalogs[0].stock;
    let left: u64 = stock.values().sum();
    assert_eq!(
        left + sold,
        STOCK * stock.len() as u64,
        "initial − sold = current"
    );
}
