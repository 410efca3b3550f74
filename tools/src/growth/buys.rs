//! Buys on a store whose replicas hold N orders, against the same run on an empty store.
//!
//! Once the three replicas hold N orders (after the catch-up, stopped), the whole store is
//! started on copies of their files (the measured files keep their N orders): a new catalog with [`BENCH_STOCK`] per toy (no purchase is
//! refused), the replicas on their files, a front-end. The bench's closed-loop buy load
//! ([`crate::bench::load`]) runs through the front-end, while every replica's current
//! snapshot is polled, so the run says how many snapshots were taken during it (each
//! replica builds its own every [`SNAPSHOT_EVERY`] entries; a snapshot is a tail, if it
//! costs anything, in p99 and p99.9). The same run on an empty store (a fresh directory,
//! the same settings) is made just before, so both share the machine's mood. A third run,
//! on fresh copies, takes a backup of the order leader a quarter into its measured window
//! (`tools backup`'s own code): how long it takes, and the longest buy with it against the
//! run without.

use super::figures::{BackupRun, BuyFigures, BuyRun};
use crate::bench::load::{self, LoadSpec};
use crate::bench::report::Row;
use crate::bench::scenario::{Scenario, Shared};
use crate::bench::target::BENCH_STOCK;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use toystore_config::ClusterConfig;
use toystore_harness::{Cluster, ClusterSpec};

/// Raft entries between snapshots during the buy runs (the services' default is 10,000,
/// which a short run may not reach; each entry carries a batch of purchases).
pub const SNAPSHOT_EVERY: u64 = 1_000;
/// Concurrent buyers.
pub const CLIENTS: usize = 64;
/// Unmeasured time before the measured window.
const WARMUP: Duration = Duration::from_secs(2);
/// How often the replicas' snapshots are polled.
const POLL: Duration = Duration::from_millis(100);
/// The longest wait for a store to serve.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Measures buys on an empty store in `dir/empty`, then on the replicas' files under
/// `config` (stopped, as the catch-up left them), each for `duration`.
pub async fn measure(
    program: &Path,
    config: &ClusterConfig,
    dir: &Path,
    duration: Duration,
) -> anyhow::Result<BuyFigures> {
    let empty_dir = dir.join("empty");
    let mut empty = ClusterSpec::on_free_ports(program.to_path_buf(), Vec::new(), &empty_dir)?;
    empty.config.order.election = config.order.election;
    let (empty, _) = run(empty, duration, None).await?;
    let (full, _) = run(copies(program, config, &dir.join("buys"))?, duration, None).await?;
    let backup_dir = dir.join("backup");
    let out = dir.join("order.backup.redb");
    let (run_, taken) = run(copies(program, config, &backup_dir)?, duration, Some(&out)).await?;
    let _ = std::fs::remove_file(&out);
    Ok(BuyFigures {
        empty,
        full,
        with_backup: taken.context("the backup was not taken")?.with(run_),
    })
}

/// A store on free ports in `dir` whose replicas start on copies of the files under
/// `config` (so the measured ones keep their N orders).
fn copies(program: &Path, config: &ClusterConfig, dir: &Path) -> anyhow::Result<ClusterSpec> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut spec = ClusterSpec::on_free_ports(program.to_path_buf(), Vec::new(), dir)?;
    spec.config = ClusterConfig {
        data_dir: dir.to_path_buf(),
        ..config.clone()
    };
    for r in &config.replicas {
        let (from, to) = (config.order_db(r.id), spec.config.order_db(r.id));
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        // On disk before the run, so writing the copy back does not compete with its fsyncs.
        std::fs::File::open(&to)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", to.display()))?;
    }
    Ok(spec)
}

/// The backup taken during a run: its figures but the run's.
struct Taken {
    secs: f64,
    bytes: u64,
    events: u64,
}

