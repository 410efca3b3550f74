//! The `tools` binary: run the whole store, drive the handout's client, evaluate, inject
//! crashes, replay a log, diff replicas.

use clap::{Parser, Subcommand};
use toystore_tools::{node, up};

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
    #[command(flatten)]
    Node(node::Node),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => up::run(args).await.map(|()| 0),
            Command::Node(node) => node::run(node).await.map(|()| 0),
        }
    });
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
