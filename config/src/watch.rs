//! Watching the cluster file: [`watch_cluster_file`] calls back with every valid new version.
//!
//! The file's directory is watched (editors and `tools` replace files by renaming, which a
//! watch on the file itself would lose); changes to the file (not reads of it) are
//! debounced, the file is re-read, and a valid file that differs from the last one handed
//! over is handed to the callback. An invalid file is logged and
//! ignored: the running topology stays. The front-end applies the new replica list to its
//! address book; an order replica to its peers' addresses and, on the leader, to the Raft
//! membership.

use crate::cluster::ClusterConfig;
use notify::{EventKind, RecursiveMode, Watcher};
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
            // Only changes: reading the file (our own reload included) is an access event,
            // which would otherwise trigger a reload for ever.
            let changed = matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            );
            if changed
                && event
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
        let mut applied: Option<ClusterConfig> = None;
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { return },
                () = stop.cancelled() => return,
            }
            // Debounce: wait until the file has been quiet for a moment.
            while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            match ClusterConfig::load(&path) {
                // An unchanged file (touched, or rewritten as it was) changes nothing.
                Ok(config) if applied.as_ref() != Some(&config) => {
                    applied = Some(config.clone());
                    on_change(config);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cluster file changed but is invalid; keeping the running topology")
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Waits until `calls` stays at `want` for a while (well past the debounce).
    async fn settles_at(calls: &AtomicUsize, want: usize) {
        for _ in 0..200 {
            if calls.load(Ordering::SeqCst) == want {
                tokio::time::sleep(DEBOUNCE * 5).await;
                if calls.load(Ordering::SeqCst) == want {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} calls, expected {want}", calls.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_change_calls_back_once_and_reads_or_rewrites_as_it_was_do_not() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("toystore.toml");
        let mut config = ClusterConfig::default();
        std::fs::write(&path, config.to_toml()).unwrap_or_else(|e| panic!("{e}"));
        let calls = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let counted = calls.clone();
        watch_cluster_file(path.clone(), stop.clone(), move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap_or_else(|e| panic!("{e}"));

        config.catalog.stock = 7;
        std::fs::write(&path, config.to_toml()).unwrap_or_else(|e| panic!("{e}"));
        settles_at(&calls, 1).await;
        // Reading the file, as every reload does, is not a change.
        for _ in 0..5 {
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        }
        settles_at(&calls, 1).await;
        // Nor is writing it again as it was.
        std::fs::write(&path, config.to_toml()).unwrap_or_else(|e| panic!("{e}"));
        settles_at(&calls, 1).await;
        stop.cancel();
    }
}
