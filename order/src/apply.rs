//! [`Orders`]: the state machine's rule for a committed entry's purchases, run by the storage
//! inside the apply transaction, identically on every replica, one purchase after another in
//! the entry's order.
//!
//! A purchase whose request id is new becomes order number "orders so far" (an
//! `OrderPlaced` at seq number + 1, so numbers are gap-free and equal everywhere); a request
//! id already recorded with the same toy and quantity answers its number and adds nothing;
//! with a different purchase it answers [`Outcome::KeyReused`] and adds nothing. That rule
//! is the pure function [`decide`] (unit-tested here). `apply_all` only reads the index for
//! it (once for a whole run of entries, a purchase earlier in the run counting as recorded)
//! and appends what it decides, all new orders together.

use crate::projection::{candidates_range, find, REQUEST_INDEX};
use crate::types::{OrderRaft, Outcome, Outcomes, Proposal};
use openraft::LogId;
use std::collections::HashMap;
use toystore_config::ReplicaId;
use toystore_events::Purchase;
use toystore_events::{OrderEvent, OrderNumber, ProductName, Quantity};
use toystore_store::raft::Apply;
use toystore_store::{Batch, StoreError};

/// The order state machine's applier.
#[derive(Debug, Default, Clone, Copy)]
pub struct Orders;

impl Apply<OrderRaft, OrderEvent> for Orders {
    fn apply(
        &self,
        batch: &mut Batch<'_, OrderEvent>,
        log_id: &LogId<ReplicaId>,
        data: &Proposal,
    ) -> Result<Outcomes, StoreError> {
        let mut replies = self.apply_all(batch, &[(log_id, data)])?;
        replies
            .pop()
            .ok_or_else(|| StoreError::Aborted("an entry without a reply".into()))
    }

    /// All the entries' purchases in one go: their request ids are looked up with the index
    /// opened once (a purchase earlier in the run counts as recorded), and the new orders
    /// appended together ([`Batch::append_all`]); the outcome is the same as entry by entry.
    fn apply_all(
        &self,
        batch: &mut Batch<'_, OrderEvent>,
        entries: &[(&LogId<ReplicaId>, &Proposal)],
    ) -> Result<Vec<Outcomes>, StoreError> {
        let first = batch.last_seq().0;
        // The new orders, and each one's request id → its place among them.
        let mut events: Vec<OrderEvent> = Vec::new();
        let mut placed: HashMap<&str, usize> = HashMap::new();
        let mut replies = Vec::with_capacity(entries.len());
        {
            let tables = batch.tables();
            let index = tables.open(REQUEST_INDEX)?;
            for (_, proposal) in entries {
                let mut outcomes = Vec::with_capacity(proposal.purchases.len());
                for purchase in &proposal.purchases {
                    let id = purchase.request_id.as_str();
                    let known = match placed.get(id) {
                        Some(&i) => Some(known(OrderNumber(first + i as u64), &events[i])),
                        None => {
                            let (from, to) = candidates_range(id);
                            find(id, index.range(from, to)?, |seq| tables.event(seq))?
                                .map(|(number, event)| known(number, &event))
                        }
                    };
                    let number =
                        match decide(known, purchase, OrderNumber(first + events.len() as u64)) {
                            Decision::Answer(outcome) => {
                                outcomes.push(outcome);
                                continue;
                            }
                            Decision::Append { number } => number,
                        };
                    placed.insert(id, events.len());
                    events.push(OrderEvent::OrderPlaced {
                        number,
                        request_id: purchase.request_id.clone(),
                        name: purchase.name.clone(),
                        quantity: purchase.quantity,
                    });
                    outcomes.push(Outcome::Placed { number, new: true });
                }
                replies.push(Outcomes(outcomes));
            }
        }
        batch.append_all(&events)?;
        Ok(replies)
    }

    fn reply_without_data(&self) -> Outcomes {
        Outcomes::default()
    }
}

/// What order `number`, placed as `event`, tells a purchase under its request id.
fn known(number: OrderNumber, event: &OrderEvent) -> Known {
    let OrderEvent::OrderPlaced { name, quantity, .. } = event;
    Known {
        number,
        order: Some((name.as_str().to_owned(), quantity.get())),
    }
}

/// What the state machine holds for a purchase's request id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    /// The order number the request id names.
    number: OrderNumber,
    /// That order's (toy, quantity), if the orders table has it.
    order: Option<(String, u32)>,
}

