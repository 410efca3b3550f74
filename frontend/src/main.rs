//! The `frontend` binary: see [`toystore_frontend::cli`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = toystore_frontend::cli::Args::parse();
    toystore_config::logging::init(args.service.log.log_format);
    toystore_frontend::cli::run(args).await
}
