//! Prometheus metrics for every service: one [`Registry`] per service, served as text at
//! `GET /metrics` ([`route`]), with the HTTP metrics every service shares ([`HttpMetrics`])
//! and a way to report state read at scrape time ([`Sampled`]).
//!
//! Guarantees:
//! - every request a service answers through [`crate::serve_until`] is counted once and
//!   timed, by route *template* (`/products/:name`, never the name itself, so a client
//!   cannot grow the series without bound), method and status;
//! - `/metrics` is public and read-only, like `/health`: it exposes counts and positions,
//!   no data and no secrets;
//! - the format is the OpenMetrics text format (`prometheus-client`), which Prometheus
//!   scrapes natively.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use warp::http::header::CONTENT_TYPE;
use warp::{Filter, Rejection, Reply};

/// The content type of the exposition (OpenMetrics text).
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of one HTTP series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template, e.g. `/products/:name`.
    pub route: &'static str,
    /// The request method.
    pub method: &'static str,
    /// The response status code.
    pub status: u16,
}

/// One route of a service: its template (a segment `:…` matches any one segment) and the
/// methods it answers, as the `Allow` header of a 405 lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The template, e.g. `/products/:name`.
    pub template: &'static str,
    /// The methods, e.g. `GET` or `GET, POST`.
    pub allow: &'static str,
}

impl Route {
    /// A route answering GET.
    pub const fn get(template: &'static str) -> Self {
        Self {
            template,
            allow: "GET",
        }
    }

    /// A route answering POST.
    pub const fn post(template: &'static str) -> Self {
        Self {
            template,
            allow: "POST",
        }
    }
}

/// Request counts and latencies by route, method and status.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    routes: &'static [&'static [Route]],
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 3.3 s, doubling.
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

