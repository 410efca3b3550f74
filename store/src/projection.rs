//! [`Projection`]: a materialized view of a log, kept in tables of the log's own file
//! ([`crate::table`]).

use crate::table::{ReadTables, WriteTables};
use crate::StoreError;
use toystore_events::Seq;

/// A view derived from events alone, stored in tables of the log's redb file and updated in
/// the same write transaction as the events that cause it.
///
/// `apply` must be deterministic: replaying the same events into an empty database must
/// produce the same tables (this is what `tools replay` checks).
pub trait Projection<E>: Send + Sync + 'static {
    /// Creates the projection's tables if they do not exist yet.
    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError>;

    /// Applies one event at `seq` to the projection's tables.
    fn apply(&self, tables: &WriteTables<'_>, seq: Seq, event: &E) -> Result<(), StoreError>;

    /// Removes every row of the projection's tables (before a rebuild from the events).
    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError>;

    /// Every row of every projection table as text lines in a canonical order, so two
    /// databases' projections can be compared and a difference shown.
    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError>;
}

/// A log with no projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProjection;

impl<E> Projection<E> for NoProjection {
    fn init(&self, _: &WriteTables<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    fn apply(&self, _: &WriteTables<'_>, _: Seq, _: &E) -> Result<(), StoreError> {
        Ok(())
    }

    fn clear(&self, _: &WriteTables<'_>) -> Result<(), StoreError> {
        Ok(())
    }

    fn dump(&self, _: &ReadTables) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}
