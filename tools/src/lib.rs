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
//! - [`rebuild`]: `tools rebuild`, setting a damaged replica file aside;
//! - [`backup`], [`restore`]: `tools backup` (a consistent online copy of a replica's state
//!   machine) and `tools restore` (a new cluster, or one wiped replica, from a backup);
//! - [`eval`]: `tools eval`, the latency evaluation, with [`plot`] for its SVG charts;
//! - [`chaos`]: `tools chaos`, killing replicas under load and checking nothing is lost;
//! - [`bench`]: `tools bench`, throughput and latency of each scenario next to the machine's
//!   HTTP and disk ceilings;
//! - [`growth`]: `tools growth`, the cost of start-up, catch-up, replay and diff, and the
//!   replicas' memory, as the order log grows;
//! - [`outage`]: `tools outage`, how long buying stops after a leader or follower is killed
//!   or paused.

pub mod backup;
pub mod bench;
pub mod certs;
pub mod chaos;
pub mod client;
pub mod diff;
pub mod eval;
pub mod growth;
pub mod outage;
pub mod plot;
pub mod probe;
pub mod rebuild;
pub mod replay;
pub mod restore;
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

/// The median of `values` (the mean of the two middle ones for an even count); `None` if
/// there are none. The one median of every report (eval's settings, chaos's and outage's
/// windows).
pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.into_iter().collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_or_the_mean_of_the_two_middle_ones() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([]), None);
    }
}
