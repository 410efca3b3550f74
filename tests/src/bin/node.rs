//! The node binary of the black-box tests: runs one service by name
//! (`toystore-node catalog|order|frontend ARGS`), with failpoints compiled in.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    service: toystore_harness::run::ServiceCommand,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    toystore_harness::run::run(Cli::parse().service).await
}
