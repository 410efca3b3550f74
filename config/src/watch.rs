//! Watching the cluster file: [`watch_cluster_file`] calls back with every valid new version.
//!
//! The file is polled, not watched through inotify: every `POLL` its metadata (length,
//! modification time and, on Unix, inode, read through symlinks) is compared with what it
//! was. The cluster file's directory is usually also the replicas' data directory, and a
//! directory watch woke every process of the store for each page any replica wrote: about
//! 170 wake-ups per purchase across the seven processes, 60% of all their context switches
//! (docs/PERFORMANCE.md, "The cluster file polled"). A poll costs one `stat` per process
//! per `POLL`, and it also sees a file replaced by a rename (editors, `tools`) or a
//! symlink swap (a Kubernetes ConfigMap volume), which a watch on the file's name misses.
//!
//! A change is read once the metadata has held still for one poll, so a file being written
//! is not read half-way; a valid file that differs from the last one handed over is handed
//! to the callback. An invalid or missing file is logged once and ignored: the running
//! topology stays. The front-end applies the new replica list to its address book; a
//! replica (order or catalog) to its peers' addresses and, on the leader, to the Raft
//! membership. The rules are the plain function `step`, unit-tested here.

use crate::cluster::ClusterConfig;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often the file's metadata is read; a change is read after it held still for one.
const POLL: Duration = Duration::from_millis(100);

/// What the file looked like at one poll: `None` if it could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl Stamp {
    /// The stamp of `path` now (through symlinks), or `None` if it has none.
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        })
    }
}

/// The watch's memory between polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Polls {
    /// What the previous poll saw.
    last: Option<Stamp>,
    /// What the file looked like when it was last read (or when the watch began).
    read: Option<Stamp>,
}

impl Polls {
    /// A watch that begins with the file looking like `now`.
    fn new(now: Option<Stamp>) -> Self {
        Self {
            last: now,
            read: now,
        }
    }
}

/// One poll that saw `now`: whether to read the file now (it changed since it was last
/// read and held still since the previous poll), and the memory for the next poll.
fn step(polls: Polls, now: Option<Stamp>) -> (bool, Polls) {
    if now != polls.last {
        return (false, Polls { last: now, ..polls });
    }
    if now == polls.read {
        return (false, polls);
    }
    (
        true,
        Polls {
            last: now,
            read: now,
        },
    )
}

/// Polls `path` until `stop`, calling `on_change` with each valid version of the file
/// after it changed (call within a Tokio runtime). The file as it is now is the version
/// the caller already has.
pub fn watch_cluster_file(
    path: PathBuf,
    stop: CancellationToken,
    mut on_change: impl FnMut(ClusterConfig) + Send + 'static,
) {
    let mut polls = Polls::new(Stamp::of(&path));
    tokio::spawn(async move {
        let mut applied: Option<ClusterConfig> = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = stop.cancelled() => return,
            }
            let now = Stamp::of(&path);
            let read;
            (read, polls) = step(polls, now);
            if !read {
                continue;
            }
            if now.is_none() {
                tracing::warn!(path = %path.display(), "cluster file gone or unreadable; keeping the running topology");
                continue;
            }
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn stamp(len: u64) -> Option<Stamp> {
        Some(Stamp {
            len,
            modified: None,
            inode: 1,
        })
    }

    #[test]
    fn a_change_is_read_once_after_it_held_still_for_a_poll() {
        let polls = Polls::new(stamp(1));
        let (read, polls) = step(polls, stamp(1));
        assert!(!read, "unchanged");
        let (read, polls) = step(polls, stamp(2));
        assert!(!read, "just changed: it may still be being written");
        let (read, polls) = step(polls, stamp(3));
        assert!(!read, "still changing");
        let (read, polls) = step(polls, stamp(3));
        assert!(read, "held still for a poll");
        let (read, _) = step(polls, stamp(3));
        assert!(!read, "read once");
    }

    #[test]
    fn a_file_that_goes_and_comes_back_is_read_each_time_it_settles() {
        let polls = Polls::new(stamp(1));
        let (_, polls) = step(polls, None);
        let (read, polls) = step(polls, None);
        assert!(read, "gone: reported once");
        let (read, polls) = step(polls, None);
        assert!(!read);
        let (_, polls) = step(polls, stamp(1));
        let (read, _) = step(polls, stamp(1));
        assert!(read, "back, even as it was before");
    }

    /// A watch of `path` handing each new version's `catalog.stock` to the returned channel.
    fn watched(path: &Path, stop: &CancellationToken) -> mpsc::UnboundedReceiver<u32> {
        let (tx, rx) = mpsc::unbounded_channel();
        watch_cluster_file(path.to_path_buf(), stop.clone(), move |c| {
            let _ = tx.send(c.catalog.stock);
        });
        rx
    }

    /// The next version handed over (its stock), waiting for it.
    async fn next(rx: &mut mpsc::UnboundedReceiver<u32>) -> u32 {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(stock)) => stock,
            other => panic!("no new version handed over: {other:?}"),
        }
    }

    /// Nothing handed over for well past a poll's settling.
    async fn quiet(rx: &mut mpsc::UnboundedReceiver<u32>) {
        tokio::time::sleep(POLL * 5).await;
        if let Ok(stock) = rx.try_recv() {
            panic!("a version (stock {stock}) handed over for no change");
        }
    }

    fn write(path: &Path, config: &ClusterConfig) {
        std::fs::write(path, config.to_toml()).unwrap_or_else(|e| panic!("{e}"));
    }

    #[tokio::test]
    async fn a_change_calls_back_once_and_reads_or_rewrites_as_it_was_do_not() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("toystore.toml");
        let mut config = ClusterConfig::default();
        write(&path, &config);
        let stop = CancellationToken::new();
        let mut versions = watched(&path, &stop);

        config.catalog.stock = 7;
        write(&path, &config);
        assert_eq!(next(&mut versions).await, 7);
        quiet(&mut versions).await;
        // Reading the file, as every reload does, is not a change.
        for _ in 0..5 {
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        }
        quiet(&mut versions).await;
        // Nor is writing it again as it was.
        write(&path, &config);
        quiet(&mut versions).await;
        // Other files in its directory are not watched (a replica's data file).
        std::fs::write(dir.path().join("order-1.redb"), b"pages").unwrap_or_else(|e| panic!("{e}"));
        quiet(&mut versions).await;
        // A file replaced by a rename is seen.
        config.catalog.stock = 8;
        let staged = dir.path().join("toystore.toml.new");
        write(&staged, &config);
        std::fs::rename(&staged, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next(&mut versions).await, 8);
        stop.cancel();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlink_swapped_to_another_file_is_seen() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut config = ClusterConfig::default();
        let (first, second) = (dir.path().join("a.toml"), dir.path().join("b.toml"));
        write(&first, &config);
        config.catalog.stock = 9;
        write(&second, &config);
        let path = dir.path().join("toystore.toml");
        std::os::unix::fs::symlink(&first, &path).unwrap_or_else(|e| panic!("{e}"));
        let stop = CancellationToken::new();
        let mut versions = watched(&path, &stop);
        // As Kubernetes swaps a ConfigMap: a new link renamed over the old one.
        let link = dir.path().join("toystore.toml.link");
        std::os::unix::fs::symlink(&second, &link).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&link, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next(&mut versions).await, 9);
        stop.cancel();
    }
}
