//! The `catalog` command line: the catalog of the store described by the cluster file.
//! (A library module so that `tools` and the black-box tests run exactly this code.)

use crate::server::{run as serve, ServerConfig};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use toystore_net::{ClusterConfig, ClusterToken};

/// The toystore catalog: owns stock, sells, restocks, and pushes invalidations.
///
/// Example: catalog --config data/toystore.toml
#[derive(clap::Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The cluster file (toystore.toml); defaults apply without one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Listen address (overrides the file).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// The redb file (default: <data_dir>/catalog.redb).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Cluster token (overrides the file).
    #[arg(long, env = "TOYSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Restock interval in milliseconds (overrides the file).
    #[arg(long)]
    pub restock_interval_ms: Option<u64>,
}

/// Runs the catalog until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = ClusterConfig::load_or_default(args.config.as_deref())?;
    let token = ClusterToken::new(args.token.unwrap_or(cluster.token.clone()))
        .context("no cluster token: set `token` in the cluster file, --token or TOYSTORE_TOKEN")?;
    let addr = args.addr.unwrap_or(cluster.catalog.addr);
    let db_path = args.db.unwrap_or_else(|| cluster.catalog_db());
    if let Some(dir) = db_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let config = ServerConfig {
        db_path,
        token,
        restock_interval: Duration::from_millis(
            args.restock_interval_ms
                .unwrap_or(cluster.catalog.restock_interval_ms),
        ),
        heartbeat: Duration::from_millis(cluster.catalog.heartbeat_ms),
    };
    serve(listener, config, toystore_net::shutdown::signal()).await?;
    Ok(())
}
