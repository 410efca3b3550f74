//! [`LogFile`]: a service's redb event log opened for inspection (by `tools replay` and
//! `tools diff`), without changing it.
//!
//! The file is opened read-only ([`redb::ReadOnlyDatabase`]), so inspecting a replica never
//! alters the bytes that `tools diff` compares, and never stamps a kind into a file that is
//! not a toystore log. Its kind is read from the `meta` table, so the caller need not say
//! whether it is a catalog or an order log. What can go wrong is a [`LogFileError`]:
//!
//! - the file does not exist;
//! - it is in use: a running service holds redb's lock (stop the service first);
//! - it is not a redb database, or a redb database that is not a toystore log;
//! - it cannot be read.
//!
//! A file whose last writer was killed (no clean shutdown) cannot be opened read-only:
//! redb must repair its allocator state first. Such a file is copied to a temporary
//! directory and the copy is repaired and read; the original is left as it was, and
//! [`LogFile::repaired`] says that this happened.

use std::path::{Path, PathBuf};
use toystore_catalog::projection::CatalogProjection;
use toystore_events::{CatalogEvent, LogEvent, OrderEvent, Seq};
use toystore_order::projection::OrderProjection;
use toystore_store::redb::{
    self, Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition,
};
use toystore_store::{Projection, StoreError};

/// The events table of every log: sequence number → encoded event (as in `toystore-store`).
pub const EVENTS: TableDefinition<'static, u64, &'static [u8]> = TableDefinition::new("events");
/// The meta table of every log: `kind` → the log's kind.
pub const META: TableDefinition<'static, &'static str, &'static str> = TableDefinition::new("meta");

/// Which log a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The catalog's log ([`CatalogEvent`]).
    Catalog,
    /// An order replica's log ([`OrderEvent`]).
    Order,
}

impl Kind {
    /// The kind as written in the file's `meta` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Catalog => CatalogEvent::KIND,
            Kind::Order => OrderEvent::KIND,
        }
    }

    fn from_meta(kind: &str) -> Option<Self> {
        match kind {
            k if k == CatalogEvent::KIND => Some(Kind::Catalog),
            k if k == OrderEvent::KIND => Some(Kind::Order),
            _ => None,
        }
    }

    /// The projection's rows in `tx`, as canonical text lines.
    pub fn dump(self, tx: &ReadTransaction) -> Result<Vec<String>, StoreError> {
        match self {
            Kind::Catalog => Projection::<CatalogEvent>::dump(&CatalogProjection, tx),
            Kind::Order => Projection::<OrderEvent>::dump(&OrderProjection, tx),
        }
    }

    /// A readable rendering of one stored event (or why it does not decode).
    pub fn describe(self, bytes: &[u8]) -> String {
        let decoded = match self {
            Kind::Catalog => {
                toystore_events::decode::<CatalogEvent>(bytes).map(|e| format!("{e:?}"))
            }
            Kind::Order => toystore_events::decode::<OrderEvent>(bytes).map(|e| format!("{e:?}")),
        };
        decoded.unwrap_or_else(|e| format!("undecodable ({} bytes: {e})", bytes.len()))
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a file could not be opened for inspection.
#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    /// No such file.
    #[error("{0}: no such file")]
    Missing(PathBuf),
    /// A process holds the file (a running service).
    #[error("{0}: locked: the database is in use by a running service (stop its service first)")]
    Locked(PathBuf),
    /// Not a redb database at all.
    #[error("{path}: not a redb database ({reason})")]
    NotRedb {
        /// The file.
        path: PathBuf,
        /// What redb said.
        reason: String,
    },
    /// A redb database, but not a toystore log.
    #[error("{path}: not a toystore log ({found})")]
    NotToystore {
        /// The file.
        path: PathBuf,
        /// What it holds instead.
        found: String,
    },
    /// A log of a kind other than the one expected.
    #[error("{path}: a {found} log, expected a {expected} log")]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// The kind asked for.
        expected: Kind,
        /// The kind found.
        found: Kind,
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
    kind: Kind,
    handle: Handle,
}

impl LogFile {
    /// Opens `path` and reads its kind.
    pub fn open(path: &Path) -> Result<Self, LogFileError> {
        if !path.exists() {
            return Err(LogFileError::Missing(path.to_path_buf()));
        }
        if path.is_dir() {
            return Err(LogFileError::Unreadable {
                path: path.to_path_buf(),
                reason: "is a directory".into(),
            });
        }
        let handle = match ReadOnlyDatabase::open(path) {
            Ok(db) => Handle::ReadOnly(db),
            Err(redb::DatabaseError::RepairAborted) => repaired_copy(path)?,
            Err(e) => return Err(open_error(path, e)),
        };
        let mut file = Self {
            path: path.to_path_buf(),
            kind: Kind::Order,
            handle,
        };
        file.kind = file.read_kind()?;
        Ok(file)
    }

