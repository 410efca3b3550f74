//! `tools chaos`: faults under load, judged the way Jepsen does — a nemesis, a recorded
//! history and a checker.
//!
//! It starts a fresh store (with `--netns` each service on a host of its own and a second
//! front-end, see [`crate::netns`]), runs the handout's clients for `--duration` (split
//! between the front-ends), every purchase recorded in a [`History`] (invoke, then ok /
//! fail / unknown, with its idempotency key), and meanwhile every `--fault-every` injects a
//! fault for `--down-for`, the nemeses taking turns:
//!
//! - `kill`: SIGKILL a replica, restart it; `pause`: SIGSTOP a replica, SIGCONT it (the
//!   leader two times in three, else a random follower);
//! - `partition` (needs `--netns`): in turn isolate the leader; cut the leader off from its
//!   followers while the front-ends still reach it; isolate a follower; split the replicas
//!   1|2 with a front-end on each side (the old leader and front-end 1 on the minority side;
//!   the catalog reachable from both); isolate the catalog; then heal;
//! - `catalog`: SIGKILL the catalog, restart it; `frontend`: SIGKILL a front-end (in turn),
//!   restart it.
//!
//! Every choice (victims, the clients' toys) comes from `--seed`, so a run's schedule is
//! reproducible from it (timing, of course, is not). Afterwards it heals everything, waits
//! for half-done purchases to be completed (`[order] complete_after`), lets the replicas
//! converge, reads the catalog's stock, stops the store and runs the [`checker`] over the
//! history, every replica's order log and the catalog's event log; it also compares the
//! replica files event by event and reads every acknowledged order back through the
//! front-end. It writes the history as JSONL (`--history`), a timeline SVG (`--timeline`)
//! and the report as JSON (`--json`), and exits non-zero unless the verdict is clean.
//!
//! Why one file of this length: it is one procedure read top to bottom (start, load and
//! nemesis, settle, judge, report) around the fault plan it shares; the parts with a life of
//! their own are modules already (`history`, `checker`, `timeline`, `netns`, `client`).

use crate::checker::{self, Evidence, Verdict};
use crate::client::{run_clients, ClientConfig, ClientReport};
use crate::cluster::{Cluster, ClusterSpec, Service};
use crate::diff::{diff_files, DiffReport};
use crate::history::History;
use crate::logfile::LogFile;
use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use toystore_events::{CatalogEvent, OrderEvent, Seq};

/// Arguments of `tools chaos`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  \
    tools chaos --duration 60s --fault-every 5s --down-for 3s\n  \
    sudo tools chaos --netns --nemesis kill,pause,partition,catalog,frontend --election raft \\\n    \
    --duration 5m --fault-every 2.5s --down-for 1.5s --seed 7 --history h.jsonl --timeline t.svg")]
pub struct ChaosArgs {
    /// How long the clients run (e.g. 60s, 2m, 500ms).
    #[arg(long, default_value = "60s", value_parser = toystore_config::duration::parse_positive)]
    pub duration: Duration,
    /// Time between the starts of two faults.
    #[arg(long, alias = "kill-every", default_value = "5s", value_parser = toystore_config::duration::parse_positive)]
    pub fault_every: Duration,
    /// How long a fault lasts (a replica down or paused, a partition, a service down).
    #[arg(long, default_value = "3s", value_parser = toystore_config::duration::parse_positive)]
    pub down_for: Duration,
    /// Concurrent clients (split between the front-ends).
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Buy probability of the clients.
    #[arg(long, default_value_t = 0.5)]
    pub p: f64,
    /// Units every toy starts with and is restocked to. The handout's 100 sells out in
    /// seconds under chaos load, and a store with nothing to sell shows no availability: the
    /// default keeps stock-outs per toy, and restocks, without all toys out at once.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub stock: u32,
    /// How often the catalog restocks sold-out toys.
    #[arg(long, default_value = "1s", value_parser = toystore_config::duration::parse_positive)]
    pub restock_every: Duration,
    /// Seed of the clients' choices and of the nemesis's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep the store's data here (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the history (one JSON line per invocation, answer and fault) to this file.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Draw the run's timeline (purchases per second, p99, faults as bands) as SVG here.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Who starts order elections: `frontend` or `raft`.
    #[arg(long, value_enum, default_value_t = toystore_config::Election::Frontend)]
    pub election: toystore_config::Election,
    /// The faults to inject, in turn: kill, pause, partition, catalog, frontend.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "kill")]
    pub nemesis: Vec<Nemesis>,
    /// Run each service on a host of its own (network namespaces; needs root), with a
    /// second front-end; the `partition` nemesis needs it.
    #[arg(long)]
    pub netns: bool,
}

