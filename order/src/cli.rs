//! The `order` command line: one replica of the store described by the cluster file.
//! (A library module so that `tools` and the black-box tests run exactly this code.)

use crate::server::{run as serve, ServerConfig};
use anyhow::Context;
use std::path::PathBuf;
use toystore_config::{ensure_parent, Election, ReplicaId, ServiceArgs};

/// One toystore order replica.
///
/// Example: order --config data/toystore.toml --id 2
#[derive(clap::Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The cluster file, token, listen address and logging.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// This replica's id (must be in the file's replicas).
    #[arg(long)]
    pub id: ReplicaId,
    /// The redb file (default: <data_dir>/order-<id>.redb).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Who starts elections (overrides the file's `[order] election`).
    #[arg(long, value_enum)]
    pub election: Option<Election>,
}

/// Runs the replica until Ctrl-C or SIGTERM.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let (cluster, token) = args.service.load()?;
    let me = cluster
        .replica(args.id)
        .with_context(|| format!("replica {} is not in the cluster file", args.id))?;

    let db_path = args.db.unwrap_or_else(|| cluster.order_db(args.id));
    ensure_parent(&db_path)
        .with_context(|| format!("creating the directory of {}", db_path.display()))?;
    let replicas = crate::server::order_replicas(&cluster);
    let mut raft = cluster.order.clone();
    if let Some(election) = args.election {
        raft.election = election;
    }
    toystore_http::tls::install(&cluster, Some(&me.addr)).context("setting up TLS")?;
    let listener = toystore_http::bind(args.service.addr, &me.addr)
        .await
        .with_context(|| format!("binding {}", args.service.listening(&me.addr)))?;
    let config = ServerConfig {
        id: args.id,
        db_path,
        replicas,
        catalogs: cluster.catalog_urls(),
        catalog_silence: cluster.catalog.stream_silence(),
        token,
        raft,
        timeouts: cluster.timeouts,
        watch: args.service.config.clone(),
    };
    serve(listener, config, toystore_http::shutdown::signal()).await?;
    Ok(())
}
