//! [`LogFile`]: a log's file opened for inspection (by `tools replay`, `tools diff` and
//! `tools chaos`), without changing it.
//!
//! The file is opened read-only, so inspecting a replica never alters the bytes that
//! `tools diff` compares, and never stamps a kind into a file that is not a toystore log.
//! Its kind is read from the file itself, so the caller need not know it in advance. What can
//! go wrong is an [`InspectError`]:
//!
//! - the file does not exist, or is a directory;
//! - it is in use: a running service holds its lock (stop the service first);
//! - it is not a database at all, or a database that is not a toystore log;
//! - it cannot be read.
//!
//! A file whose last writer was killed (no clean shutdown) cannot be opened read-only: the
//! database must repair its allocator state first. Such a file is copied to a temporary
//! directory and the copy is repaired and read; the original is left as it was, and
//! [`LogFile::repaired`] says that this happened.
//!
//! A file opened read-only is read without a page cache (`READ_CACHE_BYTES`), so
//! scanning a log takes little memory whatever its size.

use crate::log::held_elsewhere;
use crate::schema::META;
use crate::table::ReadTables;
use redb::{
    Builder, Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, StorageError, TableError,
};
use std::path::{Path, PathBuf};

/// The database's page cache for a file opened read-only: none. Inspection scans a file's
/// tables once, in order (`tools replay`, `tools diff`, `tools chaos`), so a cache is never
/// hit again, and the database's default (1 GiB) would keep every page read, holding a whole
/// log in memory and costing an allocation of fresh memory per page (`tools diff` of three
/// 1M-event logs: 202 MB of peak RSS with it, 11.5 MB without; docs/PERFORMANCE.md).
const READ_CACHE_BYTES: usize = 0;

/// Why a file could not be opened for inspection.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// No such file.
    #[error("{0}: no such file")]
    Missing(PathBuf),
    /// A process holds the file (a running service).
    #[error("{0}: locked: the database is in use by a running service (stop its service first)")]
    Locked(PathBuf),
    /// Not a database at all.
    #[error("{path}: not a redb database ({reason})")]
    NotDatabase {
        /// The file.
        path: PathBuf,
        /// What the database said.
        reason: String,
    },
    /// A database, but not a toystore log.
    #[error("{path}: not a toystore log ({found})")]
    NotToystore {
        /// The file.
        path: PathBuf,
        /// What it holds instead.
        found: String,
    },
    /// The file exists but cannot be read.
    #[error("{path}: cannot read: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

enum Handle {
    ReadOnly(ReadOnlyDatabase),
    /// A repaired copy; the directory is removed when the handle is dropped.
    Repaired {
        db: Database,
        _dir: tempfile::TempDir,
    },
}

/// A toystore log opened read-only.
pub struct LogFile {
    path: PathBuf,
    kind: String,
    handle: Handle,
}

