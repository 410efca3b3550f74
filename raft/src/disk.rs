//! [`Disk`]: the free space on the filesystem of a replica's file, watched ([`watch`]), and
//! the reserve below which the replica writes nothing new (docs/DESIGN.md, "Disks").
//!
//! A commit that meets a full disk fails, and openraft stops a node whose storage failed for
//! good. So a replica never lets its disk get that far: while the free space is below the
//! reserve (`[order] disk_reserve`) it is *low*, and
//!
//! - its proposer refuses new writes with `insufficient disk space` (a 503; reads go on);
//! - it takes no entries or snapshots from a leader (its append and snapshot routes answer
//!   503, which the leader's network counts as unreachable): to the group it is down, and
//!   the leader catches it up once space is back;
//! - its `/health` says why (`storage`), is not `ready`, and as a leader it reports itself
//!   `isolated` (front-ends stop using it; under the `frontend` policy they ask a ready
//!   replica to campaign) and sends no heartbeats (under the `raft` policy the others elect
//!   one of themselves). It learns of the new leader when it takes entries again. Nor does
//!   it campaign: hearing nothing from its leader meanwhile, it would come back with a
//!   higher term and depose it.
//!
//! Once space is above the reserve again it goes back to all of that by itself. The reserve
//! covers what is already on its way when the disk fills (a group commit, a vote, a
//! leader's blank entry) with room to spare; the watch looks every [`EVERY`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the free space is read.
pub const EVERY: Duration = Duration::from_millis(100);

/// The free space under one file, as last read, and its reserve.
#[derive(Debug)]
pub struct Disk {
    file: PathBuf,
    reserve: u64,
    free: AtomicU64,
    low: AtomicBool,
}

/// Why a low replica refuses a write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "insufficient disk space: {} free under {}, {} kept in reserve",
    mb(*free),
    file.display(),
    mb(*reserve)
)]
pub struct Low {
    /// Free bytes when last read.
    pub free: u64,
    /// The reserve.
    pub reserve: u64,
    /// The file whose disk it is.
    pub file: PathBuf,
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Bytes available to an unprivileged writer on the filesystem holding `path` (a symbolic
/// link is followed, so a file linked onto another disk is measured there).
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    Ok(stat.blocks_available().saturating_mul(stat.fragment_size()))
}

impl Disk {
    /// Watches the disk of `file` with `reserve` bytes kept free; reads it once now (an
    /// unreadable disk counts as not low until a read says otherwise).
    pub fn new(file: &Path, reserve: u64) -> Arc<Self> {
        let disk = Arc::new(Self {
            file: file.to_path_buf(),
            reserve,
            free: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
        });
        disk.refresh();
        disk
    }

    /// `Err(Low)` while the free space is below the reserve.
    pub fn check(&self) -> Result<(), Low> {
        if self.is_low() {
            Err(self.low_now())
        } else {
            Ok(())
        }
    }

    /// Whether the free space is below the reserve.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Acquire)
    }

    /// Free bytes when last read (`u64::MAX` before a read succeeded).
    pub fn free(&self) -> u64 {
        self.free.load(Ordering::Relaxed)
    }

    /// Logs that the disk is low and what the replica does about it.
    fn say_low(&self) {
        tracing::error!(
            file = %self.file.display(),
            free = self.free(),
            reserve = self.reserve,
            "{}: refusing writes and entries, not leading, until space is freed",
            self.low_now()
        );
    }

    fn low_now(&self) -> Low {
        Low {
            free: self.free(),
            reserve: self.reserve,
            file: self.file.clone(),
        }
    }

    /// Reads the free space again; returns whether it is low now if that changed.
    fn refresh(&self) -> Option<bool> {
        let free = match free_bytes(&self.file) {
            Ok(free) => free,
            Err(e) => {
                tracing::debug!(file = %self.file.display(), error = %e, "cannot read the free space");
                return None;
            }
        };
        self.free.store(free, Ordering::Relaxed);
        let low = free < self.reserve;
        (self.low.swap(low, Ordering::AcqRel) != low).then_some(low)
    }
}

/// Reads `disk` every [`EVERY`] until `stop`; when it turns low or back, logs it and tells
/// `on_change` (the node stops or restarts its heartbeats). A disk already low when the
/// watch starts (a replica started on a full disk) is told at once.
pub async fn watch(disk: Arc<Disk>, on_change: impl Fn(bool) + Send, stop: CancellationToken) {
    if disk.is_low() {
        disk.say_low();
        on_change(true);
    }
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let probe = disk.clone();
        let Ok(changed) = tokio::task::spawn_blocking(move || probe.refresh()).await else {
            continue;
        };
        match changed {
            Some(true) => {
                disk.say_low();
                on_change(true);
            }
            Some(false) => {
                tracing::warn!(
                    file = %disk.file.display(),
                    free = disk.free(),
                    "disk space is back above the reserve: taking writes and entries again"
                );
                on_change(false);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_is_low_below_its_reserve() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let free = free_bytes(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert!(free > 0);
        let roomy = Disk::new(dir.path(), 0);
        assert_eq!(roomy.check(), Ok(()));
        // A missing file is measured where it would be: its directory does not exist
        // either here, so the read fails and the disk is not called low.
        let unmeasured = Disk::new(&dir.path().join("missing/x"), u64::MAX);
        assert!(!unmeasured.is_low());
        let low = Disk::new(dir.path(), u64::MAX);
        let refused = low.check().unwrap_err();
        assert_eq!(refused.reserve, u64::MAX);
        assert!(refused.to_string().starts_with("insufficient disk space: "));
    }
}
