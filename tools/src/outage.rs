//! `tools outage`: how long buying stops after each kind of fault.
//!
//! It starts a fresh store (stock high enough never to run out) in the chosen election
//! mode, keeps `--clients` buyers busy (each retries a failed purchase with the same
//! `Idempotency-Key` until it succeeds), and injects the faults one after another, each
//! `--repeat` times, with the store settled and selling before each one:
//!
//! - `kill-leader` / `kill-follower`: SIGKILL the Raft leader (or a follower), restart it
//!   `--down-for` later;
//! - `pause-leader:<d>` / `pause-follower:<d>`: SIGSTOP it for `d`, then SIGCONT.
//!
//! The leader is the replica that says it leads (`/health`), not the front-end's choice.
//! For each fault it records every successful purchase's completion time and reports the
//! **longest window with no successful buy** from the fault's start until the store is whole
//! again and has sold for `--settle` (so a stall when a paused leader resumes, or when a
//! killed replica rejoins, counts too), and when that window began. It also reads every
//! acknowledged order back and checks that order numbers are unique.
//!
//! This is a measurement, not a test: the figures depend on the machine. `--out FILE` writes
//! the table as Markdown, `--json FILE` every run.
//!
//! Why one file of this length: the fault kinds, the buyer that times the window and the
//! table are one measurement; split, each part would only make sense next to the others.

use crate::cluster::{Cluster, ClusterSpec, Service};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use toystore_config::duration::parse_positive;
use toystore_config::Election;
use toystore_frontend::client::FrontendClient;
use toystore_order_api::ReplicaClient;

/// Arguments of `tools outage`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  tools outage --election raft --repeat 3 --out docs/perf/outage-raft.md\n  tools outage --faults pause-leader:3s,pause-leader:8s --election frontend"
)]
pub struct OutageArgs {
    /// Who starts order elections: `frontend` or `raft`.
    #[arg(long, value_enum, default_value_t = Election::Raft)]
    pub election: Election,
    /// The faults, in order (kill-leader, kill-follower, pause-leader:<d>, pause-follower:<d>).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "kill-leader,pause-leader:3s,pause-leader:8s,kill-follower,pause-follower:3s"
    )]
    pub faults: Vec<Fault>,
    /// Times each fault is injected.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Concurrent buyers.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// How long a killed replica stays down before its restart.
    #[arg(long, default_value = "3s", value_parser = parse_positive)]
    pub down_for: Duration,
    /// Selling time required before each fault and after each heal.
    #[arg(long, default_value = "2s", value_parser = parse_positive)]
    pub settle: Duration,
    /// Seed of the choice of follower victims.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the summary table (Markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write every run as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// SIGKILL the leader, restart it later.
    KillLeader,
    /// SIGKILL a follower, restart it later.
    KillFollower,
    /// SIGSTOP the leader for this long.
    PauseLeader(#[serde(with = "millis")] Duration),
    /// SIGSTOP a follower for this long.
    PauseFollower(#[serde(with = "millis")] Duration),
}

/// Durations in JSON as integer milliseconds (`#[serde(with = "millis")]`).
mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u128(d.as_millis())
    }
}

/// Why a fault given on the command line was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// A pause without its duration.
    #[error("{0} needs a duration, e.g. {0}:3s")]
    NoDuration(String),
    /// A duration that does not parse.
    #[error("{kind}: {source}")]
    Duration {
        /// The fault.
        kind: String,
        /// Why.
        source: toystore_config::duration::DurationError,
    },
    /// Not a fault this tool injects.
    #[error(
        "unknown fault {0:?} (kill-leader, kill-follower, pause-leader:<d>, pause-follower:<d>)"
    )]
    Unknown(String),
}

