//! Typed tables in a log's file, for projections: the only way code outside this crate
//! reads or writes rows, so redb stays an implementation detail of the store.
//!
//! A [`Table`] names a table and fixes its key and value types, chosen from the
//! [`Column`] types this module implements (integers, `f64`, strings, bytes and pairs of
//! them). Rows come out owned ([`Column::Owned`]: a `&str` column reads as a `String`).
//!
//! - [`WriteTables`]: the tables of the open write transaction, handed to a
//!   [`crate::Projection`] and to requests through [`crate::Batch::tables`]; what is written
//!   commits with the events of the same transaction or not at all.
//! - [`ReadTables`]: a consistent read snapshot ([`crate::EventLog::read`],
//!   [`crate::inspect::LogFile::read`]): projection rows, and the events with the sequence
//!   number the snapshot is current at.

use crate::schema::{projection_version, EVENTS, META};
use crate::StoreError;
use redb::{
    ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition,
    TableError, WriteTransaction,
};
use std::borrow::Borrow;
use std::cell::Cell;
use toystore_events::{codec, LogEvent, Seq};

/// A type a table can hold, and how a stored value reads back as an owned one.
pub trait Column: redb::Value + 'static {
    /// The value as callers get it.
    type Owned;
    /// Copies a stored value out of the database page it is read from.
    fn own(value: Self::SelfType<'_>) -> Self::Owned;
}

/// A [`Column`] that can be a key (ordered).
pub trait KeyColumn: Column + redb::Key {}
impl<T: Column + redb::Key> KeyColumn for T {}

macro_rules! copy_columns {
    ($($t:ty),*) => {$(
        impl Column for $t {
            type Owned = $t;
            fn own(value: $t) -> $t {
                value
            }
        }
    )*};
}
copy_columns!(u64, u32, f64);

/// The empty value: a table used as a set of keys.
impl Column for () {
    type Owned = ();
    fn own((): ()) {}
}

impl Column for &'static str {
    type Owned = String;
    fn own(value: &str) -> String {
        value.to_string()
    }
}

impl Column for &'static [u8] {
    type Owned = Vec<u8>;
    fn own(value: &[u8]) -> Vec<u8> {
        value.to_vec()
    }
}

impl<A: Column, B: Column> Column for (A, B) {
    type Owned = (A::Owned, B::Owned);
    fn own((a, b): Self::SelfType<'_>) -> Self::Owned {
        (A::own(a), B::own(b))
    }
}

/// A table's name and layout.
pub struct Table<K: KeyColumn, V: Column>(TableDefinition<'static, K, V>);

impl<K: KeyColumn, V: Column> Table<K, V> {
    /// The table called `name`.
    pub const fn new(name: &'static str) -> Self {
        Self(TableDefinition::new(name))
    }
}

impl<K: KeyColumn, V: Column> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K: KeyColumn, V: Column> Copy for Table<K, V> {}

/// The tables of an open write transaction.
#[derive(Clone, Copy)]
pub struct WriteTables<'tx> {
    tx: &'tx WriteTransaction,
    /// Set on every write, when the writer wants to know whether the batch changed anything.
    touched: Option<&'tx Cell<bool>>,
}

impl<'tx> WriteTables<'tx> {
    pub(crate) fn new(tx: &'tx WriteTransaction) -> Self {
        Self { tx, touched: None }
    }

    /// Tables whose writes set `touched`.
    pub(crate) fn tracked(tx: &'tx WriteTransaction, touched: &'tx Cell<bool>) -> Self {
        Self {
            tx,
            touched: Some(touched),
        }
    }

