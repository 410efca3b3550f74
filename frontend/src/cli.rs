//! The `frontend` command line: the public API of the store described by the cluster file.
//! (A library module so that `tools` and the black-box tests run exactly this code.)

use crate::server::{run as serve, ServerConfig};
use crate::topology::members;
use anyhow::Context;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;
use toystore_net::config::ClusterArgs;

/// The toystore front-end: the public REST API, a product cache, order forwarding with
/// leader selection and failover.
///
/// Example: frontend --config data/toystore.toml
#[derive(clap::Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The cluster file (watched for replica changes) and token.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Logging.
    #[command(flatten)]
    pub log: toystore_net::logging::LogArgs,
    /// Listen address (overrides the file).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Turn the product cache off.
    #[arg(long)]
    pub no_cache: bool,
    /// LRU capacity (overrides the file).
    #[arg(long)]
    pub cache_capacity: Option<usize>,
}

/// Runs the front-end until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let (cluster, token) = args.cluster.load()?;
    let addr = args.addr.unwrap_or(cluster.frontend.addr);
    let capacity = args
        .cache_capacity
        .unwrap_or(cluster.frontend.cache_capacity);
    let cache_capacity = if cluster.frontend.cache && !args.no_cache {
        Some(NonZeroUsize::new(capacity).context("cache capacity must be at least 1")?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let config = ServerConfig {
        catalog_url: format!("http://{}", cluster.catalog.addr),
        token,
        cache_capacity,
        stream_silence: Duration::from_millis(
            cluster.catalog.heartbeat_ms.saturating_mul(3).max(1000),
        ),
        replicas: members(&cluster),
        health_interval: Duration::from_millis(cluster.frontend.health_interval_ms),
        failover: crate::orders::Failover {
            total: Duration::from_millis(cluster.frontend.failover_timeout_ms),
            attempt: Duration::from_millis(cluster.frontend.attempt_timeout_ms),
        },
        watch: args.cluster.config.clone(),
        election: cluster.order.election,
    };
    serve(listener, config, toystore_net::shutdown::signal()).await?;
    Ok(())
}
