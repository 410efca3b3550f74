//! A replica's Prometheus metrics: HTTP requests by route (through
//! [`toystore_http::metrics::HttpMetrics`]); the proposer's commit latency and batch size;
//! the buy path's stages this replica times ([`toystore_http::stages`]);
//! and at each scrape the Raft state from `raft.metrics()` (term, leader, log, commit and
//! applied indexes, per-follower lag), the order log's length and the completer's checkpoint.
//!
//! openraft 0.9 does not report the commit index itself; on the leader it is derived from
//! the replication progress (the highest index a majority of voters holds, the leader's own
//! log included), and followers report none.

use crate::replica::Replica;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use toystore_config::ReplicaId;
use toystore_http::metrics::{HttpMetrics, Route, Sample, Sampled};

/// A replica's routes, as metrics label them, and the methods each answers (a 405's `Allow`).
const ROUTES: &[Route] = &[
    Route::get("/health"),
    Route::get("/metrics"),
    Route::post("/internal/orders"),
    Route::get("/internal/orders/:number"),
    Route::post("/internal/raft/append"),
    Route::post("/internal/raft/vote"),
    Route::post("/internal/raft/snapshot"),
    Route::post("/internal/raft/position"),
    Route::post("/internal/raft/campaign"),
];

/// A registry with the replica's metrics, and the HTTP metrics to serve with.
pub fn registry(replica: Arc<Replica>) -> (Registry, HttpMetrics) {
    let mut registry = Registry::default();
    let http = HttpMetrics::register(&mut registry, ROUTES);
    let proposals = replica.proposal_metrics().clone();
    registry.register(
        "toystore_order_commit_seconds",
        "Time for a proposal of purchases to commit on a majority and apply (leader)",
        proposals.commit_seconds,
    );
    registry.register(
        "toystore_order_batch_size",
        "Purchases per Raft entry (leader's group commit)",
        proposals.batch_size,
    );
    replica.stages().register(&mut registry);
    registry.register_collector(Box::new(Sampled(move || samples(&replica))));
    (registry, http)
}

fn samples(replica: &Replica) -> Vec<Sample> {
    let status = replica.status();
    let m = replica.raft().metrics().borrow().clone();
    let last = status.last_log_index.unwrap_or(0);
    let mut out = vec![
        Sample::log_commits(replica.store().event_log().commits().by_kind()),
        Sample::counter(
            "toystore_snapshot_events_sent",
            "Events this replica sent to lagging replicas in snapshot transfers",
            replica.transfers().events_sent.load(Ordering::Relaxed) as f64,
        ),
        Sample::counter(
            "toystore_snapshot_events_received",
            "Events this replica received in snapshot transfers (only those it lacked)",
            replica.transfers().events_received.load(Ordering::Relaxed) as f64,
        ),
        Sample::counter(
            "toystore_snapshots_installed",
            "Snapshots this replica installed from a leader",
            replica.transfers().installed.load(Ordering::Relaxed) as f64,
        ),
        Sample::gauge(
            "toystore_order_log_length",
            "Orders in this replica's event log (its last sequence number)",
            status.last_seq.0 as f64,
        ),
        Sample::gauge(
            "toystore_completer_checkpoint",
            "The catalog seq up to which every purchase has an order here (where the completer resumes)",
            replica.completer_checkpoint().0 as f64,
        ),
        Sample::gauge(
            "toystore_raft_term",
            "The current Raft term",
            status.term as f64,
        ),
        Sample::gauge(
            "toystore_raft_leader",
            "The leader this replica knows of (0: none)",
            status.leader.map_or(0.0, f64::from),
        ),
        Sample::gauge(
            "toystore_raft_is_leader",
            "1 if this replica leads",
            f64::from(u8::from(status.role == toystore_order_api::Role::Leader)),
        ),
        Sample::gauge(
            "toystore_raft_last_log_index",
            "The index of the last entry in this replica's Raft log",
            last as f64,
        ),
        Sample::gauge(
            "toystore_raft_applied_index",
            "The index of the last entry applied to the state machine",
            status.applied.unwrap_or(0) as f64,
        ),
    ];
    if let Some(replication) = &m.replication {
        let matched: BTreeMap<ReplicaId, u64> = replication
            .iter()
            .map(|(id, log)| (*id, log.map_or(0, |l| l.index)))
            .collect();
        let voters: Vec<ReplicaId> = m.membership_config.membership().voter_ids().collect();
        out.push(Sample::gauge(
            "toystore_raft_commit_index",
            "The highest index a majority of voters holds (leader only)",
            commit_index(&voters, &matched) as f64,
        ));
        out.push(Sample::gauge_by(
            "toystore_raft_follower_lag",
            "Entries the leader has that each follower does not yet hold (leader only)",
            "follower",
            matched
                .iter()
                .filter(|(id, _)| **id != m.id)
                .map(|(id, index)| (id.to_string(), last.saturating_sub(*index) as f64)),
        ));
    }
    out
}

/// The highest index held by a majority of `voters`, given each one's matched index.
fn commit_index(voters: &[ReplicaId], matched: &BTreeMap<ReplicaId, u64>) -> u64 {
    let mut held: Vec<u64> = voters
        .iter()
        .map(|v| matched.get(v).copied().unwrap_or(0))
        .collect();
    if held.is_empty() {
        return 0;
    }
    held.sort_unstable_by(|a, b| b.cmp(a));
    held[held.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(path: &str) -> &'static str {
        toystore_http::metrics::template_of(path, ROUTES)
    }

    #[test]
    fn commit_index_is_what_a_majority_holds() {
        let matched = BTreeMap::from([(1, 10), (2, 7), (3, 3)]);
        assert_eq!(commit_index(&[1, 2, 3], &matched), 7);
        assert_eq!(commit_index(&[1, 2, 3, 4, 5], &matched), 3);
        assert_eq!(commit_index(&[1], &matched), 10);
        assert_eq!(commit_index(&[], &matched), 0);
    }

    #[test]
    fn order_numbers_in_paths_are_templates() {
        assert_eq!(route_of("/internal/orders/7"), "/internal/orders/:number");
        assert_eq!(route_of("/internal/raft/append"), "/internal/raft/append");
    }
}