    /// Opens `table` for reading and writing, creating it if it does not exist.
    pub fn open<K: KeyColumn, V: Column>(
        &self,
        table: Table<K, V>,
    ) -> Result<TableMut<'tx, K, V>, StoreError> {
        Ok(TableMut {
            table: self.tx.open_table(table.0)?,
            touched: self.touched,
        })
    }

    /// The event at `seq` in the open transaction (including events appended in it), if
    /// any.
    pub fn event<E: LogEvent>(&self, seq: Seq) -> Result<Option<E>, StoreError> {
        event_in(&self.tx.open_table(EVENTS)?, seq)
    }

    /// Up to `max` events after `after`, decoded, in order; the events table is closed again
    /// when this returns, so the caller may read it while it works through them.
    pub fn events_after<E: LogEvent>(
        &self,
        after: Seq,
        max: usize,
    ) -> Result<Vec<(Seq, E)>, StoreError> {
        self.tx
            .open_table(EVENTS)?
            .range(after.0.saturating_add(1)..)?
            .take(max)
            .map(|row| {
                let (key, bytes) = row?;
                let seq = Seq(key.value());
                Ok((seq, decode_event(seq, bytes.value())?))
            })
            .collect()
    }

    /// Deletes `table` if it exists (a table a projection no longer has).
    pub fn delete<K: KeyColumn, V: Column>(&self, table: Table<K, V>) -> Result<(), StoreError> {
        if let Some(touched) = self.touched {
            touched.set(true);
        }
        self.tx.delete_table(table.0)?;
        Ok(())
    }

    /// Removes every row of `table` (it exists, empty, afterwards).
    pub fn reset<K: KeyColumn, V: Column>(&self, table: Table<K, V>) -> Result<(), StoreError> {
        if let Some(touched) = self.touched {
            touched.set(true);
        }
        self.tx.delete_table(table.0)?;
        self.tx.open_table(table.0)?;
        Ok(())
    }
}

/// A table open for writing.
pub struct TableMut<'tx, K: KeyColumn, V: Column> {
    table: redb::Table<'tx, K, V>,
    touched: Option<&'tx Cell<bool>>,
}

impl<K: KeyColumn, V: Column> TableMut<'_, K, V> {
    /// The value at `key`, if any.
    pub fn get<'k>(
        &self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<V::Owned>, StoreError> {
        get(&self.table, key)
    }

    /// Writes `value` at `key`; returns the value it replaced, if any.
    pub fn insert<'k, 'v>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
        value: impl Borrow<V::SelfType<'v>>,
    ) -> Result<Option<V::Owned>, StoreError> {
        if let Some(touched) = self.touched {
            touched.set(true);
        }
        Ok(self
            .table
            .insert(key, value)?
            .map(|old| V::own(old.value())))
    }

    /// Appends `rows`, whose keys ascend past every key the table holds, through one cursor
    /// at the table's end: redb packs them into full leaves a megabyte at a time instead of
    /// descending the tree for each row. Fails with [`StoreError::Unordered`] at the first
    /// key that is not above the one before it (the rows before it stay in the
    /// transaction). Returns how many rows it wrote.
    pub fn append<'k, 'v, KB, VB>(
        &mut self,
        rows: impl IntoIterator<Item = Result<(KB, VB), StoreError>>,
    ) -> Result<u64, StoreError>
    where
        KB: Borrow<K::SelfType<'k>>,
        VB: Borrow<V::SelfType<'v>>,
    {
        if let Some(touched) = self.touched {
            touched.set(true);
        }
        append(&mut self.table, rows)
    }

    /// Removes the row at `key`; returns its value, if there was one.
    pub fn remove<'k>(
        &mut self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<V::Owned>, StoreError> {
        if let Some(touched) = self.touched {
            touched.set(true);
        }
        Ok(self.table.remove(key)?.map(|old| V::own(old.value())))
    }

    /// Every row in key order.
    pub fn rows(&self) -> Result<Rows<'_, K, V>, StoreError> {
        rows(&self.table)
    }

    /// The rows whose keys lie in `from..=to`, in key order.
    pub fn range<'k>(
        &self,
        from: K::SelfType<'k>,
        to: K::SelfType<'k>,
    ) -> Result<Rows<'_, K, V>, StoreError> {
        Ok(Rows(self.table.range(from..=to)?))
    }

    /// Whether the table has no row.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.table.is_empty()?)
    }
}

/// A consistent read snapshot of a log's file.
pub struct ReadTables {
    tx: ReadTransaction,
}

impl ReadTables {
    pub(crate) fn new(tx: ReadTransaction) -> Self {
        Self { tx }
    }

    /// The read transaction itself, for this crate's own tables.
    pub(crate) fn raw(&self) -> &ReadTransaction {
        &self.tx
    }

    /// Opens `table` (an error if the file has no such table).
    pub fn open<K: KeyColumn, V: Column>(
        &self,
        table: Table<K, V>,
    ) -> Result<TableRef<K, V>, StoreError> {
        Ok(TableRef(self.tx.open_table(table.0)?))
    }

