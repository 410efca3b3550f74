//! `tools chaos`: the handout's crash experiment, automated.
//!
//! It starts a fresh store, runs the handout's clients for `--duration`, and meanwhile
//! every `--kill-every` injects a fault into one order replica: with the `kill` nemesis it
//! is killed with SIGKILL and restarted `--down-for` later; with `pause` it is frozen with
//! SIGSTOP for `--down-for` and resumed. Victims alternate between the current leader and a
//! random follower (so at least a third of the faults hit the leader); with several
//! nemeses, each takes two faults in turn (its leader and its follower). Then the clients read back every acknowledged order
//! through the front-end, the replicas are given time to converge, the store is stopped and
//! the three replica files are compared event by event. It reports the kills, the errors
//! clients saw, lost or altered orders and whether the replicas are identical, and exits
//! non-zero on any lost order or divergence.

use crate::client::{run_clients, ClientConfig, ClientReport};
use crate::cluster::{Cluster, ClusterSpec, Service};
use crate::diff::{diff_files, DiffReport};
use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `tools chaos`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  tools chaos --duration 60s --kill-every 5s --down-for 3s")]
pub struct ChaosArgs {
    /// How long the clients run (e.g. 60s, 2m, 500ms).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Time between kills.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub kill_every: Duration,
    /// How long a killed replica stays down.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub down_for: Duration,
    /// Concurrent clients.
    #[arg(long, default_value_t = 5)]
    pub clients: usize,
    /// Buy probability of the clients.
    #[arg(long, default_value_t = 0.5)]
    pub p: f64,
    /// Seed of the clients' choices and of the choice of victims.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep the store's data here (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Who starts order elections: `frontend` or `raft`.
    #[arg(long, value_enum, default_value_t = toystore_net::config::Election::Frontend)]
    pub election: toystore_net::config::Election,
    /// The faults to inject, in turn: `kill` (SIGKILL, then restart), `pause` (SIGSTOP,
    /// then SIGCONT).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "kill")]
    pub nemesis: Vec<Nemesis>,
}

/// One kind of fault `tools chaos` injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Nemesis {
    /// SIGKILL a replica, restart it `--down-for` later.
    Kill,
    /// SIGSTOP a replica for `--down-for`, then SIGCONT.
    Pause,
}

/// Parses `60s`, `500ms`, `2m` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (examples: 60s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("invalid duration unit {unit:?} (ms, s or m)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {text:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// One fault (a kill or a pause).
#[derive(Debug, Clone, Serialize)]
pub struct Kill {
    /// What was done.
    pub nemesis: Nemesis,
    /// Seconds since the clients started.
    pub at_secs: f64,
    /// The replica killed.
    pub replica: u32,
    /// Whether it was the leader.
    pub leader: bool,
    /// Seconds until it was ready again after its restart or resume.
    pub recovered_secs: f64,
}

/// What `tools chaos` found.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    /// Every kill, in order.
    pub kills: Vec<Kill>,
    /// Kills of the leader.
    pub leader_kills: usize,
    /// Kills of a follower.
    pub follower_kills: usize,
    /// The clients' report (errors per request type, verification of every order).
    pub clients: ClientReport,
    /// The comparison of the three replica files after the run.
    pub diff: DiffReport,
    /// True when no order was lost or altered and the replicas are identical.
    pub ok: bool,
}

impl ChaosReport {
    /// A human-readable summary.
    pub fn to_text(&self) -> String {
        let c = &self.clients;
        let v = &c.verification;
        let mut out = format!(
            "faults: {} ({} leader, {} follower)\n",
            self.kills.len(),
            self.leader_kills,
            self.follower_kills
        );
        for k in &self.kills {
            out += &format!(
                "  t={:>6.1}s  {:?} replica {}{}  ready again after {:.2}s\n",
                k.at_secs,
                k.nemesis,
                k.replica,
                if k.leader { " (leader)" } else { "" },
                k.recovered_secs
            );
        }
        out += &format!(
            "client-visible errors: query {}, buy {}, order check {} (buy retries with the same key: {})\n",
            c.query.errors, c.buy.errors, c.order_check.errors, c.buy.retries
        );
        out += &format!(
            "orders: {} acknowledged, {} read back identical, {} missing, {} altered\n",
            v.orders, v.matched, v.missing, v.mismatched
        );
        out += &format!("replicas: {}", self.diff.to_text());
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out += if self.ok {
            "result: OK\n"
        } else {
            "result: FAILED\n"
        };
        out
    }
}

