//! The `catalog` command line: the catalog of the store described by the cluster file.
//! (A library module so that `tools` and the black-box tests run exactly this code.)

use crate::server::{run as serve, ServerConfig};
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use toystore_config::{ensure_parent, ClusterConfig, ReplicaConfig, ReplicaId, ServiceArgs};

/// The toystore catalog: owns stock, sells, restocks, and pushes invalidations.
///
/// Example: catalog --config data/toystore.toml --id 1
#[derive(clap::Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The cluster file, token, listen address and logging.
    #[command(flatten)]
    pub service: ServiceArgs,
    /// This catalog replica's id (must be in the file's catalogs; may be left out when the
    /// file lists exactly one).
    #[arg(long)]
    pub id: Option<ReplicaId>,
    /// The redb file (default: <data_dir>/catalog-<id>.redb).
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
    let me = this_catalog(&cluster, args.id)?;

    let db_path = args.db.unwrap_or_else(|| cluster.catalog_db(me.id));
    ensure_parent(&db_path)
        .with_context(|| format!("creating the directory of {}", db_path.display()))?;
    toystore_http::tls::install(&cluster, Some(&me.addr)).context("setting up TLS")?;
    let listener = toystore_http::bind(args.service.addr, &me.addr)
        .await
        .with_context(|| format!("binding {}", args.service.listening(&me.addr)))?;
    let config = ServerConfig {
        id: me.id,
        db_path,
        replicas: crate::server::catalog_replicas(&cluster),
        token,
        restock_interval: args
            .restock_interval
            .unwrap_or(cluster.catalog.restock_interval),
        stock: args.stock.unwrap_or(cluster.catalog.stock),
        heartbeat: cluster.catalog.heartbeat,
        raft: cluster.order.clone(),
        timeouts: cluster.timeouts,
        watch: args.service.config.clone(),
    };
    serve(listener, config, toystore_http::shutdown::signal()).await?;
    Ok(())
}

/// The catalog replica this process is: `--id`'s, or the file's only one when `--id` is
/// left out.
fn this_catalog(cluster: &ClusterConfig, id: Option<ReplicaId>) -> anyhow::Result<&ReplicaConfig> {
    let ids = || {
        let ids: Vec<String> = cluster.catalogs.iter().map(|c| c.id.to_string()).collect();
        ids.join(", ")
    };
    match (id, cluster.catalogs.as_slice()) {
        (Some(id), _) => cluster.catalog(id).with_context(|| {
            format!(
                "catalog {id} is not in the cluster file (its catalogs: {})",
                ids()
            )
        }),
        (None, [only]) => Ok(only),
        (None, _) => anyhow::bail!(
            "the cluster file lists {} catalogs ({}): say which this is with --id",
            cluster.catalogs.len(),
            ids()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_may_be_left_out_only_with_one_catalog() {
        let one = ClusterConfig::default();
        assert_eq!(this_catalog(&one, None).map(|c| c.id).ok(), Some(1));
        assert_eq!(this_catalog(&one, Some(1)).map(|c| c.id).ok(), Some(1));
        let e = this_catalog(&one, Some(2)).map(|c| c.id).unwrap_err();
        assert!(e.to_string().contains("catalogs: 1"), "{e}");
        let three = ClusterConfig {
            catalogs: toystore_config::default_catalogs(3),
            ..ClusterConfig::default()
        };
        assert_eq!(this_catalog(&three, Some(3)).map(|c| c.id).ok(), Some(3));
        let e = this_catalog(&three, None).map(|c| c.id).unwrap_err();
        assert!(e.to_string().contains("(1, 2, 3)"), "{e}");
        assert!(e.to_string().contains("--id"), "{e}");
    }
}
