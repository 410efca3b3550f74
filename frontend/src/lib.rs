//! The front-end: the public REST API of API.md.
//!
//! - [`cache`]: the LRU product cache with stale-insert protection;
//! - [`invalidation`]: the subscription to the catalog's event stream that keeps it fresh
//!   and feeds the relay;
//! - [`leader`]: leader selection and health checks of the order replicas;
//! - [`orders`]: forwarding orders to the leader with transparent failover;
//! - [`topology`]: applying replica changes from the watched cluster file;
//! - [`server`]: the public routes and the service's state;
//! - [`metrics`]: Prometheus metrics (HTTP, cache, leader);
//! - [`relay`]: stock changes relayed to browsers as Server-Sent Events (`/events`);
//! - [`cluster_view`]: `/cluster/status`, what the cluster page shows;
//! - [`web`]: the storefront (`/`) and the cluster page (`/cluster`), embedded;
//! - [`openapi`]: the public API's OpenAPI 3 document (`/openapi.json`);
//! - [`cli`]: the command line.

pub mod cache;
pub mod cli;
pub mod cluster_view;
pub mod invalidation;
pub mod leader;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod relay;
pub mod server;
pub mod topology;
pub mod web;
