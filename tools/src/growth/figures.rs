//! The figures measured at one N ([`SizeResult`]) and the goals they are held to.

use super::snapshot::SnapshotFigures;
use serde::Serialize;
use toystore_harness::memory::Memory;

/// Start-up to ready with a million orders: at most this many seconds.
pub const GOAL_STARTUP_SECS: f64 = 2.0;
/// The log size the start-up goal is stated for.
pub const GOAL_STARTUP_ORDERS: u64 = 1_000_000;
/// Catch-up: at least this many orders per second.
pub const GOAL_CATCHUP_PER_SEC: f64 = 200_000.0;
/// `tools replay`: at least this many events per second.
pub const GOAL_REPLAY_PER_SEC: f64 = 1_000_000.0;
/// Every service's resident set: at most this many MB (10^6 bytes).
pub const GOAL_RSS_MB: f64 = 30.0;
/// A file: at most this factor of its events' bytes (keys and values).
pub const GOAL_FILE_FACTOR: f64 = 1.3;
/// Buys on a store holding N orders: at least this factor of an empty store's throughput.
pub const GOAL_BUY_THROUGHPUT_FACTOR: f64 = 0.9;
/// ... and at most this factor of its p99.
pub const GOAL_BUY_P99_FACTOR: f64 = 1.2;
/// "Flat": the peak resident set at the largest N at most this factor of the smallest N's.
pub const GOAL_RSS_FLAT_FACTOR: f64 = 1.2;

/// Writing the file.
#[derive(Debug, Clone, Serialize)]
pub struct GenerateFigures {
    /// Seconds to write it.
    pub secs: f64,
    /// Orders written per second.
    pub orders_per_sec: f64,
    /// Its size.
    pub file_bytes: u64,
    /// Seconds to build its snapshot once every order was applied (a reference: constant).
    pub snapshot_build_secs: f64,
    /// What its bytes hold.
    pub space: FileSpace,
}

/// What a replica's file holds, table by table, against its length.
#[derive(Debug, Clone, Serialize)]
pub struct FileSpace {
    /// The file's length.
    pub file_bytes: u64,
    /// The events' keys and values.
    pub event_bytes: u64,
    /// The pages of every table (keys and values, page headers, free space in them).
    pub page_bytes: u64,
    /// Each table.
    pub tables: Vec<TableFigures>,
}

impl FileSpace {
    /// The file's length over its events' bytes.
    pub fn factor(&self) -> f64 {
        self.file_bytes as f64 / self.event_bytes.max(1) as f64
    }
}

/// One table of a file.
#[derive(Debug, Clone, Serialize)]
pub struct TableFigures {
    /// Its name.
    pub name: String,
    /// Its rows.
    pub rows: u64,
    /// Its keys' and values' bytes.
    pub stored_bytes: u64,
    /// Its pages' bytes.
    pub page_bytes: u64,
}

/// `tools replay` of the generated file.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayFigures {
    /// Seconds.
    pub secs: f64,
    /// Events replayed.
    pub events: u64,
    /// Events per second.
    pub events_per_sec: f64,
    /// The stored projection equals the rebuilt one.
    pub consistent: bool,
}

/// `tools diff` of the three replicas' files after the catch-up.
#[derive(Debug, Clone, Serialize)]
pub struct DiffFigures {
    /// Seconds.
    pub secs: f64,
    /// Files compared.
    pub files: usize,
    /// They hold the same events.
    pub identical: bool,
    /// Their (first file's) last sequence number.
    pub last_seq: u64,
}

/// A replica started on a file of N orders, timed to `/health` saying ready.
#[derive(Debug, Clone, Serialize)]
pub struct StartFigures {
    /// Seconds from spawning the process to ready: the median of `samples`.
    pub secs: f64,
    /// Each start's seconds (the replica is stopped cleanly between starts).
    pub samples: Vec<f64>,
    /// `last_seq` when ready.
    pub last_seq: u64,
    /// Its memory when ready.
    pub memory: Memory,
}

