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

use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use toystore_events::{OrderEvent, OrderNumber, RequestId, Seq};
use toystore_store::check::{Check, Difference, Digest, TableCheck};
use toystore_store::{
    EventReader, Projection, ReadTables, Rows, StoreError, Table, TableMut, TableRef, WriteTables,
};

/// Bits of an index key holding the order number.
pub const NUMBER_BITS: u32 = 36;
/// Bits of an index key holding the request id's hash.
pub const HASH_BITS: u32 = 64 - NUMBER_BITS;
/// The most orders a log can index (order numbers are below this).
pub const MAX_ORDERS: u64 = 1 << NUMBER_BITS;
pub(crate) const NUMBER_MASK: u64 = MAX_ORDERS - 1;
/// SipHash key: fixed, so every replica and every rebuild computes the same index.
const SIP_KEY: (u64, u64) = (0x746f_7973_746f_7265, 0x7265_7175_6573_7473);

/// The index's name (in errors and checks).
pub(crate) const INDEX: &str = "request_index";
/// Request-id hash prefix | order number, no value.
pub const REQUEST_INDEX: Table<u64, ()> = Table::new(INDEX);
/// Version 1: number → (name, quantity). Deleted when a file is upgraded.
pub const LEGACY_ORDERS: Table<u64, (&'static str, u32)> = Table::new("orders");
/// Version 1: request id → order number. Deleted when a file is upgraded.
pub const LEGACY_REQUESTS: Table<&'static str, u64> = Table::new("requests");

/// The first index key of `request_id`'s hash prefix (its order number bits zero).
pub fn prefix(request_id: &str) -> u64 {
    let mut hasher = SipHasher13::new_with_keys(SIP_KEY.0, SIP_KEY.1);
    hasher.write(request_id.as_bytes());
    hasher.finish() & !NUMBER_MASK
}

/// The index key of order `number` placed under `request_id`.
pub fn index_key(request_id: &str, number: OrderNumber) -> Result<u64, StoreError> {
    if number.0 >= MAX_ORDERS {
        return Err(StoreError::Projection {
            table: INDEX,
            message: format!("order {number}: a log holds at most {MAX_ORDERS} orders"),
        });
    }
    Ok(prefix(request_id) | number.0)
}

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

/// The index rows whose prefix is `request_id`'s, from an index opened for reading or
/// writing (`range` of either).
pub fn candidates_range(request_id: &str) -> (u64, u64) {
    let from = prefix(request_id);
    (from, from | NUMBER_MASK)
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

/// Keys of one hash prefix whose request ids `check` keeps to compare with the next ones
/// (more than a handful is a damaged index; later keys are compared with these only).
const GROUP_MAX: usize = 64;

/// The index row `key` as [`OrderProjection::dump`] shows it.
fn row_text(key: u64) -> String {
    format!(
        "request hash {:07x} order={}",
        key >> NUMBER_BITS,
        key & NUMBER_MASK
    )
}

/// What `apply` refuses for a request id placed a second time.
pub(crate) fn placed_twice(request_id: &RequestId, earlier: u64, later: u64) -> (Seq, StoreError) {
    let seq = Seq(later.saturating_add(1));
    let error = StoreError::Projection {
        table: INDEX,
        message: format!("request id {request_id} placed twice (order {earlier} and seq {seq})"),
    };
    (seq, error)
}

/// The key `event` at `seq` adds to the index, or why `apply` refuses it.
pub(crate) fn expected_key(seq: Seq, event: &OrderEvent) -> Result<u64, StoreError> {
    let OrderEvent::OrderPlaced {
        number, request_id, ..
    } = event;
    if number.0.checked_add(1) != Some(seq.0) {
        return Err(StoreError::Projection {
            table: INDEX,
            message: format!("order {number} at seq {seq}: numbers must be seq - 1"),
        });
    }
    index_key(request_id.as_str(), *number)
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

/// Consecutive index keys of one hash prefix, as the index streams past in key order (so by
/// order number within the prefix): from the second key on, their orders' request ids are
/// read and compared. A key alone in its prefix, nearly every key, costs no read. Used by
/// `check` over the stored index and by the bulk build ([`crate::bulk`]) over sorted keys.
#[derive(Default)]
pub(crate) struct Group {
    /// The prefix, and the first key's order number, if a key was seen.
    first: Option<(u64, u64)>,
    /// Whether the first key's request id was read into `ids`.
    read: bool,
    /// The orders of the group so far (at most [`GROUP_MAX`]) and their request ids.
    ids: Vec<(u64, RequestId)>,
}

impl Group {
    /// Takes the next key; `request_id` reads an order's request id (`None`: the log lacks
    /// it). Returns what `apply` refuses if its request id is one of the group's.
    pub(crate) fn next(
        &mut self,
        key: u64,
        request_id: &mut dyn FnMut(u64) -> Result<Option<RequestId>, StoreError>,
    ) -> Result<Option<(Seq, StoreError)>, StoreError> {
        let (prefix, number) = (key & !NUMBER_MASK, key & NUMBER_MASK);
        let first = match self.first {
            Some((p, first)) if p == prefix => first,
            _ => {
                self.first = Some((prefix, number));
                self.read = false;
                self.ids.clear();
                return Ok(None);
            }
        };
        if !self.read {
            self.read = true;
            if let Some(id) = request_id(first)? {
                self.ids.push((first, id));
            }
        }
        let Some(id) = request_id(number)? else {
            return Ok(None);
        };
        let twice = self
            .ids
            .iter()
            .find(|(_, other)| *other == id)
            .map(|(earlier, _)| placed_twice(&id, *earlier, number));
        if twice.is_none() && self.ids.len() < GROUP_MAX {
            self.ids.push((number, id));
        }
        Ok(twice)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_number_under_the_request_ids_prefix() {
        let key = index_key("r-1", OrderNumber(12345)).unwrap();
        assert_eq!(key & NUMBER_MASK, 12345);
        assert_eq!(key & !NUMBER_MASK, prefix("r-1"));
        let (from, to) = candidates_range("r-1");
        assert!(from <= key && key <= to);
        assert_ne!(prefix("r-1"), prefix("r-2"));
    }

    #[test]
    fn numbers_past_the_layouts_capacity_are_refused() {
        assert!(index_key("r", OrderNumber(MAX_ORDERS - 1)).is_ok());
        assert!(index_key("r", OrderNumber(MAX_ORDERS)).is_err());
    }

    #[test]
    fn the_hash_is_stable() {
        // The index is stored: its hash must never change across builds or machines.
        assert_eq!(prefix("order-0") >> NUMBER_BITS, 189_526_239);
    }
}