    /// Opens `table` if the file has it (`None` if it was never created).
    pub fn open_if_exists<K: KeyColumn, V: Column>(
        &self,
        table: Table<K, V>,
    ) -> Result<Option<TableRef<K, V>>, StoreError> {
        match self.tx.open_table(table.0) {
            Ok(t) => Ok(Some(TableRef(t))),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The last sequence number in the snapshot (`Seq::ZERO` for an empty log), so that a
    /// projection row read from the same snapshot is known to be current at exactly it.
    pub fn last_seq(&self) -> Result<Seq, StoreError> {
        let Some(events) = self.events()? else {
            return Ok(Seq::ZERO);
        };
        let last = events.last()?.map_or(0, |(k, _)| k.value());
        Ok(Seq(last))
    }

    /// How many events the snapshot holds.
    pub fn event_count(&self) -> Result<u64, StoreError> {
        match self.events()? {
            Some(events) => Ok(events.len()?),
            None => Ok(0),
        }
    }

    /// The stored bytes of the event at `seq`, if any.
    pub fn raw_event(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(events) = self.events()? else {
            return Ok(None);
        };
        Ok(events.get(seq.0)?.map(|v| v.value().to_vec()))
    }

    /// The event at `seq`, decoded, if any.
    pub fn event<E: LogEvent>(&self, seq: Seq) -> Result<Option<E>, StoreError> {
        self.event_reader()?.event(seq)
    }

    /// The stored events after `after`, in order, as bytes.
    pub fn raw_events_after(&self, after: Seq) -> Result<RawIter, StoreError> {
        let range = match self.events()? {
            Some(events) => Some(events.range(after.0.saturating_add(1)..)?),
            None => None,
        };
        Ok(RawIter { range })
    }

    /// The stored events after `after`, in order, each decoded straight from the database's
    /// page (no copy of its bytes is made first): for scans of a whole log. An event that
    /// does not decode is a [`StoreError::Decode`] naming it, and the scan goes on after it.
    pub fn events_after<E: LogEvent>(&self, after: Seq) -> Result<Events<E>, StoreError> {
        let range = match self.events()? {
            Some(events) => Some(events.range(after.0.saturating_add(1)..)?),
            None => None,
        };
        Ok(Events {
            range,
            _event: std::marker::PhantomData,
        })
    }

    /// The events table opened once, for many reads of single events by sequence number
    /// (each [`ReadTables::event`] opens it anew).
    pub fn event_reader(&self) -> Result<EventReader, StoreError> {
        Ok(EventReader(self.events()?))
    }

    /// The version of the projection the file's tables were built with
    /// ([`crate::Projection::version`]; 1 for a file that records none). A projection of
    /// another version reads other tables: until a service opens the file with it (and so
    /// rebuilds them), its tables are those of the version recorded here.
    pub fn projection_version(&self) -> Result<u32, StoreError> {
        match self.tx.open_table(META) {
            Ok(meta) => projection_version(&meta),
            Err(TableError::TableDoesNotExist(_)) => Ok(1),
            Err(e) => Err(e.into()),
        }
    }

    /// The space every table takes in the file, in name order (redb's own tables, such as
    /// its allocator state, are not among them).
    pub fn table_space(&self) -> Result<Vec<TableSpace>, StoreError> {
        let mut out = Vec::new();
        for handle in self.tx.list_tables()? {
            let name = redb::TableHandle::name(&handle).to_string();
            let table = self.tx.open_untyped_table(handle)?;
            let stats = table.stats()?;
            out.push(TableSpace {
                name,
                rows: table.len()?,
                stored_bytes: stats.stored_bytes(),
                page_bytes: stats.stored_bytes()
                    + stats.metadata_bytes()
                    + stats.fragmented_bytes(),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The events table; `None` in a file never opened by a service (it has no tables).
    fn events(&self) -> Result<Option<ReadOnlyTable<u64, &'static [u8]>>, StoreError> {
        match self.tx.open_table(EVENTS) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// The space one table takes in a file ([`ReadTables::table_space`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpace {
    /// The table's name.
    pub name: String,
    /// Its rows.
    pub rows: u64,
    /// The bytes of its keys and values.
    pub stored_bytes: u64,
    /// The bytes of the pages holding it (keys and values, page headers, free space in
    /// its pages).
    pub page_bytes: u64,
}

/// A table open for reading.
pub struct TableRef<K: KeyColumn, V: Column>(ReadOnlyTable<K, V>);

impl<K: KeyColumn, V: Column> TableRef<K, V> {
    /// The value at `key`, if any.
    pub fn get<'k>(
        &self,
        key: impl Borrow<K::SelfType<'k>>,
    ) -> Result<Option<V::Owned>, StoreError> {
        get(&self.0, key)
    }

    /// Every row in key order.
    pub fn rows(&self) -> Result<Rows<'_, K, V>, StoreError> {
        rows(&self.0)
    }

    /// The rows whose keys lie in `from..=to`, in key order.
    pub fn range<'k>(
        &self,
        from: K::SelfType<'k>,
        to: K::SelfType<'k>,
    ) -> Result<Rows<'_, K, V>, StoreError> {
        Ok(Rows(self.0.range(from..=to)?))
    }

    /// The number of rows.
    pub fn len(&self) -> Result<u64, StoreError> {
        Ok(self.0.len()?)
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.0.is_empty()?)
    }
}

fn get<'k, K: KeyColumn, V: Column>(
    table: &impl ReadableTable<K, V>,
    key: impl Borrow<K::SelfType<'k>>,
) -> Result<Option<V::Owned>, StoreError> {
    Ok(table.get(key)?.map(|v| V::own(v.value())))
}

