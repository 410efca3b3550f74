//! The `order` binary: see [`toystore_order::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    toystore_net::logging::init();
    toystore_order::cli::run(toystore_order::cli::Args::parse()).await
}