/// One kind of fault `tools chaos` injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Nemesis {
    /// SIGKILL a replica, restart it `--down-for` later.
    Kill,
    /// SIGSTOP a replica for `--down-for`, then SIGCONT.
    Pause,
    /// Partition the network for `--down-for`, then heal (needs `--netns`).
    Partition,
    /// SIGKILL the catalog, restart it `--down-for` later.
    Catalog,
    /// SIGKILL a front-end, restart it `--down-for` later.
    Frontend,
}

/// The partitions the `partition` nemesis takes in turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partition {
    IsolateLeader,
    CutLeader,
    IsolateFollower,
    Split,
    IsolateCatalog,
}

const PARTITIONS: [Partition; 5] = [
    Partition::IsolateLeader,
    Partition::CutLeader,
    Partition::IsolateFollower,
    Partition::Split,
    Partition::IsolateCatalog,
];

impl Partition {
    fn kind(self) -> &'static str {
        match self {
            Partition::IsolateLeader => "partition-isolate-leader",
            Partition::CutLeader => "partition-cut-leader",
            Partition::IsolateFollower => "partition-isolate-follower",
            Partition::Split => "partition-split",
            Partition::IsolateCatalog => "partition-isolate-catalog",
        }
    }

    fn hits_leader(self) -> bool {
        matches!(
            self,
            Partition::IsolateLeader | Partition::CutLeader | Partition::Split
        )
    }
}

/// One fault.
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// Its kind, e.g. `kill-leader`, `partition-split`, `catalog-kill`.
    pub kind: String,
    /// The nemesis that injected it.
    pub nemesis: Nemesis,
    /// Seconds since the clients started.
    pub at_secs: f64,
    /// The service it hit (for a partition: the one cut off, or the minority's replica).
    pub target: String,
    /// Whether it hit the order leader.
    pub leader: bool,
    /// Seconds from undoing it until the store had a leader again and the service
    /// answered.
    pub recovered_secs: f64,
}

/// What `tools chaos` found.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    /// The seed the run's choices came from.
    pub seed: u64,
    /// The nemeses used.
    pub nemeses: Vec<Nemesis>,
    /// Every fault, in order.
    pub faults: Vec<Fault>,
    /// Faults on the order leader.
    pub leader_faults: usize,
    /// The checker's verdict over the history and the files.
    pub verdict: Verdict,
    /// Lines of the history: invocations, acknowledged, refused, unknown.
    pub history: HistoryCounts,
    /// The clients' report (errors per request type, verification of every order).
    pub clients: Vec<ClientReport>,
    /// The comparison of the replica files after the run.
    pub diff: DiffReport,
    /// True when the verdict is clean, every order read back identical and the replicas
    /// are identical.
    pub ok: bool,
}

/// How the history's purchases ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HistoryCounts {
    /// Purchases sent.
    pub invoked: usize,
    /// Acknowledged with an order number.
    pub ok: usize,
    /// Refused for good.
    pub fail: usize,
    /// Ended without saying.
    pub unknown: usize,
}

impl HistoryCounts {
    fn of(lines: &[checker::Line]) -> Self {
        let mut c = Self::default();
        for l in lines {
            match l {
                checker::Line::Invoke { .. } => c.invoked += 1,
                checker::Line::Ok { .. } => c.ok += 1,
                checker::Line::Fail { .. } => c.fail += 1,
                checker::Line::Unknown { .. } => c.unknown += 1,
                checker::Line::Fault { .. } | checker::Line::Heal { .. } => {}
            }
        }
        c
    }
}

