//! Watching the cluster file: a change to the replicas (added, moved, removed) is applied
//! without a restart.
//!
//! The file's directory is watched (editors and `tools` replace files by renaming, which a
//! watch on the file itself would lose); events for the file are debounced, the file is
//! re-read, and a valid new replica list replaces the old one. An invalid file is logged
//! and ignored: the running topology stays.

use crate::leader::Replicas;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_net::ClusterConfig;

/// Quiet time after a change before the file is re-read.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// The replica list of a cluster file as (id, base URL).
pub fn members(config: &ClusterConfig) -> Vec<(u32, String)> {
    config
        .replicas
        .iter()
        .map(|r| (r.id, format!("http://{}", r.addr)))
        .collect()
}

/// Watches `path` until `stop`, applying replica changes to `replicas`.
pub fn watch(
    path: PathBuf,
    replicas: Arc<Replicas>,
    stop: CancellationToken,
) -> notify::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let file_name = path.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            if event
                .paths
                .iter()
                .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name)
            {
                let _ = tx.send(());
            }
        }
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(async move {
        let _watcher = watcher;
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { return },
                () = stop.cancelled() => return,
            }
            // Debounce: wait until the file has been quiet for a moment.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            match ClusterConfig::load(&path) {
                Ok(config) => {
                    let new = members(&config);
                    match replicas.set_members(&new) {
                        Ok(true) => tracing::info!(replicas = ?new, "topology changed"),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(error = %e, "topology change refused"),
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster file changed but is invalid; keeping the running topology")
                }
            }
        }
    });
    Ok(())
}
