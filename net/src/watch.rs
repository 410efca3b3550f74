//! Watching the cluster file: [`watch_cluster_file`] calls back with every valid new version.
//!
//! The file's directory is watched (editors and `tools` replace files by renaming, which a
//! watch on the file itself would lose); events for the file are debounced, the file is
//! re-read, and a valid file is handed to the callback. An invalid file is logged and
//! ignored: the running topology stays. The front-end applies the new replica list to its
//! address book; an order replica to its peers' addresses and, on the leader, to the Raft
//! membership.

use crate::ClusterConfig;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Quiet time after a change before the file is re-read.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// Watches `path` until `stop`, calling `on_change` with each valid version of the file
/// after it changed (call within a Tokio runtime).
pub fn watch_cluster_file(
    path: PathBuf,
    stop: CancellationToken,
    mut on_change: impl FnMut(ClusterConfig) + Send + 'static,
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
                Ok(config) => on_change(config),
                Err(e) => {
                    tracing::warn!(error = %e, "cluster file changed but is invalid; keeping the running topology")
                }
            }
        }
    });
    Ok(())
}
