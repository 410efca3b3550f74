//! A replica's Prometheus metrics: HTTP requests by route (through
//! [`toystore_http::metrics::HttpMetrics`], the Raft routes included); what every Raft
//! replica shows ([`toystore_raft::metrics`]: the proposer's commit latency and batch size,
//! the Raft state, per-follower lag, snapshot transfers); the buy path's stages this replica
//! times ([`toystore_http::stages`]); and at each scrape the order log's length, its commits
//! by kind and the completer's checkpoint.

use crate::replica::Replica;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use toystore_http::metrics::{HttpMetrics, Route, Sample, Sampled};

/// A replica's own routes, as metrics label them, and the methods each answers (a 405's
/// `Allow`); the Raft routes are [`toystore_raft::metrics::ROUTES`].
const ROUTES: &[Route] = &[
    Route::get("/health"),
    Route::get("/ready"),
    Route::get("/metrics"),
    Route::post("/internal/orders"),
    Route::get("/internal/orders/:number"),
    Route::post("/internal/raft/campaign"),
];

/// A registry with the replica's metrics, and the HTTP metrics to serve with.
pub fn registry(replica: Arc<Replica>) -> (Registry, HttpMetrics) {
    let mut registry = Registry::default();
    let http = HttpMetrics::register(&mut registry, &[ROUTES, toystore_raft::metrics::ROUTES]);
    toystore_raft::metrics::register_proposals(&mut registry, "order", replica.proposal_metrics());
    replica.stages().register(&mut registry);
    registry.register_collector(Box::new(Sampled(move || samples(&replica))));
    (registry, http)
}

fn samples(replica: &Replica) -> Vec<Sample> {
    let mut out = toystore_raft::metrics::samples(replica.node());
    out.extend([
        Sample::log_commits(replica.store().event_log().commits().by_kind()),
        Sample::gauge(
            "toystore_order_log_length",
            "Orders in this replica's event log (its last sequence number)",
            replica.store().event_log().last_seq().0 as f64,
        ),
        Sample::gauge(
            "toystore_completer_checkpoint",
            "The catalog seq up to which every purchase has an order here (where the completer resumes)",
            replica.completer_checkpoint().0 as f64,
        ),
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(path: &str) -> &'static str {
        toystore_http::metrics::template_of(path, ROUTES)
    }

    #[test]
    fn order_numbers_in_paths_are_templates() {
        assert_eq!(route_of("/internal/orders/7"), "/internal/orders/:number");
        assert_eq!(
            route_of("/internal/raft/campaign"),
            "/internal/raft/campaign"
        );
    }
}
