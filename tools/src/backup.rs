//! `tools backup --from <replica URL or file> --out FILE`: a consistent copy of one replica's
//! state machine (order or catalog) in a new file, taken online from a running replica
//! without stopping it, or from a stopped replica's file (or another backup).
//!
//! - From a URL, the replica streams it (`GET /internal/raft/backup`, the cluster token from
//!   `--token` or `--config`): a leader first confirms its leadership and applies everything
//!   committed, so the copy holds every write acknowledged before the backup began; a
//!   follower's copy holds what it had applied (the report says which). The replica takes no
//!   lock: purchases go on meanwhile.
//! - From a file, its state machine is read directly (a running service holds its file
//!   locked: take that one by URL).
//!
//! Either way the copy is written with [`write_as`]: into `FILE.partial`, then made
//! durable and linked as `FILE` (never replacing a file that appeared meanwhile), so an
//! interrupted backup never leaves a `FILE` behind.
//! The result is a replica file like any other (`tools replay` and `tools diff` read it; a
//! replica can be started on it through `tools restore`), seeded with a note of what it holds
//! and where it came from ([`toystore_store::raft::Seeded`]).

use anyhow::{bail, Context};
use bytes::Bytes;
use futures_util::Stream;
use openraft::{BasicNode, SnapshotMeta};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use toystore_config::{ClusterConfig, ReplicaId};
use toystore_events::{LogEvent, Seq};
use toystore_harness::logfile::{Kind, LogFile};
use toystore_raft::wire::{BackupHeader, BACKUP_HEADER};
use toystore_raft::Types;
use toystore_store::raft::{RaftStore, Seeded};
use toystore_store::StoreError;

/// Evaluates `$body` with `$open` bound to the function that opens a replica file of the
/// log kind `$kind` (its Raft types and projection): the one place a kind picks a store.
macro_rules! with_store {
    ($kind:expr, $open:ident => $body:expr) => {
        match $kind {
            Kind::Order => {
                let $open = toystore_order::replica::open_store;
                $body
            }
            Kind::Catalog => {
                let $open = toystore_catalog::server::open_store;
                $body
            }
        }
    };
}

/// Arguments of `tools backup`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  tools backup --config data/toystore.toml --from http://127.0.0.1:8093 --out order.backup.redb\n  tools backup --from data/order-2.redb --out order.backup.redb   (a stopped replica's file)\n\nTake it from the leader: its copy holds every order acknowledged before the backup began."
)]
pub struct BackupArgs {
    /// A running replica's base URL (order or catalog), or a stopped replica's file.
    #[arg(long, value_name = "URL|FILE")]
    pub from: String,
    /// The backup file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The cluster file, for the token and, with `[tls]`, the CA an `https://` replica is
    /// checked against.
    #[arg(long, value_name = "CLUSTER_FILE")]
    pub config: Option<PathBuf>,
    /// A CA certificate (PEM) to check an `https://` replica against, without a cluster
    /// file.
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    pub ca: Option<PathBuf>,
    /// The cluster token (overrides the cluster file's).
    #[arg(long, env = "TOYSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// What a copy holds: its kind, Raft position and events, and where it came from.
#[derive(Debug, Clone)]
pub struct Copied {
    /// The log's kind.
    pub kind: Kind,
    /// The last applied log id and membership it holds.
    pub meta: SnapshotMeta<ReplicaId, BasicNode>,
    /// Its last event (it holds 1..=this).
    pub last_seq: Seq,
    /// The note written into it.
    pub seeded: Seeded,
}

/// Runs `tools backup`.
pub async fn run(args: BackupArgs) -> anyhow::Result<u8> {
    if args.out.exists() {
        bail!(
            "{} exists: a backup is written to a new file only",
            args.out.display()
        );
    }
    let started = Instant::now();
    let (copied, leader) = if args.from.starts_with("http://") || args.from.starts_with("https://")
    {
        let cluster = toystore_http::tls::for_tool(args.config.as_deref(), args.ca.as_deref())?;
        let token = token(&args, cluster)?;
        let (copied, leader) = from_replica(&args.from, &token, &args.out).await?;
        (copied, Some(leader))
    } else {
        let from = PathBuf::from(&args.from);
        (
            copy_file(&from, file_kind(&from)?, &args.out, None, false).await?,
            None,
        )
    };
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "{}",
        summary(&copied, &args.out, bytes, started.elapsed().as_secs_f64())
    );
    match leader {
        Some(true) => println!(
            "taken from the leader: it holds every write acknowledged before the backup began"
        ),
        Some(false) => println!(
            "taken from a follower: it holds what that replica had applied, which may lag \
             the leader (take it from the leader to hold every acknowledged write)"
        ),
        None => {}
    }
    Ok(0)
}

