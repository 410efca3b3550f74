//! `tools growth`: what it costs to run the store as its order log grows.
//!
//! For each N in `--sizes` (default 10k, 100k, 1M orders), in a fresh directory:
//!
//! 1. **generate** ([`generate`]): a replica file holding N orders, written directly
//!    through the real Raft storage and the order state machine in large batches: the file
//!    a replica of a three-replica store holds after applying N purchases, taking a
//!    snapshot and purging its Raft log behind it (timed, with its size);
//! 2. **replay**: `tools replay` of that file ([`crate::replay::replay_file`]): time,
//!    events/s, and that it is consistent;
//! 3. **start-up alone**: the real order service (`tools order`, the hidden node
//!    subcommand, through [`toystore_harness::cluster`]) on that file with no other replica up, timed
//!    from spawning the process to `GET /health` saying ready with `last_seq` = N (the
//!    median of `--starts` starts, stopped cleanly in between). Alone a replica can have no
//!    leader, so "ready" here is `/health`'s: its storage is open (one durable write
//!    transaction checks the kind and Raft format and creates missing tables), openraft has
//!    loaded its vote, log state, last applied and snapshot, and it serves as a voter;
//! 4. **start-up with a peer**: a second replica on a copy of the file, started while the
//!    first runs, timed the same way until it is ready *and knows a leader among the two*
//!    (the file's vote names replica 3, not running, which does not count): the cluster
//!    file sets the `raft` election policy, so the two elect one themselves (no front-end);
//!    a restart finds the other already leading, or elects;
//! 5. **catch-up**: a third replica starts with an empty file, as if it had lost its disk:
//!    timed until its `last_seq` is N (orders/s). Like any replica that lost its log, it is
//!    first taken out of the voters and added back as a learner (docs/DESIGN.md, "Initial
//!    membership, and a replica that lost its log"); it becomes a voter again at the
//!    leader's next membership round after it caught up. The log of the other two is purged
//!    up to their snapshot, so this is a snapshot install;
//! 6. **snapshot** ([`snapshot`]): the size of the snapshot it installed and the install
//!    time (from its being ready to holding N orders);
//! 7. **diff**: the replicas stopped (SIGTERM), `tools diff` of the three files
//!    ([`toystore_harness::diff::diff_files`]): time, and that they are identical;
//! 8. **memory**: VmHWM and VmRSS (`/proc/<pid>/status`) of the replica started alone,
//!    the one started with a peer, the one that caught up, and the leader it caught up from;
//! 9. **space**: what the generated and the caught-up files hold, table by table, against
//!    their length;
//! 10. **buys** ([`buys`], unless `--no-buys`): the whole store (catalog, three replicas,
//!     front-end) started on an empty directory, then on copies of the three files, each
//!     under the bench's 64-client buy load for `--buy-duration`, with snapshots every
//!     [`buys::SNAPSHOT_EVERY`] entries counted as they are taken: throughput, p50, p99 and
//!     p99.9 on N orders against an empty store.
//!
//! It shows a progress bar while it runs, then prints the tables, the goals with pass or
//! miss, and how each figure grows from the second-largest to the largest N (N^b: b = 1
//! linear, b = 0 flat); `--json` prints one JSON object per size instead. `--out DIR` writes
//! `growth.csv`, `growth.md` (the printed text) and SVG plots (time, throughput and peak
//! RSS against N, log axes). Exit status 1 if a check fails (a replica short of N, an
//! inconsistent replay, different files, a catch-up without a snapshot install); missed
//! goals are reported, not failures.
//!
//! The processes and files are the real ones and are reached through their public faces
//! (`/health`, the node subcommands, the replay and diff functions). Timing figures are
//! wall-clock on a warm page cache (each file was just written).

pub mod buys;
pub mod figures;
pub mod generate;
pub mod output;
pub mod replicas;
pub mod report;
pub mod snapshot;

