//! The catalog's projection: stock by product and purchases by request id.
//!
//! - `stock`: name → (price, quantity); `ProductAdded` inserts, `Purchased` subtracts,
//!   `Restocked` adds. A purchase that would make stock negative is refused as a
//!   projection error, which aborts its transaction: stock can never go negative.
//! - `purchases`: request id → sequence number of its `Purchased` event (idempotency).

use std::collections::BTreeMap;
use toystore_events::{CatalogEvent, Seq};
use toystore_store::check::{hash_row, Check, Difference, Digest, TableCheck};
use toystore_store::{
    EventReader, Projection, ReadTables, StoreError, Table, TableRef, WriteTables,
};

/// name → (price, quantity).
pub const STOCK: Table<&'static str, (f64, u32)> = Table::new("stock");
/// request id → seq of its `Purchased` event.
pub const PURCHASES: Table<&'static str, u64> = Table::new("purchases");

/// The catalog's projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct CatalogProjection;

pub(crate) fn broken(table: &'static str, message: String) -> StoreError {
    StoreError::Projection { table, message }
}

impl Projection<CatalogEvent> for CatalogProjection {
    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.open(STOCK)?;
        tables.open(PURCHASES)?;
        Ok(())
    }

    fn apply(
        &self,
        tables: &WriteTables<'_>,
        seq: Seq,
        event: &CatalogEvent,
    ) -> Result<(), StoreError> {
        let mut stock = tables.open(STOCK)?;
        let name = toy_of(event);
        let after = stock_after(stock.get(name)?, seq, event)?;
        stock.insert(name, after)?;
        if let CatalogEvent::Purchased { request_id, .. } = event {
            let mut purchases = tables.open(PURCHASES)?;
            if purchases.insert(request_id.as_str(), seq.0)?.is_some() {
                return Err(broken(
                    "purchases",
                    format!("seq {seq}: request id {request_id} bought twice"),
                ));
            }
        }
        Ok(())
    }

    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.reset(STOCK)?;
        tables.reset(PURCHASES)
    }

    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for row in tables.open(STOCK)?.rows()? {
            let (k, (price, quantity)) = row?;
            out.push(format!("stock {:?} price={price} quantity={quantity}", k));
        }
        for row in tables.open(PURCHASES)?.rows()? {
            let (k, v) = row?;
            out.push(format!("purchase {:?} seq={}", k, v));
        }
        Ok(out)
    }

    fn check(
        &self,
        tables: &ReadTables,
        events: &mut dyn Iterator<Item = Result<(Seq, CatalogEvent), StoreError>>,
    ) -> Result<Check, StoreError> {
        check_catalog(tables, events)
    }
}

// --- `check`: the tables against the events, in bounded memory.
//
// `stock` has a row per toy: it is rebuilt in memory and compared row by row. `purchases`
// has a row per purchase: the events fold each (request id, seq) they imply into a digest,
// the stored table streams into another (`toystore_store::check`); only when the two
// differ does `locate_purchases` look for the rows that differ. Equal digests also rule out
// a request id bought twice: the stored table holds one row per request id, so an equal set
// of pairs has one pair per request id.

/// A stock row as [`CatalogProjection::dump`] shows it.
fn stock_row(name: &str, (price, quantity): &(f64, u32)) -> String {
    format!("stock {name:?} price={price} quantity={quantity}")
}

/// A purchases row as [`CatalogProjection::dump`] shows it.
fn purchase_row(request_id: &str, seq: u64) -> String {
    format!("purchase {request_id:?} seq={seq}")
}

/// `event` at `seq` applied to a stock rebuilt in memory, with the purchase it records
/// folded into `purchases`; an error is what `apply` refuses it for (a request id bought
/// twice aside: the digests catch that).
fn replay(
    stock: &mut BTreeMap<String, (f64, u32)>,
    purchases: &mut Digest,
    seq: Seq,
    event: &CatalogEvent,
) -> Result<(), StoreError> {
    let name = toy_of(event);
    // One lookup per event; the name is copied only when a toy is added.
    match stock.get_mut(name) {
        Some(row) => *row = stock_after(Some(*row), seq, event)?,
        None => {
            let added = stock_after(None, seq, event)?;
            stock.insert(name.to_owned(), added);
        }
    }
    if let CatalogEvent::Purchased { request_id, .. } = event {
        purchases.add(hash_row(request_id.as_str().as_bytes(), seq.0));
    }
    Ok(())
}

/// The toy an event is about.
fn toy_of(event: &CatalogEvent) -> &str {
    match event {
        CatalogEvent::ProductAdded { name, .. }
        | CatalogEvent::Purchased { name, .. }
        | CatalogEvent::Restocked { name, .. } => name.as_str(),
    }
}

/// The stock rule, the one place it is written: a toy's (price, quantity) after `event` at
/// `seq`, given its row before (`None`: not in the catalog). A toy is added once; a
/// purchase or restock needs the toy; stock never goes negative or overflows. Both
/// [`Projection::apply`] (into the table) and the check's replay (in memory) use it.
fn stock_after(
    before: Option<(f64, u32)>,
    seq: Seq,
    event: &CatalogEvent,
) -> Result<(f64, u32), StoreError> {
    let known = |name: &str| {
        before.ok_or_else(|| broken("stock", format!("seq {seq}: unknown toy {name}")))
    };
    match event {
        CatalogEvent::ProductAdded {
            name,
            price,
            quantity,
        } => match before {
            Some(_) => Err(broken("stock", format!("{name} added twice (seq {seq})"))),
            None => Ok((*price, *quantity)),
        },
        CatalogEvent::Purchased { name, quantity, .. } => {
            let (price, have) = known(name.as_str())?;
            let left = have
                .checked_sub(quantity.get())
                .ok_or_else(|| broken("stock", format!("seq {seq}: {name} would go negative")))?;
            Ok((price, left))
        }
        CatalogEvent::Restocked { name, added } => {
            let (price, have) = known(name.as_str())?;
            let now = have
                .checked_add(*added)
                .ok_or_else(|| broken("stock", format!("seq {seq}: {name} overflows")))?;
            Ok((price, now))
        }
    }
}

