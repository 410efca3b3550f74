//! `tools bench`: how fast the store is on this machine, next to what the machine allows.
//!
//! `tools bench <scenario>` loads a running store (`--frontend URL`) or one it starts
//! itself in a temporary directory (with stock high enough never to run out), at each
//! client count of `--clients`, for `--duration` after `--warmup`, closed loop or open loop
//! (`--rate`), and measures the scenario's ceiling in the same run ([`ceiling`]): for the
//! HTTP scenarios two bare servers answering a fixed body, warp on the store's serving loop
//! (`bare-http`) and hyper alone (`bare-hyper`), each measured right before the scenarios at
//! the same client count, a query being judged against the faster of the two there; for
//! `buy`, the raw durable redb append loop. It prints a table (or, with `--json`, one JSON
//! object per scenario and client count) and, with `--out DIR`, writes `bench.csv` and SVG
//! plots of throughput and latency against clients.
//!
//! - [`scenario`]: what each scenario sends and what counts as an error;
//! - [`conn`]: the load generator's lean HTTP/1.1 connection;
//! - [`load`]: closed and open loop, measured with hdrhistogram;
//! - [`ceiling`]: the bare HTTP servers, and the disk ceiling run on [`disk`], the raw
//!   durable append loop;
//! - [`target`]: the store under measurement;
//! - [`report`]: rows, ratios, table, CSV and plots;
//! - [`stages`]: where a purchase's time goes, from the services' stage histograms.

pub mod ceiling;
pub mod conn;
pub mod disk;
pub mod load;
pub mod report;
pub mod scenario;
pub mod stages;
pub mod target;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use report::Row;
use scenario::{Scenario, Shared};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use target::Target;
use toystore_frontend::api::OrderNumber;

/// Which benchmark to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// `GET /products/Tux` again and again: always a cache hit.
    QueryHit,
    /// Every toy in turn: more toys than cache entries, so always a miss.
    QueryMiss,
    /// `POST /orders`: durable, replicated purchases.
    Buy,
    /// `GET /orders/<n>` of orders placed before the run.
    OrderRead,
    /// The handout's session: a query, then a buy with probability --p.
    Mixed,
    /// Only the ceilings: the bare warp and hyper servers and the raw durable append loop.
    Baseline,
    /// The ceilings and every scenario.
    All,
}

