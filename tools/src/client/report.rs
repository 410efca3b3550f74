//! What a client run measured: [`RequestStats`] per request type (recorded by a
//! [`Recorder`] in an hdrhistogram, in microseconds), the [`Verification`] of the orders read
//! back, and the [`ClientReport`] with its table and JSON forms.

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use toystore_harness::table::Table;

/// Statistics of one request type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Requests made (each counted once, however many attempts it took).
    pub count: u64,
    /// Requests that got no usable answer (connection error, timeout, 5xx, unexpected
    /// reply).
    pub errors: u64,
    /// Requests the store refused with an expected answer (a buy's 409 insufficient stock).
    pub rejected: u64,
    /// Extra attempts made by retries.
    pub retries: u64,
    /// Requests per second over the phase they ran in.
    pub throughput: f64,
    /// Mean latency of answered requests, in milliseconds.
    pub mean_ms: f64,
    /// Median latency, in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, in milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// Maximum, in milliseconds.
    pub max_ms: f64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

/// The outcome of reading every acknowledged order back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Orders acknowledged to the clients.
    pub orders: u64,
    /// Orders read back identical.
    pub matched: u64,
    /// Orders the store said do not exist.
    pub missing: u64,
    /// Orders read back different from what was acknowledged.
    pub mismatched: u64,
    /// Orders that could not be read at all (errors).
    pub unchecked: u64,
    /// Order numbers acknowledged to more than one purchase.
    pub duplicates: u64,
    /// The first problems, described.
    pub problems: Vec<String>,
    /// Whether every acknowledged order was read back identical, with unique numbers.
    pub ok: bool,
}

/// The result of a client run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    /// The front-end used.
    pub frontend: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Iterations per client.
    pub iterations: u64,
    /// Buy probability.
    pub p: f64,
    /// The seed used.
    pub seed: u64,
    /// Toys in the catalog.
    pub toys: usize,
    /// Duration of the query/buy phase, in seconds.
    pub load_secs: f64,
    /// Duration of the order check phase, in seconds.
    pub check_secs: f64,
    /// `GET /products/<name>`.
    pub query: RequestStats,
    /// `POST /orders`.
    pub buy: RequestStats,
    /// `GET /orders/<n>`.
    pub order_check: RequestStats,
    /// Whether every order was read back as acknowledged.
    pub verification: Verification,
}

/// Counters and a latency histogram of one request type in one client.
pub(super) struct Recorder {
    pub(super) hist: Histogram<u64>,
    pub(super) count: u64,
    pub(super) errors: u64,
    pub(super) rejected: u64,
    pub(super) retries: u64,
    pub(super) first_error: Option<String>,
}

impl Recorder {
    pub(super) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs to 1 h at 3 significant digits; longer values saturate.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .context("creating a latency histogram")?,
            count: 0,
            errors: 0,
            rejected: 0,
            retries: 0,
            first_error: None,
        })
    }

    pub(super) fn answered(&mut self, started: Instant) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.max(1));
    }

    pub(super) fn error(&mut self, what: impl Into<String>) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what.into());
        }
    }

    pub(super) fn merge(&mut self, other: &Recorder) -> anyhow::Result<()> {
        self.hist
            .add(&other.hist)
            .context("merging latency histograms")?;
        self.count += other.count;
        self.errors += other.errors;
        self.rejected += other.rejected;
        self.retries += other.retries;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        Ok(())
    }

    pub(super) fn stats(&self, secs: f64) -> RequestStats {
        let ms = |us: u64| us as f64 / 1000.0;
        let answered = !self.hist.is_empty();
        let q = |quantile: f64| {
            if answered {
                ms(self.hist.value_at_quantile(quantile))
            } else {
                0.0
            }
        };
        RequestStats {
            count: self.count,
            errors: self.errors,
            rejected: self.rejected,
            retries: self.retries,
            throughput: if secs > 0.0 {
                self.count as f64 / secs
            } else {
                0.0
            },
            mean_ms: if answered {
                self.hist.mean() / 1000.0
            } else {
                0.0
            },
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            max_ms: if answered { ms(self.hist.max()) } else { 0.0 },
            first_error: self.first_error.clone(),
        }
    }
}

impl ClientReport {
    /// The report as the table `tools client` prints.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "toystore client: {} clients x {} iterations against {} (p = {}, seed {}, {} toys)",
            self.clients, self.iterations, self.frontend, self.p, self.seed, self.toys
        );
        let mut table = Table::new([
            "request", "count", "errors", "req/s", "mean ms", "p50 ms", "p90 ms", "p99 ms",
            "max ms",
        ]);
        for (name, st) in [
            ("query", &self.query),
            ("buy", &self.buy),
            ("order check", &self.order_check),
        ] {
            let f3 = |x: f64| format!("{x:.3}");
            table.push([
                name.to_string(),
                st.count.to_string(),
                st.errors.to_string(),
                format!("{:.1}", st.throughput),
                f3(st.mean_ms),
                f3(st.p50_ms),
                f3(st.p90_ms),
                f3(st.p99_ms),
                f3(st.max_ms),
            ]);
        }
        s += &table.text();
        let _ = writeln!(
            s,
            "phases: query/buy {:.2} s, order check {:.2} s; buys: {} rejected (insufficient stock), {} retries",
            self.load_secs, self.check_secs, self.buy.rejected, self.buy.retries
        );
        for (name, st) in [
            ("query", &self.query),
            ("buy", &self.buy),
            ("order check", &self.order_check),
        ] {
            if let Some(e) = &st.first_error {
                let _ = writeln!(s, "first {name} error: {e}");
            }
        }
        let v = &self.verification;
        if v.ok {
            let _ = writeln!(
                s,
                "verification: OK: all {} orders read back identical",
                v.orders
            );
        } else {
            let _ = writeln!(
                s,
                "verification: FAILED: {} orders, {} identical, {} missing, {} different, {} unreadable, {} duplicate numbers",
                v.orders, v.matched, v.missing, v.mismatched, v.unchecked, v.duplicates
            );
            for p in &v.problems {
                let _ = writeln!(s, "  {p}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn stats_are_in_milliseconds_and_count_unanswered_requests() {
        let mut r = Recorder::new().unwrap();
        for us in [1_000u64, 2_000, 3_000, 4_000] {
            r.hist.saturating_record(us);
        }
        r.count = 5;
        r.error("boom");
        let st = r.stats(2.0);
        assert_eq!(st.count, 5);
        assert_eq!(st.errors, 1);
        assert!((st.throughput - 2.5).abs() < 1e-9);
        assert!((st.mean_ms - 2.5).abs() < 0.01, "{st:?}");
        assert!((st.p50_ms - 2.0).abs() < 0.01, "{st:?}");
        assert!((st.max_ms - 4.0).abs() < 0.01, "{st:?}");
        assert_eq!(st.first_error.as_deref(), Some("boom"));
        let empty = Recorder::new().unwrap().stats(0.0);
        assert_eq!((empty.count, empty.p99_ms, empty.throughput), (0, 0.0, 0.0));
    }
}