impl ChaosReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "seed {}; nemeses {:?}\nfaults: {} ({} on the leader)\n",
            self.seed,
            self.nemeses,
            self.faults.len(),
            self.leader_faults,
        );
        let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &self.faults {
            *per_kind.entry(f.kind.as_str()).or_default() += 1;
        }
        out += "  kind                          faults  longest window with no purchase\n";
        for (kind, n) in &per_kind {
            let window = self.verdict.windows_ms.get(*kind).copied().unwrap_or(0.0);
            out += &format!("  {kind:<28} {n:>7}  {:>8.2} s\n", window / 1000.0);
        }
        let h = &self.history;
        out += &format!(
            "history: {} purchases: {} acknowledged, {} refused, {} unknown\n",
            h.invoked, h.ok, h.fail, h.unknown
        );
        for (i, c) in self.clients.iter().enumerate() {
            let v = &c.verification;
            out += &format!(
                "front-end {}: client-visible errors: query {}, buy {}, order check {} (buy retries with the same key: {}); {} orders read back identical, {} missing, {} altered\n",
                i + 1,
                c.query.errors,
                c.buy.errors,
                c.order_check.errors,
                c.buy.retries,
                v.matched,
                v.missing,
                v.mismatched
            );
        }
        let v = &self.verdict;
        out += &format!(
            "checker: {} acknowledged; lost {}, duplicated {}, gaps {}, stock errors {}, diverged replicas {}\n",
            v.acknowledged,
            v.lost.len(),
            v.duplicated.len(),
            v.gaps.len(),
            v.stock.len(),
            v.diverged.len()
        );
        for problem in v
            .lost
            .iter()
            .map(|(k, n)| format!("lost: order {n} ({k})"))
            .chain(v.duplicated.iter().cloned())
            .chain(v.stock.iter().cloned())
            .take(20)
        {
            out += &format!("  {problem}\n");
        }
        out += &format!("replicas: {}", self.diff.to_text());
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out += if self.ok {
            "result: OK\n"
        } else {
            "result: FAILED\n"
        };
        out
    }
}