/// Arguments of `tools bench`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  \
    tools bench buy --clients 1,64 --duration 10s           # starts its own store\n  \
    tools bench buy --frontend http://127.0.0.1:8080 --clients 64 --duration 10s --json\n  \
    tools bench query-hit --rate 5000 --clients 32           # open loop at 5,000 req/s\n  \
    tools bench baseline --clients 1,32\n  \
    tools bench all --clients 1,4,16,64 --duration 5s --out docs/perf\n\n\
    A store started with `tools up` has 100 units per toy (the handout's rule), which caps \
    buying at about 200/s: start it with `tools up --stock 1000000000` to benchmark buys, \
    or let `tools bench` start its own store.")]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub which: Which,
    /// A running store's front-end; without it, the benchmark starts its own store in a
    /// temporary directory and stops it afterwards.
    #[arg(long, value_name = "URL")]
    pub frontend: Option<String>,
    /// The running store's cluster token, to read its cache counters (optional).
    #[arg(long, env = "TOYSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Concurrent clients, each on its own connection; a list runs each in turn.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1usize, 32])]
    pub clients: Vec<usize>,
    /// Measured time per run.
    #[arg(long, default_value = "10s", value_parser = toystore_config::duration::parse_positive)]
    pub duration: Duration,
    /// Unmeasured time before each run.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Open loop: offer this many requests per second in all (latency counted from when
    /// each request was due). Closed loop without it.
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,
    /// Buy probability of the `mixed` scenario.
    #[arg(long, default_value_t = 0.5)]
    pub p: f64,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = toystore_config::duration::parse_positive)]
    pub timeout: Duration,
    /// Seed of the clients' random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Values per transaction of the batched raw append loop.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Runs of each scenario at each client count, interleaved; the report keeps the run of
    /// median throughput (a shared machine's noisy moment then lands on one run, not on the
    /// result).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Skip the ceilings (no ratios).
    #[arg(long)]
    pub no_ceiling: bool,
    /// A store the benchmark starts: units per toy.
    #[arg(long, default_value_t = target::BENCH_STOCK)]
    pub stock: u32,
    /// A store the benchmark starts: product cache off.
    #[arg(long)]
    pub no_cache: bool,
    /// Catalog replicas of the store it starts (`--catalogs`).
    #[command(flatten)]
    pub catalogs: crate::up::Catalogs,
    /// A store the benchmark starts: who starts order elections (`frontend` or `raft`).
    #[arg(long, value_enum, default_value_t = toystore_config::Election::Frontend)]
    pub election: toystore_config::Election,
    /// Where temporary stores and the disk ceiling's file go (default: the system's
    /// temporary directory). Put it on the disk you want measured.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// A store the benchmark starts: TLS on every connection, the load's included (a CA
    /// and certificates are made in its directory). The HTTP ceilings serve plaintext and
    /// are left out.
    #[arg(long, conflicts_with = "frontend")]
    pub tls: bool,
    /// A store already running (`--frontend https://…`): the CA (PEM) its front-end's
    /// certificate is checked against. The HTTP ceilings are left out.
    #[arg(long, value_name = "FILE", requires = "frontend")]
    pub ca: Option<PathBuf>,
    /// Print one JSON object per scenario and client count (and no progress bars).
    #[arg(long)]
    pub json: bool,
    /// Write bench.csv and SVG plots into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl BenchArgs {
    fn scenarios(&self) -> Vec<Scenario> {
        let mixed = Scenario::Mixed { p: self.p };
        match self.which {
            Which::QueryHit => vec![Scenario::QueryHit],
            Which::QueryMiss => vec![Scenario::QueryMiss],
            Which::Buy => vec![Scenario::Buy],
            Which::OrderRead => vec![Scenario::OrderRead],
            Which::Mixed => vec![mixed],
            Which::Baseline => Vec::new(),
            Which::All => vec![
                Scenario::QueryHit,
                Scenario::QueryMiss,
                Scenario::OrderRead,
                Scenario::Buy,
                mixed,
            ],
        }
    }
}