impl Taken {
    fn with(self, run: BuyRun) -> BackupRun {
        BackupRun {
            run,
            secs: self.secs,
            bytes: self.bytes,
            events: self.events,
        }
    }
}

/// Starts the store `spec` describes (bench stock, [`SNAPSHOT_EVERY`]), runs the buy load
/// on it (with `backup`, a backup of the order leader into that file, begun a quarter into
/// the measured window), stops it and removes its directory.
async fn run(
    mut spec: ClusterSpec,
    duration: Duration,
    backup: Option<&Path>,
) -> anyhow::Result<(BuyRun, Option<Taken>)> {
    spec.config.catalog.stock = BENCH_STOCK;
    spec.config.order.snapshot_every = SNAPSHOT_EVERY;
    let dir = spec.config.data_dir.clone();
    let cluster = Cluster::start(spec, START_TIMEOUT).await?;
    let clients: Vec<_> = cluster
        .replica_ids()
        .into_iter()
        .map(|id| cluster.replica_client(id))
        .collect::<anyhow::Result<_>>()?;
    let toys: Vec<&str> = toystore_catalog::toys::TOYS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let spec = LoadSpec {
        addr: crate::bench::target::loopback_frontend(&cluster)?,
        host: None,
        scenario: Scenario::Buy,
        clients: CLIENTS,
        duration,
        warmup: WARMUP,
        rate: None,
        timeout: Duration::from_secs(10),
        seed: 1,
    };
    let bar = indicatif::ProgressBar::hidden();
    let mut snapshots = Snapshots::default();
    let taking = match backup {
        Some(out) => {
            let leader = cluster.wait_leader(START_TIMEOUT).await?;
            let url = cluster.url(toystore_harness::Service::Order(leader));
            let token = cluster.config().token.clone();
            let out = out.to_path_buf();
            let _ = std::fs::remove_file(&out);
            Some(tokio::spawn(async move {
                tokio::time::sleep(WARMUP + duration / 4).await;
                let began = std::time::Instant::now();
                let (copied, _) = crate::backup::from_replica(&url, &token, &out).await?;
                let secs = began.elapsed().as_secs_f64();
                let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
                anyhow::Ok(Taken {
                    secs,
                    bytes,
                    events: copied.last_seq.0,
                })
            }))
        }
        None => None,
    };
    let load = load::run(&spec, Arc::new(Shared::new(&toys)), &bar);
    tokio::pin!(load);
    let result = loop {
        tokio::select! {
            result = &mut load => break result,
            () = tokio::time::sleep(POLL) => snapshots.poll(&clients).await,
        }
    };
    let taken = match taking {
        Some(task) => Some(task.await),
        None => None,
    };
    // Stopped and removed whatever the run's outcome.
    cluster.stop(Duration::from_secs(30)).await;
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    let taken = match taken {
        Some(joined) => Some(joined?.context("the backup during the run")?),
        None => None,
    };
    let result = result?;
    let row = Row::from_load("buy".into(), CLIENTS, None, &result);
    let run = BuyRun {
        buys_per_sec: row.throughput_rps,
        p50_ms: row.p50_ms,
        p99_ms: row.p99_ms,
        p999_ms: row.p999_ms,
        max_ms: result.all.max() as f64 / 1000.0,
        errors: row.errors,
        snapshots: snapshots.taken,
    };
    Ok((run, taken))
}

/// The snapshots the replicas took while they were polled.
#[derive(Default)]
struct Snapshots {
    /// Each replica's current snapshot at the last poll.
    seen: BTreeMap<u32, Option<u64>>,
    /// Changes of a replica's current snapshot seen between polls.
    taken: u64,
}

impl Snapshots {
    async fn poll(&mut self, clients: &[toystore_order_api::ReplicaClient]) {
        for client in clients {
            if let Ok(status) = client.health().await {
                let before = self.seen.insert(status.id, status.snapshot);
                if before.is_some_and(|b| b != status.snapshot) {
                    self.taken += 1;
                }
            }
        }
    }
}
