//! The events every service records.
//!
//! Events are facts: once appended they are never changed or removed. Each enum is the whole
//! vocabulary of one kind of log; adding a variant at the end keeps old logs readable
//! (postcard encodes the variant index), and changing an existing variant requires a new
//! [`crate::FORMAT_VERSION`].

use serde::{Deserialize, Serialize};

/// A toy's name, exactly as clients spell it (case-sensitive).
pub type ProductName = String;

/// The id a purchase carries from the front-end to the catalog and the order log: the
/// client's `Idempotency-Key`, or a fresh UUID. The same request id always yields the same
/// result and buys at most once.
pub type RequestId = String;

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
        /// Units bought (at least 1).
        quantity: u32,
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
    pub fn product(&self) -> &str {
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
        number: u64,
        /// The purchase's request id.
        request_id: RequestId,
        /// The toy bought.
        name: ProductName,
        /// Units bought.
        quantity: u32,
    },
}

/// Most units one purchase may ask for (API.md).
pub const MAX_QUANTITY: u32 = 1_000_000;

/// Whether a request id (an `Idempotency-Key`) is acceptable: 1 to 64 printable ASCII
/// characters (API.md).
pub fn valid_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}
