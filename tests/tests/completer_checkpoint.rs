//! The completer's checkpoint (`order/src/checkpoint.rs`): a replica's completer stores the
//! catalog seq up to which every purchase has an order in its state machine, and a restart
//! resumes the catalog's event stream after it instead of from seq 0.
//!
//! One store (one catalog replica), its replicas stopped and restarted between phases:
//! 1. completed purchases move every replica's checkpoint (`toystore_completer_checkpoint`)
//!    to the catalog's end;
//! 2. a purchase bought straight at the catalog (no order; `complete_after` is an hour)
//!    holds every checkpoint just below it, in memory and in the file;
//! 3. after a restart (now `complete_after` 300 ms) that purchase is still completed, and
//!    each completer said it resumed after the stored checkpoint;
//! 4. a stored checkpoint beyond the catalog's end (a replaced catalog) is noticed, warned
//!    about, and the catalog read again from the start: a purchase without an order is
//!    completed;
//! 5. a stored checkpoint at a purchase without an order is trusted: the completer resumes
//!    after it and never sees that purchase (which shows it did not read from 0).
//!
//! And one replica in this process against a hand-written catalog replica on loopback
//! (`toystore_catalog_api::fake`, as in `order/tests/completer_silence.rs`) that records the `after` of each subscription: a
//! fresh file subscribes after 0, a restart after the stored checkpoint, and a catalog whose
//! log ends before the checkpoint is read again from 0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;
use toystore_catalog_api::fake::{FakeCatalog, Script};
use toystore_catalog_api::CatalogClient;
use toystore_config::ClusterToken;
use toystore_events::OrderEvent::{self, OrderPlaced};
use toystore_events::Purchase;
use toystore_events::Seq;
use toystore_harness::probe::poll_until;
use toystore_harness::Service;
use toystore_order::projection::OrderProjection;
use toystore_store::EventLog;
use toystore_tests::{metric_value, start_catalogs, Election, Shop, Store, READY};

const NODE: &str = env!("CARGO_BIN_EXE_toystore-node");
const METRIC: &str = "toystore_completer_checkpoint";

/// Every replica's checkpoint gauge (`None`: no answer).
async fn checkpoints(shop: &Shop, ids: &[u32]) -> Vec<Option<u64>> {
    let mut out = Vec::new();
    for id in ids {
        let scrape = shop.scrape(&shop.replica(*id)).await.ok();
        out.push(scrape.map(|s| metric_value(&s, METRIC, &[]) as u64));
    }
    out
}

/// Waits until every replica's checkpoint gauge satisfies `done`.
async fn wait_checkpoints(shop: &Shop, ids: &[u32], done: impl Fn(u64) -> bool) -> Vec<u64> {
    let reached = poll_until(READY, "checkpoints did not get there", || async {
        let got = checkpoints(shop, ids).await;
        got.iter()
            .all(|c| c.is_some_and(&done))
            .then(|| got.into_iter().flatten().collect())
    })
    .await;
    match reached {
        Ok(got) => got,
        Err(e) => panic!("{e}: {:?}", checkpoints(shop, ids).await),
    }
}

/// A stopped replica's file, opened once the process (or, in this one, the replica's last
/// task) has let go of it.
async fn open(path: &Path) -> EventLog<OrderEvent> {
    let what = format!("{} is still locked", path.display());
    let opened = poll_until(READY, &what, || async {
        match EventLog::open_existing(path, OrderProjection) {
            Err(toystore_store::StoreError::Locked(_)) => None,
            opened => Some(opened),
        }
    })
    .await;
    opened.unwrap().unwrap()
}

/// The checkpoint stored in a stopped replica's file.
async fn stored(path: &Path) -> Seq {
    let log = open(path).await;
    let at = toystore_order::checkpoint::load(&log).unwrap();
    log.close();
    at
}

/// Stores `at` as the checkpoint in a stopped replica's file (an operator's doing, or a
/// file kept while its catalog was replaced).
async fn store_checkpoint(path: &Path, at: Seq) {
    let log = open(path).await;
    toystore_order::checkpoint::save(&log, at).await.unwrap();
    log.close();
}

async fn stop_replicas(store: &mut Store, ids: &[u32]) {
    for id in ids {
        assert!(
            store
                .cluster
                .terminate(Service::Order(*id), Duration::from_secs(10))
                .await,
            "replica {id} did not stop cleanly"
        );
    }
}

async fn start_replicas(store: &mut Store, ids: &[u32]) {
    for id in ids {
        store.cluster.spawn(Service::Order(*id)).unwrap();
    }
    for id in ids {
        store
            .cluster
            .wait_healthy(Service::Order(*id), READY)
            .await
            .unwrap();
    }
    store.cluster.wait_replica_leader(READY).await.unwrap();
}