/// Runs `tools chaos`; exit status 0 when nothing was lost and the replicas are identical.
pub async fn run(args: ChaosArgs) -> anyhow::Result<u8> {
    if args.kill_every <= args.down_for {
        bail!("--kill-every must be longer than --down-for (one replica down at a time)");
    }
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let data = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let program = std::env::current_exe().context("locating the tools binary")?;
    let mut spec = ClusterSpec::on_free_ports(program, Vec::new(), &data)?;
    spec.config.order.election = args.election;
    let mut cluster = Cluster::start(spec, Duration::from_secs(60)).await?;
    let seed = args.seed.unwrap_or_else(rand::random);
    eprintln!(
        "chaos: {} clients for {:?}, a replica killed every {:?} for {:?} (seed {seed}, data {})",
        args.clients,
        args.duration,
        args.kill_every,
        args.down_for,
        data.display()
    );

    let mut config = ClientConfig::new(cluster.frontend_url(), args.p, u64::MAX, args.clients);
    config.seed = seed;
    config.stop_after = Some(args.duration);
    // Purchases whose leader dies are retried with the same key; give them room.
    config.buy_attempts = 10;
    config.timeout = Duration::from_secs(30);
    let clients = tokio::spawn(run_clients(config));

    let kills = kill_loop(&mut cluster, &args, seed).await?;
    let clients = clients.await.context("client task")??;

    let ids = cluster.replica_ids();
    converge(&cluster, &ids, Duration::from_secs(60)).await?;
    let paths: Vec<PathBuf> = ids
        .iter()
        .map(|id| cluster.config().order_db(*id))
        .collect();
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    if !unclean.is_empty() {
        eprintln!("warning: services that did not stop cleanly: {unclean:?}");
    }
    let diff = tokio::task::spawn_blocking(move || diff_files(&paths)).await??;
    let leader_kills = kills.iter().filter(|k| k.leader).count();
    let ok = clients.verification.ok && diff.identical();
    let report = ChaosReport {
        follower_kills: kills.len() - leader_kills,
        leader_kills,
        kills,
        clients,
        diff,
        ok,
    };
    print!("{}", report.to_text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if report.ok { 0 } else { 1 })
}

async fn kill_loop(
    cluster: &mut Cluster,
    args: &ChaosArgs,
    seed: u64,
) -> anyhow::Result<Vec<Kill>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0x6b69_6c6c);
    let started = Instant::now();
    let mut kills = Vec::new();
    loop {
        let next = started + args.kill_every * (kills.len() as u32 + 1);
        if next + args.down_for >= started + args.duration {
            return Ok(kills);
        }
        tokio::time::sleep_until(next.into()).await;
        let leader = cluster.wait_leader(Duration::from_secs(30)).await?;
        let ids = cluster.replica_ids();
        // clap gives at least one (the default `kill`).
        let nemesis = args.nemesis[(kills.len() / 2) % args.nemesis.len()];
        let victim = if kills.len() % 2 == 0 {
            leader
        } else {
            let followers: Vec<u32> = ids.iter().copied().filter(|id| *id != leader).collect();
            followers[rng.random_range(0..followers.len())]
        };
        let at = started.elapsed();
        let service = Service::Order(victim);
        match nemesis {
            Nemesis::Kill => cluster.kill(service).await?,
            Nemesis::Pause => cluster.pause(service)?,
        }
        eprintln!(
            "t={:.1}s {} replica {victim}{}",
            at.as_secs_f64(),
            match nemesis {
                Nemesis::Kill => "killed",
                Nemesis::Pause => "paused",
            },
            if victim == leader { " (leader)" } else { "" }
        );
        tokio::time::sleep(args.down_for).await;
        let restarted = Instant::now();
        match nemesis {
            Nemesis::Kill => cluster
                .restart(service, Duration::from_secs(60))
                .await
                .with_context(|| format!("restarting replica {victim}"))?,
            Nemesis::Pause => {
                cluster.resume(service)?;
                cluster
                    .wait_healthy(service, Duration::from_secs(60))
                    .await
                    .with_context(|| format!("resuming replica {victim}"))?;
            }
        }
        kills.push(Kill {
            nemesis,
            at_secs: at.as_secs_f64(),
            replica: victim,
            leader: victim == leader,
            recovered_secs: restarted.elapsed().as_secs_f64(),
        });
    }
}

/// Waits until every replica is ready and holds the same number of orders.
async fn converge(cluster: &Cluster, ids: &[u32], timeout: Duration) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + timeout;
    loop {
        let mut seen = Vec::new();
        for id in ids {
            let url = format!("{}/health", cluster.url(Service::Order(*id)));
            let status: Option<serde_json::Value> = match http.get(url).send().await {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            seen.push(
                status.map(|s| (s["data"]["ready"].as_bool(), s["data"]["last_seq"].as_u64())),
            );
        }
        let first = seen.first().cloned().flatten();
        if first.is_some_and(|(ready, _)| ready == Some(true)) && seen.iter().all(|s| *s == first) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("replicas did not converge within {timeout:?}: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
