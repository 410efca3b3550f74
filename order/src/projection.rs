//! The order log's projection: orders by number and request ids.
//!
//! - `orders`: number → (name, quantity). Order number n is the event at seq n + 1; an
//!   `OrderPlaced` whose number breaks that is refused (its transaction aborts), so order
//!   numbers are gap-free and unique by construction.
//! - `requests`: request id → order number (idempotency).

use toystore_events::{OrderEvent, Seq};
use toystore_store::{Projection, ReadTables, StoreError, Table, WriteTables};

/// number → (name, quantity).
pub const ORDERS: Table<u64, (&'static str, u32)> = Table::new("orders");
/// request id → order number.
pub const REQUESTS: Table<&'static str, u64> = Table::new("requests");

/// The order log's projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrderProjection;

impl Projection<OrderEvent> for OrderProjection {
    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.open(ORDERS)?;
        tables.open(REQUESTS)?;
        Ok(())
    }

    fn apply(
        &self,
        tables: &WriteTables<'_>,
        seq: Seq,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        let OrderEvent::OrderPlaced {
            number,
            request_id,
            name,
            quantity,
        } = event;
        if number.0.checked_add(1) != Some(seq.0) {
            return Err(StoreError::Projection {
                table: "orders",
                message: format!("order {number} at seq {seq}: numbers must be seq - 1"),
            });
        }
        tables
            .open(ORDERS)?
            .insert(number.0, (name.as_str(), quantity.get()))?;
        if tables
            .open(REQUESTS)?
            .insert(request_id.as_str(), number.0)?
            .is_some()
        {
            return Err(StoreError::Projection {
                table: "requests",
                message: format!("request id {request_id} placed twice (seq {seq})"),
            });
        }
        Ok(())
    }

    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.reset(ORDERS)?;
        tables.reset(REQUESTS)
    }

    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for row in tables.open(ORDERS)?.rows()? {
            let (k, (name, quantity)) = row?;
            out.push(format!("order {} name={name:?} quantity={quantity}", k));
        }
        for row in tables.open(REQUESTS)?.rows()? {
            let (k, v) = row?;
            out.push(format!("request {:?} order={}", k, v));
        }
        Ok(out)
    }
}
