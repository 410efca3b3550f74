//! `tools rebuild FILE`: sets a replica's damaged file aside, so that the replica, started
//! again, rejoins its group with an empty file and is caught up by its peers (docs/DESIGN.md,
//! "Initial membership, and a replica that lost its log").
//!
//! It checks the file as a service's open would ([`toystore_store::integrity::check_file`])
//! and renames it to `FILE.damaged-<unix seconds>` only if it is damaged, or with `--force`;
//! a file its service holds open is left alone. Given the cluster file (`--config`), it also
//! refuses the file of a group's only replica (the lab's single catalog), which would start
//! empty, having no other copy. Nothing is deleted: the set-aside file stays for a
//! post-mortem.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use toystore_config::ClusterConfig;
use toystore_store::StoreError;

/// Arguments of `tools rebuild`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  tools rebuild --config data/toystore.toml data/order-2.redb\n  tools order --config data/toystore.toml --id 2\n\nStop the replica first (a damaged file makes it refuse to start anyway). The replica's\npeers must have a leader: the replica is taken out of the voters, then comes back as a\nlearner and a voter once caught up."
)]
pub struct RebuildArgs {
    /// The replica's redb file (order or catalog).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The cluster file: the file's group is looked up in it, and the only replica of a
    /// group is refused.
    #[arg(long, value_name = "CLUSTER_FILE")]
    pub config: Option<PathBuf>,
    /// Set the file aside even if it is not damaged (the replica is then rebuilt anyway), or
    /// is its group's only replica (which then starts empty).
    #[arg(long)]
    pub force: bool,
}

/// `path`, resolved if it exists (so that two spellings of one file compare equal).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// How many replicas the group of replica file `file` has, by the cluster file `config`.
fn group_size(config: &Path, file: &Path) -> anyhow::Result<usize> {
    let cluster = ClusterConfig::load(config)
        .with_context(|| format!("reading the cluster file {}", config.display()))?;
    let file = canonical(file);
    let is = |path: PathBuf| canonical(&path) == file;
    if cluster.replicas.iter().any(|r| is(cluster.order_db(r.id))) {
        return Ok(cluster.replicas.len());
    }
    if cluster
        .catalogs
        .iter()
        .any(|c| is(cluster.catalog_db(c.id)))
    {
        return Ok(cluster.catalogs.len());
    }
    bail!(
        "{} is no replica's file in {}",
        file.display(),
        config.display()
    )
}

/// Runs `tools rebuild`: 0 when the file was set aside.
pub fn run(args: &RebuildArgs) -> anyhow::Result<u8> {
    let file = &args.file;
    if let Some(config) = &args.config {
        if group_size(config, file)? < 2 && !args.force {
            bail!(
                "{} is its group's only replica: set aside, the service would start empty, \
                 having no other copy. Use --force to do so anyway.",
                file.display()
            );
        }
    }
    match toystore_store::integrity::check_file(file) {
        Ok(()) if !args.force => bail!(
            "{} is not damaged; setting it aside would throw away this replica's copy of the \
             log (its peers would rebuild it). Use --force to do so anyway.",
            file.display()
        ),
        Ok(()) => println!(
            "{} is whole; setting it aside as asked (--force)",
            file.display()
        ),
        Err(StoreError::Damaged { detail, .. }) => {
            println!("{} is damaged: {detail}", file.display());
        }
        Err(e) => return Err(e).with_context(|| format!("checking {}", file.display())),
    }
    let target = toystore_harness::logfile::set_aside(file)
        .with_context(|| format!("setting {} aside", file.display()))?;
    println!(
        "set aside as {}; start the replica again: it rejoins with an empty file and its \
         peers catch it up (a service with no peers, such as the lab's single catalog, \
         would start empty instead: it has no other copy)",
        target.display()
    );
    Ok(0)
}
