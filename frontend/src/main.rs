//! The `frontend` binary: serves the public API of the store described by the cluster file.

use anyhow::Context;
use clap::Parser;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;
use toystore_frontend::server::{run, ServerConfig};
use toystore_net::{ClusterConfig, ClusterToken};

/// The toystore front-end: the public REST API, a product cache, order forwarding.
///
/// Example: frontend --config data/toystore.toml
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// The cluster file (toystore.toml); defaults apply without one.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address (overrides the file).
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// The catalog's address (overrides the file).
    #[arg(long)]
    catalog: Option<SocketAddr>,
    /// Cluster token (overrides the file).
    #[arg(long, env = "TOYSTORE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Turn the product cache off.
    #[arg(long)]
    no_cache: bool,
    /// LRU capacity (overrides the file).
    #[arg(long)]
    cache_capacity: Option<usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    toystore_net::logging::init();
    let args = Args::parse();
    let cluster = ClusterConfig::load_or_default(args.config.as_deref())?;
    let token = ClusterToken::new(args.token.unwrap_or(cluster.token.clone()))
        .context("no cluster token: set `token` in the cluster file, --token or TOYSTORE_TOKEN")?;
    let addr = args.addr.unwrap_or(cluster.frontend.addr);
    let catalog = args.catalog.unwrap_or(cluster.catalog.addr);
    let capacity = args.cache_capacity.unwrap_or(cluster.frontend.cache_capacity);
    let cache_on = cluster.frontend.cache && !args.no_cache;
    let cache_capacity = if cache_on {
        Some(NonZeroUsize::new(capacity).context("cache capacity must be at least 1")?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let config = ServerConfig {
        catalog_url: format!("http://{catalog}"),
        token,
        cache_capacity,
        stream_silence: Duration::from_millis(cluster.catalog.heartbeat_ms.saturating_mul(3).max(1000)),
    };
    run(listener, config, toystore_net::shutdown::signal()).await?;
    Ok(())
}
