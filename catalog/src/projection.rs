//! The catalog's projection: stock by product and purchases by request id.
//!
//! - `stock`: name → (price, quantity); `ProductAdded` inserts, `Purchased` subtracts,
//!   `Restocked` adds. A purchase that would make stock negative is refused as a
//!   projection error, which aborts its transaction: stock can never go negative.
//! - `purchases`: request id → sequence number of its `Purchased` event (idempotency).

use toystore_events::{CatalogEvent, Seq};
use toystore_store::redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use toystore_store::{Projection, StoreError};

/// name → (price, quantity).
pub const STOCK: TableDefinition<'static, &'static str, (f64, u32)> = TableDefinition::new("stock");
/// request id → seq of its `Purchased` event.
pub const PURCHASES: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("purchases");

/// The catalog's projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct CatalogProjection;

fn broken(table: &'static str, message: String) -> StoreError {
    StoreError::Projection { table, message }
}

impl Projection<CatalogEvent> for CatalogProjection {
    fn init(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(STOCK)?;
        tx.open_table(PURCHASES)?;
        Ok(())
    }

    fn apply(
        &self,
        tx: &WriteTransaction,
        seq: Seq,
        event: &CatalogEvent,
    ) -> Result<(), StoreError> {
        let mut stock = tx.open_table(STOCK)?;
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
                    .map(|v| v.value())
                    .ok_or_else(|| broken("stock", format!("seq {seq}: unknown toy {name}")))?;
                let left = have.checked_sub(*quantity).ok_or_else(|| {
                    broken("stock", format!("seq {seq}: {name} would go negative"))
                })?;
                stock.insert(name.as_str(), (price, left))?;
                let mut purchases = tx.open_table(PURCHASES)?;
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
                    .map(|v| v.value())
                    .ok_or_else(|| broken("stock", format!("seq {seq}: unknown toy {name}")))?;
                let now = have
                    .checked_add(*added)
                    .ok_or_else(|| broken("stock", format!("seq {seq}: {name} overflows")))?;
                stock.insert(name.as_str(), (price, now))?;
            }
        }
        Ok(())
    }

    fn clear(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.delete_table(STOCK)?;
        tx.delete_table(PURCHASES)?;
        self.init(tx)
    }

    fn dump(&self, tx: &ReadTransaction) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for row in tx.open_table(STOCK)?.iter()? {
            let (k, v) = row?;
            let (price, quantity) = v.value();
            out.push(format!(
                "stock {:?} price={price} quantity={quantity}",
                k.value()
            ));
        }
        for row in tx.open_table(PURCHASES)?.iter()? {
            let (k, v) = row?;
            out.push(format!("purchase {:?} seq={}", k.value(), v.value()));
        }
        Ok(out)
    }
}
