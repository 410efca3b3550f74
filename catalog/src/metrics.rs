//! A catalog replica's Prometheus metrics: HTTP requests by route (through
//! [`toystore_http::metrics::HttpMetrics`], the Raft routes included); what every Raft
//! replica shows ([`toystore_raft::metrics`]: its buy proposer's commit latency and batch
//! size, the Raft state, per-follower lag, snapshot transfers); the buy path's stages this
//! replica times ([`toystore_http::stages`]); and at each scrape the stock per toy, the
//! purchases recorded, the log's position and its commits by kind, read from the replica's
//! own file and writer.

use crate::Catalog;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use toystore_http::metrics::{HttpMetrics, Route, Sample, Sampled};

/// The catalog's own routes, as metrics label them, and the methods each answers (a 405's `Allow`).
const ROUTES: &[Route] = &[
    Route::get("/health"),
    Route::get("/ready"),
    Route::get("/metrics"),
    Route::get("/internal/products"),
    Route::get("/internal/products/:name"),
    Route::post("/internal/buy"),
    Route::post("/internal/restock"),
    Route::get("/internal/events"),
];

/// A registry with the catalog's metrics, and the HTTP metrics to serve with.
pub fn registry(catalog: Arc<Catalog>) -> (Registry, HttpMetrics) {
    let mut registry = Registry::default();
    let http = HttpMetrics::register(&mut registry, &[ROUTES, toystore_raft::metrics::ROUTES]);
    toystore_raft::metrics::register_proposals(
        &mut registry,
        "catalog",
        catalog.proposal_metrics(),
    );
    catalog.stages().register(&mut registry);
    registry.register_collector(Box::new(Sampled(move || samples(&catalog))));
    (registry, http)
}

fn samples(catalog: &Catalog) -> Vec<Sample> {
    let mut out = toystore_raft::metrics::samples(catalog.node());
    out.extend([
        Sample::gauge(
            "toystore_catalog_last_seq",
            "The sequence number of the catalog's last event",
            catalog.log().last_seq().0 as f64,
        ),
        Sample::log_commits(catalog.log().commits().by_kind()),
    ]);
    // A read that fails (the file is being closed) leaves its families out of this scrape
    // rather than reporting a wrong zero.
    match catalog.local_products() {
        Ok((products, _)) => out.push(Sample::gauge_by(
            "toystore_catalog_stock",
            "Units in stock, per toy",
            "toy",
            products
                .into_iter()
                .map(|p| (String::from(p.name), f64::from(p.quantity))),
        )),
        Err(e) => tracing::warn!(error = %e, "reading the stock for metrics"),
    }
    match catalog.purchases() {
        Ok(n) => out.push(Sample::counter(
            "toystore_catalog_purchases",
            "Purchases recorded (one per request id)",
            n as f64,
        )),
        Err(e) => tracing::warn!(error = %e, "counting purchases for metrics"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(path: &str) -> &'static str {
        toystore_http::metrics::template_of(path, ROUTES)
    }

    #[test]
    fn toy_names_in_paths_are_templates() {
        assert_eq!(
            route_of("/internal/products/Tux"),
            "/internal/products/:name"
        );
        assert_eq!(route_of("/internal/buy"), "/internal/buy");
        assert_eq!(route_of("/metrics"), "/metrics");
    }
}
