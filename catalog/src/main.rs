//! The `catalog` binary: see [`toystore_catalog::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    toystore_net::logging::init();
    toystore_catalog::cli::run(toystore_catalog::cli::Args::parse()).await
}
