//! The front-end's Prometheus metrics: HTTP requests by route (through
//! [`toystore_http::metrics::HttpMetrics`]), its call to the order service as a stage of the
//! buy path ([`toystore_http::stages`]), and at each scrape the cache's counters and the
//! leader in use and the browsers following `/events`, read from the state the front-end
//! already keeps.

use crate::relay::Relay;
use crate::state::Frontend;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use toystore_http::metrics::{HttpMetrics, Route, Sample, Sampled};

/// The front-end's routes, as metrics label them, and the methods each answers (a 405's `Allow`).
const ROUTES: &[Route] = &[
    Route::get("/"),
    Route::get("/health"),
    Route::get("/metrics"),
    Route::get("/internal/metrics"),
    Route::get("/products"),
    Route::get("/products/:name"),
    Route::post("/orders"),
    Route::get("/orders/:number"),
    Route::get("/events"),
    Route::get("/cluster"),
    Route::get("/cluster/status"),
    Route::get("/assets/:file"),
    Route::get("/openapi.json"),
];

/// A registry with the front-end's metrics, and the HTTP metrics to serve with.
pub fn registry(frontend: Arc<Frontend>, relay: Arc<Relay>) -> (Registry, HttpMetrics) {
    let mut registry = Registry::default();
    let http = HttpMetrics::register(&mut registry, &[ROUTES]);
    frontend.stages().register(&mut registry);
    registry.register_collector(Box::new(Sampled(move || {
        let mut out = samples(&frontend);
        out.push(Sample::gauge(
            "toystore_frontend_event_listeners",
            "Browsers following /events",
            relay.listeners() as f64,
        ));
        out
    })));
    (registry, http)
}

fn samples(frontend: &Frontend) -> Vec<Sample> {
    let mut out = Vec::new();
    if let Some(c) = frontend.cache_stats() {
        out.extend([
            Sample::counter(
                "toystore_cache_hits",
                "Product queries answered from the cache",
                c.hits as f64,
            ),
            Sample::counter(
                "toystore_cache_misses",
                "Product queries that went to the catalog",
                c.misses as f64,
            ),
            Sample::counter(
                "toystore_cache_evictions",
                "Cache entries removed by LRU replacement",
                c.evictions as f64,
            ),
            Sample::counter(
                "toystore_cache_invalidations",
                "Cache entries removed by the catalog's invalidations",
                c.invalidations as f64,
            ),
            Sample::counter(
                "toystore_cache_stale_inserts_refused",
                "Catalog answers not cached because a newer invalidation had arrived",
                c.stale_inserts_refused as f64,
            ),
            Sample::gauge(
                "toystore_cache_entries",
                "Products held in the cache",
                c.entries as f64,
            ),
            Sample::gauge(
                "toystore_cache_capacity",
                "The cache's capacity",
                c.capacity as f64,
            ),
            Sample::gauge(
                "toystore_cache_active",
                "1 while the cache serves, 0 while the invalidation stream is down",
                f64::from(u8::from(c.active)),
            ),
            Sample::counter(
                "toystore_cache_suspensions",
                "Times the cache stopped serving because the invalidation stream broke or went silent",
                c.suspensions as f64,
            ),
        ]);
    }
    let leader = frontend.replicas().current();
    out.push(Sample::gauge(
        "toystore_frontend_leader",
        "The id of the order replica purchases go to (0: none known)",
        leader.as_ref().map_or(0.0, |l| f64::from(l.client.id())),
    ));
    out.push(Sample::gauge(
        "toystore_frontend_leader_term",
        "The Raft term of that leader, as last seen in its health (0: not yet seen)",
        leader.as_ref().map_or(0.0, |l| l.term as f64),
    ));
    out.push(Sample::gauge(
        "toystore_frontend_replicas",
        "Order replicas in the front-end's topology",
        frontend.replicas().members().len() as f64,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(path: &str) -> &'static str {
        toystore_http::metrics::template_of(path, ROUTES)
    }

    #[test]
    fn names_and_numbers_in_paths_are_templates() {
        assert_eq!(route_of("/products/Tux"), "/products/:name");
        assert_eq!(route_of("/orders/12"), "/orders/:number");
        assert_eq!(route_of("/orders"), "/orders");
        assert_eq!(route_of("/"), "/");
        assert_eq!(route_of("/nothing/here"), "other");
    }
}
