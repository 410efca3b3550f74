//! The HTTP every toystore service shares, so that each rule is implemented once:
//!
//! - [`serve`]: runs a warp filter on a bound listener with `TCP_NODELAY` on every accepted
//!   connection and a bounded graceful shutdown;
//! - [`reply`]: the `{"data": ...}` / `{"error": {"code", "message"}}` envelope, and
//!   [`reply::recover`], which turns every rejection into that JSON error (no request gets a
//!   non-JSON error or a 5xx for bad input);
//! - [`body`]: strict JSON request bodies (content type, size limit, unknown fields);
//! - [`path`]: percent-decoded path segments;
//! - [`auth`]: the cluster token on internal endpoints ([`auth::require`]);
//! - [`client`]: pooled keep-alive HTTP clients and the reading of envelope replies;
//! - [`stream`]: streaming response bodies (event streams);
//! - [`shutdown`]: Ctrl-C / SIGTERM as a future;
//! - [`metrics`]: Prometheus `/metrics` (HTTP counts and latencies, state read at scrape);
//! - [`stages`]: the buy path's per-stage latency histograms, one family every service shares;
//! - [`tls`]: TLS between services, one setting per process from the cluster file.
//!
//! The configuration these run with (the cluster file, the token itself, logging) is
//! `toystore-config`'s.

pub mod auth;
pub mod body;
pub mod client;
pub mod metrics;
pub mod path;
pub mod reply;
mod serve;
pub mod shutdown;
pub mod stages;
pub mod stream;
pub mod tls;

pub use reply::ApiError;
pub use serve::{bind, serve, serve_until, GRACE_PERIOD};
pub use toystore_config::ClusterToken;
