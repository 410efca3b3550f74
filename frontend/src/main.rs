//! The `frontend` binary: see [`toystore_frontend::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    toystore_net::logging::init();
    toystore_frontend::cli::run(toystore_frontend::cli::Args::parse()).await
}
