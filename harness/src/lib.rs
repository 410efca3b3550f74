//! The harness: a whole store as real processes, and what tools and tests need to drive,
//! break and judge it. `tools` (its commands) and `tests` (the black-box tests) both build
//! on it; nothing here is a command.
//!
//! - [`cluster`]: [`Cluster`], the launcher (start, kill, pause, restart, stop), from a
//!   [`spec::ClusterSpec`]; [`service`] names the services and [`logs`] says where their
//!   lines go;
//! - [`netns`]: each service on a host of its own, and partitions between them; [`disks`]:
//!   each replica's file on a small filesystem of its own;
//! - [`probe`]: health, leaders and convergence asked through typed clients, and
//!   [`probe::poll_until`], the one way to wait for something to hold;
//! - [`run`]: running one service by name (what a launched child runs);
//! - [`buyer`]: the one buyer that retries a purchase with its key, recording a [`History`];
//! - [`history`] and [`checker`]: a run's history and the checker that judges it;
//! - [`fault`]: the faults a nemesis plans, injects and undoes;
//! - [`logfile`] and [`diff`]: a service's log file opened read-only, and replicas compared
//!   event by event;
//! - [`memory`]: a process's resident memory; [`table`]: one table, rendered as Markdown,
//!   CSV or text.

pub mod buyer;
pub mod checker;
pub mod cluster;
pub mod diff;
pub mod disks;
pub mod fault;
pub mod history;
pub mod logfile;
pub mod logs;
pub mod memory;
pub mod netns;
pub mod probe;
pub mod run;
pub mod service;
pub mod spec;
pub mod table;

pub use cluster::Cluster;
pub use history::History;
pub use service::Service;
pub use spec::{free_ports, ClusterSpec};
