//! The order log's projection: orders by number and request ids.
//!
//! - `orders`: number → (name, quantity). Order number n is the event at seq n + 1; an
//!   `OrderPlaced` whose number breaks that is refused (its transaction aborts), so order
//!   numbers are gap-free and unique by construction.
//! - `requests`: request id → order number (idempotency).

use toystore_events::{OrderEvent, Seq};
use toystore_store::redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use toystore_store::{Projection, StoreError};

/// number → (name, quantity).
pub const ORDERS: TableDefinition<'static, u64, (&'static str, u32)> =
    TableDefinition::new("orders");
/// request id → order number.
pub const REQUESTS: TableDefinition<'static, &'static str, u64> = TableDefinition::new("requests");

/// The order log's projection.
#[derive(Debug, Default, Clone, Copy)]
pub struct OrderProjection;

impl Projection<OrderEvent> for OrderProjection {
    fn init(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.open_table(ORDERS)?;
        tx.open_table(REQUESTS)?;
        Ok(())
    }

    fn apply(&self, tx: &WriteTransaction, seq: Seq, event: &OrderEvent) -> Result<(), StoreError> {
        let OrderEvent::OrderPlaced {
            number,
            request_id,
            name,
            quantity,
        } = event;
        if number.checked_add(1) != Some(seq.0) {
            return Err(StoreError::Projection {
                table: "orders",
                message: format!("order {number} at seq {seq}: numbers must be seq - 1"),
            });
        }
        tx.open_table(ORDERS)?
            .insert(*number, (name.as_str(), *quantity))?;
        if tx
            .open_table(REQUESTS)?
            .insert(request_id.as_str(), *number)?
            .is_some()
        {
            return Err(StoreError::Projection {
                table: "requests",
                message: format!("request id {request_id} placed twice (seq {seq})"),
            });
        }
        Ok(())
    }

    fn clear(&self, tx: &WriteTransaction) -> Result<(), StoreError> {
        tx.delete_table(ORDERS)?;
        tx.delete_table(REQUESTS)?;
        self.init(tx)
    }

    fn dump(&self, tx: &ReadTransaction) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for row in tx.open_table(ORDERS)?.iter()? {
            let (k, v) = row?;
            let (name, quantity) = v.value();
            out.push(format!(
                "order {} name={name:?} quantity={quantity}",
                k.value()
            ));
        }
        for row in tx.open_table(REQUESTS)?.iter()? {
            let (k, v) = row?;
            out.push(format!("request {:?} order={}", k.value(), v.value()));
        }
        Ok(out)
    }
}