impl FromStr for Fault {
    type Err = FaultError;
    fn from_str(text: &str) -> Result<Self, FaultError> {
        let (kind, arg) = match text.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (text, None),
        };
        let pause = || -> Result<Duration, FaultError> {
            let arg = arg.ok_or_else(|| FaultError::NoDuration(kind.to_string()))?;
            parse_positive(arg).map_err(|source| FaultError::Duration {
                kind: kind.to_string(),
                source,
            })
        };
        match (kind, arg) {
            ("kill-leader", None) => Ok(Fault::KillLeader),
            ("kill-follower", None) => Ok(Fault::KillFollower),
            ("pause-leader", _) => pause().map(Fault::PauseLeader),
            ("pause-follower", _) => pause().map(Fault::PauseFollower),
            _ => Err(FaultError::Unknown(text.to_string())),
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::KillLeader => f.write_str("kill leader"),
            Fault::KillFollower => f.write_str("kill follower"),
            Fault::PauseLeader(d) => write!(f, "pause leader {}", humantime::format_duration(*d)),
            Fault::PauseFollower(d) => {
                write!(f, "pause follower {}", humantime::format_duration(*d))
            }
        }
    }
}

impl Fault {
    fn on_leader(self) -> bool {
        matches!(self, Fault::KillLeader | Fault::PauseLeader(_))
    }
}

/// One injected fault and what the buyers saw.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// The fault.
    pub fault: Fault,
    /// Its label.
    pub label: String,
    /// The replica it hit.
    pub replica: u32,
    /// The longest time with no successful purchase, from the fault to the end of the run.
    pub longest_gap_ms: f64,
    /// When that window began, after the fault's start.
    pub gap_started_ms: f64,
    /// Purchases that succeeded between the fault and the end of the run.
    pub bought: usize,
}

/// What `tools outage` measured.
#[derive(Debug, Clone, Serialize)]
pub struct OutageReport {
    /// The election mode.
    pub election: String,
    /// Every run, in order.
    pub runs: Vec<Run>,
    /// Acknowledged purchases in all.
    pub acknowledged: u64,
    /// Failed attempts the buyers retried (503s, timeouts, refused connections).
    pub retried_attempts: u64,
    /// Acknowledged orders that read back differently or not at all, or shared a number.
    pub bad_orders: u64,
}

/// Successful purchases: completion time, order number, toy.
type Ledger = Arc<Mutex<Vec<(Instant, u64, String)>>>;

/// The longest window with no entry of `times` in `[from, to]`, and when it began.
fn longest_gap(times: &[Instant], from: Instant, to: Instant) -> (Duration, Duration) {
    let mut marks: Vec<Instant> = times
        .iter()
        .copied()
        .filter(|t| *t > from && *t < to)
        .collect();
    marks.sort();
    let mut prev = from;
    let mut best = (Duration::ZERO, Duration::ZERO);
    for t in marks.into_iter().chain(std::iter::once(to)) {
        let gap = t - prev;
        if gap > best.0 {
            best = (gap, prev - from);
        }
        prev = t;
    }
    best
}

/// The replica that leads ([`toystore_order_api::leader`]), if any.
async fn raft_leader(replicas: &[ReplicaClient]) -> Option<u32> {
    let mut statuses = Vec::new();
    for r in replicas {
        if let Ok(s) = r.health().await {
            statuses.push(s);
        }
    }
    toystore_order_api::leader(&statuses).map(|s| s.id)
}

