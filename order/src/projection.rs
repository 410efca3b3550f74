//! The order log's projection: the request-id index, and nothing else.
//!
//! Orders by number need no table: order n is the `OrderPlaced` event at seq n + 1 (an
//! event whose number breaks that is refused and its transaction aborts, so numbers are
//! gap-free and unique by construction), and the events table is already keyed by seq.
//!
//! `request_index` is a set of `u64` keys, one per order: the top [`HASH_BITS`] bits are a
//! keyed hash (SipHash-1-3) of the order's request id, the low [`NUMBER_BITS`] bits its
//! number. [`find`] scans the keys with a request id's hash prefix and reads each
//! candidate's event to compare the request id itself, so a hash collision costs one read,
//! never a wrong answer; with 2^28 prefixes there is a candidate to rule out about once in
//! 27 lookups at 10M orders. That is 8 bytes per order (the request id lives once, in its
//! event), against 44 bytes of key and value plus a copy of every order's toy and units
//! in the first layout ([`LEGACY_ORDERS`], [`LEGACY_REQUESTS`]), which a file of version 1
//! is rebuilt from when opened. The layout caps a log at [`MAX_ORDERS`] orders.
//!
//! The key layout and what it refuses are [`crate::request_index`]'s (its public items are
//! re-exported here), shared with the bulk build in key order ([`crate::bulk`]) that
//! [`OrderProjection`]'s `apply_from` runs.

use crate::request_index::{expected_key, placed_twice, Group, INDEX, NUMBER_MASK};
use toystore_events::{OrderEvent, OrderNumber, RequestId, Seq};
use toystore_store::check::{Check, Difference, Digest, TableCheck};
use toystore_store::{
    EventReader, Projection, ReadTables, Rows, StoreError, Table, TableMut, TableRef, WriteTables,
};

pub use crate::request_index::{
    candidates_range, index_key, prefix, HASH_BITS, MAX_ORDERS, NUMBER_BITS, REQUEST_INDEX,
};

