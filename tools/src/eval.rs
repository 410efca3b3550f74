//! `tools eval`: the handout's evaluation (part 4), on this machine.
//!
//! For the cache on and off, and for each buy probability p (0, 0.2, 0.4, 0.6, 0.8 by
//! default), it starts a fresh store (new data, free loopback ports), runs 5 concurrent
//! clients (`tools client`'s code, in-process) and records per request type the mean, p50,
//! p99 latency and the throughput, and the front-end's cache counters. Every setting is run
//! `--repeat` times, the repetitions interleaved across settings so that a noisy moment of
//! the machine does not land on one setting; a setting's figures combine its runs (counts
//! summed, means weighted by count, percentiles the median of the runs'). It writes
//! `results.csv`, `results.md` (tables), `results.json` (every run) and SVG plots of latency
//! against p, one line per request type and cache setting, to `--out`.

use crate::client::{run_clients, ClientConfig, ClientReport, RequestStats};
use crate::plot::{line_chart, Series};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toystore_frontend::api::CacheStats;
use toystore_harness::table::{Align, Table};
use toystore_harness::{Cluster, ClusterSpec};

/// Arguments of `tools eval`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  tools eval --out docs/eval --iterations 400")]
pub struct EvalArgs {
    /// Directory for results.csv, results.md and the SVG plots.
    #[arg(long, default_value = "docs/eval")]
    pub out: PathBuf,
    /// Iterations per client per run. The default keeps the purchases of a run below the
    /// catalog's whole stock (20 toys x 100) even at p = 0.8, so that p, not sold-out
    /// toys, decides how much is bought.
    #[arg(long, default_value_t = 400)]
    pub iterations: u64,
    /// Concurrent clients per run.
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Buy probabilities to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,0.2,0.4,0.6,0.8")]
    pub p: Vec<f64>,
    /// Seed of the clients' random choices (the same for every run, so runs differ only
    /// in p and the cache).
    #[arg(long, default_value_t = 677)]
    pub seed: u64,
    /// Runs per setting.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Keep each run's store data (logs included) under --out/runs.
    #[arg(long)]
    pub keep_data: bool,
    /// Who starts order elections: `frontend` or `raft`.
    #[arg(long, value_enum, default_value_t = toystore_config::Election::Frontend)]
    pub election: toystore_config::Election,
    /// Catalog replicas of the store it starts (`--catalogs`).
    #[command(flatten)]
    pub catalogs: crate::up::Catalogs,
}

/// One run's results.
#[derive(Debug, Clone, Serialize)]
pub struct EvalRow {
    /// Whether the front-end cached product queries.
    pub cache: bool,
    /// Buy probability.
    pub p: f64,
    /// The clients' report.
    pub report: ClientReport,
    /// The front-end's cache counters at the end of the run (`None` with the cache off).
    pub cache_stats: Option<CacheStats>,
}

const TYPES: [&str; 3] = ["query", "buy", "order check"];

fn stats<'a>(report: &'a ClientReport, kind: &str) -> &'a RequestStats {
    match kind {
        "query" => &report.query,
        "buy" => &report.buy,
        _ => &report.order_check,
    }
}

/// Runs the evaluation and writes its files; fails if any run's orders did not verify.
pub async fn run(args: EvalArgs) -> anyhow::Result<u8> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let program = std::env::current_exe().context("locating the tools binary")?;
    let mut rows = Vec::new();
    let settings: Vec<(bool, f64)> = [true, false]
        .into_iter()
        .flat_map(|c| args.p.iter().map(move |p| (c, *p)))
        .collect();
    let runs = settings.len() * args.repeat.max(1);
    for (i, (cache, p)) in (0..args.repeat.max(1))
        .flat_map(|_| settings.iter().copied())
        .enumerate()
    {
        eprintln!(
            "run {}/{runs}: cache {}, p = {p}, {} clients x {} iterations",
            i + 1,
            if cache { "on" } else { "off" },
            args.clients,
            args.iterations
        );
        rows.push(one_run(&args, &program, cache, p, i).await?);
    }
    write_outputs(&args.out, &rows, &Provenance::of_this_run())?;
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.report.verification.ok)
        .map(|r| format!("cache {} p {}", r.cache, r.p))
        .collect();
    println!("wrote {}", args.out.display());
    if failed.is_empty() {
        Ok(0)
    } else {
        eprintln!("order verification failed in: {}", failed.join(", "));
        Ok(1)
    }
}

