//! The front-end: the public REST API of API.md.
//!
//! Like every service crate, four parts: the wire types ([`api`]), the typed client callers
//! use ([`client`]), the warp server ([`server`], the only module that chooses status codes)
//! and the command line ([`cli`], run by `main`). Behind the server:
//!
//! - [`api`]: the public wire types (product, order request, order number, order, the
//!   envelope and error body) and those of `/health` and `/internal/metrics`;
//! - [`client`]: [`client::FrontendClient`], typed calls of the public API with typed errors
//!   ([`client::FrontendError`]);
//! - [`server`]: the public routes; maps typed outcomes to statuses;
//! - `state` (private): the service's state, public as [`server::Frontend`],
//!   read by [`server`], [`metrics`] and [`cluster_view`] alike;
//! - [`cache`]: the LRU product cache with stale-insert protection;
//! - [`invalidation`]: the subscription to the catalog's event stream that keeps it fresh
//!   and feeds the relay;
//! - [`leader`]: leader selection and health checks of the order replicas;
//! - [`orders`]: forwarding orders to the leader with transparent failover, refusals as
//!   [`orders::OrderRefusal`];
//! - [`topology`]: applying replica changes from the watched cluster file;
//! - [`metrics`]: Prometheus metrics (HTTP, cache, leader);
//! - [`relay`]: stock changes relayed to browsers as Server-Sent Events (`/events`);
//! - [`cluster_view`]: `/cluster/status`, what the cluster page shows;
//! - [`web`]: the storefront (`/`) and the cluster page (`/cluster`), embedded;
//! - [`openapi`]: the public API's OpenAPI 3 document (`/openapi.json`), from [`api`];
//! - [`cli`]: the command line.

pub mod api;
pub mod cache;
pub mod cli;
pub mod client;
pub mod cluster_view;
pub mod invalidation;
pub mod leader;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod relay;
pub mod server;
mod state;
pub mod topology;
pub mod web;