fn rows<'t, K: KeyColumn, V: Column>(
    table: &'t impl ReadableTable<K, V>,
) -> Result<Rows<'t, K, V>, StoreError> {
    Ok(Rows(table.iter()?))
}

/// A table's rows in key order, owned.
pub struct Rows<'t, K: KeyColumn, V: Column>(redb::Range<'t, K, V>);

impl<K: KeyColumn, V: Column> Iterator for Rows<'_, K, V> {
    type Item = Result<(K::Owned, V::Owned), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.0.next()?;
        Some(
            row.map(|(k, v)| (K::own(k.value()), V::own(v.value())))
                .map_err(StoreError::from),
        )
    }
}

/// Stored events after some sequence number, as bytes.
pub struct RawIter {
    range: Option<redb::Range<'static, u64, &'static [u8]>>,
}

impl Iterator for RawIter {
    type Item = Result<(Seq, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.range.as_mut()?.next()?;
        Some(
            item.map(|(k, v)| (Seq(k.value()), v.value().to_vec()))
                .map_err(StoreError::from),
        )
    }
}

impl RawIter {
    /// The next event without allocating for it: appends its stored bytes to `buf` and
    /// returns its sequence number (`None` after the last event; on an error `buf` is left
    /// as it was). For scans of a whole log that gather many events into one buffer.
    pub fn next_into(&mut self, buf: &mut Vec<u8>) -> Option<Result<Seq, StoreError>> {
        let item = self.range.as_mut()?.next()?;
        Some(
            item.map(|(k, v)| {
                buf.extend_from_slice(v.value());
                Seq(k.value())
            })
            .map_err(StoreError::from),
        )
    }
}

/// A snapshot's events table, open for reads by sequence number
/// ([`ReadTables::event_reader`]).
pub struct EventReader(Option<ReadOnlyTable<u64, &'static [u8]>>);

impl EventReader {
    /// The event at `seq`, decoded, if any.
    pub fn event<E: LogEvent>(&self, seq: Seq) -> Result<Option<E>, StoreError> {
        match &self.0 {
            Some(events) => event_in(events, seq),
            None => Ok(None),
        }
    }

    /// The event at `seq`, if there is one and it decodes (a check that found an
    /// undecodable event reports it already, and reads past it).
    pub fn event_if_decodes<E: LogEvent>(&self, seq: Seq) -> Result<Option<E>, StoreError> {
        match self.event(seq) {
            Err(StoreError::Decode { .. }) => Ok(None),
            other => other,
        }
    }
}

/// The event at `seq` in an events table, decoded, if any.
pub(crate) fn event_in<E: LogEvent>(
    events: &impl ReadableTable<u64, &'static [u8]>,
    seq: Seq,
) -> Result<Option<E>, StoreError> {
    let Some(bytes) = events.get(seq.0)? else {
        return Ok(None);
    };
    decode_event(seq, bytes.value()).map(Some)
}

/// The event stored at `seq` as `bytes`, or a [`StoreError::Decode`] naming it.
pub(crate) fn decode_event<E: LogEvent>(seq: Seq, bytes: &[u8]) -> Result<E, StoreError> {
    codec::decode(bytes).map_err(|source| StoreError::Decode { seq, source })
}

/// Stored events after some sequence number, decoded ([`ReadTables::events_after`]).
pub struct Events<E> {
    range: Option<redb::Range<'static, u64, &'static [u8]>>,
    _event: std::marker::PhantomData<fn() -> E>,
}

impl<E: LogEvent> Iterator for Events<E> {
    type Item = Result<(Seq, E), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.range.as_mut()?.next()?;
        Some(match item {
            Ok((k, v)) => {
                let seq = Seq(k.value());
                decode_event(seq, v.value()).map(|event| (seq, event))
            }
            Err(e) => Err(e.into()),
        })
    }
}

