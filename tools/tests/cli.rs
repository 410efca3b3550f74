//! The command line of `client`, `replay` and `diff`, without a store: every subcommand's
//! `--help` shows an example, and bad input gets a clear error and the documented exit
//! status (a missing file, a text file, a redb file that is not a toystore log, a
//! directory, too few files, a log of the wrong kind, an impossible probability, a front-end
//! that is not there). Small logs written here with `EventLog` show the exit statuses of a
//! consistent and an inconsistent replay, and of identical and different diffs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tools;
use std::path::Path;
use toystore_catalog::projection::CatalogProjection;
use toystore_events::{CatalogEvent, OrderEvent, OrderNumber};
use toystore_order::projection::{index_key, OrderProjection, NUMBER_BITS, REQUEST_INDEX};
use toystore_store::tamper;
use toystore_store::EventLog;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn order_log(path: &Path, names: &[&str]) {
    let log = EventLog::open(path, OrderProjection).unwrap();
    let events = names
        .iter()
        .enumerate()
        .map(|(n, name)| OrderEvent::OrderPlaced {
            number: (n as u64).into(),
            request_id: format!("req-{n}").try_into().unwrap(),
            name: (*name).try_into().unwrap(),
            quantity: 1u32.try_into().unwrap(),
        })
        .collect();
    log.append_blocking(events).unwrap();
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    let top = tools(["--help"]);
    top.expect_code(0);
    for sub in [
        "up", "client", "replay", "diff", "eval", "chaos", "bench", "growth", "outage", "timeline",
    ] {
        top.stdout_has(sub);
        tools([sub, "--help"])
            .expect_code(0)
            .stdout_has("Example:")
            .stdout_has(&format!("tools {sub} "));
    }
}

#[test]
fn replay_and_diff_refuse_what_they_cannot_inspect() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.redb");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database\n").unwrap();
    let plain = dir.path().join("plain.redb");
    tamper::create_foreign(&plain).unwrap();
    let orders = dir.path().join("order-1.redb");
    order_log(&orders, &["Tux"]);

    for cmd in [vec!["replay"], vec!["diff", p(&orders)]] {
        let with = |file: &Path| {
            let mut args = cmd.clone();
            args.push(p(file));
            tools(args)
        };
        with(&missing).expect_code(2).stderr_has("no such file");
        with(&text).expect_code(2).stderr_has("not a redb database");
        with(&plain).expect_code(2).stderr_has("not a toystore log");
        with(dir.path()).expect_code(2).stderr_has("is a directory");
    }
    // diff needs two files.
    tools(["diff", p(&orders)])
        .expect_code(2)
        .stderr_has("FILE");
    // Nothing was created or changed by trying.
    assert!(!missing.exists());
}

#[test]
fn exit_statuses_of_replay_and_diff_on_small_logs() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.redb");
    let b = dir.path().join("b.redb");
    let c = dir.path().join("c.redb");
    order_log(&a, &["Tux", "Uno"]);
    order_log(&b, &["Tux", "Uno"]);
    order_log(&c, &["Tux", "Lego"]);
    let catalog = dir.path().join("catalog.redb");
    EventLog::open(&catalog, CatalogProjection)
        .unwrap()
        .append_blocking(vec![CatalogEvent::ProductAdded {
            name: "Tux".try_into().unwrap(),
            price: 25.99,
            quantity: 100,
        }])
        .unwrap();

    tools(["replay", p(&a)])
        .expect_code(0)
        .stdout_has("events      2")
        .stdout_has("result      consistent");
    tools(["replay", p(&catalog)])
        .expect_code(0)
        .stdout_has("toystore.catalog");
    tools(["diff", p(&a), p(&b)])
        .expect_code(0)
        .stdout_has("identical");
    tools(["diff", p(&a), p(&b), p(&c)])
        .expect_code(1)
        .stdout_has("first divergent seq 2")
        .stdout_has("Lego");
    tools(["diff", p(&a), p(&catalog)])
        .expect_code(2)
        .stderr_has("expected a toystore.order log");

    // Replay writes nothing: there is no --write any more.
    tools(["replay", p(&a), "--write", p(&dir.path().join("out.redb"))]).expect_code(2);

    // The index row of order 1 now names another request id than its event's.
    let forged = index_key("forged", OrderNumber(1)).unwrap();
    let right = index_key("req-1", OrderNumber(1)).unwrap();
    let row = |key: u64| format!("request hash {:07x} order=1", key >> NUMBER_BITS);
    tamper::with_tables(&b, |tables| {
        let mut index = tables.open(REQUEST_INDEX)?;
        index.remove(right)?;
        index.insert(forged, ())?;
        Ok(())
    })
    .unwrap();
    let run = tools(["replay", "--json", p(&b)]);
    run.expect_code(1);
    let v = run.json();
    assert_eq!(v["consistent"], false, "{run}");
    assert_eq!(v["first_difference"]["table"], "request_index", "{run}");
    assert_eq!(
        v["first_difference"]["stored"],
        row(forged).as_str(),
        "{run}"
    );
    assert_eq!(
        v["first_difference"]["rebuilt"],
        row(right).as_str(),
        "{run}"
    );
    assert_eq!(
        v["first_difference"]["note"], "order 1 has request id \"req-1\"",
        "{run}"
    );
    assert_eq!(
        (v["stored_rows"].as_u64(), v["rebuilt_rows"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(v["only_stored"][0], row(forged).as_str(), "{run}");

    // An extra row beside the right one: stored only.
    tamper::with_tables(&b, |tables| {
        tables.open(REQUEST_INDEX)?.insert(right, ())?;
        Ok(())
    })
    .unwrap();
    let run = tools(["replay", p(&b)]);
    run.expect_code(1)
        .stdout_has("projections DIFFER: 3 stored rows, 2 rebuilt from the events")
        .stdout_has(&format!("stored:  {}", row(forged)))
        .stdout_has("rebuilt: (none)")
        .stdout_has("INCONSISTENT");
}

#[test]
fn client_refuses_bad_arguments_and_an_absent_front_end() {
    tools(["client", "--p", "1.5"])
        .expect_code(1)
        .stderr_has("--p must be a probability");
    tools(["client", "--clients", "0"])
        .expect_code(1)
        .stderr_has("--clients");
    tools(["client", "--frontend", "localhost:8080"])
        .expect_code(1)
        .stderr_has("front-end URL");
    let port = toystore_harness::free_ports(1).unwrap()[0];
    tools([
        "client",
        "--frontend",
        &format!("http://127.0.0.1:{port}"),
        "--iterations",
        "1",
    ])
    .expect_code(1)
    .stderr_has("is the store running?");
}
