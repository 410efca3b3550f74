//! The `catalog` binary: see [`toystore_catalog::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = toystore_catalog::cli::Args::parse();
    toystore_config::logging::init(args.service.log.log_format);
    toystore_catalog::cli::run(args).await
}
