//! `tools chaos`: faults under load, judged the way Jepsen does — a nemesis, a recorded
//! history and a checker.
//!
//! It starts a fresh store (with `--netns` each service on a host of its own and a second
//! front-end, see [`toystore_harness::netns`]), runs the handout's clients for `--duration` (split
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
//! The faults themselves (planning, injecting, undoing) are [`toystore_harness::fault`]; the
//! history, the checker and the netns hosts are the harness's too.

use crate::client::{run_clients, ClientConfig, ClientReport};
use anyhow::{bail, Context};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use toystore_events::{CatalogEvent, OrderEvent, Seq};
use toystore_harness::checker::{self, Evidence, Verdict};
use toystore_harness::diff::{diff_files, DiffReport};
use toystore_harness::fault::{self, Layout, Nemesis};
use toystore_harness::logfile::LogFile;
use toystore_harness::table::Table;
use toystore_harness::{Cluster, ClusterSpec, History, Service};

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
    /// The faults to inject, in turn: kill, pause, partition, catalog, frontend, wipe,
    /// disk-full, corrupt.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "kill")]
    pub nemesis: Vec<Nemesis>,
    /// Catalog replicas of the store it starts (`--catalogs`).
    #[command(flatten)]
    pub catalogs: crate::up::Catalogs,
    /// Run each service on a host of its own (network namespaces; needs root), with a
    /// second front-end; the `partition` nemesis needs it.
    #[arg(long)]
    pub netns: bool,
    /// With the `disk-full` nemesis: the size in bytes of each replica's disk of its own (a
    /// tmpfs; needs root). Each replica keeps a sixteenth of it free (`disk_reserve`).
    #[arg(long, default_value_t = 256 << 20, value_parser = clap::value_parser!(u64).range(1 << 20..))]
    pub disk_size: u64,
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
    /// Each fault's window with no acknowledged purchase, in order (the checker's
    /// `fault_windows`; the verdict keeps the longest per kind).
    pub windows: Vec<checker::Window>,
    /// The checker's verdict over the history and the files.
    pub verdict: Verdict,
    /// Lines of the history: invocations, acknowledged, refused, unknown.
    pub history: HistoryCounts,
    /// The clients' report (errors per request type, verification of every order).
    pub clients: Vec<ClientReport>,
    /// The comparison of the replica files after the run.
    pub diff: DiffReport,
    /// The comparison of the catalog replicas' files after the run.
    pub catalog_diff: DiffReport,
    /// True when the verdict is clean, every order read back identical and the replicas
    /// (order and catalog) are identical.
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
        let mut kinds = Table::new([
            "kind",
            "faults",
            "window with no purchase: typical (median)",
            "longest",
        ]);
        for (kind, n) in &per_kind {
            let window = self.verdict.windows_ms.get(*kind).copied().unwrap_or(0.0);
            let of_kind = self
                .windows
                .iter()
                .filter(|w| w.kind == *kind)
                .map(|w| w.longest_ms);
            let typical = crate::median(of_kind).unwrap_or(0.0);
            kinds.push([
                kind.to_string(),
                n.to_string(),
                format!("{:.2} s", typical / 1000.0),
                format!("{:.2} s", window / 1000.0),
            ]);
        }
        out += &kinds.text();
        let h = &self.history;
        out += &format!(
            "history: {} purchases: {} acknowledged, {} refused, {} unknown\n",
            h.invoked, h.ok, h.fail, h.unknown
        );
        for (i, c) in self.clients.iter().enumerate() {
            let v = &c.verification;
            out += &format!(
                "front-end {}: client-visible errors: query {}, buy {}, order check {} (query retries{}: {}; buy retries with the same key: {}); {} orders read back identical, {} missing, {} altered\n",
                i + 1,
                c.query.errors,
                c.buy.errors,
                c.order_check.errors,
                if self.clients.len() > 1 { " on the other front-end" } else { "" },
                c.query.retries,
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
        out += &format!("catalog replicas: {}", self.catalog_diff.to_text());
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
    let mut temp = tempfile::tempdir().context("creating a temporary directory")?;
    let data = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let program = std::env::current_exe().context("locating the tools binary")?;
    let mut spec =
        ClusterSpec::on_free_ports_with_catalogs(program, Vec::new(), &data, args.catalogs.n)?;
    spec.config.order.election = args.election;
    spec.config.catalog.stock = args.stock;
    spec.config.catalog.restock_interval = args.restock_every;
    if args.netns {
        spec.place_on_hosts(true)?;
    }
    if args.nemesis.contains(&Nemesis::DiskFull) {
        spec.disks = Some(args.disk_size);
        spec.config.order.disk_reserve = args.disk_size / 16;
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
        // A query its front-end does not answer (killed, cut off) is retried on the other.
        config.fallback = frontends.iter().find(|f| *f != url).cloned();
        clients.push(tokio::spawn(run_clients(config)));
    }

    let faults = match nemesis_loop(&mut cluster, &args, seed, &history).await {
        Ok(faults) => faults,
        Err(e) => {
            // A fault that could not be injected or undone leaves the store in a state the
            // run did not plan: its clients' retries and read-backs would only wait out
            // their timeouts. Stop them and say what went wrong.
            for c in &clients {
                c.abort();
            }
            eprintln!("{}", where_they_stood(&cluster).await);
            if args.data_dir.is_none() {
                // The services' logs and files are the rest of the evidence.
                temp.disable_cleanup(true);
                eprintln!(
                    "the run's files and the services' logs are kept in {}",
                    data.display()
                );
            }
            return Err(e);
        }
    };
    let mut reports = Vec::new();
    for c in clients {
        reports.push(c.await.context("client task")??);
    }
    if let Some(hosts) = cluster.hosts() {
        hosts.heal()?;
    }

    // Purchases whose order never committed are completed by the leader after
    // `complete_after`; give it that (and a tick) before judging the stock.
    tokio::time::sleep(complete_after + Duration::from_secs(2)).await;
    let ids = cluster.replica_ids();
    cluster.converge(Duration::from_secs(60)).await?;
    // The stock is read from the catalog's leader, and judged against the log of the
    // replica that answered (every replica holds the same events).
    let catalog = cluster.catalog()?;
    let stock = catalog
        .products()
        .await
        .context("reading the catalog's stock")?;
    let catalog_id = cluster
        .catalog_leader()
        .await
        .unwrap_or_else(|| cluster.first_catalog_id());
    let catalog_paths: Vec<PathBuf> = cluster
        .catalog_ids()
        .iter()
        .map(|id| cluster.config().catalog_db(*id))
        .collect();
    let order_paths: Vec<PathBuf> = ids
        .iter()
        .map(|id| cluster.config().order_db(*id))
        .collect();
    let catalog_path = cluster.config().catalog_db(catalog_id);
    // Replicas' disks of their own outlive the processes until the files are read.
    let _disks = cluster.take_disks();
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    if !unclean.is_empty() {
        eprintln!("warning: services that did not stop cleanly: {unclean:?}");
    }

    let lines = history.lines();
    let paths = order_paths.clone();
    let diff = tokio::task::spawn_blocking(move || diff_files(&paths)).await??;
    let paths = catalog_paths.clone();
    let catalog_diff = tokio::task::spawn_blocking(move || diff_files(&paths)).await??;
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
    let ok = verdict.ok()
        && reports.iter().all(|c| c.verification.ok)
        && diff.identical()
        && catalog_diff.identical();
    let report = ChaosReport {
        seed,
        nemeses: args.nemesis.clone(),
        leader_faults,
        faults,
        windows: checker::fault_windows(&lines),
        verdict,
        history: HistoryCounts::of(&lines),
        clients: reports,
        diff,
        catalog_diff,
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

/// What every order and catalog replica said of itself (`/health`) when a run failed, one
/// line each: the evidence a failed fault leaves when its data directory is gone.
async fn where_they_stood(cluster: &Cluster) -> String {
    let line = |group: &str, id: u32, said: &Option<toystore_order_api::ReplicaStatus>| match said {
        Some(said) => format!("  {group}-{id}: {said:?}"),
        None => format!("  {group}-{id}: no answer"),
    };
    let mut lines = vec!["where the replicas stood:".to_string()];
    let orders = cluster.replica_statuses().await;
    for (id, said) in cluster.replica_ids().into_iter().zip(&orders) {
        lines.push(line("order", id, said));
    }
    let catalogs = cluster.catalog_statuses().await;
    for (id, said) in cluster.catalog_ids().into_iter().zip(&catalogs) {
        lines.push(line("catalog", id, said));
    }
    lines.join("\n")
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
        let layout = Layout::of(cluster).with_catalog_leader(cluster.catalog_leader().await);
        let plan = fault::plan(nemesis, *count, leader, &layout, &mut rng);
        *count += 1;
        let at = started.elapsed();
        history.fault(&plan.kind);
        fault::inject(cluster, &plan, leader).await?;
        eprintln!("t={:.1}s {} ({})", at.as_secs_f64(), plan.kind, plan.target);
        tokio::time::sleep(args.down_for).await;
        let undone = Instant::now();
        fault::undo(cluster, &plan).await?;
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