    /// Opens `path` and checks that it is a log of `expected` kind.
    pub fn open_kind(path: &Path, expected: Kind) -> Result<Self, LogFileError> {
        let file = Self::open(path)?;
        if file.kind != expected {
            return Err(LogFileError::WrongKind {
                path: path.to_path_buf(),
                expected,
                found: file.kind,
            });
        }
        Ok(file)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Which log it holds.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the file had not been closed cleanly, so that a repaired copy was read.
    pub fn repaired(&self) -> bool {
        matches!(self.handle, Handle::Repaired { .. })
    }

    /// A read transaction on the file's last commit.
    pub fn begin_read(&self) -> anyhow::Result<ReadTransaction> {
        let tx = match &self.handle {
            Handle::ReadOnly(db) => db.begin_read(),
            Handle::Repaired { db, .. } => db.begin_read(),
        };
        tx.map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display()))
    }

    fn read_kind(&self) -> Result<Kind, LogFileError> {
        let unreadable = |e: &dyn std::fmt::Display| LogFileError::Unreadable {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let not_toystore = |found: String| LogFileError::NotToystore {
            path: self.path.clone(),
            found,
        };
        let tx = self.begin_read().map_err(|e| unreadable(&e))?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => {
                return Err(not_toystore("a redb database with no meta table".into()))
            }
            Err(redb::TableError::TableTypeMismatch { .. }) => {
                return Err(not_toystore("its meta table has another layout".into()))
            }
            Err(e) => return Err(unreadable(&e)),
        };
        let kind = meta
            .get("kind")
            .map_err(|e| unreadable(&e))?
            .map(|v| v.value().to_string());
        match kind {
            Some(kind) => {
                Kind::from_meta(&kind).ok_or_else(|| not_toystore(format!("its kind is {kind:?}")))
            }
            None => Err(not_toystore("no kind recorded".into())),
        }
    }
}

/// Stored events in order, as `(seq, bytes)`.
pub type RawEvents = Box<dyn Iterator<Item = anyhow::Result<(Seq, Vec<u8>)>>>;

/// Every stored event of `tx` in order, as `(seq, bytes)`. An empty log has no events table
/// until its first open by a service, which is read as no events.
pub fn raw_events(tx: &ReadTransaction) -> anyhow::Result<RawEvents> {
    let table = match tx.open_table(EVENTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Box::new(std::iter::empty())),
        Err(e) => return Err(anyhow::anyhow!("events table: {e}")),
    };
    let range = table.range::<u64>(..)?;
    Ok(Box::new(range.map(|item| {
        item.map(|(k, v)| (Seq(k.value()), v.value().to_vec()))
            .map_err(|e| anyhow::anyhow!("reading events: {e}"))
    })))
}

/// The event stored at `seq`, if any.
pub fn event_at(tx: &ReadTransaction, seq: Seq) -> anyhow::Result<Option<Vec<u8>>> {
    let table = match tx.open_table(EVENTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(anyhow::anyhow!("events table: {e}")),
    };
    Ok(table.get(seq.0)?.map(|v| v.value().to_vec()))
}

/// The last stored sequence number (`Seq::ZERO` for an empty log).
pub fn last_seq(tx: &ReadTransaction) -> anyhow::Result<Seq> {
    let table = match tx.open_table(EVENTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Seq::ZERO),
        Err(e) => return Err(anyhow::anyhow!("events table: {e}")),
    };
    let last = table.last()?.map(|(k, _)| k.value()).unwrap_or(0);
    Ok(Seq(last))
}

/// Copies a file that needs repair to a temporary directory and opens the copy, which redb
/// repairs. The original is not written.
fn repaired_copy(path: &Path) -> Result<Handle, LogFileError> {
    let unreadable = |e: &dyn std::fmt::Display| LogFileError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = tempfile::tempdir().map_err(|e| unreadable(&e))?;
    let copy = dir.path().join("repaired.redb");
    std::fs::copy(path, &copy).map_err(|e| unreadable(&e))?;
    let db = Database::open(&copy).map_err(|e| open_error(path, e))?;
    Ok(Handle::Repaired { db, _dir: dir })
}

fn open_error(path: &Path, e: redb::DatabaseError) -> LogFileError {
    let path = path.to_path_buf();
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => LogFileError::Locked(path),
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => match io.kind() {
            std::io::ErrorKind::WouldBlock => LogFileError::Locked(path),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData => {
                LogFileError::NotRedb {
                    path,
                    reason: io.to_string(),
                }
            }
            _ => LogFileError::Unreadable {
                path,
                reason: io.to_string(),
            },
        },
        other => LogFileError::NotRedb {
            path,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn missing_text_and_kindless_files_are_refused_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.redb");
        assert!(matches!(
            LogFile::open(&missing),
            Err(LogFileError::Missing(_))
        ));

        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "hello, this is not a database\n").unwrap();
        let err = LogFile::open(&text).err().unwrap();
        assert!(matches!(err, LogFileError::NotRedb { .. }), "{err}");

        let plain = dir.path().join("plain.redb");
        drop(Database::create(&plain).unwrap());
        let err = LogFile::open(&plain).err().unwrap();
        assert!(matches!(err, LogFileError::NotToystore { .. }), "{err}");
        assert!(err.to_string().contains("not a toystore log"), "{err}");
    }

    #[test]
    fn reads_kind_events_and_projection_of_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order.redb");
        let log = toystore_store::EventLog::open(&path, OrderProjection).unwrap();
        log.append_blocking(vec![OrderEvent::OrderPlaced {
            number: 0,
            request_id: "r0".into(),
            name: "Tux".into(),
            quantity: 2,
        }])
        .unwrap();
        drop(log);
        let file = LogFile::open(&path).unwrap();
        assert_eq!(file.kind(), Kind::Order);
        assert!(!file.repaired());
        let tx = file.begin_read().unwrap();
        assert_eq!(last_seq(&tx).unwrap(), Seq(1));
        let events: Vec<_> = raw_events(&tx).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(events.len(), 1);
        assert!(Kind::Order.describe(&events[0].1).contains("Tux"));
        assert_eq!(
            Kind::Order.dump(&tx).unwrap(),
            vec![
                "order 0 name=\"Tux\" quantity=2".to_string(),
                "request \"r0\" order=0".to_string()
            ]
        );
        assert!(matches!(
            LogFile::open_kind(&path, Kind::Catalog),
            Err(LogFileError::WrongKind { .. })
        ));
    }
}
