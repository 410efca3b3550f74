//! `tools replay` and `tools diff` on logs written by the real services, and on
//! deliberately diverged copies of them.
//!
//! One store (every service a `tools` process) takes orders from the client; then:
//!
//! - while it runs, replay and diff refuse its files as locked (exit 2, "stop its service
//!   first"), and after a replica is killed its uncleanly closed file is still readable
//!   (a repaired copy is read) and left byte-for-byte unchanged;
//! - a replica killed while orders continue is behind: diff exits 1 naming the first seq it
//!   lacks and every file's last seq; after the store restarts and recovers, diff exits 0;
//! - replay of the stopped catalog and every replica is consistent and its counts agree with
//!   the client's orders (one index row per order);
//! - copies diverged with redb directly are caught: an extra event and a rewritten event
//!   make diff exit 1 at exactly that seq; an event whose request id was rewritten, one
//!   that repeats an earlier order's request id, a forged index row, a tampered `stock`
//!   row and an undecodable event make replay exit 1 and show the row or the refusal; a
//!   rewritten toy name is no projection's business (replay 0, diff 1), and a
//!   projection-only change leaves diff at 0 (it compares events);
//! - a catalog file given where an order file is expected is refused (exit 2).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{start, stop, tools};
use std::path::{Path, PathBuf};
use toystore_catalog::projection::STOCK;
use toystore_events::{encode, OrderEvent, Seq};
use toystore_harness::Service;
use toystore_order::projection::{index_key, OrderProjection, NUMBER_BITS, REQUEST_INDEX};
use toystore_store::inspect::LogFile;
use toystore_store::{tamper, EventLog};
use toystore_tools::client::{run_clients, ClientConfig};

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the client and returns the number of orders it placed (all verified).
async fn place_orders(url: &str, iterations: u64, seed: u64) -> u64 {
    let mut config = ClientConfig::new(url, 1.0, iterations, 3);
    config.seed = seed;
    let report = run_clients(config).await.unwrap();
    assert!(report.verification.ok, "{}", report.to_text());
    assert_eq!(report.buy.errors, 0, "{}", report.to_text());
    report.verification.orders
}

fn copy(from: &Path, dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(from, &to).unwrap();
    to
}

/// Overwrites the stored event at `seq` with `bytes`, bypassing the log (projections
/// are left as they were).
fn overwrite_event(path: &Path, seq: u64, bytes: &[u8]) {
    tamper::overwrite_event(path, Seq(seq), bytes).unwrap();
}

/// The order event stored at `seq`.
fn order_at(path: &Path, seq: u64) -> OrderEvent {
    let tables = LogFile::open(path).unwrap().read().unwrap();
    let bytes = tables.raw_event(Seq(seq)).unwrap().unwrap();
    toystore_events::decode(&bytes).unwrap()
}

