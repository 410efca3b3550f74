//! [`LogFile`]: a service's log file opened for inspection (by `tools replay`, `tools diff`
//! and `tools chaos`), without changing it: the store's read-only
//! [`toystore_store::inspect::LogFile`], with its kind resolved to one of the store's two
//! logs ([`Kind`]), which knows how to show that log's events.

use std::path::{Path, PathBuf};
use toystore_events::{CatalogEvent, LogEvent, OrderEvent};
use toystore_store::inspect::{self, InspectError};
use toystore_store::ReadTables;

/// Which log a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The catalog's log ([`CatalogEvent`]).
    Catalog,
    /// An order replica's log ([`OrderEvent`]).
    Order,
}

impl Kind {
    /// The kind as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Catalog => CatalogEvent::KIND,
            Kind::Order => OrderEvent::KIND,
        }
    }

    /// The kind a file (or a backup) names, if it is one of the two.
    pub fn from_meta(kind: &str) -> Option<Self> {
        match kind {
            k if k == CatalogEvent::KIND => Some(Kind::Catalog),
            k if k == OrderEvent::KIND => Some(Kind::Order),
            _ => None,
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
    /// The store could not open it as a log (missing, locked, not a log, unreadable).
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// A log, but of a kind this store does not have.
    #[error("{path}: not a toystore log (its kind is {found:?})")]
    UnknownKind {
        /// The file.
        path: PathBuf,
        /// The kind recorded in it.
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
}

/// A toystore log opened read-only.
pub struct LogFile {
    file: inspect::LogFile,
    kind: Kind,
}

impl LogFile {
    /// Opens `path` and reads its kind.
    pub fn open(path: &Path) -> Result<Self, LogFileError> {
        let file = inspect::LogFile::open(path)?;
        let kind = Kind::from_meta(file.kind()).ok_or_else(|| LogFileError::UnknownKind {
            path: path.to_path_buf(),
            found: file.kind().to_string(),
        })?;
        Ok(Self { file, kind })
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
        self.file.path()
    }

    /// Which log it holds.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the file had not been closed cleanly, so that a repaired copy was read.
    pub fn repaired(&self) -> bool {
        self.file.repaired()
    }

    /// A read snapshot of the file's last commit.
    pub fn read(&self) -> Result<ReadTables, LogFileError> {
        Ok(self.file.read()?)
    }
}

/// Renames a damaged replica file to `<file>.damaged-<unix seconds>` (with `-<n>` added if
/// that exists), beside itself, and returns the new name: nothing is deleted, so the file
/// stays for a post-mortem (`tools rebuild`, the `corrupt` nemesis).
pub fn set_aside(file: &Path) -> std::io::Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let target = (0..)
        .map(|n| aside_name(file, now, n))
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| aside_name(file, now, 0));
    std::fs::rename(file, &target)?;
    Ok(target)
}

/// `<file>.damaged-<now>`, with `-<n>` for n > 0.
fn aside_name(file: &Path, now: u64, n: u32) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(format!(".damaged-{now}"));
    if n > 0 {
        name.push(format!("-{n}"));
    }
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_file_is_set_aside_beside_itself() {
        assert_eq!(
            aside_name(Path::new("data/order-2.redb"), 1_700_000_000, 0),
            PathBuf::from("data/order-2.redb.damaged-1700000000")
        );
        assert_eq!(
            aside_name(Path::new("data/order-2.redb"), 1_700_000_000, 2),
            PathBuf::from("data/order-2.redb.damaged-1700000000-2")
        );
    }
    use toystore_events::Seq;

    #[test]
    fn reads_kind_and_projection_of_a_log_and_refuses_the_other_kind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order.redb");
        let log =
            toystore_store::EventLog::open(&path, toystore_order::projection::OrderProjection)
                .unwrap();
        log.append_blocking(vec![OrderEvent::OrderPlaced {
            number: 0.into(),
            request_id: "r0".try_into().unwrap(),
            name: "Tux".try_into().unwrap(),
            quantity: 2u32.try_into().unwrap(),
        }])
        .unwrap();
        drop(log);
        let file = LogFile::open(&path).unwrap();
        assert_eq!(file.kind(), Kind::Order);
        assert!(!file.repaired());
        let tables = file.read().unwrap();
        let events: Vec<_> = tables
            .raw_events_after(Seq::ZERO)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(Kind::Order.describe(&events[0].1).contains("Tux"));
        assert!(Kind::Catalog.describe(&events[0].1).contains("undecodable"));
        assert_eq!(
            toystore_store::Projection::<OrderEvent>::dump(
                &toystore_order::projection::OrderProjection,
                &tables
            )
            .unwrap(),
            vec![format!(
                "request hash {:07x} order=0",
                toystore_order::projection::prefix("r0") >> toystore_order::projection::NUMBER_BITS
            )]
        );
        assert!(matches!(
            LogFile::open_kind(&path, Kind::Catalog),
            Err(LogFileError::WrongKind { .. })
        ));
        assert!(matches!(
            LogFile::open(&dir.path().join("missing.redb")),
            Err(LogFileError::Inspect(InspectError::Missing(_)))
        ));
    }
}
