//! The catalog's projection: stock by product and purchases by request id.
//!
//! - `stock`: name → (price, quantity); `ProductAdded` inserts, `Purchased` subtracts,
//!   `Restocked` adds. A purchase that would make stock negative is refused as a
//!   projection error, which aborts its transaction: stock can never go negative.
//! - `purchases`: request id → sequence number of its `Purchased` event (idempotency).

use toystore_events::{CatalogEvent, Seq};
use toystore_store::{Projection, ReadTables, StoreError, Table, WriteTables};

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
        match event {
            CatalogEvent::ProductAdded {
                name,
                price,
                quantity,
            } => {
                if stock.get(name.as_str())?.is_some() {
                    return Err(broken("stock", format!("{name} added twice (seq {seq})")));
                }
                stock.insert(name.as_str(), (*price, *quantity))?;
            }
            CatalogEvent::Purchased {
                request_id,
                name,
                quantity,
            } => {
                let (price, have) = stock
                    .get(name.as_str())?
                    .ok_or_else(|| broken("stock", format!("seq {seq}: unknown toy {name}")))?;
                let left = have.checked_sub(quantity.get()).ok_or_else(|| {
                    broken("stock", format!("seq {seq}: {name} would go negative"))
                })?;
                stock.insert(name.as_str(), (price, left))?;
                let mut purchases = tables.open(PURCHASES)?;
                if purchases.insert(request_id.as_str(), seq.0)?.is_some() {
                    return Err(broken(
                        "purchases",
                        format!("seq {seq}: request id {request_id} bought twice"),
                    ));
                }
            }
            CatalogEvent::Restocked { name, added } => {
                let (price, have) = stock
                    .get(name.as_str())?
                    .ok_or_else(|| broken("stock", format!("seq {seq}: unknown toy {name}")))?;
                let now = have
                    .checked_add(*added)
                    .ok_or_else(|| broken("stock", format!("seq {seq}: {name} overflows")))?;
                stock.insert(name.as_str(), (price, now))?;
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
}
