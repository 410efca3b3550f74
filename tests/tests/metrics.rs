//! Prometheus `/metrics` on every service: a real store is scraped (front-end, catalog, each
//! replica), the text is parsed with a Prometheus text parser, requests are made, and the
//! counters that should move do: HTTP requests by route template, cache hits and misses,
//! catalog purchases and stock, the order log, Raft positions and the leader's commit
//! latency and batch size. The JSON counters moved behind the token to `/internal/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prometheus_parse::Scrape;
use toystore_harness::probe::poll_until;
use toystore_tests::{metric_value as value, start_with, Shop};

async fn scrape(shop: &Shop, url: &str) -> Scrape {
    shop.scrape(url).await.unwrap()
}

fn has(scrape: &Scrape, metric: &str) -> bool {
    scrape.samples.iter().any(|s| s.metric == metric)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_exports_metrics_that_move_with_requests() {
    let store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    // A purchase first, so that a leader is known everywhere.
    shop.buy_until_placed("warm-up", "Tux", 1, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    // The catalog's leader: it takes the buys (its followers apply them too).
    let leader = store
        .cluster
        .wait_catalog_leader(toystore_tests::READY)
        .await
        .unwrap();
    let catalog = store
        .cluster
        .url(toystore_harness::Service::Catalog(leader));

    let fe0 = scrape(&shop, &shop.base()).await;
    let cat0 = scrape(&shop, &catalog).await;
    let mut replicas0 = Vec::new();
    for id in shop.replica_ids() {
        replicas0.push((id, scrape(&shop, &shop.replica(id)).await));
    }

    // Three queries of one toy (a miss, then hits) and two purchases.
    for _ in 0..3 {
        shop.quantity("Whale").await.unwrap();
    }
    for key in ["m-1", "m-2"] {
        shop.buy(key, "Whale", 2).await.unwrap();
    }
    let fe1 = scrape(&shop, &shop.base()).await;
    let cat1 = scrape(&shop, &catalog).await;

    // Front-end: requests by route template (the toy's name is not a label), cache.
    let product = [
        ("route", "/products/:name"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let queries = "toystore_http_requests_total";
    assert_eq!(
        value(&fe1, queries, &product) - value(&fe0, queries, &product),
        3.0
    );
    let orders = [("route", "/orders"), ("method", "POST"), ("status", "200")];
    assert_eq!(
        value(&fe1, queries, &orders) - value(&fe0, queries, &orders),
        2.0
    );
    // The buy path's stages (toystore_http::stages): each service times its own.
    let stage = |scrape: &Scrape, name: &str| {
        value(scrape, "toystore_buy_stage_seconds", &[("stage", name)])
    };
    assert_eq!(
        stage(&fe1, "order_call") - stage(&fe0, "order_call"),
        2.0,
        "the front-end times its two calls to the order service"
    );
    assert!(
        !fe1.samples
            .iter()
            .any(|s| s.labels.values().any(|v| v.contains("Whale"))),
        "a toy's name became a label"
    );
    let latency = "toystore_http_request_duration_seconds";
    assert!(
        value(&fe1, latency, &product) >= 3.0,
        "latency histogram counts"
    );
    let hits = value(&fe1, "toystore_cache_hits_total", &[])
        - value(&fe0, "toystore_cache_hits_total", &[]);
    let misses = value(&fe1, "toystore_cache_misses_total", &[])
        - value(&fe0, "toystore_cache_misses_total", &[]);
    assert_eq!(hits + misses, 3.0, "hits {hits}, misses {misses}");
    assert!(hits >= 1.0, "the second query of a cached toy is a hit");
    for m in [
        "toystore_cache_evictions_total",
        "toystore_cache_invalidations_total",
        "toystore_cache_entries",
    ] {
        assert!(has(&fe1, m), "{m} missing");
    }
    assert!(value(&fe1, "toystore_frontend_leader", &[]) >= 1.0);
    // The purchases of a cached toy invalidate it (the catalog's stream delivers that
    // asynchronously, so wait for it).
    let invalidations = "toystore_cache_invalidations_total";
    poll_until(
        toystore_tests::READY,
        "no invalidation counted after two purchases of a cached toy",
        || async {
            let now = scrape(&shop, &shop.base()).await;
            (value(&now, invalidations, &[]) > value(&fe0, invalidations, &[])).then_some(())
        },
    )
    .await
    .unwrap();

    // Catalog: purchases and stock per toy.
    assert_eq!(
        value(&cat1, "toystore_catalog_purchases_total", &[])
            - value(&cat0, "toystore_catalog_purchases_total", &[]),
        2.0
    );
    assert_eq!(
        value(&cat0, "toystore_catalog_stock", &[("toy", "Whale")])
            - value(&cat1, "toystore_catalog_stock", &[("toy", "Whale")]),
        4.0
    );
    let buys = [
        ("route", "/internal/buy"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert!(value(&cat1, queries, &buys) - value(&cat0, queries, &buys) >= 2.0);
    assert!(
        value(&cat1, latency, &buys) - value(&cat0, latency, &buys) >= 2.0,
        "the catalog's latency histogram counts its buys"
    );
    assert_eq!(
        stage(&cat1, "catalog_write") - stage(&cat0, "catalog_write"),
        2.0,
        "the catalog leader times its two buys"
    );
    assert!(stage(&cat1, "catalog_apply") > stage(&cat0, "catalog_apply"));
    // The catalog leader shows its Raft node and its proposer, as an order leader does.
    assert_eq!(value(&cat1, "toystore_raft_is_leader", &[]), 1.0);
    assert!(value(&cat1, "toystore_raft_term", &[]) >= 1.0);
    assert!(
        value(&cat1, "toystore_raft_applied_index", &[])
            > value(&cat0, "toystore_raft_applied_index", &[])
    );
    assert!(
        value(&cat1, "toystore_catalog_commit_seconds", &[])
            > value(&cat0, "toystore_catalog_commit_seconds", &[]),
        "the catalog leader's proposer counts its commits"
    );

    // Replicas: the log grew by two orders on each (once replicated); the leader reports
    // commits, batch sizes, a commit index and its followers' lag.
    let mut leaders_checked = 0;
    for (id, before) in &replicas0 {
        let url = shop.replica(*id);
        let grown = poll_until(toystore_tests::READY, "the log to grow", || async {
            let after = scrape(&shop, &url).await;
            let grown = value(&after, "toystore_order_log_length", &[])
                - value(before, "toystore_order_log_length", &[]);
            (grown >= 2.0).then_some(after)
        })
        .await;
        // Grown by two (asserted below), or, past the deadline, what it holds then.
        let after = match grown {
            Ok(after) => after,
            Err(_) => scrape(&shop, &url).await,
        };
        assert_eq!(
            value(&after, "toystore_order_log_length", &[])
                - value(before, "toystore_order_log_length", &[]),
            2.0,
            "replica {id}"
        );
        assert!(value(&after, "toystore_raft_term", &[]) >= 1.0);
        assert!(value(&after, "toystore_raft_leader", &[]) >= 1.0);
        assert!(
            value(&after, "toystore_raft_applied_index", &[])
                > value(before, "toystore_raft_applied_index", &[])
        );
        assert!(
            stage(&after, "order_apply") > stage(before, "order_apply"),
            "replica {id} times its applies"
        );
        if value(&after, "toystore_raft_is_leader", &[]) == 1.0 {
            leaders_checked += 1;
            let commits = value(&after, "toystore_order_commit_seconds", &[])
                - value(before, "toystore_order_commit_seconds", &[]);
            assert!(commits >= 1.0, "leader {id} counted no commit");
            let places = [
                ("route", "/internal/orders"),
                ("method", "POST"),
                ("status", "200"),
            ];
            assert!(
                value(&after, latency, &places) - value(before, latency, &places) >= 2.0,
                "the leader's latency histogram counts the two purchases"
            );
            for name in ["place", "catalog_call", "order_write"] {
                assert_eq!(
                    stage(&after, name) - stage(before, name),
                    2.0,
                    "the leader times {name} of the two purchases"
                );
            }
            assert!(value(&after, "toystore_order_batch_size", &[]) >= 1.0);
            assert!(value(&after, "toystore_raft_commit_index", &[]) >= 1.0);
            assert_eq!(
                after
                    .samples
                    .iter()
                    .filter(|s| s.metric == "toystore_raft_follower_lag")
                    .count(),
                2,
                "one lag per follower"
            );
        }
    }
    assert_eq!(
        leaders_checked, 1,
        "the leader-only metrics were checked on one leader"
    );
    let leaders: f64 = {
        let mut n = 0.0;
        for id in shop.replica_ids() {
            let replica = scrape(&shop, &shop.replica(id)).await;
            n += value(&replica, "toystore_raft_is_leader", &[]);
        }
        n
    };
    assert_eq!(leaders, 1.0, "exactly one replica says it leads");

    // The JSON counters are behind the token now.
    let json = shop
        .http
        .get(shop.url("/internal/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 401);
}
