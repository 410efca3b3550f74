//! The events every service records.
//!
//! Events are facts: once appended they are never changed or removed. Each enum is the whole
//! vocabulary of one kind of log; adding a variant at the end keeps old logs readable
//! (postcard encodes the variant index), and changing an existing variant requires a new
//! [`crate::FORMAT_VERSION`].

use crate::vocab::{OrderNumber, ProductName, Quantity, RequestId};
use serde::{Deserialize, Serialize};

/// What happens to the catalog's stock. The catalog's log starts with one `ProductAdded` per
/// toy, so for every toy `added + restocked - purchased = current stock` holds over the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CatalogEvent {
    /// A toy entered the catalog with its price and initial stock.
    ProductAdded {
        /// The toy's name.
        name: ProductName,
        /// Price in the store's currency.
        price: f64,
        /// Initial stock.
        quantity: u32,
    },
    /// A purchase of `quantity` units, identified by its request id.
    Purchased {
        /// The purchase's request id (idempotency key).
        request_id: RequestId,
        /// The toy bought.
        name: ProductName,
        /// Units bought.
        quantity: Quantity,
    },
    /// A sold-out toy was restocked: `added` units brought it back to its full stock.
    Restocked {
        /// The toy restocked.
        name: ProductName,
        /// Units added.
        added: u32,
    },
}

impl CatalogEvent {
    /// The toy this event is about.
    pub fn product(&self) -> &ProductName {
        match self {
            CatalogEvent::ProductAdded { name, .. }
            | CatalogEvent::Purchased { name, .. }
            | CatalogEvent::Restocked { name, .. } => name,
        }
    }
}

/// What happens in an order replica's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    /// An order was placed. Order `number` n is the event at sequence number n + 1 on every
    /// replica.
    OrderPlaced {
        /// The order number (0, 1, 2, ...).
        number: OrderNumber,
        /// The purchase's request id.
        request_id: RequestId,
        /// The toy bought.
        name: ProductName,
        /// Units bought.
        quantity: Quantity,
    },
}
