//! The node binary of the black-box tests: runs one service by name
//! (`toystore-node catalog|order|frontend ARGS`), with failpoints compiled in.

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    node: toystore_harness::node::Node,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    toystore_harness::node::run(Cli::parse().node).await
}
