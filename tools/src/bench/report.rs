//! [`Row`]: one measured scenario at one client count, its ratio to its ceiling, and how
//! rows are shown: a table, JSON lines, a CSV file and SVG plots.

use super::load::{KindStats, LoadResult};
use super::scenario::Kind;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use toystore_harness::memory::Memory;
use toystore_harness::table::{Align, Table};

/// Latency and count of one kind of request in a row.
#[derive(Debug, Clone, Serialize)]
pub struct KindRow {
    /// Requests answered.
    pub answered: u64,
    /// Errors.
    pub errors: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
}

/// One scenario at one client count.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Scenario name (`query-hit`, `buy`, `bare-http`, `bare-hyper`, `disk-single`...).
    pub scenario: String,
    /// Concurrent clients (connections); 1 for the disk loops.
    pub clients: usize,
    /// `closed` or `open`.
    pub mode: &'static str,
    /// Open loop: the offered rate, requests per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Length of the measured window, s.
    pub duration_s: f64,
    /// Requests (for the disk loops: appends) per second.
    pub throughput_rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Requests that got no answer, a 5xx or an unexpected status.
    pub errors: u64,
    /// Correct refusals (`mixed`: sold out between query and buy).
    pub rejected: u64,
    /// What the first error was, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// The ceiling this row is compared with (`bare-http` or `bare-hyper`, whichever was
    /// faster at the same clients; `disk`), if measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<String>,
    /// Throughput divided by the ceiling's (the faster bare server at the same clients; for
    /// `buy`, the batched raw append rate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput_ratio: Option<f64>,
    /// p50 divided by the ceiling's (the same bare server's; for `buy`, one raw durable
    /// commit): "how many ceilings" a request costs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ratio: Option<f64>,
    /// The front-end cache's hit rate during the run, when its counters could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_hit_rate: Option<f64>,
    /// Per kind of request (a `mixed` run has queries and buys).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub kinds: BTreeMap<Kind, KindRow>,
    /// Resident memory of each service after the run, when the benchmark started them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub memory_kib: BTreeMap<String, Memory>,
    /// Where the run's purchases spent their time, from the services' stage histograms
    /// (`buy` on a store whose services the benchmark can scrape).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<super::stages::StageRow>,
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1000.0
    }
}

impl Row {
    /// A row from a load run.
    pub fn from_load(scenario: String, clients: usize, rate: Option<f64>, r: &LoadResult) -> Self {
        let kinds = if r.kinds.len() > 1 {
            r.kinds.iter().map(|(k, s)| (*k, kind_row(s))).collect()
        } else {
            BTreeMap::new()
        };
        Self {
            scenario,
            clients,
            mode: if rate.is_some() { "open" } else { "closed" },
            rate,
            duration_s: r.window.as_secs_f64(),
            throughput_rps: r.throughput(),
            p50_ms: ms(&r.all, 0.5),
            p99_ms: ms(&r.all, 0.99),
            p999_ms: ms(&r.all, 0.999),
            errors: r.errors,
            rejected: r.kinds.values().map(|k| k.rejected).sum(),
            first_error: r.kinds.values().find_map(|k| k.first_error.clone()),
            ceiling: None,
            throughput_ratio: None,
            p50_ratio: None,
            cache_hit_rate: None,
            kinds,
            memory_kib: BTreeMap::new(),
            stages: Vec::new(),
        }
    }

    /// A row from a raw append loop (`disk-single`, `disk-batched`).
    pub fn from_disk(scenario: &str, c: &crate::bench::disk::AppendCeiling) -> Self {
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).ok();
        if let Some(h) = h.as_mut() {
            for &us in &c.commit_latencies_us {
                h.saturating_record(us.max(1));
            }
        }
        let q = |q: f64| h.as_ref().map_or(0.0, |h| ms(h, q));
        Self {
            scenario: scenario.to_string(),
            clients: 1,
            mode: "closed",
            rate: None,
            duration_s: c.elapsed.as_secs_f64(),
            throughput_rps: c.appends_per_sec(),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            errors: 0,
            rejected: 0,
            first_error: None,
            ceiling: None,
            throughput_ratio: None,
            p50_ratio: None,
            cache_hit_rate: None,
            kinds: BTreeMap::new(),
            memory_kib: BTreeMap::new(),
            stages: Vec::new(),
        }
    }

    /// Sets the ratios to a ceiling row.
    pub fn compare(&mut self, ceiling: &str, throughput: Option<f64>, p50_ms: Option<f64>) {
        self.ceiling = Some(ceiling.to_string());
        self.throughput_ratio = throughput
            .filter(|t| *t > 0.0)
            .map(|t| self.throughput_rps / t);
        self.p50_ratio = p50_ms.filter(|p| *p > 0.0).map(|p| self.p50_ms / p);
    }
}

