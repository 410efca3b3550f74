//! The toystore tools: how people run, load, evaluate, break and inspect the store.
//!
//! - [`cluster`]: a whole store as real processes (used by `up`, `eval`, `chaos` and the
//!   black-box tests);
//! - [`node`]: running one service by name (the `tools catalog|order|frontend` subcommands
//!   that [`cluster`] starts);
//! - [`up`]: `tools up`;
//! - [`client`]: `tools client`, the handout's client with latency statistics and an order
//!   check ([`client::run_clients`] for in-process callers);
//! - [`logfile`]: opening a service's redb log read-only for inspection;
//! - [`replay`]: `tools replay`, rebuilding a log's projections from its events;
//! - [`diff`]: `tools diff`, comparing replicas' logs event by event;
//! - [`eval`]: `tools eval`, the latency evaluation, with [`plot`] for its SVG charts;
//! - [`chaos`]: `tools chaos`, killing replicas under load and checking nothing is lost;
//! - [`checker`]: the history checker (lost, duplicated, gaps, stock, divergence, windows);
//! - [`bench`]: `tools bench`, throughput and latency of each scenario next to the machine's
//!   HTTP and disk ceilings;
//! - [`growth`]: `tools growth`, the cost of start-up, catch-up, replay and diff, and the
//!   replicas' memory, as the order log grows;
//! - [`outage`]: `tools outage`, how long buying stops after a leader or follower is killed
//!   or paused.

pub mod bench;
pub mod chaos;
pub mod checker;
pub mod client;
pub mod cluster;
pub mod diff;
pub mod eval;
pub mod growth;
pub mod history;
pub mod logfile;
pub mod memory;
pub mod netns;
pub mod node;
pub mod outage;
pub mod plot;
pub mod replay;
pub mod timeline;
pub mod up;

/// Prints a command's report: as pretty JSON with `json`, else as its text.
pub(crate) fn print_report<R: serde::Serialize>(
    report: &R,
    json: bool,
    text: impl FnOnce(&R) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{}", text(report));
    }
    Ok(())
}