fn check_catalog(
    tables: &ReadTables,
    events: &mut dyn Iterator<Item = Result<(Seq, CatalogEvent), StoreError>>,
) -> Result<Check, StoreError> {
    let mut check = Check::default();
    let mut stock = BTreeMap::new();
    let mut rebuilt = Digest::default();
    check.replay(events, |seq, event| {
        replay(&mut stock, &mut rebuilt, seq, &event)
    })?;
    let stored_stock = tables.open(STOCK)?;
    let purchases = tables.open(PURCHASES)?;
    if check.refused.is_some() {
        let toys = stock.len() as u64;
        check
            .tables
            .push(TableCheck::unchecked("stock", stored_stock.len()?, toys));
        let bought = rebuilt.count();
        check
            .tables
            .push(TableCheck::unchecked("purchases", purchases.len()?, bought));
        return Ok(check);
    }
    check.compare_sorted("stock", stored_stock.rows()?, stock, |name, row| {
        stock_row(name, row)
    })?;
    let mut stored = Digest::default();
    for row in purchases.rows()? {
        let (request_id, seq) = row?;
        stored.add(hash_row(request_id.as_bytes(), seq));
    }
    let mut table = TableCheck {
        equal: stored == rebuilt,
        ..TableCheck::unchecked("purchases", stored.count(), rebuilt.count())
    };
    if !table.equal {
        locate_purchases(tables, &purchases, &mut check, &mut table)?;
    }
    check.tables.push(table);
    Ok(check)
}

/// The event at `seq`, if the log has it (and it decodes).
fn event_at(events: &EventReader, seq: u64) -> Result<Option<CatalogEvent>, StoreError> {
    events.event_if_decodes(Seq(seq))
}

/// The request id of the purchase at `seq`, if that event is a purchase.
fn purchased_at(events: &EventReader, seq: u64) -> Result<Option<String>, StoreError> {
    Ok(match event_at(events, seq)? {
        Some(CatalogEvent::Purchased { request_id, .. }) => Some(request_id.as_str().to_owned()),
        _ => None,
    })
}

/// The slow path, once the digests differ. Over the events: every purchase whose row is
/// missing or names another seq is rebuilt only (paired with the stored row of its request
/// id, if any), and a stored row naming another purchase of the same request id is a request
/// id bought twice. Over the table: every row whose seq is not a purchase of its request id
/// is stored only (unless listed in a pair already). One point lookup per purchase and per
/// row; memory: the few pairs listed.
fn locate_purchases(
    tables: &ReadTables,
    purchases: &TableRef<&'static str, u64>,
    check: &mut Check,
    table: &mut TableCheck,
) -> Result<(), StoreError> {
    let reader = tables.event_reader()?;
    let mut paired: Vec<String> = Vec::new();
    for item in tables.events_after::<CatalogEvent>(Seq::ZERO)? {
        let (seq, event) = item?;
        let CatalogEvent::Purchased { request_id, .. } = event else {
            continue;
        };
        let id = request_id.as_str();
        let rebuilt = purchase_row(id, seq.0);
        match purchases.get(id)? {
            Some(stored) if stored == seq.0 => {}
            None => {
                table.only_rebuilt += 1;
                check.differ(Difference::rebuilt_only("purchases", rebuilt));
            }
            Some(stored) if purchased_at(&reader, stored)?.as_deref() == Some(id) => {
                table.only_rebuilt += 1;
                let later = Seq(stored.max(seq.0));
                let why = broken(
                    "purchases",
                    format!("seq {later}: request id {id} bought twice"),
                );
                check.refuse(later, why);
                let note = format!("request id {id:?} was bought at seq {stored} too");
                check.differ(Difference::rebuilt_only("purchases", rebuilt).because(note));
            }
            Some(stored) => {
                table.only_rebuilt += 1;
                let pair =
                    Difference::new("purchases", Some(purchase_row(id, stored)), Some(rebuilt));
                if check.differ(pair) {
                    paired.push(id.to_owned());
                }
            }
        }
    }
    for row in purchases.rows()? {
        let (id, seq) = row?;
        let note = match event_at(&reader, seq)? {
            Some(CatalogEvent::Purchased { request_id, .. }) if request_id.as_str() == id => {
                continue
            }
            Some(CatalogEvent::Purchased { request_id, .. }) => {
                format!(
                    "event {seq} is a purchase under request id {:?}",
                    request_id.as_str()
                )
            }
            Some(other) => format!("event {seq} is not a purchase: {other:?}"),
            None => format!("the log has no event {seq}"),
        };
        table.only_stored += 1;
        if !paired.contains(&id) {
            check
                .differ(Difference::stored_only("purchases", purchase_row(&id, seq)).because(note));
        }
    }
    Ok(())
}