/// Keeps, of the rows of one scenario and client count, the one of median throughput, with
/// the errors of all of them (no run's errors are hidden); their order is otherwise kept.
pub fn medians(rows: Vec<Row>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    let mut group: Vec<Row> = Vec::new();
    let flush = |group: &mut Vec<Row>, out: &mut Vec<Row>| {
        group.sort_by(|a, b| a.throughput_rps.total_cmp(&b.throughput_rps));
        let mid = group.len() / 2;
        let errors = group.iter().map(|r| r.errors).sum();
        let first_error = group.iter().find_map(|r| r.first_error.clone());
        if let Some(mut row) = group.drain(..).nth(mid) {
            row.errors = errors;
            row.first_error = row.first_error.or(first_error);
            out.push(row);
        }
    };
    for row in rows {
        if group
            .first()
            .is_some_and(|g| g.scenario != row.scenario || g.clients != row.clients)
        {
            flush(&mut group, &mut out);
        }
        group.push(row);
    }
    flush(&mut group, &mut out);
    out
}

fn kind_row(s: &KindStats) -> KindRow {
    KindRow {
        answered: s.ok + s.rejected,
        errors: s.errors,
        p50_ms: ms(&s.latency, 0.5),
        p99_ms: ms(&s.latency, 0.99),
    }
}

fn ratio(r: Option<f64>) -> String {
    match r {
        None => "-".into(),
        Some(r) if r < 0.1 => format!("{r:.4}x"),
        Some(r) => format!("{r:.2}x"),
    }
}

/// The rows as one [`Table`]: names left-aligned (scenario, ceiling), figures right.
fn rows_table(rows: &[Row]) -> Table<11> {
    let (l, r) = (Align::Left, Align::Right);
    let mut t = Table::with_alignment([
        ("scenario", l),
        ("clients", r),
        ("req/s", r),
        ("p50 ms", r),
        ("p99 ms", r),
        ("p99.9 ms", r),
        ("errors", r),
        ("ceiling", l),
        ("x tput", r),
        ("x p50", r),
        ("hits", r),
    ]);
    for row in rows {
        t.push([
            row.scenario.clone(),
            row.clients.to_string(),
            format!("{:.0}", row.throughput_rps),
            format!("{:.3}", row.p50_ms),
            format!("{:.3}", row.p99_ms),
            format!("{:.3}", row.p999_ms),
            row.errors.to_string(),
            row.ceiling.clone().unwrap_or_else(|| "-".into()),
            ratio(row.throughput_ratio),
            ratio(row.p50_ratio),
            row.cache_hit_rate
                .map_or_else(|| "-".into(), |h| format!("{:.0}%", h * 100.0)),
        ]);
    }
    t
}

/// The rows as a plain-text table, then the first error of each row that had one and the
/// services' peak memory.
pub fn table(rows: &[Row]) -> String {
    let mut out = rows_table(rows).text();
    for r in rows {
        if let Some(e) = &r.first_error {
            let _ = writeln!(out, "{} x{}: first error: {e}", r.scenario, r.clients);
        }
    }
    let memory: Vec<&Row> = rows.iter().filter(|r| !r.memory_kib.is_empty()).collect();
    if let Some(last) = memory.last() {
        let peak: Vec<String> = last
            .memory_kib
            .iter()
            .map(|(s, m)| format!("{s} {:.1} MB", m.hwm_kib as f64 / 1024.0))
            .collect();
        let _ = writeln!(out, "peak RSS: {}", peak.join(", "));
    }
    out
}

/// The rows as a Markdown table (`bench.md`, for docs).
pub fn markdown(rows: &[Row]) -> String {
    rows_table(rows).markdown()
}