/// A purchase bought straight at the catalog: sold, with no order proposed by anyone.
async fn orphan(catalog: &CatalogClient, key: &str) -> Seq {
    let reply = catalog
        .buy(&Purchase {
            request_id: key.try_into().unwrap(),
            name: "Tux".try_into().unwrap(),
            quantity: 1u32.try_into().unwrap(),
        })
        .await
        .unwrap();
    assert!(!reply.replayed);
    reply.seq
}

/// The JSON log lines of a replica with `message`.
fn logged(store: &Store, id: u32, message: &str) -> Vec<serde_json::Value> {
    let path = store
        .dir
        .path()
        .join("logs")
        .join(format!("order-{id}.log"));
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].as_str() == Some(message))
        .collect()
}

/// A log field as text (`%` fields are strings, others numbers).
fn field(v: &serde_json::Value, name: &str) -> String {
    match &v[name] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const RESUMED: &str = "completer following the catalog's events after its checkpoint";
const REPLACED: &str = "the catalog's log ends before what this completer has read (its data was replaced?); reading it again from the start";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_completer_resumes_after_its_checkpoint_and_still_completes_what_waits() {
    // One catalog replica whatever `TOYSTORE_TEST_CATALOGS` says: phase 4 replaces the
    // catalog's data, which only a lone catalog's can be.
    let mut store = start_catalogs(NODE, 1, Election::Raft, |spec| {
        spec.env.push(("TOYSTORE_LOG_FORMAT".into(), "json".into()));
        spec.config.order.complete_after = Duration::from_secs(3600);
        spec.config.timeouts.completion_check = Duration::from_millis(100);
    })
    .await
    .unwrap();
    let shop = store.shop.clone();
    let ids = store.cluster.replica_ids();
    let catalog = CatalogClient::new(
        &store.cluster.url(Service::Catalog(1)),
        ClusterToken::new(shop.token.clone()).unwrap(),
    )
    .unwrap();

    // 1. Completed purchases: every checkpoint reaches the catalog's end.
    for key in ["cp-1", "cp-2", "cp-3"] {
        shop.buy_until_placed(key, "Tux", 1, READY).await.unwrap();
    }
    let end = catalog.health().await.unwrap().last_seq;
    wait_checkpoints(&shop, &ids, |c| c >= end.0).await;

    // 2. A purchase without an order holds every checkpoint just below it, for many checks.
    let first = orphan(&catalog, "orphan-1").await;
    // About ten completion checks pass (an observation window, not a wait for something to
    // hold): none may move a checkpoint past the purchase.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = wait_checkpoints(&shop, &ids, |c| c >= first.0 - 1).await;
    assert_eq!(
        held,
        vec![first.0 - 1; ids.len()],
        "a checkpoint passed a purchase without an order"
    );
    stop_replicas(&mut store, &ids).await;
    for id in &ids {
        assert_eq!(stored(&store.order_db(*id)).await, Seq(first.0 - 1), "{id}");
    }

    // 3. Restarted, each completer resumes after its checkpoint, and still completes it.
    store
        .cluster
        .update_config(|c| c.order.complete_after = Duration::from_millis(300))
        .unwrap();
    start_replicas(&mut store, &ids).await;
    shop.wait_converged(4, READY).await.unwrap();
    let caught_up = catalog.health().await.unwrap().last_seq;
    wait_checkpoints(&shop, &ids, |c| c >= caught_up.0).await;
    for id in &ids {
        let resumed: Vec<String> = logged(&store, *id, RESUMED)
            .iter()
            .map(|v| field(v, "after"))
            .collect();
        assert_eq!(
            resumed,
            vec!["0".to_string(), (first.0 - 1).to_string()],
            "replica {id}: started from 0, then from its checkpoint"
        );
    }

    // 4. A checkpoint beyond the catalog's end (the catalog was replaced): read it again
    // from the start, so a purchase without an order is still completed.
    stop_replicas(&mut store, &ids).await;
    let second = orphan(&catalog, "orphan-2").await;
    let beyond = Seq(second.0 + 1_000);
    for id in &ids {
        store_checkpoint(&store.order_db(*id), beyond).await;
    }
    start_replicas(&mut store, &ids).await;
    shop.wait_converged(5, READY).await.unwrap();
    let caught_up = catalog.health().await.unwrap().last_seq;
    wait_checkpoints(&shop, &ids, |c| c >= caught_up.0 && c < beyond.0).await;
    for id in &ids {
        let warned = logged(&store, *id, REPLACED);
        assert_eq!(warned.len(), 1, "replica {id}: {warned:?}");
        assert_eq!(field(&warned[0], "read"), beyond.to_string());
    }

    // 5. A checkpoint at a purchase without an order is trusted: the completer starts after
    // it, so that purchase is never completed (reading from 0 would complete it).
    stop_replicas(&mut store, &ids).await;
    let third = orphan(&catalog, "orphan-3").await;
    for id in &ids {
        store_checkpoint(&store.order_db(*id), third).await;
    }
    start_replicas(&mut store, &ids).await;
    wait_checkpoints(&shop, &ids, |c| c >= third.0).await;
    // A witness: a purchase without an order after it is completed (so the completers ran
    // past the third one), and the third one is not.
    let fourth = orphan(&catalog, "orphan-4").await;
    shop.wait_converged(6, READY).await.unwrap();
    wait_checkpoints(&shop, &ids, |c| c >= fourth.0).await;
    for id in &ids {
        let health = shop.health(*id).await.unwrap();
        assert_eq!(health.last_seq, Seq(6), "replica {id}: {health:?}");
    }

    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
    let keys: Vec<String> = logs[0]
        .iter()
        .map(|(_, bytes)| {
            let OrderPlaced { request_id, .. } =
                toystore_events::decode::<OrderEvent>(bytes).unwrap();
            request_id.as_str().to_string()
        })
        .collect();
    assert_eq!(
        keys,
        ["cp-1", "cp-2", "cp-3", "orphan-1", "orphan-2", "orphan-4"]
    );
}

/// One replica on `db` against the catalog at `catalog_url`, until the sender is used.
fn replica(
    db: &Path,
    catalog_url: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), toystore_order::server::ServeError>>,
    String,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let config = toystore_order::server::ServerConfig {
        id: 1,
        db_path: db.to_path_buf(),
        replicas: vec![(1, addr.into())],
        catalogs: vec![(1, catalog_url.to_string())],
        catalog_silence: Duration::from_millis(500),
        token: ClusterToken::new("checkpoint-test-token").unwrap(),
        raft: toystore_config::OrderConfig::default(),
        timeouts: toystore_config::Timeouts {
            completion_check: Duration::from_millis(50),
            ..Default::default()
        },
        watch: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(toystore_order::server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    (stop, running, format!("http://{addr}"))
}

/// Waits until the replica at `base` reports checkpoint `want`.
async fn wait_gauge(base: &str, want: u64) {
    let http = reqwest::Client::new();
    // The last value read, for the failure.
    let got = std::sync::atomic::AtomicU64::new(0);
    let what = format!("checkpoint {want} at {base}");
    let reached = poll_until(READY, &what, || async {
        let text = match http.get(format!("{base}/metrics")).send().await {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let now = metric_value(&scrape, METRIC, &[]) as u64;
        got.store(now, std::sync::atomic::Ordering::SeqCst);
        (now == want && text.contains(METRIC)).then_some(())
    })
    .await;
    if let Err(e) = reached {
        let got = got.load(std::sync::atomic::Ordering::SeqCst);
        panic!("{e}: checkpoint {got}, expected {want}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_completer_subscribes_after_its_checkpoint_and_from_0_when_the_catalog_is_behind() {
    let fake = |last_seq| FakeCatalog::start(Script::silent_after(last_seq));
    let mut catalog = fake(5).await.unwrap();
    let catalog_url = catalog.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("order-1.redb");

    // A new file: from 0; the checkpoint follows the log's end (no purchase waits).
    let (stop, running, base) = replica(&db, &catalog_url);
    assert_eq!(catalog.next_subscription(READY).await, Some(0));
    wait_gauge(&base, 5).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(stored(&db).await, Seq(5));

    // Restarted: after the checkpoint, not from 0.
    catalog.subscriptions_so_far();
    open(&db).await.close();
    let (stop, running, base) = replica(&db, &catalog_url);
    assert_eq!(
        catalog.next_subscription(READY).await,
        Some(5),
        "resumed after the stored checkpoint"
    );
    wait_gauge(&base, 5).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();

    // The catalog's log replaced by a shorter one: its first heartbeat (2) is below the
    // checkpoint (5), so the completer reads it again from 0 and its checkpoint follows it.
    let mut catalog = fake(2).await.unwrap();
    open(&db).await.close();
    let (stop, running, base) = replica(&db, &catalog.url);
    assert_eq!(catalog.next_subscription(READY).await, Some(5));
    assert_eq!(
        catalog.next_subscription(READY).await,
        Some(0),
        "read again from the start"
    );
    wait_gauge(&base, 2).await;
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(stored(&db).await, Seq(2));
}
