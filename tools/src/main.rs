//! The `tools` binary: run the whole store, drive the handout's client, evaluate, inject
//! faults and check the history, replay a log, diff replicas, set a damaged replica file
//! aside, back a replica up and restore it, measure the cost of a growing log, make TLS
//! certificates, probe a service's health.
//!
//! Exit status: a subcommand's own (`client`: 1 when an order check fails; `replay`, `diff`:
//! 1 when inconsistent; `growth`: 1 when a check fails), 1 on any other error, and 2 when
//! `replay` or `diff` cannot inspect a file (missing, foreign, locked) or the command line
//! is wrong.

use clap::{Parser, Subcommand};
use toystore_tools::{
    backup, bench, certs, chaos, client, diff, eval, growth, outage, probe, rebuild, replay,
    restore, timeline, up,
};

/// toystore tools.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the whole store on loopback (catalog, three order replicas, front-end).
    Up(up::UpArgs),
    /// Run the handout's client: query, buy with probability P, check every order.
    Client(client::ClientArgs),
    /// Rebuild a stopped service's projections from its event log and compare.
    Replay(replay::ReplayArgs),
    /// Compare replicas' event logs; exit 0 when identical, 1 otherwise.
    Diff(diff::DiffArgs),
    /// Set a replica's damaged file aside, so that it is rebuilt from its peers.
    Rebuild(rebuild::RebuildArgs),
    /// Copy a running replica's (or a stopped replica's file's) state machine into a backup.
    Backup(backup::BackupArgs),
    /// Seed a new cluster, or one wiped replica, from a backup.
    Restore(restore::RestoreArgs),
    /// Measure latency against buy probability, cache on and off; write CSV, table, plots.
    Eval(eval::EvalArgs),
    /// Inject faults (kills, pauses, partitions, crashes) under load; check the history.
    Chaos(chaos::ChaosArgs),
    /// Measure throughput and latency of a scenario next to this machine's ceilings.
    Bench(bench::BenchArgs),
    /// A bare HTTP server answering a fixed body (the ceiling `tools bench` compares with).
    #[command(hide = true)]
    BareHttp(bench::ceiling::BareArgs),
    /// Measure start-up, catch-up, replay, diff and memory as the order log grows.
    Growth(growth::GrowthArgs),
    /// Measure how long buying stops after killing or pausing the leader or a follower.
    Outage(outage::OutageArgs),
    /// Draw a saved chaos history as an SVG timeline (throughput, p99, faults as bands).
    Timeline(timeline::TimelineArgs),
    /// Make a cluster CA and a TLS certificate for every service host.
    Certs(certs::CertsArgs),
    /// GET a URL; exit 0 when it answers 2xx (a container's health check).
    Probe(probe::ProbeArgs),
    #[command(flatten)]
    Service(toystore_harness::run::ServiceCommand),
}

/// Exit status of `replay` and `diff` when a file cannot be inspected.
const CANNOT_INSPECT: u8 = 2;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // Synchronous, and outside any async runtime: they read files through redb, and
        // timeline reads a file of JSON lines.
        Command::Replay(args) => replay::run(&args).map_err(|e| (e, CANNOT_INSPECT)),
        Command::Diff(args) => diff::run(&args).map_err(|e| (e, CANNOT_INSPECT)),
        Command::Rebuild(args) => rebuild::run(&args).map_err(|e| (e, 1)),
        Command::Timeline(args) => timeline::run(&args).map_err(|e| (e, 1)),
        Command::Certs(args) => certs::run(args).map(|()| 0).map_err(|e| (e, 1)),
        Command::Probe(args) => on_runtime(probe::run(args)),
        Command::Backup(args) => on_runtime(backup::run(args)),
        Command::Restore(args) => on_runtime(restore::run(args)),
        Command::Up(args) => on_runtime(async { up::run(args).await.map(|()| 0) }),
        Command::Client(args) => on_runtime(client::run(args)),
        Command::Eval(args) => on_runtime(eval::run(args)),
        Command::Chaos(args) => on_runtime(chaos::run(args)),
        Command::Bench(args) => on_runtime(bench::run(args)),
        Command::BareHttp(args) => {
            on_runtime(async { bench::ceiling::serve_bare(args).await.map(|()| 0) })
        }
        Command::Growth(args) => on_runtime(growth::run(args)),
        Command::Outage(args) => on_runtime(outage::run(args)),
        Command::Service(service) => {
            on_runtime(async { toystore_harness::run::run(service).await.map(|()| 0) })
        }
    };
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err((e, code)) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(code)
        }
    }
}

/// Runs an async command on a fresh multi-threaded runtime; its error exits with 1.
fn on_runtime(
    command: impl std::future::Future<Output = anyhow::Result<u8>>,
) -> Result<u8, (anyhow::Error, u8)> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| (anyhow::anyhow!("cannot start the async runtime: {e}"), 1))?;
    runtime.block_on(command).map_err(|e| (e, 1))
}
