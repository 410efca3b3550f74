//! [`Projection`]: a materialized view of a log, kept in tables of the log's own file
//! ([`crate::table`]).

use crate::check::Check;
use crate::table::{ReadTables, WriteTables};
use crate::StoreError;
use toystore_events::{LogEvent, Seq};

/// Events read per step of [`Projection::apply_from`]'s default (bounds its memory).
pub const APPLY_CHUNK: usize = 16_384;

/// A view derived from events alone, stored in tables of the log's redb file and updated in
/// the same write transaction as the events that cause it.
///
/// `apply` must be deterministic: replaying the same events into an empty database must
/// produce the same tables (this is what `tools replay` checks).
pub trait Projection<E: LogEvent>: Send + Sync + 'static {
    /// The version of the projection's tables. A log opened with a projection of another
    /// version than the one its file was built with has its projection rebuilt from its
    /// events (`clear`, `init`, then `apply_from` the start), once, before it is used. A file
    /// that records no version was built with version 1.
    fn version(&self) -> u32 {
        1
    }

    /// Creates the projection's tables if they do not exist yet.
    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError>;

    /// Applies one event at `seq` to the projection's tables.
    fn apply(&self, tables: &WriteTables<'_>, seq: Seq, event: &E) -> Result<(), StoreError>;

    /// Applies consecutive events in order, as `apply` of each does (the default); a
    /// projection may open its tables once for all of them.
    fn apply_all(&self, tables: &WriteTables<'_>, events: &[(Seq, &E)]) -> Result<(), StoreError> {
        for (seq, event) in events {
            self.apply(tables, *seq, event)?;
        }
        Ok(())
    }

    /// Applies every event of the log after `after`, to its end, as `apply_all` of them in
    /// order would: to rebuild the projection (after `clear` and `init`, from
    /// `Seq::ZERO`), or to bring it up to events appended without it
    /// ([`crate::Batch::append_all_at_unprojected`], a snapshot's events received by a
    /// replica). It must leave the same tables as `apply_all`, and refuse what it would
    /// refuse. The default reads and applies [`APPLY_CHUNK`] events at a time (the events
    /// table is not held open while `apply_all` runs); a projection may do better in bulk,
    /// e.g. build an index in key order.
    fn apply_from(&self, tables: &WriteTables<'_>, after: Seq) -> Result<(), StoreError> {
        let mut after = after;
        loop {
            let chunk: Vec<(Seq, E)> = tables.events_after(after, APPLY_CHUNK)?;
            let Some((last, _)) = chunk.last() else {
                return Ok(());
            };
            after = *last;
            let events: Vec<(Seq, &E)> = chunk.iter().map(|(seq, event)| (*seq, event)).collect();
            self.apply_all(tables, &events)?;
        }
    }

    /// Takes back the effect of `event` at `seq`, the last event of the log, which is being
    /// removed (a diverged tail truncated, newest event first). Returns `false` when the
    /// projection cannot (the default), and the log then rebuilds it from the events that
    /// remain.
    fn undo(&self, tables: &WriteTables<'_>, seq: Seq, event: &E) -> Result<bool, StoreError> {
        let _ = (tables, seq, event);
        Ok(false)
    }

    /// Removes every row of the projection's tables (before a rebuild from the events),
    /// including tables of earlier versions.
    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError>;

    /// Every row of every projection table as text lines in a canonical order, so two
    /// databases' projections can be compared and a difference shown.
    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError>;

    /// Compares the projection's tables in `tables` with what `apply` of `events` would make
    /// of them from empty, without writing anything (`tools replay`), in memory that does not
    /// grow with the log: a big table is compared through a [`crate::check::Digest`] of
    /// its rows, and searched for the differing rows only when the digests differ.
    ///
    /// `events` are the events of `tables` in log order from the first
    /// ([`ReadTables::events_after`] through [`crate::check::Contiguous`]); a check reads
    /// them once, and may read `tables` besides (events by sequence number, to locate
    /// differences). An item that is an error the events cannot be replayed past, or an
    /// event `apply` would refuse, ends the replay with the refusal in the [`Check`]
    /// ([`Check::refused_by`]), and its tables are then not compared; an error reading
    /// `tables` is returned.
    fn check(
        &self,
        tables: &ReadTables,
        events: &mut dyn Iterator<Item = Result<(Seq, E), StoreError>>,
    ) -> Result<Check, StoreError>;
}

/// A log with no projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProjection;

impl<E: LogEvent> Projection<E> for NoProjection {
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

    fn check(
        &self,
        _: &ReadTables,
        events: &mut dyn Iterator<Item = Result<(Seq, E), StoreError>>,
    ) -> Result<Check, StoreError> {
        let mut check = Check::default();
        check.replay(events, |_, _| Ok::<(), String>(()))?;
        Ok(check)
    }
}
