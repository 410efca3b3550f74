//! [`raw_append`]: the disk ceiling of durable appends on this machine.
//!
//! A loop that does nothing but what every acknowledged write of the store must do at least
//! once: insert into a redb table and commit with `Durability::Immediate`. No writer thread,
//! no projection, no encoding, no network. `tools bench baseline` runs it beside the store's
//! own scenarios, so a purchase's cost can be read as a multiple of raw commits on the same
//! disk at the same moment. (A benchmark, so it lives with the benchmarks, not in the
//! storage library.)

use anyhow::Context;
use redb::{Database, Durability, TableDefinition};
use std::path::Path;
use std::time::{Duration, Instant};

const CEILING: TableDefinition<'static, u64, &'static [u8]> = TableDefinition::new("ceiling");

/// What [`raw_append`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendCeiling {
    /// Values appended per transaction.
    pub per_commit: usize,
    /// Transactions committed.
    pub commits: u64,
    /// Values appended in all.
    pub appends: u64,
    /// How long the loop ran.
    pub elapsed: Duration,
    /// Each commit's latency (insert + durable commit), in microseconds.
    pub commit_latencies_us: Vec<u64>,
}

impl AppendCeiling {
    /// Durable appends per second.
    pub fn appends_per_sec(&self) -> f64 {
        self.appends as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Appends `per_commit` values of `value_len` bytes per durable transaction to a new redb
/// file at `path` for `duration`, and removes the file afterwards.
pub fn raw_append(
    path: &Path,
    per_commit: usize,
    value_len: usize,
    duration: Duration,
) -> anyhow::Result<AppendCeiling> {
    let per_commit = per_commit.max(1);
    let result = append_loop(path, per_commit, value_len, duration);
    let _ = std::fs::remove_file(path);
    result
}

fn append_loop(
    path: &Path,
    per_commit: usize,
    value_len: usize,
    duration: Duration,
) -> anyhow::Result<AppendCeiling> {
    let db = Database::create(path).with_context(|| format!("creating {}", path.display()))?;
    let value = vec![0x5a_u8; value_len];
    let mut next: u64 = 0;
    let mut latencies = Vec::new();
    let start = Instant::now();
    while start.elapsed() < duration {
        let began = Instant::now();
        let mut tx = db.begin_write().context("beginning a transaction")?;
        tx.set_durability(Durability::Immediate)
            .context("asking for durable commits")?;
        {
            let mut table = tx.open_table(CEILING).context("opening the table")?;
            for _ in 0..per_commit {
                next += 1;
                table
                    .insert(next, value.as_slice())
                    .context("inserting a value")?;
            }
        }
        tx.commit().context("committing")?;
        latencies.push(u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
    Ok(AppendCeiling {
        per_commit,
        commits: latencies.len() as u64,
        appends: next,
        elapsed: start.elapsed(),
        commit_latencies_us: latencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_in_batches_and_removes_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ceiling.redb");
        let c = raw_append(&path, 8, 64, Duration::from_millis(50)).expect("append loop");
        assert!(c.commits >= 1);
        assert_eq!(c.appends, c.commits * 8);
        assert_eq!(c.commit_latencies_us.len() as u64, c.commits);
        assert!(c.appends_per_sec() > 0.0);
        assert!(!path.exists(), "the ceiling file is removed");
    }
}
