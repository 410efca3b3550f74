//! The `order` binary: see [`toystore_order::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = toystore_order::cli::Args::parse();
    toystore_config::logging::init(args.service.log.log_format);
    toystore_order::cli::run(args).await
}