use anyhow::Context;
use figures::{
    CatchupFigures, DiffFigures, FileSpace, GenerateFigures, ReplayFigures, SizeResult,
    StartFigures, TableFigures,
};
use indicatif::{ProgressBar, ProgressStyle};
use replicas::Replicas;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `tools growth`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  tools growth --sizes 10000,100000,1000000 --out docs/perf\n  tools growth --sizes 200 --json\n\nNeeds about 3x the log's size in free disk per N (700 MB at 1M orders) in --data-dir\n(default: a temporary directory, removed afterwards) and ports on loopback.\nExit status: 0 every check passed (missed goals are reported, not failures), 1 otherwise."
)]
pub struct GrowthArgs {
    /// Log sizes N (orders) to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    pub sizes: Vec<u64>,
    /// Directory for growth.csv, growth.md and the SVG plots.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print one JSON object per size instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Keep the replicas' files and logs here, under n-<N>/ (default: a temporary
    /// directory, removed afterwards).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seed of the generated orders.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Orders per write transaction of the generator.
    #[arg(long, default_value_t = generate::DEFAULT_BATCH)]
    pub batch: usize,
    /// Starts of a replica on the file (stopped cleanly in between) per start-up figure;
    /// the median counts.
    #[arg(long, default_value_t = 3)]
    pub starts: usize,
    /// Longest wait for one replica to get ready or catch up (e.g. 600s, 10m).
    #[arg(long, default_value = "10m", value_parser = toystore_config::duration::parse_positive)]
    pub timeout: Duration,
    /// Length of each buy run (on an empty store, then on the replicas holding N orders)
    #[arg(long, default_value = "10s", value_parser = toystore_config::duration::parse_positive)]
    pub buy_duration: Duration,
    /// Skip the buy runs
    #[arg(long)]
    pub no_buys: bool,
}

/// Steps per size, for the progress bar.
const STEPS: u64 = 7;

/// Runs `tools growth`: 0 when every size's checks passed, 1 otherwise.
pub async fn run(args: GrowthArgs) -> anyhow::Result<u8> {
    anyhow::ensure!(
        !args.sizes.is_empty() && args.sizes.iter().all(|&n| n > 0),
        "--sizes needs at least one size above 0"
    );
    let program = std::env::current_exe().context("locating the tools binary")?;
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let root = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let bar = progress_bar(args.sizes.len() as u64 * STEPS);
    let mut results = Vec::new();
    for &n in &args.sizes {
        let dir = root.join(format!("n-{n}"));
        let result = measure(&args, &program, &dir, n, &bar)
            .await
            .with_context(|| format!("measuring N = {n} (in {})", dir.display()))?;
        if args.data_dir.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        if args.json {
            bar.suspend(|| println!("{}", serde_json::to_string(&result).unwrap_or_default()));
        }
        results.push(result);
    }
    bar.finish_and_clear();
    if !args.json {
        print!("{}", report::text(&results));
    }
    if let Some(out) = &args.out {
        output::write(out, &results)?;
        eprintln!("wrote {}", out.display());
    }
    let failed: Vec<u64> = results
        .iter()
        .filter(|r| !r.sane())
        .map(|r| r.orders)
        .collect();
    if failed.is_empty() {
        Ok(0)
    } else {
        eprintln!("checks failed at N = {failed:?}");
        Ok(1)
    }
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("[{elapsed_precise}] [{bar:30.cyan/blue}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn per_sec(count: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// What the (closed) replica file at `path` holds, table by table.
fn space(path: &Path) -> anyhow::Result<FileSpace> {
    let file = toystore_store::inspect::LogFile::open(path)?;
    let tables = file
        .read()?
        .table_space()
        .with_context(|| format!("reading the tables of {}", path.display()))?;
    let event_bytes = tables
        .iter()
        .find(|t| t.name == "events")
        .map_or(0, |t| t.stored_bytes);
    Ok(FileSpace {
        file_bytes: file_size(path)?,
        event_bytes,
        page_bytes: tables.iter().map(|t| t.page_bytes).sum(),
        tables: tables
            .into_iter()
            .map(|t| TableFigures {
                name: t.name,
                rows: t.rows,
                stored_bytes: t.stored_bytes,
                page_bytes: t.page_bytes,
            })
            .collect(),
    })
}

fn file_size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len())
}

