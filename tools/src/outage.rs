//! `tools outage`: how long buying stops after each kind of fault.
//!
//! It starts a fresh store (stock high enough never to run out) in the chosen election
//! mode, keeps `--clients` buyers busy (each retries a failed purchase with the same
//! `Idempotency-Key` until it succeeds), and injects the faults one after another, each
//! `--repeat` times, with the store settled and selling before each one:
//!
//! - `kill-leader` / `kill-follower`: SIGKILL the Raft leader (or a follower), restart it
//!   `--down-for` later;
//! - `pause-leader:<d>` / `pause-follower:<d>`: SIGSTOP it for `d`, then SIGCONT;
//! - `disk-full-leader:<d>` / `disk-full-follower:<d>` / `disk-full-catalog:<d>`: fill its
//!   disk past its reserve for `d`, then free it (each replica's file on a tmpfs of its
//!   own: needs root).
//!
//! The leader is the replica that says it leads (`/health`), not the front-end's choice.
//! For each fault it reports the **longest window with no successful buy** from the fault's
//! start until the next fault (the store whole again, selling for `--settle`, then settled
//! again before the next), so a stall when a paused leader resumes, or when a killed replica
//! rejoins, counts too, and when that window began; and the time from undoing the fault
//! (a restart, a resume, a disk freed) to the first purchase after it. It also reads every
//! acknowledged order back and checks that order numbers are unique.
//!
//! The faults are the harness's ([`toystore_harness::fault`]: the same plan, inject and undo
//! as `tools chaos`), the buyers are its [`Buyer`] recording a [`History`], and the figure
//! is the checker's window after each fault ([`toystore_harness::checker::fault_windows`]):
//! the history says when each fault began and when each purchase was acknowledged.
//!
//! This is a measurement, not a test: the figures depend on the machine. `--out FILE` writes
//! the table as Markdown, `--json FILE` every run.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use toystore_config::duration::parse_positive;
use toystore_config::Election;
use toystore_frontend::client::FrontendClient;
use toystore_harness::buyer::{Buyer, Retry};
use toystore_harness::checker::{fault_windows, Line};
use toystore_harness::fault::{self, Action, Layout, Nemesis, Plan};
use toystore_harness::probe::poll_until;
use toystore_harness::table::{Align, Table};
use toystore_harness::{Cluster, ClusterSpec, History, Service};

