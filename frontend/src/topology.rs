//! The front-end's side of a topology change: a change to the replicas of the cluster file
//! (added, moved, removed) replaces its replica list without a restart. The watching itself
//! is `toystore_config::watch`.

use crate::leader::LeaderTracker;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use toystore_config::ClusterConfig;

/// The replica list of a cluster file as (id, base URL), the scheme this process's (set at
/// start-up: a `[tls]` added to or removed from the file later does not change it).
pub fn members(config: &ClusterConfig) -> Vec<(u32, String)> {
    config
        .replicas
        .iter()
        .map(|r| (r.id, toystore_http::tls::base_url(&r.addr)))
        .collect()
}

/// Watches `path` until `stop`, applying replica changes to `replicas`.
pub fn watch(path: PathBuf, replicas: Arc<LeaderTracker>, stop: CancellationToken) {
    toystore_config::watch::watch_cluster_file(path, stop, move |config| {
        let new = members(&config);
        match replicas.set_members(&new) {
            Ok(true) => tracing::info!(replicas = ?new, "topology changed"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "topology change refused"),
        }
    });
}
