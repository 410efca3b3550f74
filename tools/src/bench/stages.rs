//! Where a purchase's time goes, from the services' own histograms: `tools bench buy`
//! scrapes `toystore_buy_stage_seconds` ([`toystore_http::stages`]) from every service of
//! the store before and after a run, sums each stage over the services that observe it, and
//! reports the run's share (after − before): count, mean, p50 and p99 per stage, then the
//! hops between stages as differences of means.
//!
//! A quantile is read from the cumulative buckets as Prometheus' `histogram_quantile` does
//! (linear within the bucket holding it), so it is within one bucket (×1.25) of the truth.
//! Each service's share is its own after − before; a service that did not answer both
//! scrapes is left out, as is a stage whose counts went down or whose buckets changed (the
//! service restarted), with a warning on stderr: its stages show fewer observations, never
//! wrong ones.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use toystore_http::stages::{Stage, STAGE_METRIC};

/// One stage's histogram: cumulative counts at upper bounds, the sum of its observations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hist {
    /// (upper bound in seconds, observations ≤ it), bounds ascending, `+Inf` last.
    pub buckets: Vec<(f64, f64)>,
    /// The sum of the observations, seconds.
    pub sum: f64,
}

impl Hist {
    /// The number of observations.
    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |b| b.1)
    }

    /// Adds `other` (same bounds) to this one; a histogram with other bounds is not added.
    fn add(&mut self, other: &Hist) {
        if self.buckets.is_empty() {
            *self = other.clone();
            return;
        }
        if !same_bounds(&self.buckets, &other.buckets) {
            return;
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.1 += theirs.1;
        }
        self.sum += other.sum;
    }

    /// What was observed since `before` (none before: all of this one); `None` if the two
    /// cannot be of one series (other bounds, or a count that went down: a restart).
    fn since(&self, before: Option<&Hist>) -> Option<Hist> {
        let Some(before) = before else {
            return Some(self.clone());
        };
        let grew = self
            .buckets
            .iter()
            .zip(&before.buckets)
            .all(|(now, then)| now.1 >= then.1);
        if !same_bounds(&self.buckets, &before.buckets) || !grew || self.sum < before.sum {
            return None;
        }
        Some(Hist {
            buckets: self
                .buckets
                .iter()
                .zip(&before.buckets)
                .map(|(now, then)| (now.0, now.1 - then.1))
                .collect(),
            sum: self.sum - before.sum,
        })
    }

    /// The `q` quantile in seconds (`None` with no observations): linear within the bucket
    /// that holds it, the lowest bucket starting at 0, the `+Inf` bucket answered with the
    /// highest finite bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut lower = (0.0, 0.0);
        for &(bound, count) in &self.buckets {
            if count >= rank {
                if bound.is_infinite() {
                    return Some(lower.0);
                }
                let within = count - lower.1;
                let share = if within > 0.0 {
                    (rank - lower.1) / within
                } else {
                    1.0
                };
                return Some(lower.0 + (bound - lower.0) * share);
            }
            lower = (bound, count);
        }
        Some(lower.0)
    }

    /// The mean in seconds (`None` with no observations).
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0.0).then(|| self.sum / n)
    }
}

fn same_bounds(a: &[(f64, f64)], b: &[(f64, f64)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.0 == y.0)
}

/// Every stage's histogram, summed over the services scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stages(pub BTreeMap<String, Hist>);

impl Stages {
    /// The stages in one service's `/metrics` text (other metrics ignored).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))?;
        let mut stages: BTreeMap<String, Hist> = BTreeMap::new();
        let sum_metric = format!("{STAGE_METRIC}_sum");
        for sample in &scrape.samples {
            let Some(stage) = sample.labels.get("stage") else {
                continue;
            };
            let hist = stages.entry(stage.to_string()).or_default();
            match &sample.value {
                prometheus_parse::Value::Histogram(buckets) if sample.metric == STAGE_METRIC => {
                    hist.buckets = buckets.iter().map(|b| (b.less_than, b.count)).collect();
                    hist.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                }
                prometheus_parse::Value::Untyped(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                    if sample.metric == sum_metric =>
                {
                    hist.sum = *v;
                }
                _ => {}
            }
        }
        stages.retain(|_, h| !h.buckets.is_empty());
        Ok(Self(stages))
    }

    /// Adds another service's stages.
    pub fn add(&mut self, other: &Stages) {
        for (stage, hist) in &other.0 {
            self.0.entry(stage.clone()).or_default().add(hist);
        }
    }

    /// What was observed since `before`, stage by stage; a stage that cannot be diffed
    /// (see [`Hist::since`]) is left out and named in `dropped`.
    pub fn since(&self, before: &Stages, dropped: &mut Vec<String>) -> Stages {
        let mut out = BTreeMap::new();
        for (stage, hist) in &self.0 {
            match hist.since(before.0.get(stage)) {
                Some(h) => {
                    out.insert(stage.clone(), h);
                }
                None => dropped.push(stage.clone()),
            }
        }
        Stages(out)
    }