/// Version 1: number → (name, quantity). Deleted when a file is upgraded.
pub const LEGACY_ORDERS: Table<u64, (&'static str, u32)> = Table::new("orders");
/// Version 1: request id → order number. Deleted when a file is upgraded.
pub const LEGACY_REQUESTS: Table<&'static str, u64> = Table::new("requests");

/// The order placed under `request_id`, if any, with its event: `candidates` are the index
/// rows of the id's hash prefix ([`candidates`]), `event` reads the event at a seq.
pub fn find(
    request_id: &str,
    candidates: Rows<'_, u64, ()>,
    event: impl Fn(Seq) -> Result<Option<OrderEvent>, StoreError>,
) -> Result<Option<(OrderNumber, OrderEvent)>, StoreError> {
    for row in candidates {
        let number = OrderNumber(row?.0 & NUMBER_MASK);
        let Some(found) = event(Seq(number.0 + 1))? else {
            return Err(StoreError::Projection {
                table: INDEX,
                message: format!("the index names order {number}, which the log lacks"),
            });
        };
        let OrderEvent::OrderPlaced {
            request_id: placed, ..
        } = &found;
        if placed.as_str() == request_id {
            return Ok(Some((number, found)));
        }
    }
    Ok(None)
}

/// The order with this number, read from its event in `tables`.
pub fn order_at(
    tables: &ReadTables,
    number: OrderNumber,
) -> Result<Option<OrderEvent>, StoreError> {
    match number.0.checked_add(1) {
        Some(seq) => tables.event(Seq(seq)),
        None => Ok(None),
    }
}

/// The order placed under `request_id` in a read snapshot, if any.
pub fn find_in(
    tables: &ReadTables,
    request_id: &str,
) -> Result<Option<(OrderNumber, OrderEvent)>, StoreError> {
    let index = tables.open(REQUEST_INDEX)?;
    let (from, to) = candidates_range(request_id);
    find(request_id, index.range(from, to)?, |seq| tables.event(seq))
}

/// Adds the order `event` at `seq` to the index `table` (of `tables`), after checking its
/// number and that its request id is new.
fn index(
    tables: &WriteTables<'_>,
    table: &mut TableMut<'_, u64, ()>,
    seq: Seq,
    event: &OrderEvent,
) -> Result<(), StoreError> {
    let key = expected_key(seq, event)?;
    let OrderEvent::OrderPlaced {
        number, request_id, ..
    } = event;
    // The key's prefix is the request id's (hashed once).
    let from = key & !NUMBER_MASK;
    let earlier = find(
        request_id.as_str(),
        table.range(from, from | NUMBER_MASK)?,
        |at| tables.event(at),
    )?;
    if let Some((earlier, _)) = earlier {
        return Err(placed_twice(request_id, earlier.0, number.0).1);
    }
    table.insert(key, ())?;
    Ok(())
}

/// The order log's projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrderProjection;

impl Projection<OrderEvent> for OrderProjection {
    fn version(&self) -> u32 {
        2
    }

    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.open(REQUEST_INDEX)?;
        Ok(())
    }

    fn apply(
        &self,
        tables: &WriteTables<'_>,
        seq: Seq,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        index(tables, &mut tables.open(REQUEST_INDEX)?, seq, event)
    }

    fn apply_all(
        &self,
        tables: &WriteTables<'_>,
        events: &[(Seq, &OrderEvent)],
    ) -> Result<(), StoreError> {
        let mut table = tables.open(REQUEST_INDEX)?;
        for (seq, event) in events {
            index(tables, &mut table, *seq, event)?;
        }
        Ok(())
    }

    fn apply_from(&self, tables: &WriteTables<'_>, after: Seq) -> Result<(), StoreError> {
        crate::bulk::apply_from(tables, after)
    }

    fn undo(
        &self,
        tables: &WriteTables<'_>,
        _seq: Seq,
        event: &OrderEvent,
    ) -> Result<bool, StoreError> {
        let OrderEvent::OrderPlaced {
            number, request_id, ..
        } = event;
        let key = index_key(request_id.as_str(), *number)?;
        tables.open(REQUEST_INDEX)?.remove(key)?;
        Ok(true)
    }

    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.delete(LEGACY_ORDERS)?;
        tables.delete(LEGACY_REQUESTS)?;
        tables.reset(REQUEST_INDEX)
    }

    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for row in tables.open(REQUEST_INDEX)?.rows()? {
            let (key, ()) = row?;
            out.push(format!(
                "request hash {:07x} order={}",
                key >> NUMBER_BITS,
                key & NUMBER_MASK
            ));
        }
        Ok(out)
    }

    fn check(
        &self,
        tables: &ReadTables,
        events: &mut dyn Iterator<Item = Result<(Seq, OrderEvent), StoreError>>,
    ) -> Result<Check, StoreError> {
        check_index(tables, events)
    }
}

// --- `check`: the index against the events, in bounded memory.
//
// The events stream once, each folded into a digest as the key it implies; the stored index
// streams once in key order into another. Equal digests: the same set of keys (see
// `toystore_store::check`), and since every number is checked to be its seq - 1, exactly one
// key per order, under its request id's prefix. Two orders of one request id are two keys
// of one prefix, so they are found while the index streams, among the keys that share a
// prefix (a few thousand pairs at 1M orders; each costs two event reads). Different digests:
// `locate` searches both ways with point lookups.

/// The index row `key` as [`OrderProjection::dump`] shows it.
fn row_text(key: u64) -> String {
    format!(
        "request hash {:07x} order={}",
        key >> NUMBER_BITS,
        key & NUMBER_MASK
    )
}

/// The request id of order `number` in `events`, if the log has that order (and it
/// decodes).
fn request_id_of(events: &EventReader, number: u64) -> Result<Option<RequestId>, StoreError> {
    let Some(seq) = number.checked_add(1) else {
        return Ok(None);
    };
    Ok(events
        .event_if_decodes(Seq(seq))?
        .map(|OrderEvent::OrderPlaced { request_id, .. }| request_id))
}