/// [`TableMut::append`] on a redb table (also the events table's appends, in the writer).
pub(crate) fn append<'k, 'v, K, V, KB, VB>(
    table: &mut redb::Table<'_, K, V>,
    rows: impl IntoIterator<Item = Result<(KB, VB), StoreError>>,
) -> Result<u64, StoreError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
    KB: Borrow<K::SelfType<'k>>,
    VB: Borrow<V::SelfType<'v>>,
{
    let end = || std::ops::Bound::<K::SelfType<'k>>::Unbounded;
    let mut cursor = table.upper_bound_mut(end())?;
    let mut written = 0;
    for row in rows {
        let (key, value) = row?;
        cursor.insert_before(key, value).map_err(|e| match e {
            redb::CursorError::UnorderedKey => StoreError::Unordered,
            other => StoreError::Storage(other.into()),
        })?;
        written += 1;
        if written % SPLICE_ROWS == 0 {
            // Splice what the cursor holds now: redb would buffer a megabyte of rows, which
            // for small rows is several times that in memory.
            cursor.close()?;
            cursor = table.upper_bound_mut(end())?;
        }
    }
    cursor.close()?;
    Ok(written)
}

/// Rows an [`append`] cursor buffers before they are spliced into the table.
const SPLICE_ROWS: u64 = 16_384;

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: Table<u64, ()> = Table::new("keys");

    fn database() -> (tempfile::TempDir, redb::Database) {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        (dir, db)
    }

    fn keys(tx: &WriteTransaction) -> Vec<u64> {
        let tables = WriteTables::new(tx);
        let table = tables.open(KEYS).unwrap();
        let rows = table.rows().unwrap();
        rows.map(|row| row.unwrap().0).collect()
    }

    #[test]
    fn append_writes_ascending_rows_past_the_last_key_across_splices() {
        let (_dir, db) = database();
        let tx = db.begin_write().unwrap();
        let many = 2 * SPLICE_ROWS + 5;
        {
            let tables = WriteTables::new(&tx);
            let mut table = tables.open(KEYS).unwrap();
            table.insert(0, ()).unwrap();
            let written = table.append((1..=many).map(|k| Ok((k * 2, ())))).unwrap();
            assert_eq!(written, many);
        }
        let expected: Vec<u64> = std::iter::once(0)
            .chain((1..=many).map(|k| k * 2))
            .collect();
        assert_eq!(keys(&tx), expected);
    }

    #[test]
    fn append_refuses_a_key_not_above_the_one_before() {
        let (_dir, db) = database();
        let tx = db.begin_write().unwrap();
        let tables = WriteTables::new(&tx);
        let mut table = tables.open(KEYS).unwrap();
        table.insert(10, ()).unwrap();
        for rows in [vec![5], vec![10], vec![11, 12, 12], vec![20, 19]] {
            let e = table.append(rows.iter().map(|&k| Ok((k, ())))).unwrap_err();
            assert!(matches!(e, StoreError::Unordered), "{rows:?}: {e}");
        }
    }

    #[test]
    fn append_stops_at_a_failing_row() {
        let (_dir, db) = database();
        let tx = db.begin_write().unwrap();
        let tables = WriteTables::new(&tx);
        let mut table = tables.open(KEYS).unwrap();
        let rows = [Ok((1, ())), Err(StoreError::Closed), Ok((3, ()))];
        assert!(matches!(table.append(rows), Err(StoreError::Closed)));
    }
}