/// Runs `tools bench`. Exit status 0, or 1 when any request failed.
pub async fn run(args: BenchArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(
        args.clients.iter().all(|c| *c >= 1),
        "--clients must be at least 1"
    );
    anyhow::ensure!((0.0..=1.0).contains(&args.p), "--p must be from 0 to 1");
    if let Some(rate) = args.rate {
        anyhow::ensure!(rate > 0.0, "--rate must be positive");
    }
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let scenarios = args.scenarios();
    let ceilings = !args.no_ceiling;
    // The bare servers serve plaintext, which a TLS run's connections cannot talk to.
    let want_http = ceilings
        && !args.tls
        && args.ca.is_none()
        && (args.which == Which::Baseline || scenarios.iter().any(|s| *s != Scenario::Buy));
    let want_disk =
        ceilings && (args.which == Which::Baseline || scenarios.contains(&Scenario::Buy));

    let mut rows: Vec<Row> = Vec::new();
    if want_disk {
        let dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
        for (name, per_commit) in [("disk-single", 1), ("disk-batched", args.batch.max(1))] {
            let bar = progress(&args, name, 1);
            let c = ceiling::disk(&dir, per_commit, args.duration).await?;
            bar.finish_and_clear();
            rows.push(Row::from_disk(name, &c));
        }
    }
    let bare = if want_http {
        vec![
            (
                Scenario::BareHttp,
                ceiling::BareServer::start(ceiling::Bare::Warp).await?,
            ),
            (
                Scenario::BareHyper,
                ceiling::BareServer::start(ceiling::Bare::Hyper).await?,
            ),
        ]
    } else {
        Vec::new()
    };
    let target = if scenarios.is_empty() {
        None
    } else {
        Some(match &args.frontend {
            Some(url) => {
                let https = url.starts_with("https://");
                match (&args.ca, https) {
                    (Some(ca), true) => toystore_http::tls::trust(ca)?,
                    (None, false) => {}
                    (None, true) => anyhow::bail!("{url} serves TLS: give its CA with --ca"),
                    (Some(_), false) => anyhow::bail!("--ca is for an https:// front-end"),
                }
                Target::external(url, args.token.clone())?
            }
            None => {
                if !args.json {
                    eprintln!(
                        "starting a store (stock {} per toy, {} catalog replicas)...",
                        args.stock, args.catalogs.n
                    );
                }
                let options = target::StoreOptions {
                    stock: args.stock,
                    cache: !args.no_cache,
                    election: args.election,
                    catalogs: args.catalogs.n,
                    tls: args.tls,
                };
                Target::start(args.work_dir.as_deref(), options).await?
            }
        })
    };
    // Client count by client count, each ceiling right before the scenarios it bounds, so
    // a noisy moment of a shared machine does not land on one side of a ratio only.
    let result = async {
        let shared = match &target {
            Some(target) => Some(prepare(target, &scenarios).await?),
            None => None,
        };
        for _ in 0..args.repeat {
            for &clients in &args.clients {
                for (ceiling, server) in &bare {
                    let empty = Arc::new(Shared::new(&[]));
                    let bare = (server.addr, None);
                    rows.push(measure(&args, bare, *ceiling, clients, empty).await?);
                }
                if let (Some(target), Some(shared)) = (&target, &shared) {
                    for &scenario in &scenarios {
                        rows.push(measure_store(&args, target, scenario, clients, shared).await?);
                    }
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    drop(bare);
    if let Some(target) = target {
        target.stop().await;
    }
    result?;
    let order = |r: &Row| {
        DISK_CEILINGS
            .iter()
            .chain(&HTTP_CEILINGS)
            .map(ToString::to_string)
            .chain(scenarios.iter().map(Scenario::name))
            .position(|s| s == r.scenario)
    };
    rows.sort_by_key(|r| (order(r), r.clients));
    let mut rows = report::medians(rows);
    compare(&mut rows);
    let tables = stage_tables(&rows);
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
    } else {
        print!("{}{tables}", report::table(&rows));
    }
    if let Some(out) = &args.out {
        report::write_csv(out, &rows)?;
        report::write_plots(out, &rows)?;
        if !tables.is_empty() {
            std::fs::write(out.join("stages.md"), tables)
                .with_context(|| format!("writing {}", out.join("stages.md").display()))?;
        }
        if !args.json {
            println!("wrote {}", out.join("bench.csv").display());
        }
    }
    Ok(u8::from(rows.iter().any(|r| r.errors > 0)))
}

/// The stage tables of the rows that have them, one per scenario and client count.
fn stage_tables(rows: &[Row]) -> String {
    rows.iter()
        .filter(|r| !r.stages.is_empty())
        .map(|r| {
            let title = format!(
                "\nWhere the time goes: {} with {} clients (the services' `toystore_buy_stage_seconds`)",
                r.scenario, r.clients
            );
            stages::table(&title, &r.stages)
        })
        .collect()
}

/// What the clients of every run share: the toys, and for `order-read` orders to read.
async fn prepare(target: &Target, scenarios: &[Scenario]) -> anyhow::Result<Arc<Shared>> {
    let toys: Vec<&str> = toystore_catalog::toys::TOYS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let mut shared = Shared::new(&toys);
    if scenarios.contains(&Scenario::OrderRead) {
        shared.orders = place_orders(target, &shared, 200).await?;
    }
    Ok(Arc::new(shared))
}

/// Measures one scenario on the store, with the cache's hit rate (when the token is known)
/// and the services' memory (when the benchmark started them).
async fn measure_store(
    args: &BenchArgs,
    target: &Target,
    scenario: Scenario,
    clients: usize,
    shared: &Arc<Shared>,
) -> anyhow::Result<Row> {
    let before = target.cache_counters().await;
    // The stages of a buy run: scraped as the measured window opens (the load starts
    // `START_DELAY` after `measure` is called, then warms up) and after the run.
    let urls = target.service_urls();
    let stages_before = (scenario == Scenario::Buy).then(|| {
        let (http, urls) = (target.http.clone(), urls.clone());
        let window = tokio::time::Instant::now() + load::START_DELAY + args.warmup;
        tokio::spawn(async move {
            tokio::time::sleep_until(window).await;
            stages::scrape(&http, &urls).await
        })
    });
    let at = (target.frontend, Some(target.host.clone()));
    let mut row = measure(args, at, scenario, clients, shared.clone()).await?;
    if let Some(before) = stages_before {
        let before = before.await.context("scraping the stages")?;
        let after = stages::scrape(&target.http, &urls).await;
        row.stages = stages::run_share(&before, &after).rows();
    }
    if let Some(before) = before {
        if let Some(after) = target.cache_counters().await {
            let hits = after.0.saturating_sub(before.0) as f64;
            let misses = after.1.saturating_sub(before.1) as f64;
            if hits + misses > 0.0 {
                row.cache_hit_rate = Some(hits / (hits + misses));
            }
        }
    }
    row.memory_kib = target.memory();
    Ok(row)
}

async fn measure(
    args: &BenchArgs,
    (addr, host): (std::net::SocketAddr, Option<String>),
    scenario: Scenario,
    clients: usize,
    shared: Arc<Shared>,
) -> anyhow::Result<Row> {
    let spec = load::LoadSpec {
        addr,
        host,
        scenario,
        clients,
        duration: args.duration,
        warmup: args.warmup,
        rate: args.rate,
        timeout: args.timeout,
        seed: args.seed,
    };
    let bar = progress(args, &format!("{} x{clients}", scenario.name()), 0);
    let result = load::run(&spec, shared, &bar).await?;
    bar.finish_and_clear();
    Ok(Row::from_load(scenario.name(), clients, args.rate, &result))
}

/// The disk ceilings, in the order the report lists them.
const DISK_CEILINGS: [&str; 2] = ["disk-single", "disk-batched"];

/// The HTTP ceilings, in the order the report lists them.
const HTTP_CEILINGS: [&str; 2] = ["bare-http", "bare-hyper"];

fn is_ceiling(scenario: &str) -> bool {
    DISK_CEILINGS.contains(&scenario) || HTTP_CEILINGS.contains(&scenario)
}

/// A measured ceiling row, as the ratios need it.
#[derive(Debug, Clone, PartialEq)]
struct Ceiling {
    scenario: String,
    clients: usize,
    throughput_rps: f64,
    p50_ms: f64,
}

/// Of the HTTP ceilings measured at `clients`, the faster (higher throughput; on a tie, the
/// first listed): what a query at that client count is judged against.
fn faster_ceiling(ceilings: &[Ceiling], clients: usize) -> Option<&Ceiling> {
    ceilings
        .iter()
        .filter(|c| c.clients == clients && HTTP_CEILINGS.contains(&c.scenario.as_str()))
        .reduce(|best, c| {
            if c.throughput_rps > best.throughput_rps {
                c
            } else {
                best
            }
        })
}

/// Sets each row's ratios to its ceiling, when the ceiling was measured in this run: a
/// purchase's to the disk loops, any other scenario's to the faster bare server at its
/// client count.
fn compare(rows: &mut [Row]) {
    let ceilings: Vec<Ceiling> = rows
        .iter()
        .filter(|r| is_ceiling(&r.scenario))
        .map(|r| Ceiling {
            scenario: r.scenario.clone(),
            clients: r.clients,
            throughput_rps: r.throughput_rps,
            p50_ms: r.p50_ms,
        })
        .collect();
    let disk = |scenario: &str| ceilings.iter().find(|c| c.scenario == scenario);
    for row in rows.iter_mut() {
        if is_ceiling(&row.scenario) {
            continue;
        }
        if row.scenario == "buy" {
            let single = disk("disk-single");
            let batched = disk("disk-batched");
            if single.is_some() || batched.is_some() {
                row.compare(
                    "disk",
                    batched.map(|b| b.throughput_rps),
                    single.map(|s| s.p50_ms),
                );
            }
        } else if let Some(c) = faster_ceiling(&ceilings, row.clients) {
            row.compare(&c.scenario, Some(c.throughput_rps), Some(c.p50_ms));
        }
    }
}

/// Places `n` orders (one unit of each toy in turn) and returns their numbers.
async fn place_orders(target: &Target, shared: &Shared, n: usize) -> anyhow::Result<Vec<u64>> {
    let mut conn = conn::Conn::new(target.frontend, Duration::from_secs(10)).named(&target.host);
    let mut numbers = Vec::with_capacity(n);
    let prefix = scenario::unique_prefix();
    for i in 0..n {
        let name = &shared.names_json[i % shared.names_json.len().max(1)];
        let call = conn::Call {
            method: hyper::Method::POST,
            path: "/orders".into(),
            body: Some(format!("{{\"name\":{name},\"quantity\":1}}").into()),
            idempotency_key: Some(format!("{prefix}-{i}")),
        };
        let reply = conn
            .send(&call)
            .await
            .context("placing orders for order-read")?;
        let placed = reply
            .decode::<OrderNumber>()
            .with_context(|| format!("placing orders for order-read: {}", reply.describe()))?;
        numbers.push(placed.order_number.get());
    }
    Ok(numbers)
}

fn progress(args: &BenchArgs, what: &str, len: u64) -> ProgressBar {
    if args.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>18} [{bar:30}] {elapsed:>4} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, clients: usize, throughput_rps: f64, p50_ms: f64) -> Row {
        let c = crate::bench::disk::AppendCeiling {
            per_commit: 1,
            commits: 1,
            appends: 1,
            elapsed: Duration::from_secs(1),
            commit_latencies_us: vec![100],
        };
        let mut r = Row::from_disk(scenario, &c);
        r.clients = clients;
        r.throughput_rps = throughput_rps;
        r.p50_ms = p50_ms;
        r
    }

    fn judged(rows: &[Row], scenario: &str, clients: usize) -> (Option<String>, Option<f64>) {
        let r = rows
            .iter()
            .find(|r| r.scenario == scenario && r.clients == clients)
            .unwrap_or_else(|| panic!("no {scenario} x{clients}"));
        (r.ceiling.clone(), r.throughput_ratio)
    }

    #[test]
    fn a_query_is_judged_against_the_faster_bare_server_at_its_client_count() {
        let mut rows = vec![
            row("bare-http", 1, 2000.0, 0.05),
            row("bare-http", 32, 10_000.0, 1.0),
            row("bare-hyper", 1, 1000.0, 0.04),
            row("bare-hyper", 32, 40_000.0, 0.5),
            row("query-hit", 1, 500.0, 0.1),
            row("query-hit", 32, 8000.0, 2.0),
            row("query-hit", 4, 8000.0, 2.0),
        ];
        compare(&mut rows);
        // At 1 client warp's server was the faster (a noisy moment, say), at 32 hyper's.
        assert_eq!(
            judged(&rows, "query-hit", 1),
            (Some("bare-http".into()), Some(0.25))
        );
        assert_eq!(
            judged(&rows, "query-hit", 32),
            (Some("bare-hyper".into()), Some(0.2))
        );
        let hit32 = &rows[5];
        assert_eq!(hit32.p50_ratio, Some(4.0), "p50 against the same ceiling");
        // No ceiling measured at 4 clients, and ceilings are not judged.
        assert_eq!(judged(&rows, "query-hit", 4), (None, None));
        assert_eq!(judged(&rows, "bare-http", 32), (None, None));
        assert_eq!(judged(&rows, "bare-hyper", 32), (None, None));
    }

    #[test]
    fn the_faster_ceiling_keeps_the_first_on_a_tie_and_ignores_the_disk() {
        let ceiling = |scenario: &str, clients, throughput_rps| Ceiling {
            scenario: scenario.into(),
            clients,
            throughput_rps,
            p50_ms: 1.0,
        };
        let ceilings = [
            ceiling("disk-batched", 1, 1e9),
            ceiling("bare-http", 1, 100.0),
            ceiling("bare-hyper", 1, 100.0),
            ceiling("bare-hyper", 2, 50.0),
        ];
        let name = |clients| faster_ceiling(&ceilings, clients).map(|c| c.scenario.as_str());
        assert_eq!(name(1), Some("bare-http"));
        assert_eq!(
            name(2),
            Some("bare-hyper"),
            "one ceiling alone is the faster"
        );
        assert_eq!(name(3), None);
    }

    #[test]
    fn a_purchase_is_judged_against_the_disk() {
        let mut rows = vec![
            row("disk-single", 1, 100.0, 2.0),
            row("disk-batched", 1, 5000.0, 3.0),
            row("bare-hyper", 8, 1e6, 0.1),
            row("buy", 8, 500.0, 10.0),
        ];
        compare(&mut rows);
        assert_eq!(judged(&rows, "buy", 8), (Some("disk".into()), Some(0.1)));
        assert_eq!(rows[3].p50_ratio, Some(5.0));
    }
}
