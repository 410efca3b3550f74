//! [`Rules`]: what an applied catalog entry does, inside the storage's apply transaction,
//! identically on every replica: seed an empty catalog, buy (idempotent by request id,
//! never overselling; an entry's buys one after another, each seeing the ones before),
//! restock sold-out toys (once per sell-out, however many leaders
//! proposed it). Each is a function of the transaction's [`Batch`]: it reads the projection
//! (seeing what earlier entries of the same batch did) and appends events. Business
//! refusals are [`BuyOutcome`]s, never errors (an error aborts the group commit).

use crate::projection::{broken, PURCHASES, STOCK};
use crate::types::{CatalogRaft, Command, Reply};
use openraft::LogId;
use serde::{Deserialize, Serialize};
use toystore_config::ReplicaId;
use toystore_events::{CatalogEvent, ProductName, Purchase, Seq};
use toystore_store::raft::Apply;
use toystore_store::{Batch, StoreError};

/// A restock proposed more than this many events after the proposer's view is stale: it
/// restocks nothing (the leader proposes again at its next tick, with a fresh view).
pub const RESTOCK_HORIZON: u64 = 100_000;

/// What a buy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuyOutcome {
    /// Bought now, or (`replayed`) bought earlier by the same request id.
    Bought {
        /// The `Purchased` event's sequence number.
        seq: Seq,
        /// True if nothing was bought now because the request id had bought before.
        replayed: bool,
    },
    /// No such toy.
    NotFound,
    /// Fewer units in stock than asked for; nothing bought.
    InsufficientStock,
    /// The request id bought before, but another toy or quantity.
    Conflict,
}

/// The catalog state machine's applier.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rules;

impl Apply<CatalogRaft, CatalogEvent> for Rules {
    fn apply(
        &self,
        batch: &mut Batch<'_, CatalogEvent>,
        _log_id: &LogId<ReplicaId>,
        command: &Command,
    ) -> Result<Reply, StoreError> {
        Ok(match command {
            Command::Seed { toys, stock } => Reply::Seeded(seed(batch, toys, *stock)?),
            Command::Buy(purchases) => Reply::Bought(
                purchases
                    .iter()
                    .map(|purchase| buy(batch, purchase))
                    .collect::<Result<_, _>>()?,
            ),
            Command::Restock { stock, seen } => Reply::Restocked(restock(batch, *stock, *seen)?),
        })
    }

    fn reply_without_data(&self) -> Reply {
        Reply::Nothing
    }
}

/// Adds `toys` with `stock` units each if the catalog has none; returns how many it added.
pub fn seed(
    b: &mut Batch<'_, CatalogEvent>,
    toys: &[(ProductName, f64)],
    stock: u32,
) -> Result<u32, StoreError> {
    if b.tables().open(STOCK)?.rows()?.next().is_some() {
        return Ok(0);
    }
    for (name, price) in toys {
        b.append(&CatalogEvent::ProductAdded {
            name: name.clone(),
            price: *price,
            quantity: stock,
        })?;
    }
    Ok(toys.len() as u32)
}

/// What the state says about a buy: answer it without selling, or sell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer this; nothing is sold.
    Answer(BuyOutcome),
    /// Sell: append the purchase.
    Sell,
}

/// The buy rule, the one place it is written: `earlier` is the purchase its request id
/// made before (its seq, and whether it was the same toy and quantity), `have` the toy's
/// units in stock (`None`: no such toy). A known request id replays (the same purchase) or
/// conflicts (another); a new one sells if there are enough units.
pub fn decide(earlier: Option<(Seq, bool)>, have: Option<u32>, quantity: u32) -> Decision {
    match (earlier, have) {
        (Some((seq, true)), _) => Decision::Answer(BuyOutcome::Bought {
            seq,
            replayed: true,
        }),
        (Some((_, false)), _) => Decision::Answer(BuyOutcome::Conflict),
        (None, None) => Decision::Answer(BuyOutcome::NotFound),
        (None, Some(have)) if have < quantity => Decision::Answer(BuyOutcome::InsufficientStock),
        (None, Some(_)) => Decision::Sell,
    }
}

