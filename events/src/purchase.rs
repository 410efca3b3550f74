//! [`Purchase`]: what one purchase asks for (an idempotency key, a toy, units), the one
//! shape it has on every hop: the front-end's call to the order leader
//! (`POST /internal/orders`), the leader's call to the catalog (`POST /internal/buy`), and
//! the Raft entry that carries it to the replicas (postcard, fields in this order).

use crate::{ProductName, Quantity, RequestId};
use serde::{Deserialize, Serialize};

/// A purchase: `request_id` buys `quantity` units of `name`, at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Purchase {
    /// Idempotency key: the same id buys at most once.
    pub request_id: RequestId,
    /// The toy.
    pub name: ProductName,
    /// Units.
    pub quantity: Quantity,
}
