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
//! - [`client`]: the typed client other services call it with;
//! - [`metrics`]: Prometheus metrics (HTTP, stock per toy, purchases);
//! - [`api`]: the wire types of those endpoints;
//! - [`cli`]: the command line.

pub mod api;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod metrics;
pub mod projection;
pub mod server;
pub mod toys;

pub use catalog::{BuyOutcome, Catalog, CatalogError};
pub use client::CatalogClient;
