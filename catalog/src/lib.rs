//! The catalog service: it owns stock.
//!
//! Every change of stock is a [`CatalogEvent`](toystore_events::CatalogEvent) in the
//! catalog's redb log; the current stock and the purchases by request id are a projection
//! of that log, committed in the same transaction as the events ([`projection`]). On top:
//!
//! - [`catalog::Catalog`]: look up, list, buy (idempotent by request id, never oversells),
//!   restock sold-out toys;
//! - [`server`]: the internal HTTP endpoints (all behind the cluster token) and the periodic
//!   restock, and the event stream that front-ends follow to invalidate their caches;
//! - [`metrics`]: Prometheus metrics (HTTP, stock per toy, purchases);
//! - [`cli`]: the command line.
//!
//! The wire types of its endpoints, the statuses of its refusals and the typed client that
//! other services call it with are in `toystore-catalog-api`, which callers depend on
//! instead of this crate.

pub mod catalog;
pub mod cli;
pub mod metrics;
pub mod projection;
pub mod server;
pub mod toys;

pub use catalog::{BuyOutcome, Catalog, CatalogError};
