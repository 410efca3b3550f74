//! The `catalog` command line: the catalog of the store described by the cluster file.
//! (A library module so that `tools` and the black-box tests run exactly this code.)

use crate::server::{run as serve, ServerConfig};
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use toystore_config::{ensure_parent, ServiceArgs};

/// The toystore catalog: owns stock, sells, restocks, and pushes invalidations.
///
/// Example: catalog --config data/toystore.toml
#[derive(clap::Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The cluster file, token, listen address and logging.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// The redb file (default: <data_dir>/catalog.redb).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Restock interval, e.g. 10s or 500ms (overrides the file).
    #[arg(long, value_parser = toystore_config::duration::parse_positive)]
    pub restock_interval: Option<Duration>,
    /// Units every toy starts with and is restocked to (overrides the file).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub stock: Option<u32>,
}

/// Runs the catalog until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let (cluster, token) = args.service.load()?;
    let addr = args.service.addr.unwrap_or(cluster.catalog.addr);
    let db_path = args.db.unwrap_or_else(|| cluster.catalog_db());
    ensure_parent(&db_path)
        .with_context(|| format!("creating the directory of {}", db_path.display()))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let config = ServerConfig {
        db_path,
        token,
        restock_interval: args
            .restock_interval
            .unwrap_or(cluster.catalog.restock_interval),
        stock: args.stock.unwrap_or(cluster.catalog.stock),
        heartbeat: cluster.catalog.heartbeat,
    };
    serve(listener, config, toystore_http::shutdown::signal()).await?;
    Ok(())
}