async fn one_run(
    args: &EvalArgs,
    program: &Path,
    cache: bool,
    p: f64,
    index: usize,
) -> anyhow::Result<EvalRow> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let data = if args.keep_data {
        args.out
            .join("runs")
            .join(format!("{index:02}-cache-{cache}-p-{p}"))
    } else {
        temp.path().to_path_buf()
    };
    let mut spec = ClusterSpec::on_free_ports_with_catalogs(
        program.to_path_buf(),
        Vec::new(),
        &data,
        args.catalogs.n,
    )?;
    spec.no_cache = !cache;
    spec.config.order.election = args.election;
    let cluster = Cluster::start(spec, Duration::from_secs(60)).await?;
    let mut config = ClientConfig::new(cluster.frontend_url(), p, args.iterations, args.clients);
    config.seed = args.seed;
    config.progress = true;
    let report = run_clients(config).await;
    let cache_stats = cluster.metrics().await.ok().and_then(|m| m.cache);
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    let report = report?;
    anyhow::ensure!(
        unclean.is_empty(),
        "services did not stop cleanly: {unclean:?}"
    );
    Ok(EvalRow {
        cache,
        p,
        report,
        cache_stats,
    })
}

fn cache_label(cache: bool) -> &'static str {
    if cache {
        "cache on"
    } else {
        "cache off"
    }
}

/// The combined figures of one setting's runs.
struct Setting {
    cache: bool,
    p: f64,
    stats: [RequestStats; 3],
    cache_counters: Option<[u64; 4]>,
}

/// Combines the runs of each setting: counts summed, means weighted by count, percentiles
/// the median of the runs', maxima the maximum, throughput the mean.
fn combine(rows: &[EvalRow]) -> Vec<Setting> {
    let mut settings: Vec<Setting> = Vec::new();
    for row in rows {
        if settings
            .iter()
            .any(|s| s.cache == row.cache && s.p == row.p)
        {
            continue;
        }
        let runs: Vec<&EvalRow> = rows
            .iter()
            .filter(|r| r.cache == row.cache && r.p == row.p)
            .collect();
        let stats = TYPES.map(|kind| {
            let all: Vec<&RequestStats> = runs.iter().map(|r| stats(&r.report, kind)).collect();
            combine_stats(&all)
        });
        let cache_counters = row.cache.then(|| {
            let counters = |c: &CacheStats| [c.hits, c.misses, c.evictions, c.invalidations];
            runs.iter()
                .filter_map(|r| r.cache_stats.as_ref())
                .map(counters)
                .fold([0; 4], |sum, c| std::array::from_fn(|i| sum[i] + c[i]))
        });
        settings.push(Setting {
            cache: row.cache,
            p: row.p,
            stats,
            cache_counters,
        });
    }
    settings
}

fn combine_stats(all: &[&RequestStats]) -> RequestStats {
    let answered: Vec<&&RequestStats> = all.iter().filter(|s| s.count > s.errors).collect();
    let count: u64 = all.iter().map(|s| s.count).sum();
    let weight: f64 = answered.iter().map(|s| (s.count - s.errors) as f64).sum();
    let pick =
        |f: fn(&RequestStats) -> f64| crate::median(answered.iter().map(|s| f(s))).unwrap_or(0.0);
    RequestStats {
        count,
        errors: all.iter().map(|s| s.errors).sum(),
        rejected: all.iter().map(|s| s.rejected).sum(),
        retries: all.iter().map(|s| s.retries).sum(),
        throughput: if all.is_empty() {
            0.0
        } else {
            all.iter().map(|s| s.throughput).sum::<f64>() / all.len() as f64
        },
        mean_ms: if weight > 0.0 {
            answered
                .iter()
                .map(|s| s.mean_ms * (s.count - s.errors) as f64)
                .sum::<f64>()
                / weight
        } else {
            0.0
        },
        p50_ms: pick(|s| s.p50_ms),
        p90_ms: pick(|s| s.p90_ms),
        p99_ms: pick(|s| s.p99_ms),
        max_ms: answered.iter().map(|s| s.max_ms).fold(0.0, f64::max),
        first_error: all.iter().find_map(|s| s.first_error.clone()),
    }
}

/// Which code and which command produced a set of figures, written beside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The command line, as typed (`tools eval --out docs/eval`).
    pub command: String,
    /// The commit of the working tree the command ran in, or why it is not known.
    pub commit: String,
}

impl Provenance {
    /// This process's command line and the commit of the git checkout it runs in (`git
    /// rev-parse --short HEAD` in the current directory, "-dirty" if files are modified);
    /// outside a checkout it says so instead of naming a commit.
    pub fn of_this_run() -> Self {
        let mut args = std::env::args();
        let program = args.next().unwrap_or_default();
        let name = Path::new(&program)
            .file_name()
            .map_or_else(|| "tools".to_string(), |n| n.to_string_lossy().into_owned());
        let command = std::iter::once(name)
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ");
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let commit = match git(&["rev-parse", "--short", "HEAD"]) {
            Some(hash) => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|changes| !changes.is_empty());
                if dirty {
                    format!("{hash}-dirty")
                } else {
                    hash
                }
            }
            None => "unknown (not run in a git checkout)".to_string(),
        };
        Self { command, commit }
    }
}

