//! The definitions of a log file's own tables, shared by every part of the store that
//! opens them: [`EVENTS`] (sequence number → encoded event) and [`META`] (the log's kind,
//! its projection's version, how far the projection goes), with the helpers that read and
//! write `meta`'s rows.
//!
//! It depends on no other module of the crate but [`crate::StoreError`], so the writer, the
//! typed tables and the log can all use it without depending on one another. It guarantees
//! one spelling of each table and row name: a row is written and read through the same
//! constant, and a stored number that does not parse is a [`StoreError::Projection`], never
//! a default.

use crate::error::StoreError;
use redb::TableDefinition;
use toystore_events::Seq;

/// The events table: sequence number → encoded event.
pub(crate) const EVENTS: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("events");

/// The meta table: `kind` → the log's [`toystore_events::LogEvent::KIND`], `projection` →
/// its version, `projected` → how far the projection goes, if not to the last event.
pub(crate) const META: TableDefinition<'static, &'static str, &'static str> =
    TableDefinition::new("meta");

/// The `meta` row holding the version of the projection the file was built with.
pub(crate) const PROJECTION_VERSION: &str = "projection";

/// The `meta` row present while the projection lags the events: the last sequence number
/// it covers ([`crate::Batch::append_all_at_unprojected`]).
const PROJECTED: &str = "projected";

/// The last sequence number the projection covers, if it lags the events (`None`: it
/// covers every event).
pub(crate) fn projected_to(
    meta: &impl redb::ReadableTable<&'static str, &'static str>,
) -> Result<Option<Seq>, StoreError> {
    let Some(at) = meta.get(PROJECTED)? else {
        return Ok(None);
    };
    let at = at.value();
    at.parse()
        .map(|at| Some(Seq(at)))
        .map_err(|_| StoreError::Projection {
            table: "meta",
            message: format!("projected sequence number {at:?} is not a number"),
        })
}

/// Records that the projection covers the events up to `at` only (`None`: all of them).
pub(crate) fn set_projected_to(
    meta: &mut redb::Table<'_, &'static str, &'static str>,
    at: Option<Seq>,
) -> Result<(), StoreError> {
    match at {
        Some(at) => {
            meta.insert(PROJECTED, at.0.to_string().as_str())?;
        }
        None => {
            meta.remove(PROJECTED)?;
        }
    }
    Ok(())
}

/// The version of the projection a file's tables were built with, from its `meta` table:
/// 1 if it records none (files from before versions were recorded).
pub(crate) fn projection_version(
    meta: &impl redb::ReadableTable<&'static str, &'static str>,
) -> Result<u32, StoreError> {
    let Some(version) = meta.get(PROJECTION_VERSION)? else {
        return Ok(1);
    };
    let version = version.value();
    version.parse().map_err(|_| StoreError::Projection {
        table: "meta",
        message: format!("projection version {version:?} is not a number"),
    })
}
