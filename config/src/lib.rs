//! How a toystore binary is configured, in one place:
//!
//! - [`cluster`]: the cluster file `toystore.toml` (every service's addresses, the Raft
//!   settings, the timeouts of calls between services) and the flags every service shares
//!   ([`ServiceArgs`]); its types are re-exported here;
//! - [`addr`]: a service's address, `host:port` with an IP or a DNS name;
//! - [`duration`]: durations as people write them (`10s`, `500ms`), in flags and in the file;
//! - [`backoff`]: the doubling wait of every reconnecting loop;
//! - [`token`]: the cluster token internal endpoints demand;
//! - [`watch`]: the cluster file, re-read when it changes;
//! - [`logging`]: the binaries' tracing set-up (`--log-format`).
//!
//! It does no networking: serving and calling are `toystore-http`'s.

pub mod addr;
pub mod backoff;
pub mod cluster;
pub mod duration;
pub mod logging;
pub mod token;
pub mod watch;

pub use addr::ServiceAddr;
pub use backoff::Backoff;
pub use cluster::*;
pub use token::ClusterToken;