    fn mean_ms(&self, stage: Stage) -> Option<f64> {
        self.0.get(stage.name())?.mean().map(|s| s * 1e3)
    }

    /// One row per stage observed, in the buy path's order, then the hops between them.
    pub fn rows(&self) -> Vec<StageRow> {
        let mut rows: Vec<StageRow> = Stage::ALL
            .iter()
            .filter_map(|stage| {
                let hist = self.0.get(stage.name())?;
                let ms = |v: Option<f64>| v.map(|s| s * 1e3);
                Some(StageRow {
                    stage: stage.name().to_string(),
                    count: hist.count() as u64,
                    mean_ms: ms(hist.mean())?,
                    p50_ms: ms(hist.quantile(0.5)),
                    p99_ms: ms(hist.quantile(0.99)),
                })
            })
            .collect();
        for (name, of, minus) in HOPS {
            let (Some(whole), Some(parts)) = (
                self.mean_ms(*of),
                minus.iter().map(|s| self.mean_ms(*s)).sum::<Option<f64>>(),
            ) else {
                continue;
            };
            rows.push(StageRow {
                stage: name.to_string(),
                count: 0,
                mean_ms: whole - parts,
                p50_ms: None,
                p99_ms: None,
            });
        }
        rows
    }
}

/// The time between stages, as a difference of means: (name, the enclosing stage, the
/// stages inside it).
const HOPS: &[(&str, Stage, &[Stage])] = &[
    (
        "front-end hop and reply (order_call − place)",
        Stage::OrderCall,
        &[Stage::Place],
    ),
    (
        "catalog hop and reply (catalog_call − catalog_write)",
        Stage::CatalogCall,
        &[Stage::CatalogWrite],
    ),
    (
        "order leader's own work (place − catalog_call − order_write)",
        Stage::Place,
        &[Stage::CatalogCall, Stage::OrderWrite],
    ),
];

/// One line of the table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageRow {
    /// The stage (or hop) name.
    pub stage: String,
    /// Observations (0 for a hop: it is a difference of means).
    pub count: u64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median, ms (none for a hop).
    pub p50_ms: Option<f64>,
    /// 99th percentile, ms (none for a hop).
    pub p99_ms: Option<f64>,
}

/// Every service's stages, by base URL.
pub type ByService = BTreeMap<String, Stages>;

