//! The front-end: the public REST API of API.md.
//!
//! - [`cache`]: the LRU product cache with stale-insert protection;
//! - [`invalidation`]: the subscription to the catalog's event stream that keeps it fresh;
//! - [`server`]: the public routes and the service's state.

pub mod cache;
pub mod invalidation;
pub mod server;