#[test]
fn replay_and_diff_on_real_logs_and_diverged_copies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let spec = common::spec(&data);
    let catalog = data.join("catalog-1.redb");
    let order = |id: u32| data.join(format!("order-{id}.redb"));
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // --- Against the running store.
    let orders = runtime.block_on(async {
        let mut cluster = start(spec.clone()).await;
        let url = cluster.frontend_url();
        let before_kill = place_orders(&url, 8, 1).await;
        assert!(before_kill > 0);

        for args in [
            vec!["replay", p(&order(1))],
            vec!["replay", p(&catalog)],
            vec!["diff", p(&order(1)), p(&order(2)), p(&order(3))],
        ] {
            tools(&args)
                .expect_code(2)
                .stderr_has("locked")
                .stderr_has("stop its service first");
        }

        // A killed replica's file was not closed cleanly: it is read through a repaired
        // copy, and not modified. (Replica 1 is a follower: the leader is the highest id.)
        cluster.kill(Service::Order(1)).await.unwrap();
        let before = std::fs::read(order(1)).unwrap();
        let run = tools(["replay", "--json", p(&order(1))]);
        run.expect_code(0);
        let report = run.json();
        assert_eq!(report["events"].as_u64(), Some(before_kill), "{run}");
        assert_eq!(report["repaired"].as_bool(), Some(true), "{run}");
        assert_eq!(
            std::fs::read(order(1)).unwrap(),
            before,
            "replay changed the file"
        );

        // Orders go on without replica 1, which falls behind: every order acknowledged
        // before the kill had been replicated to it, none after.
        let orders = before_kill + place_orders(&url, 4, 2).await;
        stop(cluster).await;
        tools(["diff", p(&order(1)), p(&order(2)), p(&order(3))])
            .expect_code(1)
            .stdout_has(&format!("first divergent seq {}", before_kill + 1))
            .stdout_has(&format!("last seq {before_kill} "))
            .stdout_has(&format!("last seq {orders} "))
            .stdout_has("(no event)");

        // Restarted, replica 1 recovers what it missed: the logs are identical again.
        let cluster = start(spec.clone()).await;
        stop(cluster).await;
        orders
    });

    tools(["diff", p(&order(1)), p(&order(2)), p(&order(3))])
        .expect_code(0)
        .stdout_has(&format!(
            "identical: 3 toystore.order logs, {orders} events each, last seq {orders}"
        ));

    // --- Replay of every stopped file.
    let run = tools(["replay", p(&catalog)]);
    run.expect_code(0)
        .stdout_has("toystore.catalog")
        .stdout_has("projections match")
        .stdout_has("consistent");
    for id in 1..=3 {
        let run = tools(["replay", "--json", p(&order(id))]);
        run.expect_code(0);
        let v = run.json();
        assert_eq!(v["kind"], "toystore.order");
        assert_eq!(v["events"].as_u64(), Some(orders), "{run}");
        assert_eq!(v["last_seq"].as_u64(), Some(orders), "{run}");
        // One index row per order.
        assert_eq!(v["stored_rows"].as_u64(), Some(orders), "{run}");
        assert_eq!(v["rebuilt_rows"].as_u64(), Some(orders), "{run}");
        assert_eq!(v["consistent"].as_bool(), Some(true), "{run}");
        assert_eq!(v["repaired"].as_bool(), Some(false), "{run}");
    }
    let catalog_json = tools(["replay", "--json", p(&catalog)]).json();
    let toys = catalog_json["events"].as_u64().unwrap() - orders;
    assert!(toys >= 10, "{catalog_json}");

    let work = tempfile::tempdir().unwrap();

    // --- Diverged copies.
    // One extra event at the end.
    let extra = copy(&order(2), work.path(), "extra.redb");
    {
        let log = EventLog::open(&extra, OrderProjection).unwrap();
        log.append_blocking(vec![OrderEvent::OrderPlaced {
            number: orders.into(),
            request_id: "extra".try_into().unwrap(),
            name: "Tux".try_into().unwrap(),
            quantity: 1u32.try_into().unwrap(),
        }])
        .unwrap();
    }
    let run = tools(["diff", p(&order(1)), p(&order(2)), p(&extra)]);
    run.expect_code(1)
        .stdout_has(&format!("first divergent seq {}", orders + 1))
        .stdout_has(&format!("last seq {}", orders + 1))
        .stdout_has(&format!("last seq {orders}"))
        .stdout_has("(no event)");
    tools(["replay", p(&extra)]).expect_code(0);

    // A rewritten event in the middle: diff names it. Its toy and units are in no
    // projection (replay is consistent); its request id is (replay shows the index row).
    assert!(orders >= 2, "{orders} orders");
    let seq = 2;
    let OrderEvent::OrderPlaced {
        number,
        request_id,
        name,
        quantity,
    } = order_at(&order(3), seq);
    let renamed = copy(&order(3), work.path(), "renamed.redb");
    let rewritten = OrderEvent::OrderPlaced {
        number,
        request_id: request_id.clone(),
        name: "Changed".try_into().unwrap(),
        quantity: 7u32.try_into().unwrap(),
    };
    overwrite_event(&renamed, seq, &encode(&rewritten));
    tools(["diff", p(&order(3)), p(&renamed)])
        .expect_code(1)
        .stdout_has(&format!("first divergent seq {seq}"))
        .stdout_has("Changed");
    tools(["replay", p(&renamed)]).expect_code(0);

    let changed = copy(&order(3), work.path(), "changed.redb");
    let rewritten = OrderEvent::OrderPlaced {
        number,
        request_id: "Changed".try_into().unwrap(),
        name: name.clone(),
        quantity,
    };
    overwrite_event(&changed, seq, &encode(&rewritten));
    let stored = index_key(request_id.as_str(), number).unwrap();
    let rebuilt = index_key("Changed", number).unwrap();
    let row = |key: u64| format!("request hash {:07x} order={number}", key >> NUMBER_BITS);
    tools(["replay", p(&changed)])
        .expect_code(1)
        .stdout_has("projections DIFFER")
        .stdout_has("first difference, in request_index:")
        .stdout_has(&format!("stored:  {}", row(stored)))
        .stdout_has(&format!("rebuilt: {}", row(rebuilt)))
        .stdout_has(&format!(
            "note:    order {number} has request id \"Changed\""
        ))
        .stdout_has("INCONSISTENT");

    // The last event rewritten to repeat the first order's request id: a rebuild refuses it.
    let twice = copy(&order(3), work.path(), "twice.redb");
    let OrderEvent::OrderPlaced {
        request_id: first, ..
    } = order_at(&twice, 1);
    let OrderEvent::OrderPlaced { number, .. } = order_at(&twice, orders);
    let repeated = OrderEvent::OrderPlaced {
        number,
        request_id: first.clone(),
        name,
        quantity,
    };
    overwrite_event(&twice, orders, &encode(&repeated));
    tools(["replay", p(&twice)])
        .expect_code(1)
        .stdout_has(&format!(
            "rebuild     FAILED: projection request_index: request id {first} placed twice (order 0 and seq {orders})"
        ))
        .stdout_has("INCONSISTENT");

    // A tampered projection row: replay catches it, diff (events only) does not care.
    let tampered = copy(&order(2), work.path(), "tampered.redb");
    let forged = index_key("Tampered", toystore_events::OrderNumber(0)).unwrap();
    tamper::with_tables(&tampered, |tables| {
        tables.open(REQUEST_INDEX)?.insert(forged, ())?;
        Ok(())
    })
    .unwrap();
    let run = tools(["replay", p(&tampered)]);
    run.expect_code(1)
        .stdout_has("projections DIFFER")
        .stdout_has(&format!(
            "request hash {:07x} order=0",
            forged >> NUMBER_BITS
        ));
    tools(["diff", p(&order(2)), p(&tampered)]).expect_code(0);

    // A tampered stock row in the catalog.
    let stock = copy(&catalog, work.path(), "stock.redb");
    tamper::with_tables(&stock, |tables| {
        let mut table = tables.open(STOCK)?;
        let (name, (price, _)) = table.rows()?.next().unwrap()?;
        table.insert(name.as_str(), (price, 4242))?;
        Ok(())
    })
    .unwrap();
    tools(["replay", p(&stock)])
        .expect_code(1)
        .stdout_has("quantity=4242")
        .stdout_has("INCONSISTENT");

    // An event that does not decode: the rebuild fails at it; diff shows it.
    let garbage = copy(&order(2), work.path(), "garbage.redb");
    overwrite_event(&garbage, 1, &[1, 250, 250, 250]);
    tools(["replay", p(&garbage)])
        .expect_code(1)
        .stdout_has("rebuild     FAILED: event 1");
    tools(["diff", p(&order(2)), p(&garbage)])
        .expect_code(1)
        .stdout_has("first divergent seq 1")
        .stdout_has("undecodable");

    // A catalog where an order log is expected.
    tools(["diff", p(&order(1)), p(&catalog)])
        .expect_code(2)
        .stderr_has("a toystore.catalog log, expected a toystore.order log");
}
