//! `tools eval`: the handout's evaluation (part 4), on this machine.
//!
//! For the cache on and off, and for each buy probability p (0, 0.2, 0.4, 0.6, 0.8 by
//! default), it starts a fresh store (new data, free loopback ports), runs 5 concurrent
//! clients (`tools client`'s code, in-process) and records per request type the mean, p50,
//! p99 latency and the throughput. It writes `results.csv`, `results.md` (a table) and SVG
//! plots of latency against p, one line per request type and cache setting, to `--out`.

use crate::client::{run_clients, ClientConfig, ClientReport, RequestStats};
use crate::cluster::{Cluster, ClusterSpec};
use crate::plot::{line_chart, Series};
use anyhow::Context;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `tools eval`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  tools eval --out docs/eval --iterations 500")]
pub struct EvalArgs {
    /// Directory for results.csv, results.md and the SVG plots.
    #[arg(long, default_value = "docs/eval")]
    pub out: PathBuf,
    /// Iterations per client per run.
    #[arg(long, default_value_t = 500)]
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
    /// Keep each run's store data (logs included) under --out/runs.
    #[arg(long)]
    pub keep_data: bool,
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
    let runs = args.p.len() * 2;
    for (i, cache) in [true, false]
        .into_iter()
        .flat_map(|c| args.p.iter().map(move |p| (c, *p)))
        .enumerate()
    {
        eprintln!(
            "run {}/{runs}: cache {}, p = {}, {} clients x {} iterations",
            i + 1,
            if cache.0 { "on" } else { "off" },
            cache.1,
            args.clients,
            args.iterations
        );
        let row = one_run(&args, &program, cache.0, cache.1, i).await?;
        rows.push(row);
    }
    write_outputs(&args.out, &rows)?;
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
    let mut spec = ClusterSpec::on_free_ports(program.to_path_buf(), Vec::new(), &data)?;
    spec.no_cache = !cache;
    let cluster = Cluster::start(spec, Duration::from_secs(60)).await?;
    let mut config = ClientConfig::new(cluster.frontend_url(), p, args.iterations, args.clients);
    config.seed = args.seed;
    config.progress = true;
    let report = run_clients(config).await;
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    let report = report?;
    anyhow::ensure!(
        unclean.is_empty(),
        "services did not stop cleanly: {unclean:?}"
    );
    Ok(EvalRow { cache, p, report })
}

fn cache_label(cache: bool) -> &'static str {
    if cache {
        "cache on"
    } else {
        "cache off"
    }
}

/// Writes results.csv, results.md and the plots.
pub fn write_outputs(out: &Path, rows: &[EvalRow]) -> anyhow::Result<()> {
    let mut csv = String::from(
        "cache,p,type,count,errors,mean_ms,p50_ms,p90_ms,p99_ms,max_ms,throughput_per_s\n",
    );
    let mut md = String::from(
        "| cache | p | request | count | errors | mean ms | p50 ms | p99 ms | req/s |\n| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for row in rows {
        for kind in TYPES {
            let s = stats(&row.report, kind);
            let _ = writeln!(
                csv,
                "{},{},{kind},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1}",
                if row.cache { "on" } else { "off" },
                row.p,
                s.count,
                s.errors,
                s.mean_ms,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.max_ms,
                s.throughput
            );
            if s.count > 0 {
                let _ = writeln!(
                    md,
                    "| {} | {} | {kind} | {} | {} | {:.2} | {:.2} | {:.2} | {:.0} |",
                    if row.cache { "on" } else { "off" },
                    row.p,
                    s.count,
                    s.errors,
                    s.mean_ms,
                    s.p50_ms,
                    s.p99_ms,
                    s.throughput
                );
            }
        }
    }
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
            for kind in TYPES {
                let points: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r.cache == cache)
                    .map(|r| (r.p, stats(&r.report, kind)))
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
            title,
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
