//! The toystore tools: how people run, load, evaluate, break and inspect the store.
//!
//! Every module is a command; what they share (the store as processes, netns hosts, probes,
//! the buyer, history and checker, faults, log files, memory, tables) is the harness,
//! [`toystore_harness`], which the black-box tests use too.
//!
//! - [`up`]: `tools up`;
//! - [`client`]: `tools client`, the handout's client with latency statistics and an order
//!   check ([`client::run_clients`] for in-process callers);
//! - [`replay`]: `tools replay`, rebuilding a log's projections from its events;
//! - [`diff`]: `tools diff`, comparing replicas' logs event by event;
//! - [`eval`]: `tools eval`, the latency evaluation, with [`plot`] for its SVG charts;
//! - [`chaos`]: `tools chaos`, killing replicas under load and checking nothing is lost;
//! - [`bench`]: `tools bench`, throughput and latency of each scenario next to the machine's
//!   HTTP and disk ceilings;
//! - [`growth`]: `tools growth`, the cost of start-up, catch-up, replay and diff, and the
//!   replicas' memory, as the order log grows;
//! - [`outage`]: `tools outage`, how long buying stops after a leader or follower is killed
//!   or paused.

pub mod bench;
pub mod chaos;
pub mod client;
pub mod diff;
pub mod eval;
pub mod growth;
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