/// Writes results.csv, results.md, results.json and the plots, each saying which commit
/// and command produced it.
pub fn write_outputs(out: &Path, rows: &[EvalRow], made_by: &Provenance) -> anyhow::Result<()> {
    let settings = combine(rows);
    let runs = if settings.is_empty() {
        0
    } else {
        rows.len() / settings.len()
    };
    let mut csv = Table::new([
        "cache",
        "p",
        "type",
        "count",
        "errors",
        "mean_ms",
        "p50_ms",
        "p90_ms",
        "p99_ms",
        "max_ms",
        "throughput_per_s",
    ]);
    let (l, r) = (Align::Left, Align::Right);
    let mut latency = Table::with_alignment([
        ("cache", l),
        ("p", r),
        ("request", l),
        ("count", r),
        ("errors", r),
        ("mean ms", r),
        ("p50 ms", r),
        ("p99 ms", r),
        ("req/s", r),
    ]);
    for setting in &settings {
        let on = if setting.cache { "on" } else { "off" };
        for (kind, s) in TYPES.iter().zip(&setting.stats) {
            let f3 = |x: f64| format!("{x:.3}");
            csv.push([
                on.to_string(),
                setting.p.to_string(),
                kind.to_string(),
                s.count.to_string(),
                s.errors.to_string(),
                f3(s.mean_ms),
                f3(s.p50_ms),
                f3(s.p90_ms),
                f3(s.p99_ms),
                f3(s.max_ms),
                format!("{:.1}", s.throughput),
            ]);
            if s.count > 0 {
                let f2 = |x: f64| format!("{x:.2}");
                latency.push([
                    on.to_string(),
                    setting.p.to_string(),
                    kind.to_string(),
                    s.count.to_string(),
                    s.errors.to_string(),
                    f2(s.mean_ms),
                    f2(s.p50_ms),
                    f2(s.p99_ms),
                    format!("{:.0}", s.throughput),
                ]);
            }
        }
    }
    let mut cache = Table::new([
        "p",
        "cache hits",
        "misses",
        "hit rate",
        "LRU evictions",
        "invalidations",
    ]);
    for setting in &settings {
        let Some([hits, misses, evictions, invalidations]) = setting.cache_counters else {
            continue;
        };
        let rate = if hits + misses > 0 {
            100.0 * hits as f64 / (hits + misses) as f64
        } else {
            0.0
        };
        cache.push([
            setting.p.to_string(),
            hits.to_string(),
            misses.to_string(),
            format!("{rate:.0}%"),
            evictions.to_string(),
            invalidations.to_string(),
        ]);
    }
    let md = format!(
        "Produced by `{}` at commit {}.\n\nEach setting: {runs} run(s) of {} clients; counts are summed over the runs, means weighted, percentiles the median of the runs'.\n\n{}\n{}",
        made_by.command,
        made_by.commit,
        rows.first().map_or(0, |r| r.report.clients),
        latency.markdown(),
        cache.markdown()
    );
    let csv = csv.csv();
    std::fs::write(out.join("results.csv"), csv)?;
    std::fs::write(out.join("results.md"), md)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(rows)?,
    )?;
    for (file, title, metric) in [
        (
            "latency_mean.svg",
            "Mean latency vs buy probability",
            Metric::Mean,
        ),
        (
            "latency_p50.svg",
            "Median (p50) latency vs buy probability",
            Metric::P50,
        ),
        (
            "latency_p99.svg",
            "p99 latency vs buy probability",
            Metric::P99,
        ),
    ] {
        let mut series = Vec::new();
        for cache in [true, false] {
            for (t, kind) in TYPES.iter().enumerate() {
                let points: Vec<(f64, f64)> = settings
                    .iter()
                    .filter(|s| s.cache == cache)
                    .map(|s| (s.p, &s.stats[t]))
                    .filter(|(_, s)| s.count > s.errors)
                    .map(|(p, s)| (p, metric.of(s)))
                    .collect();
                if !points.is_empty() {
                    series.push(Series {
                        label: format!("{kind}, {}", cache_label(cache)),
                        points,
                        dashed: !cache,
                    });
                }
            }
        }
        line_chart(
            &out.join(file),
            &format!("{title} (commit {})", made_by.commit),
            "buy probability p",
            "latency (ms)",
            &series,
        )?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Metric {
    Mean,
    P50,
    P99,
}

impl Metric {
    fn of(self, s: &RequestStats) -> f64 {
        match self {
            Metric::Mean => s.mean_ms,
            Metric::P50 => s.p50_ms,
            Metric::P99 => s.p99_ms,
        }
    }
}