/// What to do with a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Answer this without adding anything.
    Answer(Outcome),
    /// Append the purchase as order `number`; it answers `Placed { number, new: true }`.
    Append {
        /// The new order's number.
        number: OrderNumber,
    },
}

/// The rule for one purchase: `known` is what its request id names (`None`: a new request
/// id), `next` the number a new order gets (the orders so far). A new request id becomes
/// order `next`; a known one with the same toy and quantity answers its number, not new; any
/// other purchase under it (or a number without its order) is [`Outcome::KeyReused`].
fn decide(known: Option<Known>, purchase: &Purchase, next: OrderNumber) -> Decision {
    let Some(Known { number, order }) = known else {
        return Decision::Append { number: next };
    };
    let order = order
        .as_ref()
        .map(|(name, quantity)| (name.as_str(), *quantity));
    Decision::Answer(replayed(number, order, &purchase.name, purchase.quantity))
}

/// The answer to a purchase of `quantity` `product` under a request id already placed as
/// order `number` (whose (toy, quantity) is `order`, if known): the same toy and quantity
/// answer the number, not new; anything else is [`Outcome::KeyReused`]. The leader answers a
/// retried purchase by this rule before proposing it, and the state machine by it when one
/// is proposed twice.
pub(crate) fn replayed(
    number: OrderNumber,
    order: Option<(&str, u32)>,
    product: &ProductName,
    quantity: Quantity,
) -> Outcome {
    if order == Some((product.as_str(), quantity.get())) {
        Outcome::Placed { number, new: false }
    } else {
        Outcome::KeyReused { number }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purchase(id: &str, product: &str, quantity: u32) -> Purchase {
        Purchase {
            request_id: id.try_into().unwrap(),
            name: product.try_into().unwrap(),
            quantity: quantity.try_into().unwrap(),
        }
    }

    fn known(number: u64, order: Option<(&str, u32)>) -> Option<Known> {
        Some(Known {
            number: OrderNumber(number),
            order: order.map(|(name, quantity)| (name.to_owned(), quantity)),
        })
    }

    #[test]
    fn a_new_request_id_becomes_the_next_order() {
        assert_eq!(
            decide(None, &purchase("r1", "Tux", 2), OrderNumber(0)),
            Decision::Append {
                number: OrderNumber(0)
            }
        );
        assert_eq!(
            decide(None, &purchase("r9", "Whale", 1), OrderNumber(41)),
            Decision::Append {
                number: OrderNumber(41)
            }
        );
    }

    #[test]
    fn the_same_purchase_again_answers_its_number_and_adds_nothing() {
        assert_eq!(
            decide(
                known(7, Some(("Tux", 2))),
                &purchase("r1", "Tux", 2),
                OrderNumber(12)
            ),
            Decision::Answer(Outcome::Placed {
                number: OrderNumber(7),
                new: false
            })
        );
    }

    #[test]
    fn another_toy_under_a_known_request_id_is_key_reused() {
        assert_eq!(
            decide(
                known(7, Some(("Tux", 2))),
                &purchase("r1", "Whale", 2),
                OrderNumber(12)
            ),
            Decision::Answer(Outcome::KeyReused {
                number: OrderNumber(7)
            })
        );
    }

    #[test]
    fn another_quantity_under_a_known_request_id_is_key_reused() {
        assert_eq!(
            decide(
                known(7, Some(("Tux", 2))),
                &purchase("r1", "Tux", 3),
                OrderNumber(12)
            ),
            Decision::Answer(Outcome::KeyReused {
                number: OrderNumber(7)
            })
        );
    }

    #[test]
    fn names_compare_exactly() {
        assert_eq!(
            decide(
                known(3, Some(("Tux", 1))),
                &purchase("r1", "tux", 1),
                OrderNumber(4)
            ),
            Decision::Answer(Outcome::KeyReused {
                number: OrderNumber(3)
            })
        );
        assert_eq!(
            decide(
                known(3, Some(("Tux", 1))),
                &purchase("r1", "Tux ", 1),
                OrderNumber(4)
            ),
            Decision::Answer(Outcome::KeyReused {
                number: OrderNumber(3)
            })
        );
    }

    #[test]
    fn a_known_number_without_its_order_is_key_reused() {
        assert_eq!(
            decide(known(5, None), &purchase("r1", "Tux", 2), OrderNumber(9)),
            Decision::Answer(Outcome::KeyReused {
                number: OrderNumber(5)
            })
        );
    }
}
