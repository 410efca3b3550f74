//! The catalog service: it owns stock, replicated on Raft like the orders.
//!
//! Every change of stock is a [`CatalogEvent`](toystore_events::CatalogEvent) in each
//! replica's redb log, appended when a Raft entry is applied, so the events and their
//! sequence numbers are the same on every replica; the current stock and the purchases by
//! request id are a projection of that log, committed in the same transaction as the events
//! ([`projection`]). The Raft node itself (transport, snapshots, membership) is
//! `toystore_raft`'s. On top:
//!
//! - [`types`]: the Raft type configuration (a [`types::Command`] per entry);
//! - [`rules`]: what an applied entry does: seed, buy (idempotent by request id, never
//!   oversells), restock sold-out toys (once per sell-out);
//! - [`catalog::Catalog`]: one replica's operations: writes and linearizable reads on the
//!   leader, a leader hint elsewhere;
//! - [`server`]: the internal HTTP endpoints (all behind the cluster token), the seeding of
//!   a new catalog and the periodic restock on the leader, and the event stream that
//!   front-ends and order replicas follow, served by every replica;
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
pub mod rules;
pub mod server;
pub mod toys;
pub mod types;

pub use catalog::{Catalog, CatalogError};
pub use rules::BuyOutcome;
