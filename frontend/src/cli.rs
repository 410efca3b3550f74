//! The `frontend` command line: the public API of the store described by the cluster file.
//! (A library module so that `tools` and the black-box tests run exactly this code.)

use crate::server::{run as serve, ServerConfig};
use crate::topology::members;
use anyhow::Context;
use std::num::NonZeroUsize;
use toystore_config::ServiceArgs;

/// The toystore front-end: the public REST API, a product cache, order forwarding with
/// leader selection and failover.
///
/// Example: frontend --config data/toystore.toml
#[derive(clap::Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The cluster file (watched for replica changes), token, listen address and logging.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Turn the product cache off.
    #[arg(long)]
    pub no_cache: bool,
    /// LRU capacity (overrides the file).
    #[arg(long)]
    pub cache_capacity: Option<usize>,
}

/// Runs the front-end until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let (cluster, token) = args.service.load()?;
    let capacity = args
        .cache_capacity
        .unwrap_or(cluster.frontend.cache_capacity);
    let cache_capacity = if cluster.frontend.cache && !args.no_cache {
        Some(NonZeroUsize::new(capacity).context("cache capacity must be at least 1")?)
    } else {
        None
    };
    let me = &cluster.frontend.addr;
    let public_tls = cluster.public_tls();
    toystore_http::tls::install(&cluster, public_tls.then_some(me)).context("setting up TLS")?;
    let listener = toystore_http::bind(args.service.addr, me)
        .await
        .with_context(|| format!("binding {}", args.service.listening(me)))?;
    let config = ServerConfig {
        catalogs: cluster.catalog_urls(),
        token,
        cache_capacity,
        stream_silence: cluster.catalog.stream_silence(),
        replicas: members(&cluster),
        health_interval: cluster.frontend.health_interval,
        failover: crate::orders::Failover {
            total: cluster.frontend.failover_timeout,
            attempt: cluster.frontend.attempt_timeout,
            pause: cluster.frontend.retry_pause,
        },
        watch: args.service.config.clone(),
        election: cluster.order.election,
        timeouts: cluster.timeouts,
    };
    serve(listener, config, toystore_http::shutdown::signal()).await?;
    Ok(())
}
