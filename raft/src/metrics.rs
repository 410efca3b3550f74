//! What every Raft replica's `/metrics` shows, whatever its state machine (the order
//! replicas, the catalog replicas): the Raft routes' template ([`ROUTES`], for the HTTP
//! metrics), its proposer's histograms ([`register_proposals`]), and at each scrape its Raft
//! state and snapshot transfers ([`samples`]), read from `raft.metrics()` and the node's
//! counts, so no second copy is kept.
//!
//! openraft 0.9 does not report the commit index itself; on the leader it is derived from
//! the replication progress (the highest index a majority of voters holds, the leader's own
//! log included), and followers report none.

use crate::proposer::ProposalMetrics;
use crate::{Node, Types};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use toystore_config::ReplicaId;
use toystore_events::LogEvent;
use toystore_http::metrics::{Route, Sample};
use toystore_raft_api::Role;

/// The Raft routes between replicas ([`crate::routes`]), as metrics label them.
pub const ROUTES: &[Route] = &[
    Route::post("/internal/raft/append"),
    Route::post("/internal/raft/vote"),
    Route::post("/internal/raft/snapshot"),
    Route::post("/internal/raft/position"),
    Route::post("/internal/raft/pristine"),
    Route::post("/internal/raft/rejoin"),
    Route::get("/internal/raft/backup"),
];

/// Registers a leader's proposer histograms as `toystore_<service>_commit_seconds` and
/// `toystore_<service>_batch_size` (`service`: `order`, `catalog`).
pub fn register_proposals(registry: &mut Registry, service: &str, proposals: &ProposalMetrics) {
    registry.register(
        format!("toystore_{service}_commit_seconds"),
        "Time for a proposal to commit on a majority and apply (leader)",
        proposals.commit_seconds.clone(),
    );
    registry.register(
        format!("toystore_{service}_batch_size"),
        "Items per Raft entry (leader's group commit)",
        proposals.batch_size.clone(),
    );
}

/// The node's Raft state and snapshot transfers, as samples of a scrape.
pub fn samples<C: Types, E: LogEvent>(node: &Node<C, E>) -> Vec<Sample> {
    let status = node.status();
    let transfers = node.transfers();
    let last = status.last_log_index.unwrap_or(0);
    let mut out = vec![
        Sample::counter(
            "toystore_snapshot_events_sent",
            "Events this replica sent to lagging replicas in snapshot transfers",
            transfers.events_sent.load(Ordering::Relaxed) as f64,
        ),
        Sample::counter(
            "toystore_snapshot_events_received",
            "Events this replica received in snapshot transfers (only those it lacked)",
            transfers.events_received.load(Ordering::Relaxed) as f64,
        ),
        Sample::counter(
            "toystore_snapshots_installed",
            "Snapshots this replica installed from a leader",
            transfers.installed.load(Ordering::Relaxed) as f64,
        ),
        Sample::gauge(
            "toystore_disk_free_bytes",
            "Free bytes on the filesystem of this replica's file",
            node.disk().free() as f64,
        ),
        Sample::gauge(
            "toystore_disk_low",
            "1 while the free space is below the reserve: no writes, no entries, no leading",
            f64::from(u8::from(node.disk().is_low())),
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
            f64::from(u8::from(status.role == Role::Leader)),
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
    let metrics = node.raft().metrics();
    let m = metrics.borrow();
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

    #[test]
    fn commit_index_is_what_a_majority_holds() {
        let matched = BTreeMap::from([(1, 10), (2, 7), (3, 3)]);
        assert_eq!(commit_index(&[1, 2, 3], &matched), 7);
        assert_eq!(commit_index(&[1, 2, 3, 4, 5], &matched), 3);
        assert_eq!(commit_index(&[1], &matched), 10);
        assert_eq!(commit_index(&[], &matched), 0);
    }

    #[test]
    fn raft_paths_are_their_templates() {
        for path in ["/internal/raft/append", "/internal/raft/pristine"] {
            assert_eq!(toystore_http::metrics::template_of(path, ROUTES), path);
        }
    }
}