/// Starts replica `id` `starts` times (stopping it cleanly in between), each timed from
/// spawning it to its status satisfying `done`; the median counts, and the last start is
/// left running.
async fn start_up(
    replicas: &mut Replicas,
    id: u32,
    starts: usize,
    done: impl Fn(&toystore_order_api::ReplicaStatus) -> bool,
) -> anyhow::Result<StartFigures> {
    let mut samples = Vec::new();
    let mut last_seq = 0;
    for i in 0..starts.max(1) {
        if i > 0 {
            replicas.stop_one(id).await?;
        }
        let started = replicas.start(id, &done, |_, _| {}).await?;
        samples.push(started.elapsed.as_secs_f64());
        last_seq = started.status.last_seq.0;
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(StartFigures {
        secs: sorted[sorted.len() / 2],
        samples,
        last_seq,
        memory: replicas.memory(id)?,
    })
}

/// Measures one N in `dir` (see the module doc).
async fn measure(
    args: &GrowthArgs,
    program: &Path,
    dir: &Path,
    n: u64,
    bar: &ProgressBar,
) -> anyhow::Result<SizeResult> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let mut replicas = Replicas::prepare(program, dir, args.timeout)?;
    let files = [replicas.db(1), replicas.db(2), replicas.db(3)];
    let step = |what: &str| bar.set_message(format!("N = {n}: {what}"));

    step("generate");
    let members = replicas.members();
    let spec = generate::Spec {
        orders: n,
        seed: args.seed,
        batch: args.batch,
        members: &members,
    };
    let generated = generate::generate(&files[0], spec, &|done| {
        bar.set_message(format!("N = {n}: generate {done}/{n}"));
    })
    .await?;
    let generate = GenerateFigures {
        secs: generated.elapsed.as_secs_f64(),
        orders_per_sec: per_sec(n, generated.elapsed.as_secs_f64()),
        file_bytes: generated.file_bytes,
        snapshot_build_secs: generated.snapshot_build.as_secs_f64(),
        space: space(&files[0])?,
    };
    bar.inc(1);

    step("tools replay");
    let replay = {
        let file = files[0].clone();
        let started = Instant::now();
        let report =
            tokio::task::spawn_blocking(move || crate::replay::replay_file(&file)).await??;
        let secs = started.elapsed().as_secs_f64();
        ReplayFigures {
            secs,
            events: report.events,
            events_per_sec: per_sec(report.events, secs),
            consistent: report.consistent(),
        }
    };
    bar.inc(1);

    step("start-up alone");
    std::fs::copy(&files[0], &files[1])
        .with_context(|| format!("copying to {}", files[1].display()))?;
    let startup_alone = start_up(&mut replicas, 1, args.starts, |s| {
        s.ready && s.last_seq.0 >= n
    })
    .await?;
    bar.inc(1);

    step("start-up with a peer");
    // A leader among the running two: the generated file's vote names replica 3 (not
    // running), which a replica reports as its leader until it hears otherwise.
    let startup_with_peer = start_up(&mut replicas, 2, args.starts, |s| {
        s.ready && s.last_seq.0 >= n && s.leader.is_some_and(|l| l == 1 || l == 2)
    })
    .await?;
    bar.inc(1);

    step("catch-up");
    // Caught up once the snapshot is installed (applied up to the generated log's last
    // index), not when its events are in the log: the index is built after they arrive.
    let mut received_after = None;
    let caught = replicas
        .start(
            3,
            |s| s.ready && s.last_seq.0 >= n && s.applied >= Some(generated.last_index),
            |s, elapsed| {
                if s.last_seq.0 >= n {
                    received_after.get_or_insert(elapsed);
                }
                bar.set_message(format!("N = {n}: catch-up {}/{n}", s.last_seq.0));
            },
        )
        .await?;
    let memory = replicas.memory(3)?;
    // The leader it caught up from, as it knows it (replica 2 if it names none).
    let source = caught.status.leader.filter(|&l| l != 3).unwrap_or(2);
    let source_memory = replicas.memory(source)?;
    let max_hwm_kib = (1..=3)
        .filter_map(|id| replicas.memory(id).ok())
        .map(|m| m.hwm_kib)
        .max()
        .unwrap_or(0);
    bar.inc(1);

    step("stop, tools diff");
    let config = replicas.config().clone();
    replicas.stop().await?;
    let diff = {
        let files = files.to_vec();
        let started = Instant::now();
        let report =
            tokio::task::spawn_blocking(move || toystore_harness::diff::diff_files(&files))
                .await??;
        DiffFigures {
            secs: started.elapsed().as_secs_f64(),
            files: report.files.len(),
            identical: report.identical(),
            last_seq: report.files.first().map_or(0, |f| f.last_seq),
        }
    };
    let snapshot =
        snapshot::measure(&files[2], &caught, received_after, generated.last_index).await?;
    let catchup = CatchupFigures {
        secs: caught.elapsed.as_secs_f64(),
        ready_secs: caught.ready_after.unwrap_or(caught.elapsed).as_secs_f64(),
        last_seq: caught.status.last_seq.0,
        orders_per_sec: per_sec(caught.status.last_seq.0, caught.elapsed.as_secs_f64()),
        file_bytes: file_size(&files[2])?,
        space: space(&files[2])?,
        memory,
        source_memory,
    };
    bar.inc(1);

    let buys = if args.no_buys {
        None
    } else {
        step("buys on an empty store, then on N orders");
        Some(buys::measure(program, &config, dir, args.buy_duration).await?)
    };
    bar.inc(1);

    Ok(SizeResult {
        orders: n,
        generate,
        replay,
        diff,
        startup_alone,
        startup_with_peer,
        catchup,
        snapshot,
        max_hwm_kib,
        buys,
    })
}