/// Waits until every replica is ready, one leads, and a purchase succeeded after that.
async fn wait_selling(
    cluster: &Cluster,
    replicas: &[ReplicaClient],
    ledger: &Ledger,
    timeout: Duration,
) -> anyhow::Result<u32> {
    let deadline = Instant::now() + timeout;
    for id in cluster.replica_ids() {
        cluster
            .wait_healthy(Service::Order(id), timeout)
            .await
            .with_context(|| format!("replica {id} did not come back"))?;
    }
    loop {
        if let Some(leader) = raft_leader(replicas).await {
            let since = Instant::now();
            while Instant::now() < deadline {
                let sold = ledger
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .last()
                    .is_some_and(|(t, _, _)| *t > since);
                if sold {
                    return Ok(leader);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if Instant::now() >= deadline {
            bail!("the store did not sell again within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Buys until `stop`, retrying each purchase with its key until it succeeds (whatever the
/// failure: the stock never runs out, so every refusal is a fault's).
async fn buyer(
    client: FrontendClient,
    ledger: Ledger,
    stop: Arc<AtomicBool>,
    retried: Arc<AtomicU64>,
) {
    let toys = toystore_catalog::toys::TOYS;
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let key = uuid::Uuid::new_v4().to_string();
        let name = toys[i % toys.len()].0;
        i += 1;
        loop {
            let number = client.buy(name, 1, Some(&key)).await.ok();
            if let Some(n) = number.map(|placed| placed.order_number) {
                ledger.lock().unwrap_or_else(PoisonError::into_inner).push((
                    Instant::now(),
                    n.get(),
                    name.to_string(),
                ));
                break;
            }
            retried.fetch_add(1, Ordering::Relaxed);
            if stop.load(Ordering::Relaxed) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Runs `tools outage`.
pub async fn run(args: OutageArgs) -> anyhow::Result<u8> {
    let dir = tempfile::Builder::new()
        .prefix("toystore-outage-")
        .tempdir()
        .context("creating a temporary directory")?;
    let program = std::env::current_exe().context("locating the tools binary")?;
    let mut spec = ClusterSpec::on_free_ports(program, Vec::new(), dir.path())?;
    spec.config.catalog.stock = 1_000_000_000;
    spec.config.order.election = args.election;
    let mut cluster = Cluster::start(spec, Duration::from_secs(60)).await?;
    let replicas: Vec<ReplicaClient> = cluster
        .replica_ids()
        .into_iter()
        .map(|id| cluster.replica_client(id))
        .collect::<anyhow::Result<_>>()?;
    let measured = measure(&args, &mut cluster, &replicas).await;
    cluster.stop(Duration::from_secs(10)).await;
    let report = measured?;
    let table = to_markdown(&report);
    println!("{table}");
    if let Some(path) = &args.out {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(u8::from(report.bad_orders > 0))
}

async fn measure(
    args: &OutageArgs,
    cluster: &mut Cluster,
    replicas: &[ReplicaClient],
) -> anyhow::Result<OutageReport> {
    let ledger: Ledger = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let retried = Arc::new(AtomicU64::new(0));
    // One client (its own connections) per buyer, like separate customers.
    let buyers = (0..args.clients.max(1))
        .map(|_| {
            let client = FrontendClient::new(&cluster.frontend_url())?;
            Ok(tokio::spawn(buyer(
                client,
                ledger.clone(),
                stop.clone(),
                retried.clone(),
            )))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let total = (args.faults.len() * args.repeat) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut runs = Vec::new();
    let whole = Duration::from_secs(60);
    let outcome: anyhow::Result<()> = async {
        for _ in 0..args.repeat {
            for &fault in &args.faults {
                bar.set_message(fault.to_string());
                let leader = wait_selling(cluster, replicas, &ledger, whole).await?;
                tokio::time::sleep(args.settle).await;
                let leader = raft_leader(replicas).await.unwrap_or(leader);
                let victim = if fault.on_leader() {
                    leader
                } else {
                    let followers: Vec<u32> = cluster
                        .replica_ids()
                        .into_iter()
                        .filter(|id| *id != leader)
                        .collect();
                    followers[rng.random_range(0..followers.len())]
                };
                let service = Service::Order(victim);
                let start = Instant::now();
                match fault {
                    Fault::KillLeader | Fault::KillFollower => {
                        cluster.kill(service).await?;
                        tokio::time::sleep(args.down_for).await;
                        cluster.spawn(service)?;
                    }
                    Fault::PauseLeader(d) | Fault::PauseFollower(d) => {
                        cluster.pause(service)?;
                        tokio::time::sleep(d).await;
                        cluster.resume(service)?;
                    }
                }
                wait_selling(cluster, replicas, &ledger, whole).await?;
                tokio::time::sleep(args.settle).await;
                let end = Instant::now();
                let times: Vec<Instant> = ledger
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .map(|(t, _, _)| *t)
                    .collect();
                let (gap, began) = longest_gap(&times, start, end);
                runs.push(Run {
                    fault,
                    label: fault.to_string(),
                    replica: victim,
                    longest_gap_ms: gap.as_secs_f64() * 1e3,
                    gap_started_ms: began.as_secs_f64() * 1e3,
                    bought: times.iter().filter(|t| **t > start && **t < end).count(),
                });
                bar.inc(1);
            }
        }
        Ok(())
    }
    .await;
    stop.store(true, Ordering::Relaxed);
    for b in buyers {
        let _ = b.await;
    }
    bar.finish_and_clear();
    outcome?;
    let orders = std::mem::take(&mut *ledger.lock().unwrap_or_else(PoisonError::into_inner));
    let bad_orders = check_orders(cluster.frontend(), &orders).await;
    Ok(OutageReport {
        election: args.election.to_string(),
        runs,
        acknowledged: orders.len() as u64,
        retried_attempts: retried.load(Ordering::Relaxed),
        bad_orders,
    })
}

/// Reads every acknowledged order back; counts the missing, the altered and the shared.
async fn check_orders(client: &FrontendClient, orders: &[(Instant, u64, String)]) -> u64 {
    let mut seen = BTreeMap::new();
    let mut bad = 0;
    for (_, number, name) in orders {
        if seen.insert(*number, name.clone()).is_some() {
            bad += 1;
            continue;
        }
        let got = client.order(*number).await.ok();
        if got.is_none_or(|order| order.name != *name) {
            bad += 1;
        }
    }
    bad
}

/// The report as Markdown: one row per fault kind (median and worst over its runs).
pub fn to_markdown(report: &OutageReport) -> String {
    let mut kinds: Vec<(String, Vec<&Run>)> = Vec::new();
    for run in &report.runs {
        match kinds.iter_mut().find(|(l, _)| *l == run.label) {
            Some((_, v)) => v.push(run),
            None => kinds.push((run.label.clone(), vec![run])),
        }
    }
    let mut out = format!(
        "Election `{}`: longest window with no successful purchase after each fault\n\n\
         | fault | runs | median ms | worst ms | windows began at (ms after the fault) |\n\
         | --- | ---: | ---: | ---: | --- |\n",
        report.election
    );
    for (label, runs) in &kinds {
        let mut gaps: Vec<f64> = runs.iter().map(|r| r.longest_gap_ms).collect();
        gaps.sort_by(f64::total_cmp);
        let median = gaps[gaps.len() / 2];
        let worst = gaps[gaps.len() - 1];
        let began: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.0}", r.gap_started_ms))
            .collect();
        out += &format!(
            "| {label} | {} | {median:.0} | {worst:.0} | {} |\n",
            runs.len(),
            began.join(", ")
        );
    }
    out += &format!(
        "\n{} purchases acknowledged, {} failed attempts retried with the same key, {} orders lost, altered or shared.\n",
        report.acknowledged, report.retried_attempts, report.bad_orders
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_refuse_garbage() {
        assert_eq!("kill-leader".parse(), Ok(Fault::KillLeader));
        assert_eq!(
            "pause-leader:3s".parse(),
            Ok(Fault::PauseLeader(Duration::from_secs(3)))
        );
        assert!("pause-leader".parse::<Fault>().is_err());
        assert!("kill-leader:3s".parse::<Fault>().is_err());
        assert!("nap".parse::<Fault>().is_err());
    }

    #[test]
    fn the_longest_gap_counts_from_the_fault_to_the_end() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Sales at 10, 20, 900, 950 ms; the run ends at 1000 ms.
        let times = [at(10), at(20), at(900), at(950), at(5)];
        let (gap, began) = longest_gap(&times, at(8), at(1000));
        assert_eq!(gap, Duration::from_millis(880));
        assert_eq!(began, Duration::from_millis(12));
        // Nothing sold at all: the whole run.
        let (gap, began) = longest_gap(&[], at(0), at(300));
        assert_eq!((gap, began), (Duration::from_millis(300), Duration::ZERO));
    }
}