impl HttpMetrics {
    /// Registers the HTTP families in `registry`; `routes` are the service's routes, in
    /// groups (its own, and those of a library it serves, such as the Raft routes): every
    /// path is counted under its route's template, `"other"` if none.
    pub fn register(registry: &mut Registry, routes: &'static [&'static [Route]]) -> Self {
        let requests = Family::<HttpLabels, Counter>::default();
        let latency = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "toystore_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "toystore_http_request_duration_seconds",
            "Time from a request's arrival to its response head, by route, method and status",
            latency.clone(),
        );
        Self {
            requests,
            latency,
            routes,
        }
    }

    /// The route of `path`, if one matches: its template labels the request's series, its
    /// methods a 405's `Allow`.
    pub fn route(&self, path: &str) -> Option<&'static Route> {
        self.routes
            .iter()
            .find_map(|group| match_route(path, group))
    }

    /// Records one answered request.
    pub fn observe(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = HttpLabels {
            route,
            method,
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

/// The route among `routes` whose template matches `path`, where a template segment `:…`
/// matches any one non-empty segment.
pub fn match_route(path: &str, routes: &'static [Route]) -> Option<&'static Route> {
    let path = path.trim_start_matches('/');
    routes.iter().find(|r| {
        let mut parts = r.template.trim_start_matches('/').split('/');
        let mut segments = path.split('/');
        loop {
            match (parts.next(), segments.next()) {
                (None, None) => return true,
                (Some(p), Some(s)) if (p.starts_with(':') && !s.is_empty()) || p == s => {}
                _ => return false,
            }
        }
    })
}

/// The template of `path`'s route among `routes`, `"other"` when none matches (what the
/// request's series is labelled with).
pub fn template_of(path: &str, routes: &'static [Route]) -> &'static str {
    match_route(path, routes).map_or("other", |r| r.template)
}

/// One metric family read at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric's name (without the `_total` a counter gets).
    pub name: &'static str,
    /// Its help text.
    pub help: &'static str,
    /// Counter (only goes up while the process lives) or gauge.
    pub kind: Kind,
    /// Its values: labels and value (labels empty for a single series).
    pub values: Vec<(Vec<(&'static str, String)>, f64)>,
}

/// What a [`Sample`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic while the process lives.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Sample {
    /// A gauge with one value.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            kind: Kind::Gauge,
            values: vec![(Vec::new(), value)],
        }
    }

    /// A counter with one value.
    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Self {
        Self {
            name,
            help,
            kind: Kind::Counter,
            values: vec![(Vec::new(), value)],
        }
    }

    /// A gauge with one series per value of label `label`.
    pub fn gauge_by(
        name: &'static str,
        help: &'static str,
        label: &'static str,
        values: impl IntoIterator<Item = (String, f64)>,
    ) -> Self {
        Self::by(Kind::Gauge, name, help, label, values)
    }

    /// A counter with one series per value of label `label`.
    pub fn counter_by(
        name: &'static str,
        help: &'static str,
        label: &'static str,
        values: impl IntoIterator<Item = (String, f64)>,
    ) -> Self {
        Self::by(Kind::Counter, name, help, label, values)
    }

    fn by(
        kind: Kind,
        name: &'static str,
        help: &'static str,
        label: &'static str,
        values: impl IntoIterator<Item = (String, f64)>,
    ) -> Self {
        Self {
            name,
            help,
            kind,
            values: values
                .into_iter()
                .map(|(l, v)| (vec![(label, l)], v))
                .collect(),
        }
    }

    /// The commits of a service's event log by kind (`durable`: one fsync each, `lazy`,
    /// `skipped`: batches that changed nothing), given as (kind, count) pairs.
    pub fn log_commits(counts: impl IntoIterator<Item = (&'static str, u64)>) -> Self {
        Self::counter_by(
            "toystore_log_commits",
            "Write batches of the service's event log, by what became of them (durable: one fsync each; lazy: committed without one; skipped: changed nothing, not committed)",
            "kind",
            counts.into_iter().map(|(k, n)| (k.to_string(), n as f64)),
        )
    }
}

/// A [`Collector`] that asks a closure for the current [`Sample`]s at each scrape: state
/// the service already keeps (cache counters, stock, Raft positions) is reported as it is
/// then, with no second copy to keep in step.
pub struct Sampled<F>(pub F);

impl<F> std::fmt::Debug for Sampled<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampled")
    }
}

impl<F> Collector for Sampled<F>
where
    F: Fn() -> Vec<Sample> + Send + Sync + 'static,
{
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for sample in (self.0)() {
            let kind = match sample.kind {
                Kind::Counter => prometheus_client::metrics::MetricType::Counter,
                Kind::Gauge => prometheus_client::metrics::MetricType::Gauge,
            };
            let mut family = encoder.encode_descriptor(sample.name, sample.help, None, kind)?;
            match sample.values.as_slice() {
                [(labels, value)] if labels.is_empty() => {
                    encode_value(sample.kind, *value, family)?
                }
                values => {
                    for (labels, value) in values {
                        encode_value(sample.kind, *value, family.encode_family(labels)?)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Encodes one value, as an integer when it is one (`3`, not `3.0`).
fn encode_value(
    kind: Kind,
    value: f64,
    encoder: prometheus_client::encoding::MetricEncoder<'_>,
) -> Result<(), std::fmt::Error> {
    let integral = value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0;
    match (kind, integral) {
        (Kind::Counter, true) if value >= 0.0 => ConstCounter::new(value as u64).encode(encoder),
        (Kind::Counter, _) => ConstCounter::new(value.max(0.0)).encode(encoder),
        (Kind::Gauge, true) => ConstGauge::new(value as i64).encode(encoder),
        (Kind::Gauge, false) => ConstGauge::new(value).encode(encoder),
    }
}

/// The registry's text, as Prometheus scrapes it.
pub fn render(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, registry) {
        // Only a collector's own formatting error gets here; say so in the exposition.
        tracing::warn!(error = %e, "encoding metrics failed");
        text.push_str("# encoding failed\n# EOF\n");
    }
    text
}

/// `GET /metrics`: the registry in the text exposition format.
pub fn route(
    registry: Arc<Registry>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("metrics").and(warp::get()).map(move || {
        warp::reply::with_header(render(&registry), CONTENT_TYPE, CONTENT_TYPE_OPENMETRICS)
            .into_response()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ROUTES: &[Route] = &[
        Route::get("/products"),
        Route::get("/products/:name"),
        Route::post("/orders"),
        Route::get("/orders/:n"),
        Route::get("/"),
    ];

    #[test]
    fn routes_are_templates_and_unknown_paths_are_other() {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, &[ROUTES]);
        let route_of = |path| template_of(path, ROUTES);
        assert_eq!(route_of("/products/Tux"), "/products/:name");
        assert_eq!(route_of("/products"), "/products");
        assert_eq!(route_of("/products/"), "other");
        assert_eq!(route_of("/orders/7"), "/orders/:n");
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of("/a/b/c"), "other");
        assert_eq!(route_of("/orders/7/x"), "other");
        let allow_of = |path| http.route(path).map(|r| r.allow);
        assert_eq!(allow_of("/orders"), Some("POST"));
        assert_eq!(allow_of("/orders/7"), Some("GET"));
        assert_eq!(allow_of("/a/b/c"), None);
    }

    #[test]
    fn http_and_sampled_metrics_render_as_text() {
        let mut registry = Registry::default();
        const X: &[Route] = &[Route::get("/x/:y")];
        let http = HttpMetrics::register(&mut registry, &[X]);
        registry.register_collector(Box::new(Sampled(|| {
            vec![
                Sample::gauge("toystore_test_gauge", "a gauge", 3.0),
                Sample::gauge_by("toystore_stock", "stock", "toy", [("Tux".into(), 5.0)]),
                Sample::counter("toystore_test_things", "things", 2.0),
            ]
        })));
        http.observe(
            template_of("/x/secret-name", X),
            "GET",
            200,
            Duration::from_millis(3),
        );
        let text = render(&registry);
        assert!(
            text.contains(
                r#"toystore_http_requests_total{route="/x/:y",method="GET",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(!text.contains("secret-name"));
        assert!(text.contains("toystore_http_request_duration_seconds_bucket"));
        assert!(text.contains("toystore_test_gauge 3"), "{text}");
        assert!(text.contains(r#"toystore_stock{toy="Tux"} 5"#), "{text}");
        assert!(text.contains("toystore_test_things_total 2"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
