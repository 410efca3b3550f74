//! `tools restore FILE --config CLUSTER_FILE [--replica ID]`: seeds replicas' files from a
//! backup (`tools backup`), the services stopped.
//!
//! - **A new cluster** (no `--replica`): every replica of the backup's group in the cluster
//!   file (the order replicas, or the catalog replicas) gets a copy, with its Raft
//!   membership replaced by the file's replicas as voters. Each starts as a replica that
//!   installed that snapshot: no log entry, and a vote in the term of the backup's last
//!   entry, so they elect a leader among themselves in a later term (under either election
//!   policy) and go on from the backup's last order.
//! - **One wiped replica** (`--replica ID`) of a group whose other replicas run: its file is
//!   seeded and marked to rejoin: it neither votes nor campaigns until the group's leader has
//!   taken it out of the voters, then comes back as a learner with the backup's events
//!   already in place (only what followed the backup is sent) and becomes a voter once
//!   caught up. Its backup does not hold the votes it cast since, so it may not act as the
//!   member it was (docs/DESIGN.md, "Initial membership, and a replica that lost its log").
//!
//! A replica's file that exists is never overwritten: set it aside first (`tools rebuild
//! --force`, or move it). The backup itself is opened as a service would open it (its
//! integrity checked; the open stamps its Raft tables if missing) and its events only
//! read.

use crate::backup::{copy_file, file_kind, summary};
use anyhow::{bail, Context};
use std::path::PathBuf;
use std::time::Instant;
use toystore_config::{ClusterConfig, ReplicaId};
use toystore_harness::logfile::Kind;

/// Arguments of `tools restore`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  tools restore order.backup.redb --config data/toystore.toml          (a new cluster)\n  tools restore order.backup.redb --config data/toystore.toml --replica 2   (one wiped replica)\n\nThen start the replicas (tools up --config ..., or each service) as usual."
)]
pub struct RestoreArgs {
    /// The backup (or any replica file).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The cluster file: which replicas the group has and where their files go.
    #[arg(long, value_name = "CLUSTER_FILE")]
    pub config: PathBuf,
    /// Restore only this replica, into a group whose other replicas run (it rejoins).
    #[arg(long, value_name = "ID")]
    pub replica: Option<ReplicaId>,
}

/// Runs `tools restore`.
pub async fn run(args: RestoreArgs) -> anyhow::Result<u8> {
    let cluster = ClusterConfig::load(&args.config)
        .with_context(|| format!("reading the cluster file {}", args.config.display()))?;
    let kind = file_kind(&args.file)?;
    let (replicas, file_of): (_, fn(&ClusterConfig, ReplicaId) -> PathBuf) = match kind {
        Kind::Order => (
            toystore_order::server::order_replicas(&cluster),
            ClusterConfig::order_db,
        ),
        Kind::Catalog => (
            toystore_catalog::server::catalog_replicas(&cluster),
            ClusterConfig::catalog_db,
        ),
    };
    let members = toystore_raft::membership::members_of(&replicas);
    let targets: Vec<ReplicaId> = match args.replica {
        None => members.keys().copied().collect(),
        Some(id) if !members.contains_key(&id) => {
            bail!("{} lists no {kind} replica {id}", args.config.display())
        }
        Some(_) if members.len() < 2 => bail!(
            "the {kind} group has one replica in {}: there is no group to rejoin; restore \
             it without --replica (a new cluster of one)",
            args.config.display()
        ),
        Some(id) => vec![id],
    };
    let rejoin = args.replica.is_some();
    for id in &targets {
        let file = file_of(&cluster, *id);
        if file.exists() {
            bail!(
                "{} exists: a restore never overwrites a replica's file; stop the replica \
                 and set the file aside first (tools rebuild --force {}, or move it)",
                file.display(),
                file.display()
            );
        }
    }
    for id in targets {
        let out = file_of(&cluster, id);
        let started = Instant::now();
        // A new cluster's voters are the file's replicas; a replica rejoining a running
        // group keeps the backup's membership (its leader sends it the group's own).
        let voters = (!rejoin).then_some(&members);
        let copied = copy_file(&args.file, kind, &out, voters, rejoin).await?;
        let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        println!(
            "{kind} replica {id}: {}",
            summary(&copied, &out, bytes, started.elapsed().as_secs_f64())
        );
    }
    if rejoin {
        println!(
            "start the replica: it asks its group's leader to take it out of the voters, then \
             comes back as a learner and becomes a voter once caught up"
        );
    } else {
        println!("start the replicas: they elect a leader and go on from the backup");
    }
    Ok(0)
}