/// One line saying what a copy holds.
pub fn summary(copied: &Copied, out: &Path, bytes: u64, secs: f64) -> String {
    let voters: Vec<String> = copied
        .meta
        .last_membership
        .membership()
        .voter_ids()
        .map(|id| id.to_string())
        .collect();
    format!(
        "{}: a {} state machine from {}: events 1..={}, applied log id {}, voters {{{}}}; \
         {:.1} MB written in {secs:.2} s",
        out.display(),
        copied.kind,
        copied.seeded.from,
        copied.last_seq,
        copied.seeded.applied,
        voters.join(", "),
        bytes as f64 / 1e6,
    )
}

/// The token: `--token`, else the cluster file's (`cluster`, read from `--config`).
fn token(args: &BackupArgs, cluster: Option<ClusterConfig>) -> anyhow::Result<String> {
    if let Some(token) = &args.token {
        return Ok(token.clone());
    }
    let Some(cluster) = cluster else {
        bail!("a backup by URL needs the cluster token: give --config or --token");
    };
    if cluster.token.is_empty() {
        bail!("the cluster file holds no token: give --token");
    }
    Ok(cluster.token)
}

/// Streams the copy of the replica at `base` (its base URL) into the new file `out`;
/// returns what it holds and whether the replica led.
pub async fn from_replica(base: &str, token: &str, out: &Path) -> anyhow::Result<(Copied, bool)> {
    let base = base.trim_end_matches('/');
    let url = format!("{base}/internal/raft/backup");
    let resp = toystore_http::client::stream_client()?
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("asking {url} for a backup"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        bail!("{url} refused the backup: {status} {body}");
    }
    let Some(header) = resp.headers().get(BACKUP_HEADER) else {
        bail!("{url} answered without a {BACKUP_HEADER} header: not a toystore replica?");
    };
    let header = header
        .to_str()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .and_then(|h| BackupHeader::decode(h).map_err(|e| anyhow::anyhow!("{e}")))
        .with_context(|| format!("{url}: the backup header"))?;
    let Some(kind) = Kind::from_meta(&header.kind) else {
        bail!("{url} sent a backup of a {} log, unknown here", header.kind);
    };
    let seeded = Seeded {
        from: format!("replica {} at {base}", header.replica),
        taken_at: now(),
        applied: applied_text(&header.meta),
        last_seq: header.last_seq.0,
    };
    let copied = Copied {
        kind,
        meta: header.meta,
        last_seq: header.last_seq,
        seeded,
    };
    let progress = progress(header.last_seq);
    let body = resp.bytes_stream();
    with_store!(kind, open => receive_as(open, body, &copied, &progress, out).await)
        .with_context(|| format!("writing the backup from {url}"))?;
    progress.finish_and_clear();
    Ok((copied, header.leader))
}

/// Writes the events of a backup's body (frames checked as `E`s) into the new file `out`.
async fn receive_as<C: Types, E: LogEvent, B, X>(
    open: fn(&Path) -> Result<RaftStore<C, E>, StoreError>,
    body: B,
    copied: &Copied,
    progress: &indicatif::ProgressBar,
    out: &Path,
) -> anyhow::Result<()>
where
    B: Stream<Item = Result<Bytes, X>> + Unpin,
    X: std::fmt::Display,
{
    let progress = progress.clone();
    let events =
        toystore_raft::transfer::events_of::<E, _, _, _>(body, Seq::ZERO, move || progress.inc(1));
    write_as(open, out, copied, events, false).await
}

/// A progress bar over `last` events.
fn progress(last: Seq) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(last.0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} events ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("copying");
    bar
}

/// The log kind of the replica file (or backup) `path`, read without changing it.
pub fn file_kind(path: &Path) -> anyhow::Result<Kind> {
    Ok(LogFile::open(path)
        .with_context(|| format!("reading {}", path.display()))?
        .kind())
}

/// Copies the state machine of the replica file (or backup) `from` into a new file `out`,
/// with its membership replaced by `members` if given, marked to rejoin its group with
/// `rejoin`. The file `from` is opened as its service would (its integrity checked), so it
/// must not be open elsewhere.
pub async fn copy_file(
    from: &Path,
    kind: Kind,
    out: &Path,
    members: Option<&toystore_raft::membership::Members>,
    rejoin: bool,
) -> anyhow::Result<Copied> {
    with_store!(kind, open => copy_as(open, kind, from, out, members, rejoin).await)
}