/// [`decide`] for `req` on the state `tables` and `event` read: the request id's earlier
/// purchase and the toy's stock.
pub fn decide_on(
    req: &Purchase,
    purchases: Option<u64>,
    event: impl Fn(Seq) -> Result<Option<CatalogEvent>, StoreError>,
    stock: Option<(f64, u32)>,
) -> Result<Decision, StoreError> {
    let earlier = match purchases {
        None => None,
        Some(seq) => {
            let same = matches!(
                event(Seq(seq))?,
                Some(CatalogEvent::Purchased { name, quantity, .. })
                    if name == req.name && quantity == req.quantity
            );
            Some((Seq(seq), same))
        }
    };
    Ok(decide(
        earlier,
        stock.map(|(_, quantity)| quantity),
        req.quantity.get(),
    ))
}

/// Buys `req.quantity` of `req.name`, at most once per request id ([`decide`]).
pub fn buy(b: &mut Batch<'_, CatalogEvent>, req: &Purchase) -> Result<BuyOutcome, StoreError> {
    let decision = {
        let tables = b.tables();
        let earlier = tables.open(PURCHASES)?.get(req.request_id.as_str())?;
        let stock = tables.open(STOCK)?.get(req.name.as_str())?;
        decide_on(req, earlier, |seq| tables.event(seq), stock)?
    };
    match decision {
        Decision::Answer(outcome) => Ok(outcome),
        Decision::Sell => {
            let seq = b.append(&CatalogEvent::Purchased {
                request_id: req.request_id.clone(),
                name: req.name.clone(),
                quantity: req.quantity,
            })?;
            Ok(BuyOutcome::Bought {
                seq,
                replayed: false,
            })
        }
    }
}

/// Restocks every sold-out toy to `stock`, except one restocked after `seen`; returns the
/// names restocked, sorted.
pub fn restock(
    b: &mut Batch<'_, CatalogEvent>,
    stock: u32,
    seen: Seq,
) -> Result<Vec<ProductName>, StoreError> {
    let last = b.last_seq();
    if last.0.saturating_sub(seen.0) > RESTOCK_HORIZON {
        return Ok(Vec::new());
    }
    let mut sold_out: Vec<ProductName> = {
        let table = b.tables().open(STOCK)?;
        let mut out = Vec::new();
        for row in table.rows()? {
            let (name, (_, quantity)) = row?;
            if quantity == 0 {
                out.push(stored_name(name)?);
            }
        }
        out
    };
    if sold_out.is_empty() {
        return Ok(sold_out);
    }
    // Restocked since the proposer looked: that restock answered this sell-out already.
    for seq in seen.0 + 1..=last.0 {
        if let Some(CatalogEvent::Restocked { name, .. }) = b.event_at(Seq(seq))? {
            sold_out.retain(|n| *n != name);
        }
    }
    for name in &sold_out {
        b.append(&CatalogEvent::Restocked {
            name: name.clone(),
            added: stock,
        })?;
    }
    Ok(sold_out)
}

/// A toy's name as the stock table holds it: never empty, or the table is damaged.
pub(crate) fn stored_name(name: String) -> Result<ProductName, StoreError> {
    ProductName::try_from(name).map_err(|e| broken("stock", format!("a stored name: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_request_id_sells_when_there_are_enough_units() {
        assert_eq!(decide(None, Some(5), 5), Decision::Sell);
        assert_eq!(decide(None, Some(100), 1), Decision::Sell);
    }

    #[test]
    fn too_few_units_or_no_such_toy_is_refused() {
        assert_eq!(
            decide(None, Some(4), 5),
            Decision::Answer(BuyOutcome::InsufficientStock)
        );
        assert_eq!(
            decide(None, Some(0), 1),
            Decision::Answer(BuyOutcome::InsufficientStock)
        );
        assert_eq!(
            decide(None, None, 1),
            Decision::Answer(BuyOutcome::NotFound)
        );
    }

    #[test]
    fn a_known_request_id_replays_or_conflicts_whatever_the_stock() {
        let bought = Decision::Answer(BuyOutcome::Bought {
            seq: Seq(7),
            replayed: true,
        });
        assert_eq!(decide(Some((Seq(7), true)), Some(0), 3), bought);
        assert_eq!(decide(Some((Seq(7), true)), None, 3), bought);
        assert_eq!(
            decide(Some((Seq(7), false)), Some(100), 1),
            Decision::Answer(BuyOutcome::Conflict)
        );
    }
}