fn check_index(
    tables: &ReadTables,
    events: &mut dyn Iterator<Item = Result<(Seq, OrderEvent), StoreError>>,
) -> Result<Check, StoreError> {
    let mut check = Check::default();
    let mut rebuilt = Digest::default();
    check.replay(events, |seq, event| {
        expected_key(seq, &event).map(|key| rebuilt.add(key))
    })?;
    let index = tables.open(REQUEST_INDEX)?;
    if check.refused.is_some() {
        let table = TableCheck::unchecked(INDEX, index.len()?, rebuilt.count());
        check.tables.push(table);
        return Ok(check);
    }
    let reader = tables.event_reader()?;
    let mut stored = Digest::default();
    let mut group = Group::default();
    for row in index.rows()? {
        let (key, ()) = row?;
        stored.add(key);
        if let Some((seq, why)) = group.next(key, &mut |n| request_id_of(&reader, n))? {
            check.refuse(seq, why);
        }
    }
    let mut table = TableCheck {
        equal: stored == rebuilt,
        ..TableCheck::unchecked(INDEX, stored.count(), rebuilt.count())
    };
    if !table.equal {
        locate(tables, &reader, &index, &mut check, &mut table)?;
    }
    check.tables.push(table);
    Ok(check)
}

/// The slow path, once the digests differ. Over the index: every key whose order the log
/// lacks or whose request id has another prefix is stored only (and paired with the key its
/// order implies, when the index lacks that one). Over the events: every order whose key the
/// index lacks is rebuilt only (unless listed in a pair already), and a key of the same
/// prefix whose order has the same request id is a request id placed twice. One range lookup
/// per event, one event read per key; memory: the few pairs listed.
fn locate(
    tables: &ReadTables,
    events: &EventReader,
    index: &TableRef<u64, ()>,
    check: &mut Check,
    table: &mut TableCheck,
) -> Result<(), StoreError> {
    let mut paired: Vec<u64> = Vec::new();
    for row in index.rows()? {
        let (key, ()) = row?;
        let number = key & NUMBER_MASK;
        let Some(id) = request_id_of(events, number)? else {
            table.only_stored += 1;
            check.differ(
                Difference::stored_only(INDEX, row_text(key))
                    .because(format!("the log has no order {number}")),
            );
            continue;
        };
        let expected = prefix(id.as_str()) | number;
        if expected == key {
            continue;
        }
        table.only_stored += 1;
        let note = format!("order {number} has request id {:?}", id.as_str());
        if index.get(expected)?.is_none() {
            let pair = Difference::new(INDEX, Some(row_text(key)), Some(row_text(expected)));
            if check.differ(pair.because(note)) {
                paired.push(number);
            }
        } else {
            check.differ(Difference::stored_only(INDEX, row_text(key)).because(note));
        }
    }
    for item in tables.events_after::<OrderEvent>(Seq::ZERO)? {
        let OrderEvent::OrderPlaced {
            number, request_id, ..
        } = item?.1;
        let (from, to) = candidates_range(request_id.as_str());
        let key = from | (number.0 & NUMBER_MASK);
        let mut present = false;
        for candidate in index.range(from, to)? {
            let (candidate, ()) = candidate?;
            if candidate == key {
                present = true;
                continue;
            }
            let other = candidate & NUMBER_MASK;
            if request_id_of(events, other)?.as_ref() == Some(&request_id) {
                let (seq, why) =
                    placed_twice(&request_id, other.min(number.0), other.max(number.0));
                check.refuse(seq, why);
            }
        }
        if !present {
            table.only_rebuilt += 1;
            if !paired.contains(&number.0) {
                let note = format!("order {number} has request id {:?}", request_id.as_str());
                check.differ(Difference::rebuilt_only(INDEX, row_text(key)).because(note));
            }
        }
    }
    Ok(())
}
