//! [`Catalog`]: the catalog's state and its operations.
//!
//! Reads use a read transaction (a consistent snapshot: a product's value and the sequence
//! number it is current at come from the same snapshot). Buys and restocks run inside the
//! log's group-commit transaction, one after another, so their check-then-act is atomic:
//! concurrent buys of the last units sell exactly the stock, never more.

use crate::projection::{broken, CatalogProjection, PURCHASES, STOCK};
use crate::toys::TOYS;
use std::path::Path;
use std::sync::Arc;
use toystore_catalog_api::Product;
use toystore_events::Purchase;
use toystore_events::{CatalogEvent, ProductName, Seq};
use toystore_store::{Batch, EventLog, StoreError};

/// Errors of catalog operations (not outcomes like "sold out", see [`BuyOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a buy did.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The catalog: its log and projection.
pub struct Catalog {
    log: Arc<EventLog<CatalogEvent>>,
    stock: u32,
}

impl Catalog {
    /// Opens (or creates) the catalog at `path`. A new catalog is seeded with [`TOYS`], each
    /// with `stock` units, as `ProductAdded` events in one transaction; sold-out toys are
    /// restocked to `stock` ([`crate::toys::DEFAULT_STOCK`] is the handout's 100).
    pub fn open(path: &Path, stock: u32) -> Result<Self, CatalogError> {
        let log = EventLog::open(path, CatalogProjection)?;
        if log.last_seq() == Seq::ZERO {
            let seeded = log.execute_blocking(move |b| {
                if b.last_seq() != Seq::ZERO {
                    return Ok(0);
                }
                for (name, price) in TOYS {
                    b.append(&CatalogEvent::ProductAdded {
                        name: stored_name(name.to_string())?,
                        price: *price,
                        quantity: stock,
                    })?;
                }
                Ok(TOYS.len())
            })?;
            tracing::info!(toys = seeded, path = %path.display(), "seeded new catalog");
        }
        Ok(Self {
            log: Arc::new(log),
            stock,
        })
    }

    /// The event log (for streaming it to subscribers).
    pub fn log(&self) -> &Arc<EventLog<CatalogEvent>> {
        &self.log
    }

    /// One product and the sequence number its value is current at.
    pub fn product(&self, name: &ProductName) -> Result<(Option<Product>, Seq), CatalogError> {
        let tables = self.log.read()?;
        let seq = tables.last_seq()?;
        let product = tables
            .open(STOCK)?
            .get(name.as_str())?
            .map(|(price, quantity)| Product {
                name: name.clone(),
                price,
                quantity,
            });
        Ok((product, seq))
    }

    /// Every product, sorted by name, and the sequence number the list is current at.
    pub fn products(&self) -> Result<(Vec<Product>, Seq), CatalogError> {
        let tables = self.log.read()?;
        let seq = tables.last_seq()?;
        let mut products = Vec::new();
        for row in tables.open(STOCK)?.rows()? {
            let (name, (price, quantity)) = row?;
            products.push(Product {
                name: stored_name(name)?,
                price,
                quantity,
            });
        }
        Ok((products, seq))
    }

    /// How many purchases the catalog has recorded (one per request id, ever).
    pub fn purchases(&self) -> Result<u64, CatalogError> {
        Ok(self.log.read()?.open(PURCHASES)?.len()?)
    }

    /// Buys `quantity` of a toy, at most once per request id. Returns after the purchase is
    /// durable.
    pub async fn buy(&self, req: Purchase) -> Result<BuyOutcome, CatalogError> {
        Ok(self.log.execute(move |b| buy_in(b, &req)).await?)
    }

    /// Restocks every sold-out toy to the configured stock; returns the names restocked.
    pub async fn restock(&self) -> Result<Vec<ProductName>, CatalogError> {
        let stock = self.stock;
        Ok(self.log.execute(move |b| restock_in(b, stock)).await?)
    }
}

fn buy_in(b: &mut Batch<'_, CatalogEvent>, req: &Purchase) -> Result<BuyOutcome, StoreError> {
    let earlier = b.tables().open(PURCHASES)?.get(req.request_id.as_str())?;
    if let Some(seq) = earlier {
        let same = match b.event_at(Seq(seq))? {
            Some(CatalogEvent::Purchased { name, quantity, .. }) => {
                name == req.name && quantity == req.quantity
            }
            _ => false,
        };
        return Ok(if same {
            BuyOutcome::Bought {
                seq: Seq(seq),
                replayed: true,
            }
        } else {
            BuyOutcome::Conflict
        });
    }
    let have = b
        .tables()
        .open(STOCK)?
        .get(req.name.as_str())?
        .map(|(_, quantity)| quantity);
    match have {
        None => Ok(BuyOutcome::NotFound),
        Some(have) if have < req.quantity.get() => Ok(BuyOutcome::InsufficientStock),
        Some(_) => {
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

fn restock_in(b: &mut Batch<'_, CatalogEvent>, stock: u32) -> Result<Vec<ProductName>, StoreError> {
    let sold_out: Vec<ProductName> = {
        let stock = b.tables().open(STOCK)?;
        let mut out = Vec::new();
        for row in stock.rows()? {
            let (name, (_, quantity)) = row?;
            if quantity == 0 {
                out.push(stored_name(name)?);
            }
        }
        out
    };
    for name in &sold_out {
        b.append(&CatalogEvent::Restocked {
            name: name.clone(),
            added: stock,
        })?;
    }
    Ok(sold_out)
}

/// A toy's name as the stock table (or the seed list) holds it: never empty, or the table is
/// damaged.
fn stored_name(name: String) -> Result<ProductName, StoreError> {
    ProductName::try_from(name).map_err(|e| broken("stock", format!("a stored name: {e}")))
}