/// Runs `tools chaos`; exit status 0 when the verdict is clean.
pub async fn run(args: ChaosArgs) -> anyhow::Result<u8> {
    if args.fault_every <= args.down_for {
        bail!("--fault-every must be longer than --down-for (one fault at a time)");
    }
    if args.nemesis.contains(&Nemesis::Partition) && !args.netns {
        bail!("the partition nemesis needs --netns (each service on a host of its own)");
    }
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let data = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let program = std::env::current_exe().context("locating the tools binary")?;
    let mut spec = ClusterSpec::on_free_ports(program, Vec::new(), &data)?;
    spec.config.order.election = args.election;
    spec.config.catalog.stock = args.stock;
    spec.config.catalog.restock_interval = args.restock_every;
    if args.netns {
        spec.place_on_hosts(true)?;
    }
    let complete_after = spec.config.order.complete_after;
    let mut cluster = Cluster::start(spec, Duration::from_secs(60)).await?;
    let seed = args.seed.unwrap_or_else(rand::random);
    eprintln!(
        "chaos: {} clients for {:?}, a fault every {:?} for {:?}, nemeses {:?}, stock {} \
         restocked every {:?} (seed {seed}, data {})",
        args.clients,
        args.duration,
        args.fault_every,
        args.down_for,
        args.nemesis,
        args.stock,
        args.restock_every,
        data.display()
    );

    let history = History::new();
    let mut frontends = vec![cluster.frontend_url()];
    if cluster.has_second_frontend() {
        frontends.push(cluster.url(Service::SecondFrontend));
    }
    let mut clients = Vec::new();
    for (i, url) in frontends.iter().enumerate() {
        // Clients split as evenly as they go; a front-end may get none.
        let n = args.clients / frontends.len() + usize::from(i < args.clients % frontends.len());
        if n == 0 {
            continue;
        }
        let mut config = ClientConfig::new(url.clone(), args.p, u64::MAX, n);
        config.seed = seed.wrapping_add(1000 * i as u64);
        config.stop_after = Some(args.duration);
        // Purchases whose leader dies are retried with the same key; give them room.
        config.buy_attempts = 10;
        config.timeout = Duration::from_secs(30);
        config.history = Some(history.clone());
        clients.push(tokio::spawn(run_clients(config)));
    }

    let faults = nemesis_loop(&mut cluster, &args, seed, &history).await;
    let mut reports = Vec::new();
    for c in clients {
        reports.push(c.await.context("client task")??);
    }
    let faults = faults?;
    if let Some(hosts) = cluster.hosts() {
        hosts.heal()?;
    }

    // Purchases whose order never committed are completed by the leader after
    // `complete_after`; give it that (and a tick) before judging the stock.
    tokio::time::sleep(complete_after + Duration::from_secs(2)).await;
    let ids = cluster.replica_ids();
    converge(&cluster, &ids, Duration::from_secs(60)).await?;
    let catalog = toystore_catalog_api::CatalogClient::with_timeouts(
        &cluster.url(Service::Catalog),
        cluster.token().clone(),
        &cluster.config().timeouts,
    )?;
    let stock = catalog
        .products()
        .await
        .context("reading the catalog's stock")?;
    let order_paths: Vec<PathBuf> = ids
        .iter()
        .map(|id| cluster.config().order_db(*id))
        .collect();
    let catalog_path = cluster.config().catalog_db();
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    if !unclean.is_empty() {
        eprintln!("warning: services that did not stop cleanly: {unclean:?}");
    }

    let lines = history.lines();
    let paths = order_paths.clone();
    let diff = tokio::task::spawn_blocking(move || diff_files(&paths)).await??;
    let mut replicas = BTreeMap::new();
    for (id, path) in ids.iter().zip(&order_paths) {
        replicas.insert(*id, decoded::<OrderEvent>(path)?);
    }
    let mut catalog_events = decoded::<CatalogEvent>(&catalog_path)?;
    // The stock was read at `stock.seq`: judge it against the log up to there (restocks
    // may have followed).
    catalog_events.truncate(usize::try_from(stock.seq.0).unwrap_or(usize::MAX));
    let evidence = Evidence {
        history: lines.clone(),
        replicas,
        catalog: catalog_events,
        stock: stock
            .products
            .iter()
            .map(|p| (p.name.to_string(), u64::from(p.quantity)))
            .collect(),
    };
    let verdict = checker::check(&evidence);
    let leader_faults = faults.iter().filter(|f| f.leader).count();
    let ok = verdict.ok() && reports.iter().all(|c| c.verification.ok) && diff.identical();
    let report = ChaosReport {
        seed,
        nemeses: args.nemesis.clone(),
        leader_faults,
        faults,
        verdict,
        history: HistoryCounts::of(&lines),
        clients: reports,
        diff,
        ok,
    };
    print!("{}", report.to_text());
    if let Some(path) = &args.history {
        history.write_jsonl(path)?;
    }
    if let Some(path) = &args.timeline {
        let nemeses: Vec<String> = args
            .nemesis
            .iter()
            .map(|n| format!("{n:?}").to_lowercase())
            .collect();
        let title = format!(
            "chaos: {} faults ({}), {} election, seed {seed}",
            report.faults.len(),
            nemeses.join(", "),
            format!("{:?}", args.election).to_lowercase()
        );
        crate::timeline::write_svg(path, &title, &lines)?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if report.ok { 0 } else { 1 })
}

/// Every event of a (stopped) service's log, decoded.
fn decoded<E: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<E>> {
    let file = LogFile::open(path)?;
    let tables = file.read()?;
    tables
        .raw_events_after(Seq::ZERO)?
        .map(|item| {
            let (seq, bytes) = item?;
            toystore_events::decode(&bytes)
                .with_context(|| format!("{}: event {seq}", path.display()))
        })
        .collect()
}

/// What one fault is, decided before it is injected.
struct Plan {
    nemesis: Nemesis,
    kind: String,
    target: Service,
    leader: bool,
    partition: Option<Partition>,
}

/// The store a fault is planned for: its replicas, and whether it runs a second front-end.
struct Layout {
    replicas: Vec<u32>,
    second_frontend: bool,
}