/// Arguments of `tools outage`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  tools outage --election raft --repeat 3 --out docs/perf/outage-raft.md\n  tools outage --faults pause-leader:3s,pause-leader:8s --election frontend"
)]
pub struct OutageArgs {
    /// Who starts order elections: `frontend` or `raft`.
    #[arg(long, value_enum, default_value_t = Election::Raft)]
    pub election: Election,
    /// The faults, in order (kill-leader, kill-follower, pause-leader:<d>, pause-follower:<d>,
    /// and on the catalog's Raft group kill-catalog-leader, pause-catalog-leader:<d>).
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
    /// Catalog replicas of the store it starts (`--catalogs`).
    #[command(flatten)]
    pub catalogs: crate::up::Catalogs,
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
    /// SIGKILL the catalog's leader, restart it later.
    KillCatalogLeader,
    /// SIGSTOP the catalog's leader for this long.
    PauseCatalogLeader(#[serde(with = "millis")] Duration),
    /// Fill the order leader's disk past its reserve for this long.
    DiskFullLeader(#[serde(with = "millis")] Duration),
    /// Fill a follower's disk past its reserve for this long.
    DiskFullFollower(#[serde(with = "millis")] Duration),
    /// Fill the catalog leader's disk past its reserve for this long.
    DiskFullCatalog(#[serde(with = "millis")] Duration),
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
        "unknown fault {0:?} (kill-leader, kill-follower, pause-leader:<d>, pause-follower:<d>, kill-catalog-leader, pause-catalog-leader:<d>, disk-full-leader:<d>, disk-full-follower:<d>, disk-full-catalog:<d>)"
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
            ("kill-catalog-leader", None) => Ok(Fault::KillCatalogLeader),
            ("pause-catalog-leader", _) => pause().map(Fault::PauseCatalogLeader),
            ("disk-full-leader", _) => pause().map(Fault::DiskFullLeader),
            ("disk-full-follower", _) => pause().map(Fault::DiskFullFollower),
            ("disk-full-catalog", _) => pause().map(Fault::DiskFullCatalog),
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
            Fault::KillCatalogLeader => f.write_str("kill catalog leader"),
            Fault::PauseCatalogLeader(d) => {
                write!(f, "pause catalog leader {}", humantime::format_duration(*d))
            }
            Fault::DiskFullLeader(d) => {
                write!(f, "disk full leader {}", humantime::format_duration(*d))
            }
            Fault::DiskFullFollower(d) => {
                write!(f, "disk full follower {}", humantime::format_duration(*d))
            }
            Fault::DiskFullCatalog(d) => {
                write!(f, "disk full catalog {}", humantime::format_duration(*d))
            }
        }
    }
}

impl Fault {
    fn on_leader(self) -> bool {
        matches!(
            self,
            Fault::KillLeader | Fault::PauseLeader(_) | Fault::DiskFullLeader(_)
        )
    }

    /// Whether it fills a disk (each replica then needs a disk of its own).
    fn fills_a_disk(self) -> bool {
        matches!(
            self,
            Fault::DiskFullLeader(_) | Fault::DiskFullFollower(_) | Fault::DiskFullCatalog(_)
        )
    }

    /// The harness's plan of this fault, against `leader` (the order leader; the catalog's
    /// is `layout`'s).
    fn plan(self, leader: u32, layout: &Layout, rng: &mut rand::rngs::StdRng) -> Plan {
        let catalog = |nemesis, action| {
            let role = layout.replicated_catalog().then_some(true);
            Plan::on_catalog(nemesis, action, layout.catalog_id(), role)
        };
        let nemesis = match self {
            Fault::KillLeader | Fault::KillFollower => Nemesis::Kill,
            Fault::PauseLeader(_) | Fault::PauseFollower(_) => Nemesis::Pause,
            Fault::DiskFullLeader(_) | Fault::DiskFullFollower(_) => Nemesis::DiskFull,
            Fault::KillCatalogLeader => return catalog(Nemesis::Catalog, Action::Kill),
            Fault::PauseCatalogLeader(_) => return catalog(Nemesis::Catalog, Action::Pause),
            Fault::DiskFullCatalog(_) => return catalog(Nemesis::DiskFull, Action::Fill),
        };
        let victim = match self.on_leader() {
            true => leader,
            false => layout.follower(leader, rng),
        };
        Plan::on_replica(nemesis, victim, self.on_leader())
    }

    /// How long it lasts before it is undone.
    fn lasts(self, down_for: Duration) -> Duration {
        match self {
            Fault::KillLeader | Fault::KillFollower | Fault::KillCatalogLeader => down_for,
            Fault::PauseLeader(d)
            | Fault::PauseFollower(d)
            | Fault::PauseCatalogLeader(d)
            | Fault::DiskFullLeader(d)
            | Fault::DiskFullFollower(d)
            | Fault::DiskFullCatalog(d) => d,
        }
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
    /// From undoing the fault (restarting, resuming, freeing the disk) to the first
    /// purchase acknowledged after it.
    pub first_sale_after_undo_ms: Option<f64>,
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

/// Waits until every replica is ready, one leads, and a purchase was acknowledged after
/// that.
async fn wait_selling(
    cluster: &Cluster,
    history: &History,
    timeout: Duration,
) -> anyhow::Result<()> {
    for id in cluster.replica_ids() {
        cluster
            .wait_healthy(Service::Order(id), timeout)
            .await
            .with_context(|| format!("replica {id} did not come back"))?;
    }
    cluster.wait_replica_leader(timeout).await?;
    let since = history.now_ms();
    let sold = || async { history.last_ok_ms().filter(|t| *t > since).map(drop) };
    poll_until(timeout, "the store did not sell again", sold).await
}

/// Buys one unit of each toy in turn until aborted, each purchase retried with its key
/// until it is settled (the stock never runs out, so every failure is a fault's).
async fn buyer(buyer: Buyer, retried: Arc<AtomicU64>) {
    let toys = toystore_catalog::toys::TOYS;
    for i in 0.. {
        let key = uuid::Uuid::new_v4().to_string();
        let purchase = buyer.buy(&key, toys[i % toys.len()].0, 1).await;
        retried.fetch_add(purchase.retried.len() as u64, Ordering::Relaxed);
    }
}

/// Each replica's disk of its own, with a `disk-full-…` fault (a tmpfs; root).
const DISK_SIZE: u64 = 256 << 20;

/// Runs `tools outage`.
pub async fn run(args: OutageArgs) -> anyhow::Result<u8> {
    let dir = tempfile::Builder::new()
        .prefix("toystore-outage-")
        .tempdir()
        .context("creating a temporary directory")?;
    let program = std::env::current_exe().context("locating the tools binary")?;
    let mut spec =
        ClusterSpec::on_free_ports_with_catalogs(program, Vec::new(), dir.path(), args.catalogs.n)?;
    spec.config.catalog.stock = 1_000_000_000;
    spec.config.order.election = args.election;
    if args.faults.iter().any(|f| f.fills_a_disk()) {
        spec.disks = Some(DISK_SIZE);
        spec.config.order.disk_reserve = DISK_SIZE / 16;
    }
    let mut cluster = Cluster::start(spec, Duration::from_secs(60)).await?;
    let measured = measure(&args, &mut cluster).await;
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

async fn measure(args: &OutageArgs, cluster: &mut Cluster) -> anyhow::Result<OutageReport> {
    let history = History::new();
    let retried = Arc::new(AtomicU64::new(0));
    // One client (its own connections) per buyer, like separate customers.
    let buyers = (0..args.clients.max(1))
        .map(|_| {
            let client = FrontendClient::new(&cluster.frontend_url())?;
            let b = Buyer::new(client, Retry::forever(Duration::from_millis(10)))
                .recording(history.clone());
            Ok(tokio::spawn(buyer(b, retried.clone())))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let total = (args.faults.len() * args.repeat) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // (fault, replica hit, when it was undone), in the order injected.
    let mut injected: Vec<(Fault, u32, f64)> = Vec::new();
    let whole = Duration::from_secs(60);
    let outcome: anyhow::Result<()> = async {
        for _ in 0..args.repeat {
            for &f in &args.faults {
                bar.set_message(f.to_string());
                wait_selling(cluster, &history, whole).await?;
                tokio::time::sleep(args.settle).await;
                let leader = cluster.wait_replica_leader(whole).await?;
                let layout =
                    Layout::of(cluster).with_catalog_leader(cluster.catalog_leader().await);
                let plan = f.plan(leader, &layout, &mut rng);
                history.fault(&f.to_string());
                fault::inject(cluster, &plan, leader).await?;
                tokio::time::sleep(f.lasts(args.down_for)).await;
                let undone = history.now_ms();
                injected.push((f, plan.target_id().unwrap_or(leader), undone));
                fault::undo(cluster, &plan).await?;
                history.heal(&f.to_string());
                wait_selling(cluster, &history, whole).await?;
                tokio::time::sleep(args.settle).await;
                bar.inc(1);
            }
        }
        Ok(())
    }
    .await;
    for b in &buyers {
        b.abort();
    }
    bar.finish_and_clear();
    outcome?;
    let lines = history.lines();
    let runs = fault_windows(&lines)
        .into_iter()
        .zip(injected)
        .map(|(w, (fault, replica, undone))| Run {
            fault,
            label: w.kind,
            replica,
            longest_gap_ms: w.longest_ms,
            gap_started_ms: w.began_ms,
            bought: w.acknowledged,
            first_sale_after_undo_ms: lines
                .iter()
                .filter(|l| matches!(l, Line::Ok { .. }) && l.t() >= undone)
                .map(|l| l.t() - undone)
                .reduce(f64::min),
        })
        .collect();
    let orders = acknowledged(&lines);
    let bad_orders = check_orders(cluster.frontend(), &orders).await;
    Ok(OutageReport {
        election: args.election.to_string(),
        runs,
        acknowledged: orders.len() as u64,
        retried_attempts: retried.load(Ordering::Relaxed),
        bad_orders,
    })
}

/// Every acknowledged purchase of a history: (order number, toy).
fn acknowledged(lines: &[Line]) -> Vec<(u64, String)> {
    let mut toys: BTreeMap<&str, &str> = BTreeMap::new();
    let mut out = Vec::new();
    for line in lines {
        match line {
            Line::Invoke { key, name, .. } => {
                toys.insert(key, name);
            }
            Line::Ok { key, order, .. } => {
                let name = toys.get(key.as_str()).copied().unwrap_or_default();
                out.push((*order, name.to_string()));
            }
            _ => {}
        }
    }
    out
}

/// Reads every acknowledged order back; counts the missing, the altered and the shared.
async fn check_orders(client: &FrontendClient, orders: &[(u64, String)]) -> u64 {
    let mut seen = BTreeMap::new();
    let mut bad = 0;
    for (number, name) in orders {
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
    let mut table = Table::with_alignment([
        ("fault", Align::Left),
        ("runs", Align::Right),
        ("median ms", Align::Right),
        ("worst ms", Align::Right),
        ("windows began at (ms after the fault)", Align::Left),
        ("first sale after undone, median ms", Align::Right),
    ]);
    for (label, runs) in &kinds {
        let gaps = runs.iter().map(|r| r.longest_gap_ms);
        let median = crate::median(gaps.clone()).unwrap_or_default();
        let worst = gaps.fold(0.0, f64::max);
        let began: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.0}", r.gap_started_ms))
            .collect();
        let after_undo = crate::median(runs.iter().filter_map(|r| r.first_sale_after_undo_ms))
            .map_or_else(|| "-".to_string(), |ms| format!("{ms:.0}"));
        let row = [
            label.clone(),
            runs.len().to_string(),
            format!("{median:.0}"),
            format!("{worst:.0}"),
            began.join(", "),
            after_undo,
        ];
        table.push(row);
    }
    let mut out = format!(
        "Election `{}`: longest window with no successful purchase after each fault\n\n{}",
        report.election,
        table.markdown()
    );
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
        assert_eq!(
            "disk-full-catalog:2s".parse(),
            Ok(Fault::DiskFullCatalog(Duration::from_secs(2)))
        );
        assert!("disk-full-leader".parse::<Fault>().is_err());
        assert!("kill-leader:3s".parse::<Fault>().is_err());
        assert!("nap".parse::<Fault>().is_err());
    }

    #[test]
    fn acknowledged_purchases_are_read_from_the_history() {
        let h = History::new();
        h.invoke("a", "Tux", 1);
        h.invoke("b", "Uno", 1);
        h.ok("b", 7);
        h.unknown("a");
        assert_eq!(acknowledged(&h.lines()), [(7, "Uno".to_string())]);
    }
}
