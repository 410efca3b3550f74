//! `tools bench`: how fast the store is on this machine, next to what the machine allows.
//!
//! `tools bench <scenario>` loads a running store (`--frontend URL`) or one it starts
//! itself in a temporary directory (with stock high enough never to run out), at each
//! client count of `--clients`, for `--duration` after `--warmup`, closed loop or open loop
//! (`--rate`), and measures the scenario's ceiling in the same run: a bare warp server for
//! the HTTP scenarios and the raw durable redb append loop for `buy` ([`ceiling`]). It
//! prints a table (or, with `--json`, one JSON object per scenario and client count) and,
//! with `--out DIR`, writes `bench.csv` and SVG plots of throughput and latency against
//! clients.
//!
//! - [`scenario`]: what each scenario sends and what counts as an error;
//! - [`conn`]: the load generator's lean HTTP/1.1 connection;
//! - [`load`]: closed and open loop, measured with hdrhistogram;
//! - [`ceiling`]: the bare HTTP server and the raw append loop;
//! - [`target`]: the store under measurement;
//! - [`report`]: rows, ratios, table, CSV and plots.

pub mod ceiling;
pub mod conn;
pub mod load;
pub mod report;
pub mod scenario;
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
    /// Only the ceilings: a bare warp server and the raw durable append loop.
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
    /// A store the benchmark starts: who starts order elections (`frontend` or `raft`).
    #[arg(long, value_enum, default_value_t = toystore_config::Election::Frontend)]
    pub election: toystore_config::Election,
    /// Where temporary stores and the disk ceiling's file go (default: the system's
    /// temporary directory). Put it on the disk you want measured.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
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
    let want_http = ceilings
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
        Some(ceiling::BareServer::start().await?)
    } else {
        None
    };
    let target = if scenarios.is_empty() {
        None
    } else {
        Some(match &args.frontend {
            Some(url) => Target::external(url, args.token.clone())?,
            None => {
                if !args.json {
                    eprintln!("starting a store (stock {} per toy)...", args.stock);
                }
                let options = target::StoreOptions {
                    stock: args.stock,
                    cache: !args.no_cache,
                    election: args.election,
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
                if let Some(bare) = &bare {
                    let empty = Arc::new(Shared::new(&[]));
                    rows.push(measure(&args, bare.addr, Scenario::BareHttp, clients, empty).await?);
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
        ["disk-single", "disk-batched", "bare-http"]
            .iter()
            .map(ToString::to_string)
            .chain(scenarios.iter().map(Scenario::name))
            .position(|s| s == r.scenario)
    };
    rows.sort_by_key(|r| (order(r), r.clients));
    let mut rows = report::medians(rows);
    compare(&mut rows);
    if args.json {
        for row in &rows {
            println!("{}", serde_json::to_string(row)?);
        }
    } else {
        print!("{}", report::table(&rows));
    }
    if let Some(out) = &args.out {
        report::write_csv(out, &rows)?;
        report::write_plots(out, &rows)?;
        if !args.json {
            println!("wrote {}", out.join("bench.csv").display());
        }
    }
    Ok(u8::from(rows.iter().any(|r| r.errors > 0)))
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
    let mut row = measure(args, target.frontend, scenario, clients, shared.clone()).await?;
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
    addr: std::net::SocketAddr,
    scenario: Scenario,
    clients: usize,
    shared: Arc<Shared>,
) -> anyhow::Result<Row> {
    let spec = load::LoadSpec {
        addr,
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

/// Sets each row's ratios to its ceiling, when the ceiling was measured in this run.
fn compare(rows: &mut [Row]) {
    // (scenario, clients, throughput, p50) of every ceiling row.
    let ceilings: Vec<(String, usize, f64, f64)> = rows
        .iter()
        .filter(|r| {
            matches!(
                r.scenario.as_str(),
                "bare-http" | "disk-single" | "disk-batched"
            )
        })
        .map(|r| (r.scenario.clone(), r.clients, r.throughput_rps, r.p50_ms))
        .collect();
    let find = |scenario: &str, clients: Option<usize>| {
        ceilings
            .iter()
            .find(|c| c.0 == scenario && clients.is_none_or(|n| c.1 == n))
            .map(|c| (c.2, c.3))
    };
    for row in rows.iter_mut() {
        match row.scenario.as_str() {
            "bare-http" | "disk-single" | "disk-batched" => {}
            "buy" => {
                let single = find("disk-single", None);
                let batched = find("disk-batched", None);
                if single.is_some() || batched.is_some() {
                    row.compare("disk", batched.map(|b| b.0), single.map(|s| s.1));
                }
            }
            _ => {
                if let Some((tput, p50)) = find("bare-http", Some(row.clients)) {
                    row.compare("bare-http", Some(tput), Some(p50));
                }
            }
        }
    }
}

/// Places `n` orders (one unit of each toy in turn) and returns their numbers.
async fn place_orders(target: &Target, shared: &Shared, n: usize) -> anyhow::Result<Vec<u64>> {
    let mut conn = conn::Conn::new(target.frontend, Duration::from_secs(10));
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