/// Decides the `count`th fault of `nemesis` (from 0), given the leader: a pure function of
/// its arguments and `rng`, so a run's faults follow from its seed (which replica is the
/// leader at each fault is the one thing timing decides).
fn plan(nemesis: Nemesis, count: usize, leader: u32, layout: &Layout, rng: &mut StdRng) -> Plan {
    let ids = &layout.replicas;
    let followers: Vec<u32> = ids.iter().copied().filter(|id| *id != leader).collect();
    let mut follower = || {
        followers
            .get(rng.random_range(0..followers.len().max(1)))
            .copied()
            .unwrap_or(leader)
    };
    match nemesis {
        Nemesis::Kill | Nemesis::Pause => {
            // The leader two times in three.
            let on_leader = count % 3 != 2;
            let victim = if on_leader { leader } else { follower() };
            let verb = if nemesis == Nemesis::Kill {
                "kill"
            } else {
                "pause"
            };
            let role = if on_leader { "leader" } else { "follower" };
            Plan {
                nemesis,
                kind: format!("{verb}-{role}"),
                target: Service::Order(victim),
                leader: on_leader,
                partition: None,
            }
        }
        Nemesis::Partition => {
            let p = PARTITIONS[count % PARTITIONS.len()];
            let target = match p {
                Partition::IsolateFollower => Service::Order(follower()),
                Partition::IsolateCatalog => Service::Catalog,
                _ => Service::Order(leader),
            };
            Plan {
                nemesis,
                kind: p.kind().to_string(),
                target,
                leader: p.hits_leader(),
                partition: Some(p),
            }
        }
        Nemesis::Catalog => Plan {
            nemesis,
            kind: "catalog-kill".into(),
            target: Service::Catalog,
            leader: false,
            partition: None,
        },
        Nemesis::Frontend => {
            let second = count % 2 == 1 && layout.second_frontend;
            Plan {
                nemesis,
                kind: "frontend-kill".into(),
                target: if second {
                    Service::SecondFrontend
                } else {
                    Service::Frontend
                },
                leader: false,
                partition: None,
            }
        }
    }
}

async fn nemesis_loop(
    cluster: &mut Cluster,
    args: &ChaosArgs,
    seed: u64,
    history: &History,
) -> anyhow::Result<Vec<Fault>> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6b69_6c6c);
    let started = Instant::now();
    let mut faults: Vec<Fault> = Vec::new();
    let mut counts: BTreeMap<Nemesis, usize> = BTreeMap::new();
    loop {
        let next = started + args.fault_every * (faults.len() as u32 + 1);
        if next + args.down_for >= started + args.duration {
            return Ok(faults);
        }
        tokio::time::sleep_until(next.into()).await;
        let leader = cluster.wait_replica_leader(Duration::from_secs(30)).await?;
        // clap gives at least one (the default `kill`).
        let nemesis = args.nemesis[faults.len() % args.nemesis.len()];
        let count = counts.entry(nemesis).or_default();
        let layout = Layout {
            replicas: cluster.replica_ids(),
            second_frontend: cluster.has_second_frontend(),
        };
        let plan = plan(nemesis, *count, leader, &layout, &mut rng);
        *count += 1;
        let at = started.elapsed();
        history.fault(&plan.kind);
        inject(cluster, &plan, leader).await?;
        eprintln!("t={:.1}s {} ({})", at.as_secs_f64(), plan.kind, plan.target);
        tokio::time::sleep(args.down_for).await;
        let undone = Instant::now();
        undo(cluster, &plan).await?;
        history.heal(&plan.kind);
        cluster
            .wait_replica_leader(Duration::from_secs(60))
            .await
            .with_context(|| format!("no leader after {}", plan.kind))?;
        faults.push(Fault {
            kind: plan.kind,
            nemesis: plan.nemesis,
            at_secs: at.as_secs_f64(),
            target: plan.target.to_string(),
            leader: plan.leader,
            recovered_secs: undone.elapsed().as_secs_f64(),
        });
    }
}

async fn inject(cluster: &mut Cluster, plan: &Plan, leader: u32) -> anyhow::Result<()> {
    match plan.nemesis {
        Nemesis::Kill | Nemesis::Catalog | Nemesis::Frontend => cluster.kill(plan.target).await,
        Nemesis::Pause => cluster.pause(plan.target),
        Nemesis::Partition => {
            let hosts = cluster
                .hosts()
                .context("the partition nemesis needs separate hosts")?;
            let all = hosts.services();
            let others =
                |s: Service| -> Vec<Service> { all.iter().copied().filter(|o| *o != s).collect() };
            let followers: Vec<Service> = cluster
                .replica_ids()
                .into_iter()
                .filter(|id| *id != leader)
                .map(Service::Order)
                .collect();
            match plan.partition {
                Some(Partition::CutLeader) => hosts.cut(Service::Order(leader), &followers),
                Some(Partition::Split) => {
                    let mut majority = followers.clone();
                    majority.push(Service::SecondFrontend);
                    hosts.cut(Service::Order(leader), &majority)?;
                    hosts.cut(Service::Frontend, &followers)
                }
                _ => hosts.cut(plan.target, &others(plan.target)),
            }
        }
    }
}

