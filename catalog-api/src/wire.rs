//! Wire types of the catalog's internal endpoints (JSON inside the `data` envelope).
//!
//! | endpoint | reply `data` |
//! | --- | --- |
//! | `GET /health` | [`Health`] (no token needed; any replica) |
//! | `GET /internal/products` | [`ProductList`] |
//! | `GET /internal/products?name=<name>` ([`ByName`], form-encoded) or `GET /internal/products/<name>` (percent-encoded segment) | [`ProductReply`], 404 `product not found` |
//! | `POST /internal/buy` ([`Purchase`](toystore_events::Purchase)) | [`BuyReply`], 404, 409 `insufficient stock`, 422 |
//! | `POST /internal/restock` | [`RestockReply`] |
//! | `GET /internal/events?after=<seq>` | a frame stream of catalog events (any replica) |
//! | `POST /internal/raft/...` | the Raft routes between catalog replicas (`toystore_raft::routes`) |
//!
//! Products, buys and restocks are the leader's: another replica answers 421 naming the
//! leader it knows of in `x-toystore-leader` ([`toystore_raft_api::LEADER_HEADER`]).

use serde::{Deserialize, Serialize};
use toystore_events::{ProductName, Seq};

/// The query of `GET /internal/products?name=<name>`: the exact name, whatever bytes it
/// holds (a path segment cannot carry `.`, `..`, tab, CR or LF through a URL parser).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByName {
    /// The toy's name.
    pub name: String,
}

/// A toy as clients see it (the public JSON shape of API.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Tux", "price": 25.99, "quantity": 100}))]
pub struct Product {
    /// Case-sensitive name.
    #[schema(value_type = String, min_length = 1)]
    pub name: ProductName,
    /// Price.
    pub price: f64,
    /// Units in stock.
    pub quantity: u32,
}

/// One product and the catalog sequence number its value is current at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductReply {
    /// The catalog's last sequence number when the value was read.
    pub seq: Seq,
    /// The product.
    pub product: Product,
}

/// Every product, sorted by name, at one sequence number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductList {
    /// The catalog's last sequence number when the list was read.
    pub seq: Seq,
    /// The products.
    pub products: Vec<Product>,
}

/// A purchase that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyReply {
    /// The sequence number of the `Purchased` event.
    pub seq: Seq,
    /// True if this request id had already bought (nothing was bought now).
    pub replayed: bool,
}

/// The toys a restock brought back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestockReply {
    /// Names restocked, sorted.
    pub restocked: Vec<ProductName>,
}

/// What a catalog replica says about itself on `GET /health`: the status every Raft replica
/// of the store reports (`last_seq` is its last applied catalog event; `ready` means it can
/// vote and its toys are there).
pub type Health = toystore_raft_api::ReplicaStatus;