/// Writes the rows to `<dir>/bench.csv` and `<dir>/bench.md`.
pub fn write_csv(dir: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut t = Table::new([
        "scenario",
        "clients",
        "mode",
        "rate",
        "duration_s",
        "throughput_rps",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "errors",
        "rejected",
        "ceiling",
        "throughput_ratio",
        "p50_ratio",
        "cache_hit_rate",
    ]);
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    for r in rows {
        t.push([
            r.scenario.clone(),
            r.clients.to_string(),
            r.mode.to_string(),
            opt(r.rate),
            format!("{:.3}", r.duration_s),
            format!("{:.1}", r.throughput_rps),
            format!("{:.4}", r.p50_ms),
            format!("{:.4}", r.p99_ms),
            format!("{:.4}", r.p999_ms),
            r.errors.to_string(),
            r.rejected.to_string(),
            r.ceiling.clone().unwrap_or_default(),
            opt(r.throughput_ratio),
            opt(r.p50_ratio),
            opt(r.cache_hit_rate),
        ]);
    }
    let path = dir.join("bench.csv");
    std::fs::write(&path, t.csv())
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    let path = dir.join("bench.md");
    std::fs::write(&path, markdown(rows))
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

/// Writes throughput and latency against clients for the query scenarios (with the bare
/// HTTP ceilings, dashed) and for buying, when at least two client counts were measured.
pub fn write_plots(dir: &Path, rows: &[Row]) -> anyhow::Result<()> {
    use crate::plot::{chart, Axis, Scale, Series};
    let clients_axis = Axis {
        label: "clients (connections)",
        scale: Scale::Log,
    };
    let series = |scenario: &str, value: fn(&Row) -> f64, label: &str, dashed: bool| Series {
        label: label.to_string(),
        points: rows
            .iter()
            .filter(|r| r.scenario == scenario && r.mode == "closed")
            .map(|r| (r.clients as f64, value(r)))
            .collect(),
        dashed,
    };
    let groups: [(&str, &[&str]); 2] = [
        (
            "query",
            &[
                "query-hit",
                "query-miss",
                "order-read",
                "bare-http",
                "bare-hyper",
            ],
        ),
        ("buy", &["buy"]),
    ];
    for (name, scenarios) in groups {
        let present: Vec<&str> = scenarios
            .iter()
            .copied()
            .filter(|s| rows.iter().filter(|r| r.scenario == *s).count() >= 2)
            .collect();
        if present.is_empty() {
            continue;
        }
        let tput: Vec<Series> = present
            .iter()
            .map(|s| series(s, |r| r.throughput_rps, s, s.starts_with("bare-")))
            .collect();
        chart(
            &dir.join(format!("{name}-throughput.svg")),
            &format!("{name}: throughput against clients (closed loop)"),
            clients_axis,
            Axis {
                label: "requests per second",
                scale: Scale::Log,
            },
            &tput,
        )?;
        let mut lat = Vec::new();
        for s in &present {
            lat.push(series(s, |r| r.p50_ms, &format!("{s} p50"), false));
            lat.push(series(s, |r| r.p99_ms, &format!("{s} p99"), true));
        }
        chart(
            &dir.join(format!("{name}-latency.svg")),
            &format!("{name}: latency against clients (closed loop)"),
            clients_axis,
            Axis {
                label: "milliseconds",
                scale: Scale::Log,
            },
            &lat,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, clients: usize, tput: f64, errors: u64) -> Row {
        let c = crate::bench::disk::AppendCeiling {
            per_commit: 1,
            commits: 1,
            appends: 1,
            elapsed: std::time::Duration::from_secs(1),
            commit_latencies_us: vec![100],
        };
        let mut r = Row::from_disk(scenario, &c);
        r.clients = clients;
        r.throughput_rps = tput;
        r.errors = errors;
        r
    }

    #[test]
    fn medians_keep_the_middle_run_and_every_error() {
        let rows = vec![
            row("a", 1, 10.0, 0),
            row("a", 1, 30.0, 2),
            row("a", 1, 20.0, 0),
            row("a", 2, 5.0, 1),
            row("b", 2, 7.0, 0),
        ];
        let m = medians(rows);
        let got: Vec<(&str, usize, f64, u64)> = m
            .iter()
            .map(|r| (r.scenario.as_str(), r.clients, r.throughput_rps, r.errors))
            .collect();
        assert_eq!(
            got,
            vec![("a", 1, 20.0, 2), ("a", 2, 5.0, 1), ("b", 2, 7.0, 0)]
        );
    }

    #[test]
    fn table_and_markdown_show_every_row_and_the_first_error() {
        let mut bad = row("buy", 2, 50.0, 3);
        bad.first_error = Some("503 Service Unavailable".into());
        let rows = vec![row("query-hit", 1, 1234.0, 0), bad];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("scenario") && lines[0].ends_with("hits"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("query-hit") && lines[1].contains(" 1234 "),
            "{text}"
        );
        assert!(lines[2].starts_with("buy"), "{text}");
        assert_eq!(lines[3], "buy x2: first error: 503 Service Unavailable");
        let md = markdown(&rows);
        assert_eq!(md.lines().count(), 4, "{md}");
        assert!(
            md.lines().all(|l| l.starts_with("| ") && l.ends_with(" |")),
            "{md}"
        );
        assert_eq!(
            md.lines().nth(2).map(|l| l.matches(" | ").count()),
            Some(10)
        );
    }

    #[test]
    fn ratios_compare_with_the_ceiling() {
        let mut r = row("query-hit", 4, 900.0, 0);
        r.p50_ms = 0.3;
        r.compare("bare-http", Some(1000.0), Some(0.2));
        assert_eq!(r.ceiling.as_deref(), Some("bare-http"));
        assert!((r.throughput_ratio.unwrap_or(0.0) - 0.9).abs() < 1e-9);
        assert!((r.p50_ratio.unwrap_or(0.0) - 1.5).abs() < 1e-9);
        r.compare("bare-http", Some(0.0), None);
        assert_eq!(r.throughput_ratio, None, "no ratio to a zero ceiling");
    }
}