/// Scrapes `/metrics` of every service at `urls`, all at once; a service that does not
/// answer is left out (and named in a warning on stderr).
pub async fn scrape(http: &reqwest::Client, urls: &[String]) -> ByService {
    let ask = |url: String| async move {
        let got = async {
            let resp = http
                .get(format!("{url}/metrics"))
                .timeout(std::time::Duration::from_secs(5))
                .send()
                .await?
                .error_for_status()?;
            Stages::parse(&resp.text().await?)
        }
        .await;
        match got {
            Ok(stages) => Some((url, stages)),
            Err(e) => {
                eprintln!("warning: no stages from {url}: {e:#}");
                None
            }
        }
    };
    // All at once, so that the snapshot is of one moment.
    futures_util::future::join_all(urls.iter().cloned().map(ask))
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// The run's stages: each service's after − before, summed over the services that answered
/// both scrapes (the others, and stages that cannot be diffed, named in a warning).
pub fn run_share(before: &ByService, after: &ByService) -> Stages {
    let mut all = Stages::default();
    for (url, now) in after {
        let Some(then) = before.get(url) else {
            eprintln!("warning: {url} answered only after the run; its stages are left out");
            continue;
        };
        let mut dropped = Vec::new();
        all.add(&now.since(then, &mut dropped));
        if !dropped.is_empty() {
            eprintln!("warning: {url}: stages {dropped:?} went back (a restart?); left out");
        }
    }
    all
}

/// The markdown table of one run's stages.
pub fn table(title: &str, rows: &[StageRow]) -> String {
    let mut out = format!("{title}\n\n| stage | count | mean ms | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |\n");
    let ms = |v: Option<f64>| v.map_or_else(|| "".to_string(), |v| format!("{v:.3}"));
    for row in rows {
        let count = if row.count == 0 {
            String::new()
        } else {
            row.count.to_string()
        };
        let _ = writeln!(
            out,
            "| {} | {count} | {:.3} | {} | {} |",
            row.stage,
            row.mean_ms,
            ms(row.p50_ms),
            ms(row.p99_ms)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# TYPE toystore_buy_stage_seconds histogram\n\
        toystore_buy_stage_seconds_sum{stage=\"place\"} 0.004\n\
        toystore_buy_stage_seconds_count{stage=\"place\"} 2\n\
        toystore_buy_stage_seconds_bucket{le=\"0.001\",stage=\"place\"} 0\n\
        toystore_buy_stage_seconds_bucket{le=\"0.002\",stage=\"place\"} 2\n\
        toystore_buy_stage_seconds_bucket{le=\"0.004\",stage=\"place\"} 2\n\
        toystore_buy_stage_seconds_bucket{le=\"+Inf\",stage=\"place\"} 2\n\
        # EOF\n";

    const AFTER: &str = "# TYPE toystore_buy_stage_seconds histogram\n\
        toystore_buy_stage_seconds_sum{stage=\"place\"} 0.034\n\
        toystore_buy_stage_seconds_count{stage=\"place\"} 12\n\
        toystore_buy_stage_seconds_bucket{le=\"0.001\",stage=\"place\"} 0\n\
        toystore_buy_stage_seconds_bucket{le=\"0.002\",stage=\"place\"} 2\n\
        toystore_buy_stage_seconds_bucket{le=\"0.004\",stage=\"place\"} 12\n\
        toystore_buy_stage_seconds_bucket{le=\"+Inf\",stage=\"place\"} 12\n\
        toystore_buy_stage_seconds_sum{stage=\"catalog_call\"} 0.01\n\
        toystore_buy_stage_seconds_count{stage=\"catalog_call\"} 10\n\
        toystore_buy_stage_seconds_bucket{le=\"0.001\",stage=\"catalog_call\"} 10\n\
        toystore_buy_stage_seconds_bucket{le=\"0.002\",stage=\"catalog_call\"} 10\n\
        toystore_buy_stage_seconds_bucket{le=\"0.004\",stage=\"catalog_call\"} 10\n\
        toystore_buy_stage_seconds_bucket{le=\"+Inf\",stage=\"catalog_call\"} 10\n\
        # EOF\n";

    #[test]
    fn a_run_s_share_is_after_minus_before() {
        let before = Stages::parse(BEFORE).expect("parses");
        let after = Stages::parse(AFTER).expect("parses");
        let mut dropped = Vec::new();
        let run = after.since(&before, &mut dropped);
        assert!(dropped.is_empty());
        let place = &run.0["place"];
        assert_eq!(place.count(), 10.0);
        // The ten observations of the run lie in (2, 4] ms: mean 3 ms, median halfway.
        assert!((place.mean().expect("observed") - 0.003).abs() < 1e-9);
        assert!((place.quantile(0.5).expect("observed") - 0.003).abs() < 1e-9);
        // A stage first seen after the start counts whole.
        assert_eq!(run.0["catalog_call"].count(), 10.0);
    }

    #[test]
    fn services_add_up_and_hops_are_differences_of_means() {
        let mut all = Stages::parse(AFTER).expect("parses");
        all.add(&Stages::parse(BEFORE).expect("parses"));
        assert_eq!(all.0["place"].count(), 14.0);
        let rows = all.rows();
        let names: Vec<&str> = rows.iter().map(|r| r.stage.as_str()).collect();
        assert_eq!(names[..2], ["place", "catalog_call"]);
        // No order_write observed: the leader's own work cannot be derived; no hop either
        // without order_call or catalog_write.
        assert_eq!(rows.len(), 2, "{names:?}");
    }

    #[test]
    fn the_hop_is_the_enclosing_mean_minus_the_inner_ones() {
        let text = AFTER.replace("catalog_call", "order_call");
        let stages = Stages::parse(&text).expect("parses");
        let rows = stages.rows();
        let hop = rows
            .iter()
            .find(|r| r.stage.starts_with("front-end hop"))
            .expect("a hop row");
        // order_call's mean (1 ms) minus place's (34/12 ms).
        assert!((hop.mean_ms - (1.0 - 34.0 / 12.0)).abs() < 1e-9);
    }

    #[test]
    fn a_service_that_restarted_or_answered_once_is_left_out() {
        let url = |u: &str| u.to_string();
        let before = ByService::from([
            (url("a"), Stages::parse(AFTER).expect("parses")),
            (url("b"), Stages::parse(BEFORE).expect("parses")),
        ]);
        let after = ByService::from([
            // a restarted: its counts went back.
            (url("a"), Stages::parse(BEFORE).expect("parses")),
            (url("b"), Stages::parse(AFTER).expect("parses")),
            // c answered only after.
            (url("c"), Stages::parse(AFTER).expect("parses")),
        ]);
        let run = run_share(&before, &after);
        // Only b's share: 10 places, 10 catalog calls.
        assert_eq!(run.0["place"].count(), 10.0);
        assert_eq!(run.0["catalog_call"].count(), 10.0);
    }

    #[test]
    fn quantiles_of_nothing_are_none_and_of_the_top_bucket_its_bound() {
        assert_eq!(Hist::default().quantile(0.5), None);
        let h = Hist {
            buckets: vec![(0.001, 0.0), (f64::INFINITY, 3.0)],
            sum: 1.0,
        };
        assert_eq!(h.quantile(0.99), Some(0.001));
    }
}
