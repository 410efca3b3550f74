//! Forging damaged log files, for tests of what must catch the damage (`tools replay`,
//! `tools diff`, the integrity check at open). Only with the `tamper` feature (and in this
//! crate's own tests); no service's code calls it (the harness's `corrupt` nemesis does).
//!
//! Every function works on a closed file and writes around the log's rules on purpose: an
//! event rewritten in place, a projection row changed without an event, a database that is
//! not a log at all.

use crate::schema::EVENTS;
use crate::table::WriteTables;
use crate::StoreError;
use redb::Database;
use std::path::Path;
use toystore_events::Seq;

/// Creates a database at `path` that is not a toystore log (it has no tables).
pub fn create_foreign(path: &Path) -> Result<(), StoreError> {
    drop(Database::create(path)?);
    Ok(())
}

/// Stores `bytes` as the event at `seq` (replacing or adding it), leaving the projection
/// as it was.
pub fn overwrite_event(path: &Path, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
    let db = Database::open(path)?;
    let tx = db.begin_write()?;
    tx.open_table(EVENTS)?.insert(seq.0, bytes)?;
    tx.commit()?;
    Ok(())
}

/// Flips the first byte of every occurrence of `pattern` in the (closed) file at `path`
/// and returns how many it flipped. Every one, because redb copies a page on write: a file
/// may also hold stale copies of a value in free pages, which no check reads, and the first
/// occurrence may be one of them.
pub fn flip_every(path: &Path, pattern: &[u8]) -> Result<usize, StoreError> {
    let mut bytes = std::fs::read(path)?;
    let at: Vec<usize> = bytes
        .windows(pattern.len())
        .enumerate()
        .filter(|(_, w)| *w == pattern)
        .map(|(i, _)| i)
        .collect();
    for i in &at {
        bytes[*i] ^= 0xff;
    }
    std::fs::write(path, bytes)?;
    Ok(at.len())
}

/// Runs `f` on the file's tables in one committed transaction, with no event appended.
pub fn with_tables<R>(
    path: &Path,
    f: impl FnOnce(&WriteTables<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let db = Database::open(path)?;
    let tx = db.begin_write()?;
    let out = f(&WriteTables::new(&tx))?;
    tx.commit()?;
    Ok(out)
}