async fn undo(cluster: &mut Cluster, plan: &Plan) -> anyhow::Result<()> {
    let patience = Duration::from_secs(60);
    match plan.nemesis {
        Nemesis::Kill | Nemesis::Catalog | Nemesis::Frontend => cluster
            .restart(plan.target, patience)
            .await
            .with_context(|| format!("restarting {}", plan.target)),
        Nemesis::Pause => {
            cluster.resume(plan.target)?;
            cluster
                .wait_healthy(plan.target, patience)
                .await
                .with_context(|| format!("resuming {}", plan.target))
        }
        Nemesis::Partition => cluster
            .hosts()
            .context("the partition nemesis needs separate hosts")?
            .heal(),
    }
}

/// Waits until every replica is ready and holds the same number of orders (asked through
/// each replica's typed client, [`ReplicaClient::health`]).
async fn converge(cluster: &Cluster, ids: &[u32], timeout: Duration) -> anyhow::Result<()> {
    let replicas = ids
        .iter()
        .map(|id| cluster.replica_client(*id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let deadline = Instant::now() + timeout;
    loop {
        let mut seen = Vec::new();
        for replica in &replicas {
            let status = replica.health().await.ok();
            // (ready, orders held)
            seen.push(status.map(|s| (s.ready, s.last_seq.0)));
        }
        let first = seen.first().copied().flatten();
        if first.is_some_and(|(ready, _)| ready) && seen.iter().all(|s| *s == first) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("replicas did not converge within {timeout:?}: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The faults of a run: (kind, target) for each, the leader changing as a run's might.
    fn faults(seed: u64, leaders: &[u32]) -> Vec<(String, Service)> {
        let layout = Layout {
            replicas: vec![3, 2, 1],
            second_frontend: true,
        };
        let nemeses = [
            Nemesis::Kill,
            Nemesis::Pause,
            Nemesis::Partition,
            Nemesis::Catalog,
            Nemesis::Frontend,
        ];
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counts: BTreeMap<Nemesis, usize> = BTreeMap::new();
        leaders
            .iter()
            .enumerate()
            .map(|(i, leader)| {
                let nemesis = nemeses[i % nemeses.len()];
                let count = counts.entry(nemesis).or_default();
                let p = plan(nemesis, *count, *leader, &layout, &mut rng);
                *count += 1;
                (p.kind, p.target)
            })
            .collect()
    }

    #[test]
    fn a_seed_decides_the_faults() {
        let leaders: Vec<u32> = (0..60).map(|i| [3, 2, 1][i % 3]).collect();
        assert_eq!(faults(7, &leaders), faults(7, &leaders));
        let other = (8..40).find(|s| faults(*s, &leaders) != faults(7, &leaders));
        assert!(
            other.is_some(),
            "the followers hit do not depend on the seed"
        );
    }

    #[test]
    fn the_leader_is_hit_two_times_in_three_and_partitions_take_turns() {
        let leaders = vec![3; 60];
        let planned = faults(1, &leaders);
        let kinds: Vec<&str> = planned.iter().map(|(k, _)| k.as_str()).collect();
        let kills: Vec<&str> = kinds
            .iter()
            .copied()
            .filter(|k| k.starts_with("kill-"))
            .collect();
        assert_eq!(kills[..3], ["kill-leader", "kill-leader", "kill-follower"]);
        for (kind, target) in &planned {
            if kind.ends_with("-leader") {
                assert_eq!(*target, Service::Order(3), "{kind}");
            }
            if kind.ends_with("-follower") {
                assert_ne!(*target, Service::Order(3), "{kind}");
            }
        }
        let partitions: Vec<&str> = kinds
            .iter()
            .copied()
            .filter(|k| PARTITIONS.iter().any(|p| p.kind() == *k))
            .collect();
        assert_eq!(partitions.len(), 12, "one fault in five");
        let in_turn: Vec<&str> = PARTITIONS.iter().map(|p| p.kind()).collect();
        assert_eq!(partitions[..PARTITIONS.len()], in_turn[..]);
        let frontends: Vec<Service> = planned
            .iter()
            .filter(|(k, _)| k == "frontend-kill")
            .map(|(_, t)| *t)
            .take(2)
            .collect();
        assert_eq!(frontends, [Service::Frontend, Service::SecondFrontend]);
    }
}
