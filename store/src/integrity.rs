//! A log file's integrity, checked every time a service opens it (`open_verified`, the one
//! way a log file is opened to be served; [`check_file`] for the tools): a file with damaged
//! pages is refused, never served.
//!
//! redb checksums every B-tree page (the checksum of a page is kept in its parent) but
//! verifies them only when asked: a read of a damaged page could otherwise hand back
//! whatever bytes are there. So opening a log runs redb's `check_integrity`, which walks
//! every live page (about 72 ms more per start at 1M orders, 135 MB: docs/PERFORMANCE.md,
//! "The integrity check at open"). What it finds:
//!
//! - nothing: the file is served, unless it carries the mark below;
//! - damage redb could not repair: [`StoreError::Damaged`];
//! - damage redb repaired by rolling the file back to an older intact commit: the file may
//!   have lost what it had acknowledged (to a client, or to Raft as a replica's log), so it
//!   is marked damaged (a `meta` row, committed durably) and refused, now and at every later
//!   open, although its pages are whole again.
//!
//! What to do with a damaged file is the operator's (docs/OPERATIONS.md): set it aside and
//! start the replica again, which then rejoins its group with an empty file and is caught
//! up by its peers; `tools rebuild FILE` does the setting aside.

use crate::error::StoreError;
use crate::schema::META;
use redb::{Database, Durability, ReadableDatabase, TableError};
use std::path::Path;

/// The `meta` row that marks a file damaged (its value says what was found).
const DAMAGED: &str = "damaged";

/// Checks the file `db` (at `path`) before it is served; see the module doc.
fn verify(path: &Path, db: &mut Database) -> Result<(), StoreError> {
    let damaged = |detail: String| StoreError::Damaged {
        path: path.to_path_buf(),
        detail,
    };
    match db.check_integrity() {
        Ok(true) => {}
        Ok(false) => {
            let detail = "redb found damaged pages and repaired the file, possibly by rolling \
                          it back to an older intact commit, so it may have lost what it had \
                          acknowledged"
                .to_string();
            // Refused even if the mark cannot be written (a full disk): then only this
            // open refuses it, and the log says so.
            if let Err(e) = mark(db, &detail) {
                tracing::error!(path = %path.display(), error = %e, "could not mark a repaired file damaged; it will look whole at its next open");
            }
            return Err(damaged(detail));
        }
        Err(redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail))) => {
            return Err(damaged(format!("redb: {detail}")))
        }
        // Anything else (an I/O error, say) is not damage found: said as it is.
        Err(e) => return Err(redb::Error::from(e).into()),
    }
    match marked(db)? {
        Some(detail) => Err(damaged(detail)),
        None => Ok(()),
    }
}

/// Opens the file at `path` with a page cache of `cache_bytes` (creating it if `create`;
/// else a missing file is [`StoreError::Missing`]) and [`verify`]s it: the one way a log
/// file is opened to be served.
pub(crate) fn open_verified(
    path: &Path,
    cache_bytes: usize,
    create: bool,
) -> Result<Database, StoreError> {
    if !create && !path.exists() {
        return Err(StoreError::Missing(path.to_path_buf()));
    }
    let mut builder = Database::builder();
    builder.set_cache_size(cache_bytes);
    let opened = if create {
        builder.create(path)
    } else {
        builder.open(path)
    };
    let mut db = opened.map_err(|e| crate::log::open_error(path, e))?;
    verify(path, &mut db)?;
    Ok(db)
}

/// Checks the log file at `path` as a service's open would, without serving it: `Ok` when
/// it is whole, [`StoreError::Damaged`] (marking it, if redb had to roll it back),
/// [`StoreError::Locked`] while its service runs, [`StoreError::Missing`] if there is none.
pub fn check_file(path: &Path) -> Result<(), StoreError> {
    open_verified(path, crate::log::CACHE_BYTES, false).map(drop)
}

/// What the file's damage mark says, if it has one.
fn marked(db: &Database) -> Result<Option<String>, StoreError> {
    let tx = db.begin_read()?;
    let meta = match tx.open_table(META) {
        Ok(meta) => meta,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(meta.get(DAMAGED)?.map(|v| v.value().to_string()))
}

/// Marks the file damaged, durably.
fn mark(db: &Database, detail: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write()?;
    tx.set_durability(Durability::Immediate)?;
    tx.open_table(META)?.insert(DAMAGED, detail)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_file_with_a_flipped_byte_is_refused_at_open_naming_the_file_and_what_to_do() {
        use crate::{EventLog, NoProjection};
        use toystore_events::CatalogEvent;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog-2.redb");
        let purchase = |i: u32| CatalogEvent::Purchased {
            request_id: format!("flipped-request-{i:04}").try_into().unwrap(),
            name: "Whale".try_into().unwrap(),
            quantity: 1u32.try_into().unwrap(),
        };
        let log = EventLog::<CatalogEvent>::open(&path, NoProjection).unwrap();
        log.append_blocking((0..200).map(purchase).collect())
            .unwrap();
        log.close();
        // The test means something only if the file opens while whole.
        EventLog::<CatalogEvent>::open(&path, NoProjection)
            .unwrap()
            .close();

        assert!(crate::tamper::flip_every(&path, b"flipped-request-0100").unwrap() > 0);
        let open = || EventLog::<CatalogEvent>::open(&path, NoProjection).map(drop);
        let err = open().unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("catalog-2.redb"), "{message}");
        assert!(message.contains("tools rebuild"), "{message}");
        // Refused again at the next open: nothing was served or written meanwhile.
        let again = open().unwrap_err();
        assert!(matches!(again, StoreError::Damaged { .. }), "{again}");
    }

    #[test]
    fn a_marked_file_is_refused_at_every_open_though_its_pages_are_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.redb");
        let mut db = Database::create(&path).unwrap();
        verify(&path, &mut db).unwrap();
        mark(&db, "rolled back").unwrap();
        drop(db);
        let mut db = Database::open(&path).unwrap();
        let err = verify(&path, &mut db).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("log.redb") && message.contains("rolled back"),
            "{message}"
        );
    }
}
