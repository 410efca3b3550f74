//! [`Orders`]: the state machine's rule for a committed entry's purchases, run by the storage
//! inside the apply transaction, identically on every replica, one purchase after another in
//! the entry's order.
//!
//! A purchase whose request id is new becomes order number "orders so far" (an
//! `OrderPlaced` at seq number + 1, so numbers are gap-free and equal everywhere); a request
//! id already recorded with the same toy and quantity answers its number and adds nothing;
//! with a different purchase it answers [`Outcome::KeyReused`] and adds nothing.

use crate::projection::{ORDERS, REQUESTS};
use crate::types::{OrderRaft, Outcome, Outcomes, Proposal, Purchase};
use openraft::LogId;
use toystore_events::OrderEvent;
use toystore_store::raft::Apply;
use toystore_store::{Batch, StoreError};

/// The order state machine's applier.
#[derive(Debug, Default, Clone, Copy)]
pub struct Orders;

impl Apply<OrderRaft, OrderEvent> for Orders {
    fn apply(
        &self,
        batch: &mut Batch<'_, OrderEvent>,
        _log_id: &LogId<u64>,
        data: &Proposal,
    ) -> Result<Outcomes, StoreError> {
        data.purchases
            .iter()
            .map(|p| place(batch, p))
            .collect::<Result<_, _>>()
            .map(Outcomes)
    }

    fn reply_without_data(&self) -> Outcomes {
        Outcomes::default()
    }
}

/// Applies one purchase (earlier purchases of the same entry are already in `batch`).
fn place(batch: &mut Batch<'_, OrderEvent>, data: &Purchase) -> Result<Outcome, StoreError> {
    let known = batch
        .tables()
        .open(REQUESTS)?
        .get(data.request_id.as_str())?;
    if let Some(number) = known {
        let same = batch
            .tables()
            .open(ORDERS)?
            .get(number)?
            .is_some_and(|row| {
                let (name, quantity) = row;
                name == data.product && quantity == data.quantity
            });
        return Ok(if same {
            Outcome::Placed { number, new: false }
        } else {
            Outcome::KeyReused { number }
        });
    }
    let number = batch.last_seq().0;
    batch.append(&OrderEvent::OrderPlaced {
        number,
        request_id: data.request_id.clone(),
        name: data.product.clone(),
        quantity: data.quantity,
    })?;
    Ok(Outcome::Placed { number, new: true })
}
