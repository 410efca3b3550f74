//! Running one service by name: `<program> catalog|order|frontend ARGS`, exactly as the
//! service's own binary would (its `cli` module).

use clap::Subcommand;

/// A service to run in this process.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Run the catalog (same flags as the `catalog` binary).
    #[command(hide = true)]
    Catalog(toystore_catalog::cli::Args),
    /// Run an order replica (same flags as the `order` binary).
    #[command(hide = true)]
    Order(toystore_order::cli::Args),
    /// Run the front-end (same flags as the `frontend` binary).
    #[command(hide = true)]
    Frontend(toystore_frontend::cli::Args),
}

/// Runs the service until Ctrl-C or SIGTERM.
pub async fn run(service: ServiceCommand) -> anyhow::Result<()> {
    let format = match &service {
        ServiceCommand::Catalog(args) => args.service.log.log_format,
        ServiceCommand::Order(args) => args.service.log.log_format,
        ServiceCommand::Frontend(args) => args.service.log.log_format,
    };
    toystore_config::logging::init(format);
    match service {
        ServiceCommand::Catalog(args) => toystore_catalog::cli::run(args).await,
        ServiceCommand::Order(args) => toystore_order::cli::run(args).await,
        ServiceCommand::Frontend(args) => toystore_frontend::cli::run(args).await,
    }
}
