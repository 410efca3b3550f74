//! Wire types of a replica's endpoints for its callers (JSON inside the `data` envelope);
//! the Raft routes between replicas are `toystore_raft`'s (`toystore_raft::wire`).
//!
//! | endpoint | body | reply |
//! | --- | --- | --- |
//! | `GET /health` (no token) | | [`ReplicaStatus`] |
//! | `POST /internal/orders` | [`Purchase`](toystore_events::Purchase) | [`OrderPlacedReply`]; a [`Refusal`](crate::Refusal) |
//! | `GET /internal/orders/<n>` | | [`OrderRecord`]; a [`Refusal`](crate::Refusal) (404 `order not found`, 421, 503) |
//! | `POST /internal/raft/campaign` | | [`ReplicaStatus`] (the replica starts an election unless it leads) |
//!
//! 421 (misdirected request) means "I am not the leader": the caller should ask the leader
//! named in [`LEADER_HEADER`] (or select one again) and retry with the same request id.

use serde::{Deserialize, Serialize};
use toystore_events::{OrderNumber, ProductName, Quantity};

pub use toystore_raft_api::{ReplicaStatus, Role, LEADER_HEADER};

/// A placed order's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlacedReply {
    /// The order number.
    pub order_number: OrderNumber,
    /// True if the request id had been placed before (nothing new was bought).
    pub replayed: bool,
}

/// An order, in API.md's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    /// The order number.
    #[schema(value_type = u64)]
    pub number: OrderNumber,
    /// The toy.
    #[schema(value_type = String, min_length = 1)]
    pub name: ProductName,
    /// Units.
    #[schema(value_type = u32, minimum = 1, maximum = 1_000_000)]
    pub quantity: Quantity,
}
