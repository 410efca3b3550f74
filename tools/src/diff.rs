//! `tools diff FILE FILE [FILE...]`: compare replicas' logs event by event
//! ([`toystore_harness::diff`]).
//!
//! Exit status: 0 when the logs are identical, 1 when they differ (the report names the first
//! divergent sequence number, each file's last one and each file's event there), 2 when a
//! file cannot be inspected (missing, not a toystore log, a log of another kind than the
//! first file, locked by its running service).

use std::path::PathBuf;
use toystore_harness::diff::{diff_files, DiffReport};

/// Arguments of `tools diff`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  tools diff data/order-1.redb data/order-2.redb data/order-3.redb\n\nThe files are opened read-only; stop their services first (a running service locks its file).\nExit status: 0 identical, 1 different, 2 a file cannot be inspected."
)]
pub struct DiffArgs {
    /// Two or more redb files of the same log (e.g. the order replicas' files).
    #[arg(value_name = "FILE", required = true, num_args = 2..)]
    pub files: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tools diff`: 0 identical, 1 different (an `Err` is exit status 2).
pub fn run(args: &DiffArgs) -> anyhow::Result<u8> {
    let report = diff_files(&args.files)?;
    crate::print_report(&report, args.json, DiffReport::to_text)?;
    Ok(if report.identical() { 0 } else { 1 })
}
