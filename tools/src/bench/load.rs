//! [`run`]: drive one scenario against one address and measure it.
//!
//! `clients` simulated clients run concurrently, each on its own keep-alive connection.
//!
//! - **Closed loop** (default): each client sends its next operation as soon as the last
//!   one is answered; latency is measured from the moment it is sent.
//! - **Open loop** (`rate`): operations are due on a fixed schedule, `rate` per second in
//!   all, spread evenly over the clients. A client that falls behind sends late, but the
//!   latency is still measured from when the operation was *due*, so a stall shows as the
//!   queueing delay every user would have seen (no coordinated omission, as in wrk2).
//!
//! The first `warmup` of a run is not measured. Latencies go into hdrhistogram (µs, three
//! significant digits) per client and are merged at the end; throughput is the number of
//! requests that ended inside the measured window divided by its length (a request counts
//! by when it ends, so even a window shorter than one request's latency is measured).

use super::conn::Conn;
use super::scenario::{Client, Kind, Outcome, Record, Scenario, Shared};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to load one address.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The server.
    pub addr: SocketAddr,
    /// Its host as its URL names it, for the TLS certificate's check (`None`: its IP).
    pub host: Option<String>,
    /// What to send.
    pub scenario: Scenario,
    /// Concurrent clients (= connections).
    pub clients: usize,
    /// The measured window.
    pub duration: Duration,
    /// Unmeasured time before it.
    pub warmup: Duration,
    /// Open loop at this many operations per second in all; closed loop when `None`.
    pub rate: Option<f64>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Seed of the clients' random choices (client `i` uses `seed + i`).
    pub seed: u64,
}

/// Latencies and counts of one kind of request.
#[derive(Debug, Clone)]
pub struct KindStats {
    /// Latencies of answered requests, µs.
    pub latency: Histogram<u64>,
    /// Requests answered as expected.
    pub ok: u64,
    /// Correct refusals (see [`Outcome::Rejected`]).
    pub rejected: u64,
    /// Errors.
    pub errors: u64,
    /// What the first error was.
    pub first_error: Option<String>,
}

impl KindStats {
    fn new(template: &Histogram<u64>) -> Self {
        Self {
            latency: template.clone(),
            ok: 0,
            rejected: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn merge(&mut self, other: &KindStats) {
        let _ = self.latency.add(&other.latency);
        self.ok += other.ok;
        self.rejected += other.rejected;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Per kind of request.
    pub kinds: BTreeMap<Kind, KindStats>,
    /// Every answered request together.
    pub all: Histogram<u64>,
    /// Requests answered (ok or rejected) inside the window.
    pub answered: u64,
    /// Errors inside the window.
    pub errors: u64,
    /// The measured window's length.
    pub window: Duration,
}

impl LoadResult {
    /// Answered requests per second.
    pub fn throughput(&self) -> f64 {
        self.answered as f64 / self.window.as_secs_f64().max(1e-9)
    }
}

/// One client's recorder: counts only what ends inside the measured window.
struct Recorder {
    window_start: Instant,
    window_end: Instant,
    kinds: BTreeMap<Kind, KindStats>,
    template: Histogram<u64>,
    done: Arc<AtomicU64>,
}

impl Record for Recorder {
    fn record(&mut self, kind: Kind, outcome: Outcome, from: Instant) {
        let now = Instant::now();
        self.done.fetch_add(1, Ordering::Relaxed);
        // Throughput is completions per second of the window, so what counts is when a
        // request ends; one due during the warm-up that ends inside the window counts,
        // with its whole latency.
        if now < self.window_start || now > self.window_end {
            return;
        }
        let template = &self.template;
        let stats = self
            .kinds
            .entry(kind)
            .or_insert_with(|| KindStats::new(template));
        match outcome {
            Outcome::Error(what) => {
                stats.errors += 1;
                if stats.first_error.is_none() {
                    stats.first_error = Some(what);
                }
            }
            Outcome::Ok | Outcome::Rejected => {
                let us = u64::try_from(now.duration_since(from).as_micros()).unwrap_or(u64::MAX);
                stats.latency.saturating_record(us.max(1));
                if outcome == Outcome::Ok {
                    stats.ok += 1;
                } else {
                    stats.rejected += 1;
                }
            }
        }
    }
}

/// How long after [`run`] is called its clients start (the warm-up, then the measured
/// window, follow).
pub const START_DELAY: Duration = Duration::from_millis(20);

/// Runs `spec` with what the clients share, showing progress on `bar` (its length is the
/// run's length in ms; its message shows the requests per second so far).
pub async fn run(
    spec: &LoadSpec,
    shared: Arc<Shared>,
    bar: &ProgressBar,
) -> anyhow::Result<LoadResult> {
    // 1 µs to 10 min at three significant digits; longer values saturate.
    let template = Histogram::new_with_bounds(1, 600_000_000, 3)
        .map_err(|e| anyhow::anyhow!("creating a latency histogram: {e}"))?;
    let clients = spec.clients.max(1);
    let start = Instant::now() + START_DELAY;
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.duration;
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for id in 0..clients {
        let mut client = Client::new(
            spec.scenario,
            (id, clients),
            StdRng::seed_from_u64(spec.seed.wrapping_add(id as u64)),
            shared.clone(),
        );
        let mut conn = Conn::new(spec.addr, spec.timeout);
        if let Some(host) = &spec.host {
            conn = conn.named(host);
        }
        let mut rec = Recorder {
            window_start,
            window_end,
            kinds: BTreeMap::new(),
            template: template.clone(),
            done: done.clone(),
        };
        // Open loop: client `id` is due every `clients / rate` seconds, offset so the
        // clients' slots interleave evenly.
        let interval = spec
            .rate
            .filter(|r| *r > 0.0)
            .map(|r| Duration::from_secs_f64(clients as f64 / r));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(start.into()).await;
            let mut slot: u64 = 0;
            loop {
                let due = match interval {
                    Some(every) => {
                        let offset = every.mul_f64(id as f64 / clients as f64);
                        let due = start + offset + every.mul_f64(slot as f64);
                        slot += 1;
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                if due >= window_end {
                    break;
                }
                client.step(&mut conn, due, &mut rec).await;
            }
            rec.kinds
        }));
    }
    let total = start.duration_since(Instant::now()) + spec.warmup + spec.duration;
    bar.set_length(u64::try_from(total.as_millis()).unwrap_or(u64::MAX));
    let ticker = {
        let bar = bar.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let begun = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let elapsed = begun.elapsed();
                bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX));
                let rate = done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64();
                bar.set_message(format!("{rate:.0} req/s"));
            }
        })
    };
    let mut kinds: BTreeMap<Kind, KindStats> = BTreeMap::new();
    for task in tasks {
        if let Ok(client_kinds) = task.await {
            for (kind, stats) in client_kinds {
                kinds
                    .entry(kind)
                    .or_insert_with(|| KindStats::new(&template))
                    .merge(&stats);
            }
        }
    }
    ticker.abort();
    bar.set_position(bar.length().unwrap_or(0));
    let mut all = template;
    let (mut answered, mut errors) = (0, 0);
    for stats in kinds.values() {
        let _ = all.add(&stats.latency);
        answered += stats.ok + stats.rejected;
        errors += stats.errors;
    }
    Ok(LoadResult {
        kinds,
        all,
        answered,
        errors,
        window: spec.duration,
    })
}
