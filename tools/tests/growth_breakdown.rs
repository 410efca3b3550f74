//! Where the time and memory measured by `tools growth` go: experiments on the storage
//! layer behind the missed goals (docs/perf/README.md quotes them). Ignored by default;
//! they print figures and assert none. Run them on a quiet machine with
//!
//! ```text
//! GROWTH_ORDERS=1000000 cargo test --release -p toystore-tools --test growth_breakdown \
//!     -- --ignored --nocapture --test-threads 1
//! ```
//!
//! (`GROWTH_ORDERS` defaults to 200000). Each generates its input with the `tools growth`
//! generator in a temporary directory (a Raft replica's file since the move to openraft;
//! the experiments read and write only its `events` and projection tables).
//!
//! - `catch_up_write_pattern`: the old (before-Raft) catch-up's writes (`append_at` in
//!   durable chunks of 512, as the removed `order::recovery` did) with and without a read transaction held open meanwhile (as
//!   `recovery::sync_from` holds one on its own log), and in chunks of 16384;
//! - `replay_phases`: `tools replay`'s phases (read every event's bytes, decode every event
//!   from its page, stream the request index) against the whole replay, then the replay of
//!   a copy with one forged index key (the slow path that locates differences);
//!
//! Two earlier experiments wrote and read redb directly (the cost of each projection table
//! per insert, and the peak memory of a full read with redb's default 1 GiB cache against a
//! small one, which led to the store's bounded page cache); they went when redb became
//! private to the store crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;
use toystore_events::{OrderEvent, OrderNumber, Seq};
use toystore_harness::logfile::LogFile;
use toystore_order::projection::{index_key, OrderProjection, REQUEST_INDEX};
use toystore_store::{tamper, EventLog};
use toystore_tools::growth::generate::{default_members, generate, Spec};
use toystore_tools::replay::replay_file;

fn orders() -> u64 {
    std::env::var("GROWTH_ORDERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000)
}

/// A generated replica file of `orders()` orders in `dir`.
fn source(dir: &Path) -> PathBuf {
    let path = dir.join("source.redb");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let generated = runtime
        .block_on(generate(
            &path,
            Spec {
                orders: orders(),
                seed: 1,
                batch: 250_000,
                members: &default_members(),
            },
            &|_| {},
        ))
        .unwrap();
    eprintln!(
        "source: {} orders, {:.1} MB, generated in {:.2} s",
        generated.orders,
        generated.file_bytes as f64 / 1e6,
        generated.elapsed.as_secs_f64()
    );
    path
}

fn events(path: &Path) -> Vec<(Seq, Vec<u8>)> {
    let tables = LogFile::open(path).unwrap().read().unwrap();
    tables
        .raw_events_after(Seq::ZERO)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn mb(path: &Path) -> f64 {
    std::fs::metadata(path).unwrap().len() as f64 / 1e6
}

/// Appends `events` to a new log in durable transactions of `chunk`, optionally holding a
/// read transaction open throughout.
fn append_chunks(path: &Path, events: &[(Seq, Vec<u8>)], chunk: usize, hold_read: bool) {
    let log = EventLog::<OrderEvent>::open(path, OrderProjection).unwrap();
    let held = hold_read.then(|| log.read_raw_after(Seq::ZERO).unwrap());
    let started = Instant::now();
    for c in events.chunks(chunk) {
        let c = c.to_vec();
        log.execute_blocking(move |b| {
            for (seq, payload) in &c {
                b.append_at(*seq, payload)?;
            }
            Ok(())
        })
        .unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    drop(held);
    log.close();
    eprintln!(
        "append_at, chunks of {chunk:>5}, read transaction held: {hold_read:>5}: {:.2} s = {:>6.0} events/s, file {:>7.1} MB",
        secs,
        events.len() as f64 / secs,
        mb(path)
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
#[ignore = "an experiment: run with --ignored --nocapture"]
fn catch_up_write_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let events = events(&source(dir.path()));
    let out = dir.path().join("out.redb");
    append_chunks(&out, &events, 512, true);
    append_chunks(&out, &events, 512, false);
    append_chunks(&out, &events, 16384, false);
}

#[test]
#[ignore = "an experiment: run with --ignored --nocapture"]
fn replay_phases() {
    let dir = tempfile::tempdir().unwrap();
    let path = source(dir.path());
    let tables = LogFile::open(&path).unwrap().read().unwrap();
    let n = tables.event_count().unwrap() as f64;
    let took = |what: &str, started: Instant| {
        let secs = started.elapsed().as_secs_f64();
        eprintln!("{what}: {secs:.2} s = {:>9.0} events/s", n / secs);
    };

    let started = Instant::now();
    let bytes: usize = tables
        .raw_events_after(Seq::ZERO)
        .unwrap()
        .map(|e| e.unwrap().1.len())
        .sum();
    took(&format!("read every event's bytes ({bytes} B)"), started);
    let started = Instant::now();
    let decoded = tables
        .events_after::<OrderEvent>(Seq::ZERO)
        .unwrap()
        .filter(|e| e.is_ok())
        .count();
    took(
        &format!("decode every event from its page ({decoded})"),
        started,
    );
    let started = Instant::now();
    let keys = tables.open(REQUEST_INDEX).unwrap().rows().unwrap().count();
    took(&format!("stream the request index ({keys} keys)"), started);
    drop(tables);

    let started = Instant::now();
    let report = replay_file(&path).unwrap();
    took(
        &format!("tools replay (consistent: {})", report.consistent()),
        started,
    );

    let forged = dir.path().join("forged.redb");
    std::fs::copy(&path, &forged).unwrap();
    let key = index_key("forged", OrderNumber(7)).unwrap();
    tamper::with_tables(&forged, |tables| {
        tables.open(REQUEST_INDEX)?.insert(key, ())?;
        Ok(())
    })
    .unwrap();
    let started = Instant::now();
    let report = replay_file(&forged).unwrap();
    took(
        &format!(
            "tools replay of a forged key (consistent: {}, {} difference)",
            report.consistent(),
            report.differences.len()
        ),
        started,
    );
}