async fn copy_as<C: Types, E: LogEvent>(
    open: fn(&Path) -> Result<RaftStore<C, E>, StoreError>,
    kind: Kind,
    from: &Path,
    out: &Path,
    members: Option<&toystore_raft::membership::Members>,
    rejoin: bool,
) -> anyhow::Result<Copied> {
    let path = from.to_path_buf();
    let source = tokio::task::spawn_blocking(move || open(&path))
        .await?
        .with_context(|| format!("opening {}", from.display()))?;
    let Some(view) = source.view()? else {
        bail!(
            "{} has applied nothing: there is nothing to copy",
            from.display()
        );
    };
    let mut meta = view.meta;
    if let Some(members) = members {
        let voters = members.keys().copied().collect();
        let membership = openraft::Membership::new(vec![voters], members.clone());
        meta.last_membership =
            openraft::StoredMembership::new(*meta.last_membership.log_id(), membership);
    }
    let data = *view.snapshot;
    let last_seq = data.last_seq();
    let earlier = source.seeded()?;
    let seeded = Seeded {
        from: match &earlier {
            Some(s) => format!("{} (through {})", s.from, from.display()),
            None => from.display().to_string(),
        },
        taken_at: earlier.map_or_else(now, |s| s.taken_at),
        applied: applied_text(&meta),
        last_seq: last_seq.0,
    };
    let copied = Copied {
        kind,
        meta,
        last_seq,
        seeded,
    };
    let progress = progress(last_seq);
    let counted = progress.clone();
    let events = data.events_after(Seq::ZERO)?.map(move |r| {
        counted.inc(1);
        r.map(|(seq, bytes)| (seq, Bytes::from(bytes)))
            .map_err(|e| e.to_string())
    });
    write_as(
        open,
        out,
        &copied,
        futures_util::stream::iter(events),
        rejoin,
    )
    .await?;
    progress.finish_and_clear();
    drop(source);
    Ok(copied)
}

/// Writes `events` (1..=`copied.last_seq`) as the state machine `copied` describes into a
/// new file `out`, opened with `open`: into `out.partial` first, linked as `out` once whole
/// and durable. With `rejoin`, the file is marked to rejoin its group before it takes part
/// (one wiped replica restored into a running group).
async fn write_as<C: Types, E: LogEvent, S, X>(
    open: fn(&Path) -> Result<RaftStore<C, E>, StoreError>,
    out: &Path,
    copied: &Copied,
    events: S,
    rejoin: bool,
) -> anyhow::Result<()>
where
    S: Stream<Item = Result<(Seq, Bytes), X>>,
    X: std::fmt::Display,
{
    if out.exists() {
        bail!(
            "{} exists: a copy is written to a new file only",
            out.display()
        );
    }
    let partial = partial(out);
    if partial.exists() {
        std::fs::remove_file(&partial)
            .with_context(|| format!("removing an earlier attempt's {}", partial.display()))?;
    }
    toystore_config::ensure_parent(out)
        .with_context(|| format!("creating the directory of {}", out.display()))?;
    let path = partial.clone();
    let store = tokio::task::spawn_blocking(move || open(&path))
        .await?
        .with_context(|| format!("creating {}", partial.display()))?;
    let seeded = store
        .seed(
            copied.meta.clone(),
            copied.last_seq,
            events,
            copied.seeded.clone(),
            rejoin,
        )
        .await;
    // Closing joins the file's writer thread: off the async threads.
    tokio::task::spawn_blocking(move || drop(store)).await?;
    if let Err(e) = seeded {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("writing {}", partial.display()));
    }
    std::fs::File::open(&partial)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", partial.display()))?;
    // A link fails if `out` appeared meanwhile (a replica started on it): never replaced.
    std::fs::hard_link(&partial, out)
        .with_context(|| format!("linking {} as {}", partial.display(), out.display()))?;
    std::fs::remove_file(&partial).with_context(|| format!("removing {}", partial.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing the directory {}", dir.display()))?;
    }
    Ok(())
}

/// Where a copy is written until it is whole: `out.partial`.
fn partial(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// A log id as `term-leader-index`.
fn applied_text(meta: &SnapshotMeta<ReplicaId, BasicNode>) -> String {
    match &meta.last_log_id {
        Some(id) => format!(
            "{}-{}-{}",
            id.leader_id.term, id.leader_id.node_id, id.index
        ),
        None => "none".into(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