/// A replica started with an empty file while two replicas hold N orders.
#[derive(Debug, Clone, Serialize)]
pub struct CatchupFigures {
    /// Seconds from spawning the process to `last_seq` = N (and ready).
    pub secs: f64,
    /// Seconds from spawning it to ready.
    pub ready_secs: f64,
    /// Its `last_seq` at the end.
    pub last_seq: u64,
    /// Orders per second over `secs`.
    pub orders_per_sec: f64,
    /// The size of the file it wrote.
    pub file_bytes: u64,
    /// What that file's bytes hold.
    pub space: FileSpace,
    /// Its memory once caught up.
    pub memory: Memory,
    /// The memory of the leader it caught up from, after streaming it the log.
    pub source_memory: Memory,
}

/// Buys through the whole store ([`super::buys`]).
#[derive(Debug, Clone, Serialize)]
pub struct BuyFigures {
    /// On an empty store, just before.
    pub empty: BuyRun,
    /// On the replicas holding N orders.
    pub full: BuyRun,
    /// On the replicas holding N orders again, with a backup of the leader taken during
    /// the measured window.
    pub with_backup: BackupRun,
}

/// A buy run during which a backup of the order leader was taken (`tools backup`'s own
/// code, [`crate::backup::from_replica`]).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BackupRun {
    /// The buys.
    pub run: BuyRun,
    /// Seconds the backup took (request to durable file).
    pub secs: f64,
    /// The backup file's size.
    pub bytes: u64,
    /// Events it holds.
    pub events: u64,
}

/// One buy run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BuyRun {
    /// Buys answered per second.
    pub buys_per_sec: f64,
    /// Latency percentiles, ms.
    pub p50_ms: f64,
    /// 99th.
    pub p99_ms: f64,
    /// 99.9th.
    pub p999_ms: f64,
    /// The longest buy, ms.
    pub max_ms: f64,
    /// Failed buys.
    pub errors: u64,
    /// Snapshots the replicas took during the run (changes of their current snapshot seen
    /// by polling every 100 ms).
    pub snapshots: u64,
}

/// Everything measured at one N.
#[derive(Debug, Clone, Serialize)]
pub struct SizeResult {
    /// N: orders in the log.
    pub orders: u64,
    /// The generator.
    pub generate: GenerateFigures,
    /// `tools replay`.
    pub replay: ReplayFigures,
    /// `tools diff`.
    pub diff: DiffFigures,
    /// A replica started with no other replica running.
    pub startup_alone: StartFigures,
    /// A replica started while one replica with the same log is ready.
    pub startup_with_peer: StartFigures,
    /// An empty replica catching up from two that hold N orders.
    pub catchup: CatchupFigures,
    /// Snapshot size and install time (`None` only in results of runs before openraft).
    pub snapshot: SnapshotFigures,
    /// The highest peak resident set (VmHWM) of any replica at the end, KiB.
    pub max_hwm_kib: u64,
    /// Buys on the store holding N orders and on an empty one (`None`: not measured).
    pub buys: Option<BuyFigures>,
}

impl SizeResult {
    /// Whether every check passed: the replicas reached N, replay is consistent, diff
    /// found identical files, the empty replica installed a snapshot of every order.
    pub fn sane(&self) -> bool {
        let n = self.orders;
        self.startup_alone.last_seq == n
            && self.startup_with_peer.last_seq == n
            && self.catchup.last_seq == n
            && self.replay.consistent
            && self.replay.events == n
            && self.diff.identical
            && self.diff.last_seq == n
            && self.snapshot.events == n
    }
}

/// Bytes as MB (10^6 bytes).
pub fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// KiB (as `/proc` reports memory) as MB.
pub fn mem_mb(kib: u64) -> f64 {
    mb(kib * 1024)
}