impl LogFile {
    /// Opens `path` and reads its kind.
    pub fn open(path: &Path) -> Result<Self, InspectError> {
        if !path.exists() {
            return Err(InspectError::Missing(path.to_path_buf()));
        }
        if path.is_dir() {
            return Err(unreadable(path, "is a directory"));
        }
        let opened = Builder::new()
            .set_cache_size(READ_CACHE_BYTES)
            .open_read_only(path);
        let handle = match opened {
            Ok(db) => Handle::ReadOnly(db),
            Err(DatabaseError::RepairAborted) => repaired_copy(path)?,
            Err(e) => return Err(open_error(path, e)),
        };
        let kind = read_kind(path, &handle)?;
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            handle,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The log's kind as recorded in the file (a [`toystore_events::LogEvent::KIND`]).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Whether the file had not been closed cleanly, so that a repaired copy was read.
    pub fn repaired(&self) -> bool {
        matches!(self.handle, Handle::Repaired { .. })
    }

    /// A read snapshot of the file's last commit: its events and projection tables.
    pub fn read(&self) -> Result<ReadTables, InspectError> {
        snapshot(&self.path, &self.handle)
    }
}

fn snapshot(path: &Path, handle: &Handle) -> Result<ReadTables, InspectError> {
    let tx = match handle {
        Handle::ReadOnly(db) => db.begin_read(),
        Handle::Repaired { db, .. } => db.begin_read(),
    };
    tx.map(ReadTables::new).map_err(|e| unreadable(path, e))
}

/// The log's kind as recorded in its `meta` table.
fn read_kind(path: &Path, handle: &Handle) -> Result<String, InspectError> {
    let not_toystore = |found: &str| InspectError::NotToystore {
        path: path.to_path_buf(),
        found: found.to_string(),
    };
    let tables = snapshot(path, handle)?;
    let meta = match tables.raw().open_table(META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => {
            return Err(not_toystore("a redb database with no meta table"))
        }
        Err(TableError::TableTypeMismatch { .. }) => {
            return Err(not_toystore("its meta table has another layout"))
        }
        Err(e) => return Err(unreadable(path, e)),
    };
    let kind = meta
        .get("kind")
        .map_err(|e| unreadable(path, e))?
        .map(|v| v.value().to_string());
    kind.ok_or_else(|| not_toystore("no kind recorded"))
}

fn unreadable(path: &Path, why: impl std::fmt::Display) -> InspectError {
    InspectError::Unreadable {
        path: path.to_path_buf(),
        reason: why.to_string(),
    }
}

/// Copies a file that needs repair to a temporary directory and opens the copy, which the
/// database repairs. The original is not written.
fn repaired_copy(path: &Path) -> Result<Handle, InspectError> {
    let dir = tempfile::tempdir().map_err(|e| unreadable(path, e))?;
    let copy = dir.path().join("repaired.redb");
    std::fs::copy(path, &copy).map_err(|e| unreadable(path, e))?;
    let db = Builder::new()
        .set_cache_size(READ_CACHE_BYTES)
        .open(&copy)
        .map_err(|e| open_error(path, e))?;
    Ok(Handle::Repaired { db, _dir: dir })
}

fn open_error(path: &Path, e: DatabaseError) -> InspectError {
    let path = path.to_path_buf();
    if held_elsewhere(&e) {
        return InspectError::Locked(path);
    }
    match e {
        DatabaseError::Storage(StorageError::Io(io)) => match io.kind() {
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData => {
                InspectError::NotDatabase {
                    path,
                    reason: io.to_string(),
                }
            }
            _ => InspectError::Unreadable {
                path,
                reason: io.to_string(),
            },
        },
        other => InspectError::NotDatabase {
            path,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{EventLog, NoProjection};
    use toystore_events::{OrderEvent, Seq};

    #[test]
    fn missing_text_and_kindless_files_are_refused_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.redb");
        assert!(matches!(
            LogFile::open(&missing),
            Err(InspectError::Missing(_))
        ));
        assert!(matches!(
            LogFile::open(dir.path()),
            Err(InspectError::Unreadable { .. })
        ));

        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello, this is not a database\n").unwrap();
        let err = LogFile::open(&text).err().unwrap();
        assert!(matches!(err, InspectError::NotDatabase { .. }), "{err}");

        let plain = dir.path().join("plain.redb");
        drop(Database::create(&plain).unwrap());
        let err = LogFile::open(&plain).err().unwrap();
        assert!(matches!(err, InspectError::NotToystore { .. }), "{err}");
        assert!(err.to_string().contains("not a toystore log"), "{err}");
    }

    #[test]
    fn reads_kind_and_events_and_refuses_a_file_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order.redb");
        let log = EventLog::open(&path, NoProjection).unwrap();
        log.append_blocking(vec![OrderEvent::OrderPlaced {
            number: 0.into(),
            request_id: "r0".try_into().unwrap(),
            name: "Tux".try_into().unwrap(),
            quantity: 2u32.try_into().unwrap(),
        }])
        .unwrap();
        assert!(matches!(LogFile::open(&path), Err(InspectError::Locked(_))));
        drop(log);
        let file = LogFile::open(&path).unwrap();
        assert_eq!(file.kind(), "toystore.order");
        assert!(!file.repaired());
        let tables = file.read().unwrap();
        assert_eq!(tables.last_seq().unwrap(), Seq(1));
        assert_eq!(tables.event_count().unwrap(), 1);
        let events: Vec<_> = tables
            .raw_events_after(Seq::ZERO)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(tables.raw_event(Seq(1)).unwrap(), Some(events[0].1.clone()));
        assert_eq!(tables.raw_event(Seq(2)).unwrap(), None);
    }
}
