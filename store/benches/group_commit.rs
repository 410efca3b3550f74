//! Durable group commit: what one `Durability::Immediate` commit costs, and how far its cost
//! is shared as more events ride in it.
//!
//! For each batch size N in 1, 4, 16, 64, 256, 1024, 4096 (4096 is the writer's
//! `MAX_BATCH`), on a fresh log of `OrderEvent::OrderPlaced` events (a UUID request id, a toy
//! name; no projection, so this is the log's own cost):
//!
//! - `group_commit/one_transaction/N`: one `execute` whose closure appends N events, so
//!   exactly one transaction of N events, committed durably (`append_blocking` of N events);
//! - `group_commit/concurrent_submitters/N`: N requests of one event each, all in flight at
//!   once, each waiting for its own acknowledgement, the way concurrent HTTP requests reach an
//!   order replica. The writer thread forms the batches itself (whatever is queued when it
//!   starts a transaction), so N requests may take more than one commit; after each of these
//!   the bench prints how many commits the N requests took on average (over warm-up and
//!   measurement, counted from the writer's `group commit` trace event). (This replaces the
//!   former `benches/append.rs`, which compared 1 against 64 concurrent writers.)
//!
//! Run it (release, about two minutes on 2 cores):
//!
//! ```text
//! cargo bench -p toystore-store --bench group_commit
//! cargo bench -p toystore-store --bench group_commit -- one_transaction   # a subset
//! ```
//!
//! The log files live under Cargo's `target/tmp` (on the disk the build is on, so an fsync
//! is real even where `/tmp` is a tmpfs) and are removed afterwards.
//!
//! Reading the result: `time` is the wall time of one batch, from submitting it to the last
//! durable acknowledgement; `thrpt` is durable events per second at that batch size. While
//! `time` stays near the N = 1 figure, the commit (the fsync) dominates and batching is
//! nearly free; where `time` starts to grow in proportion to N, per-event work (encoding,
//! B-tree inserts, and for concurrent submitters the request hand-off) dominates and
//! events/s levels off: that is where group commit saturates. Under `cargo test --benches`
//! each bench runs once as a smoke test, without measuring.

// A bench that cannot create its log or append has nothing to measure: it stops loudly.
#![allow(clippy::expect_used)]

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use toystore_events::{OrderEvent, OrderNumber, ProductName, Quantity, RequestId};
use toystore_store::{EventLog, NoProjection};

/// The batch sizes measured; the last is the writer's most requests per transaction.
const BATCH_SIZES: [u64; 7] = [1, 4, 16, 64, 256, 1024, 4096];

/// A UUID request id (36 characters), distinct for each `n`, as the front-end makes.
fn request_id(n: u64) -> RequestId {
    RequestId::from(uuid::Uuid::from_u64_pair(
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        n,
    ))
}

/// `count` order events numbered from `first`.
#[allow(clippy::expect_used)] // constants that are a valid name and quantity
fn orders(first: u64, count: u64) -> Vec<OrderEvent> {
    let name = ProductName::try_from("Rubik's Cube").expect("a name");
    let quantity = Quantity::try_from(2u32).expect("a quantity");
    (first..first + count)
        .map(|n| OrderEvent::OrderPlaced {
            number: OrderNumber(n),
            request_id: request_id(n),
            name: name.clone(),
            quantity,
        })
        .collect()
}

/// A new, empty log in its own directory; both go when it is dropped.
struct Fresh {
    // Declared first so it is dropped (writer stopped, file closed) before the directory.
    log: EventLog<OrderEvent>,
    _dir: tempfile::TempDir,
}

impl Fresh {
    fn new() -> Self {
        // Cargo's per-target scratch directory for benches: target/tmp.
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(root).expect("create target/tmp");
        let dir = tempfile::Builder::new()
            .prefix("group_commit-")
            .tempdir_in(root)
            .expect("create a directory for the log");
        let log =
            EventLog::open(dir.path().join("orders.redb"), NoProjection).expect("open a fresh log");
        Fresh { log, _dir: dir }
    }
}

/// Commits and the requests in them, counted from the writer's `group commit` trace event.
static COMMITS: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);
static LARGEST: AtomicU64 = AtomicU64::new(0);

/// A tracing subscriber that only counts the writer's commits and their sizes.
struct CommitCounter;

impl tracing::Subscriber for CommitCounter {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.is_event()
            && *meta.level() == tracing::Level::TRACE
            && meta.target() == "toystore_store::writer"
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut requests = Requests(None);
        event.record(&mut requests);
        if let Some(n) = requests.0 {
            COMMITS.fetch_add(1, Ordering::Relaxed);
            REQUESTS.fetch_add(n, Ordering::Relaxed);
            LARGEST.fetch_max(n, Ordering::Relaxed);
        }
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Picks the `requests` field out of a trace event.
struct Requests(Option<u64>);

impl tracing::field::Visit for Requests {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "requests" {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

fn reset_commit_counts() {
    COMMITS.store(0, Ordering::Relaxed);
    REQUESTS.store(0, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
}

fn group_commit(c: &mut Criterion) {
    // Fails only if a subscriber is already set, and then the counts are simply not printed.
    let counting = tracing::subscriber::set_global_default(CommitCounter).is_ok();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");

    // Iterations take milliseconds (each is at least one fsync): flat sampling, 20 samples,
    // about 6 s per bench, 14 benches.
    let mut group = c.benchmark_group("group_commit");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    for n in BATCH_SIZES {
        group.throughput(Throughput::Elements(n));

        let fresh = Fresh::new();
        let mut next = 0;
        group.bench_with_input(BenchmarkId::new("one_transaction", n), &n, |b, &n| {
            b.iter_batched(
                || {
                    next += n;
                    orders(next - n, n)
                },
                |events| fresh.log.append_blocking(events).expect("durable append"),
                BatchSize::PerIteration,
            )
        });
        drop(fresh);

        let fresh = Fresh::new();
        let mut next = 0;
        reset_commit_counts();
        group.bench_with_input(BenchmarkId::new("concurrent_submitters", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    // Nothing is submitted before the first poll, inside the timed block_on.
                    let pending: Vec<_> = orders(next, n)
                        .into_iter()
                        .map(|event| fresh.log.append(vec![event]))
                        .collect();
                    next += n;
                    let start = Instant::now();
                    let acks = rt.block_on(futures_util::future::join_all(pending));
                    spent += start.elapsed();
                    for ack in acks {
                        ack.expect("durable append");
                    }
                }
                spent
            })
        });
        let (commits, requests) = (
            COMMITS.load(Ordering::Relaxed),
            REQUESTS.load(Ordering::Relaxed),
        );
        if counting && commits > 0 {
            println!(
                "concurrent_submitters/{n}: {requests} requests in {commits} commits: \
                 {:.1} per commit on average, {:.2} commits per batch of {n}, largest {}\n",
                requests as f64 / commits as f64,
                commits as f64 * n as f64 / requests as f64,
                LARGEST.load(Ordering::Relaxed),
            );
        }
        drop(fresh);
    }
    group.finish();
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
