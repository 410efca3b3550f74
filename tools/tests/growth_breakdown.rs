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
//! - `replay_phases`: `tools replay`'s phases (dump the stored projection, rebuild it in
//!   1024-event durable transactions, dump the rebuilt one), and the rebuild in larger
//!   transactions;
//! - `write_cost_per_table`: redb inserts of the events alone, with the orders table, and
//!   with the request-id table, tables opened once per transaction; and with the tables
//!   opened per event, as `Batch::append` does;
//! - `read_cache_memory`: the peak RSS of a fresh process that reads every event, with
//!   redb's default cache (1 GiB) and with an 8 MiB one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Instant;
use toystore_events::{OrderEvent, Seq};
use toystore_order::projection::{OrderProjection, ORDERS, REQUESTS};
use toystore_store::redb::{self, ReadableDatabase};
use toystore_store::EventLog;
use toystore_tools::growth::generate::{default_members, generate};
use toystore_tools::logfile::{self, LogFile};

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
            orders(),
            1,
            250_000,
            &default_members(),
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
    let file = LogFile::open(path).unwrap();
    let tx = file.begin_read().unwrap();
    logfile::raw_events(&tx)
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
    let started = Instant::now();
    let file = LogFile::open(&path).unwrap();
    let tx = file.begin_read().unwrap();
    let stored = file.kind().dump(&tx).unwrap();
    eprintln!(
        "dump the stored projection ({} rows): {:.2} s",
        stored.len(),
        started.elapsed().as_secs_f64()
    );
    let events = events(&path);
    for batch in [1024usize, 65536] {
        let out = dir.path().join("rebuilt.redb");
        let log = EventLog::<OrderEvent>::open(&out, OrderProjection).unwrap();
        let started = Instant::now();
        for c in events.chunks(batch) {
            let c = c.to_vec();
            log.execute_blocking(move |b| {
                for (seq, payload) in &c {
                    b.append_at(*seq, payload)?;
                }
                Ok(())
            })
            .unwrap();
        }
        eprintln!(
            "rebuild in durable transactions of {batch:>5} events: {:.2} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let tx = log.begin_read().unwrap();
        let rebuilt = log.projection().dump(&tx).unwrap();
        drop(tx);
        eprintln!(
            "dump the rebuilt projection ({} rows): {:.2} s",
            rebuilt.len(),
            started.elapsed().as_secs_f64()
        );
        log.close();
        std::fs::remove_file(&out).unwrap();
    }
}

/// Inserts every event (and, with `tables` > 1, its projection rows) with redb directly,
/// in transactions of 65536 events.
fn direct_inserts(path: &Path, events: &[(Seq, Vec<u8>)], tables: usize, open_per_event: bool) {
    let db = redb::Database::create(path).unwrap();
    let started = Instant::now();
    for c in events.chunks(65536) {
        let tx = db.begin_write().unwrap();
        {
            let mut held = (!open_per_event).then(|| {
                (
                    tx.open_table(logfile::EVENTS).unwrap(),
                    tx.open_table(ORDERS).unwrap(),
                    tx.open_table(REQUESTS).unwrap(),
                )
            });
            for (seq, payload) in c {
                let event: OrderEvent = toystore_events::decode(payload).unwrap();
                let OrderEvent::OrderPlaced {
                    number,
                    request_id,
                    name,
                    quantity,
                } = &event;
                let row = (name.as_str(), *quantity);
                match held.as_mut() {
                    Some((e, o, r)) => {
                        e.insert(seq.0, payload.as_slice()).unwrap();
                        if tables >= 2 {
                            o.insert(*number, row).unwrap();
                        }
                        if tables >= 3 {
                            r.insert(request_id.as_str(), *number).unwrap();
                        }
                    }
                    None => {
                        let mut e = tx.open_table(logfile::EVENTS).unwrap();
                        e.insert(seq.0, payload.as_slice()).unwrap();
                        drop(e);
                        if tables >= 2 {
                            tx.open_table(ORDERS).unwrap().insert(*number, row).unwrap();
                        }
                        if tables >= 3 {
                            let mut r = tx.open_table(REQUESTS).unwrap();
                            r.insert(request_id.as_str(), *number).unwrap();
                        }
                    }
                }
            }
        }
        tx.commit().unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    drop(db);
    eprintln!(
        "direct inserts, {tables} table(s), tables opened {}: {:.2} s = {:.0} events/s",
        if open_per_event {
            "per event"
        } else {
            "once per transaction"
        },
        secs,
        events.len() as f64 / secs
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
#[ignore = "an experiment: run with --ignored --nocapture"]
fn write_cost_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let events = events(&source(dir.path()));
    let out = dir.path().join("out.redb");
    for tables in 1..=3 {
        direct_inserts(&out, &events, tables, false);
    }
    direct_inserts(&out, &events, 3, true);
}

/// The child of `read_cache_memory`: reads every event of `GROWTH_READ_FILE` with a cache
/// of `GROWTH_READ_CACHE` bytes and prints its peak RSS.
#[test]
#[ignore = "run by read_cache_memory in a fresh process"]
fn read_cache_child() {
    let (Ok(file), Ok(cache)) = (
        std::env::var("GROWTH_READ_FILE"),
        std::env::var("GROWTH_READ_CACHE"),
    ) else {
        return;
    };
    let db = redb::Builder::new()
        .set_cache_size(cache.parse().unwrap())
        .open_read_only(file)
        .unwrap();
    let tx = db.begin_read().unwrap();
    let table = tx.open_table(logfile::EVENTS).unwrap();
    let mut bytes = 0;
    for row in table.range::<u64>(..).unwrap() {
        bytes += row.unwrap().1.value().len();
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM")).unwrap();
    println!("GROWTH_READ {bytes} bytes of events, {hwm}");
}

#[test]
#[ignore = "an experiment: run with --ignored --nocapture"]
fn read_cache_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = source(dir.path());
    for cache in [8usize << 20, 1 << 30] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "read_cache_child", "--nocapture"])
            .env("GROWTH_READ_FILE", &path)
            .env("GROWTH_READ_CACHE", cache.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find(|l| l.starts_with("GROWTH_READ"))
            .unwrap_or("(no output)");
        eprintln!(
            "reading every event, redb cache {:>4} MiB: {line}",
            cache >> 20
        );
    }
}
