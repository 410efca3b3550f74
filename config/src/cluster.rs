//! The cluster file, `toystore.toml`: one description of the whole store.
//!
//! Every binary reads the same file and picks its own part (`order --config FILE --id 2`);
//! flags override single fields. Every field has a default, so an empty file (or none at
//! all) describes the default loopback store of DESIGN.md, except the token, which a store
//! must be given (tools up generates one).
//!
//! ```toml
//! token = "..."
//! data_dir = "data"
//!
//! [catalog]
//! addr = "127.0.0.1:8090"
//! restock_interval = "10s"
//! stock = 100
//!
//! [frontend]
//! addr = "127.0.0.1:8080"
//! cache = true
//! cache_capacity = 8
//!
//! [[replicas]]
//! id = 1
//! addr = "127.0.0.1:8091"
//!
//! [order]
//! election = "frontend"   # or "raft"
//! heartbeat = "50ms"
//! election_timeout_min = "150ms"
//! election_timeout_max = "300ms"
//! write_timeout = "1s"
//! snapshot_every = 10000
//! keep_after_snapshot = 1000
//! complete_after = "5s"
//! reconcile_every = "1s"
//!
//! [timeouts]
//! request = "5s"
//! health = "500ms"
//! raft_rpc = "10s"
//! membership = "10s"
//! election = "1s"
//! leader_poll = "25ms"
//! reconnect_min = "50ms"
//! reconnect_max = "2s"
//! completion_check = "500ms"
//! keep_alive = "15s"
//! ```
//!
//! Durations are humantime text (`"500ms"`, `"2m"`); a file from before that, with whole
//! milliseconds under the old `…_ms` names, still reads.
//!
//! Why one file of this length: the cluster file is one document; its sections, defaults and
//! validation are read together (and the tests check them together).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The command-line flags every service shares: the cluster file, the token, the listen
/// address, logging.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// The cluster file (toystore.toml); defaults apply without one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Cluster token (overrides the file).
    #[arg(long, env = "TOYSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Listen address (overrides the file).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Logging.
    #[command(flatten)]
    pub log: crate::logging::LogArgs,
}

impl ServiceArgs {
    /// The cluster description and its token (the flag or environment winning over the
    /// file). A store without a token is refused.
    pub fn load(&self) -> Result<(ClusterConfig, crate::ClusterToken), ConfigError> {
        let cluster = ClusterConfig::load_or_default(self.config.as_deref())?;
        let token = self.token.clone().unwrap_or_else(|| cluster.token.clone());
        let token = crate::ClusterToken::new(token).ok_or(ConfigError::NoToken)?;
        Ok((cluster, token))
    }
}

/// Creates the directory a database file will live in.
pub fn ensure_parent(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
}

/// Why the cluster file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No token in the file, the flag or the environment.
    #[error("no cluster token: set `token` in the cluster file, --token or TOYSTORE_TOKEN")]
    NoToken,
    /// The file is not a valid cluster file.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: InvalidConfig,
    },
}

/// What makes a cluster file's text invalid.
#[derive(Debug, thiserror::Error)]
pub enum InvalidConfig {
    /// Not TOML of the right shape (a wrong type, an unknown field…).
    #[error(transparent)]
    Syntax(#[from] toml::de::Error),
    /// Values that break a rule of the store.
    #[error("{0}")]
    Rule(&'static str),
    /// A duration that must last at least a millisecond.
    #[error("{0} must be at least 1ms")]
    Duration(&'static str),
}

/// The whole store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The shared secret of internal endpoints (empty: not set).
    pub token: String,
    /// Where services keep their redb files.
    pub data_dir: PathBuf,
    /// The catalog service.
    pub catalog: CatalogConfig,
    /// The front-end service.
    pub frontend: FrontendConfig,
    /// The order replicas.
    pub replicas: Vec<ReplicaConfig>,
    /// The order service's replication (Raft) settings.
    pub order: OrderConfig,
    /// Timeouts of calls between services.
    pub timeouts: Timeouts,
}

/// Who starts Raft elections among the order replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Election {
    /// The front-end asks one replica to campaign (automatic elections off; the handout's
    /// Part 2 rule: highest live, caught-up id first).
    #[default]
    Frontend,
    /// The replicas elect on their own with randomized timeouts (the handout's Part 5).
    Raft,
}

impl std::fmt::Display for Election {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Election::Frontend => "frontend",
            Election::Raft => "raft",
        })
    }
}

/// `[order]`: Raft settings of the order replicas (defaults suit loopback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrderConfig {
    /// The election policy.
    pub election: Election,
    /// Leader heartbeat interval.
    #[serde(with = "crate::duration::human", alias = "heartbeat_ms")]
    pub heartbeat: Duration,
    /// Lower bound of the randomized election timeout (`raft` mode); also the leader lease
    /// a follower honours before voting for someone else is based on the upper bound.
    #[serde(with = "crate::duration::human", alias = "election_timeout_min_ms")]
    pub election_timeout_min: Duration,
    /// Upper bound of the randomized election timeout.
    #[serde(with = "crate::duration::human", alias = "election_timeout_max_ms")]
    pub election_timeout_max: Duration,
    /// How long a purchase waits for its entry to commit before answering 503.
    #[serde(with = "crate::duration::human", alias = "write_timeout_ms")]
    pub write_timeout: Duration,
    /// A snapshot every this many applied log entries (then the log is purged).
    pub snapshot_every: u64,
    /// Log entries kept behind the last snapshot.
    pub keep_after_snapshot: u64,
    /// A catalog purchase still without an order this long after a replica saw it is
    /// completed by the leader (see the order crate's `complete` module).
    #[serde(with = "crate::duration::human", alias = "complete_after_ms")]
    pub complete_after: Duration,
    /// How often the leader compares the Raft membership with the cluster file's replicas
    /// (and changes it when they differ).
    #[serde(with = "crate::duration::human")]
    pub reconcile_every: Duration,
}

/// `[timeouts]`: how long the store waits: for one call between its services, and before
/// it looks again (a leader being elected, a broken event stream, a purchase left half
/// done, an idle browser stream).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// One internal request (the front-end or tools to the catalog or a replica).
    #[serde(with = "crate::duration::human")]
    pub request: Duration,
    /// One health check (the front-end's of the replicas, the cluster page's of everyone);
    /// shorter than `request`, so a dead peer is noticed quickly.
    #[serde(with = "crate::duration::human")]
    pub health: Duration,
    /// One Raft message between replicas (a snapshot install is the longest).
    #[serde(with = "crate::duration::human")]
    pub raft_rpc: Duration,
    /// One membership change (adding or removing a replica) before it is retried.
    #[serde(with = "crate::duration::human")]
    pub membership: Duration,
    /// How long the front-end waits for a leader after asking a replica to campaign (the
    /// `frontend` election policy) before it answers that no replica leads.
    #[serde(with = "crate::duration::human")]
    pub election: Duration,
    /// While a purchase waits for a leader to be elected, how often the front-end looks
    /// again.
    #[serde(with = "crate::duration::human")]
    pub leader_poll: Duration,
    /// A broken event stream (the front-end's invalidations, a replica's follow of the
    /// catalog) is reconnected after this, the wait doubling on each failure ...
    #[serde(with = "crate::duration::human")]
    pub reconnect_min: Duration,
    /// ... up to this.
    #[serde(with = "crate::duration::human")]
    pub reconnect_max: Duration,
    /// How often each replica checks the catalog purchases it has seen for orders (and the
    /// leader completes those waiting longer than `order.complete_after`).
    #[serde(with = "crate::duration::human")]
    pub completion_check: Duration,
    /// How often an idle `/events` stream sends browsers a comment, so proxies keep it open.
    #[serde(with = "crate::duration::human")]
    pub keep_alive: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            request: Duration::from_secs(5),
            health: Duration::from_millis(500),
            raft_rpc: Duration::from_secs(10),
            membership: Duration::from_secs(10),
            election: Duration::from_secs(1),
            leader_poll: Duration::from_millis(25),
            reconnect_min: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            completion_check: Duration::from_millis(500),
            keep_alive: Duration::from_secs(15),
        }
    }
}

impl Default for OrderConfig {
    fn default() -> Self {
        Self {
            election: Election::Frontend,
            heartbeat: Duration::from_millis(50),
            election_timeout_min: Duration::from_millis(150),
            election_timeout_max: Duration::from_millis(300),
            write_timeout: Duration::from_millis(1_000),
            snapshot_every: 10_000,
            keep_after_snapshot: 1_000,
            complete_after: Duration::from_millis(5_000),
            reconcile_every: Duration::from_secs(1),
        }
    }
}

/// The catalog's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Listen address (internal endpoints only).
    pub addr: SocketAddr,
    /// How often sold-out toys are restocked.
    #[serde(with = "crate::duration::human", alias = "restock_interval_ms")]
    pub restock_interval: Duration,
    /// Units every toy starts with and is restocked to (the handout's 100; raise it to
    /// benchmark purchases beyond the handout's stock).
    pub stock: u32,
    /// Heartbeat interval of event streams.
    #[serde(with = "crate::duration::human", alias = "heartbeat_ms")]
    pub heartbeat: Duration,
}

impl CatalogConfig {
    /// How long a subscriber of the catalog's event stream waits without hearing anything,
    /// not even a heartbeat, before it declares the stream dead and reconnects: three
    /// heartbeat intervals, and at least a second (so a busy machine's scheduling hiccup is
    /// not taken for a dead catalog).
    pub fn stream_silence(&self) -> Duration {
        self.heartbeat.saturating_mul(3).max(Duration::from_secs(1))
    }
}

/// The front-end's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontendConfig {
    /// Public listen address.
    pub addr: SocketAddr,
    /// Whether product queries are cached.
    pub cache: bool,
    /// LRU capacity (below the number of toys, so replacement happens).
    pub cache_capacity: usize,
    /// How often replicas are health-checked.
    #[serde(with = "crate::duration::human", alias = "health_interval_ms")]
    pub health_interval: Duration,
    /// How long a purchase may keep retrying on new leaders before it becomes a 503.
    #[serde(with = "crate::duration::human", alias = "failover_timeout_ms")]
    pub failover_timeout: Duration,
    /// How long one forwarded order request may take before the front-end gives up on that
    /// leader and looks again (same request id), so a paused leader holds nothing for long.
    #[serde(with = "crate::duration::human", alias = "attempt_timeout_ms")]
    pub attempt_timeout: Duration,
    /// The pause before a purchase looks for the leader again after a failed attempt.
    #[serde(with = "crate::duration::human")]
    pub retry_pause: Duration,
}

/// A replica's id: the same number in the cluster file, the API, the logs and Raft; the
/// order service's Raft node id is this type, so no id is ever converted.
pub type ReplicaId = u32;

/// One order replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaConfig {
    /// Unique id; the highest live id leads.
    pub id: ReplicaId,
    /// Listen address.
    pub addr: SocketAddr,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            token: String::new(),
            data_dir: PathBuf::from("data"),
            catalog: CatalogConfig::default(),
            frontend: FrontendConfig::default(),
            replicas: (1..=3)
                .map(|id| ReplicaConfig {
                    id,
                    addr: loopback(8090 + id as u16),
                })
                .collect(),
            order: OrderConfig::default(),
            timeouts: Timeouts::default(),
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            addr: loopback(8090),
            restock_interval: Duration::from_millis(10_000),
            stock: 100,
            heartbeat: Duration::from_millis(1_000),
        }
    }
}

impl Default for FrontendConfig {
    fn default() -> Self {
        Self {
            addr: loopback(8080),
            cache: true,
            cache_capacity: 8,
            health_interval: Duration::from_millis(1_000),
            failover_timeout: Duration::from_millis(10_000),
            attempt_timeout: Duration::from_millis(500),
            retry_pause: Duration::from_millis(50),
        }
    }
}

impl ClusterConfig {
    /// Reads and checks a cluster file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Invalid {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses and checks the text of a cluster file.
    pub fn parse(text: &str) -> Result<Self, InvalidConfig> {
        let config: ClusterConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `path` if given, the defaults otherwise.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        path.map_or_else(|| Ok(Self::default()), Self::load)
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        // Serializing this plain struct of strings, numbers and tables cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks what types cannot: unique replica ids and addresses, a positive stock.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if self.catalog.stock == 0 {
            return Err(InvalidConfig::Rule("catalog.stock must be at least 1"));
        }
        let o = &self.order;
        let f = &self.frontend;
        let t = &self.timeouts;
        let lasting = [
            ("catalog.restock_interval", self.catalog.restock_interval),
            ("catalog.heartbeat", self.catalog.heartbeat),
            ("order.heartbeat", o.heartbeat),
            ("order.write_timeout", o.write_timeout),
            ("order.complete_after", o.complete_after),
            ("order.reconcile_every", o.reconcile_every),
            ("frontend.health_interval", f.health_interval),
            ("frontend.attempt_timeout", f.attempt_timeout),
            ("frontend.retry_pause", f.retry_pause),
            ("timeouts.request", t.request),
            ("timeouts.health", t.health),
            ("timeouts.raft_rpc", t.raft_rpc),
            ("timeouts.membership", t.membership),
            ("timeouts.election", t.election),
            ("timeouts.leader_poll", t.leader_poll),
            ("timeouts.reconnect_min", t.reconnect_min),
            ("timeouts.reconnect_max", t.reconnect_max),
            ("timeouts.completion_check", t.completion_check),
            ("timeouts.keep_alive", t.keep_alive),
        ];
        if let Some((name, _)) = lasting.iter().find(|(_, d)| *d < Duration::from_millis(1)) {
            return Err(InvalidConfig::Duration(name));
        }
        if o.election_timeout_min <= o.heartbeat {
            return Err(InvalidConfig::Rule(
                "order.election_timeout_min must exceed order.heartbeat",
            ));
        }
        if o.election_timeout_max <= o.election_timeout_min {
            return Err(InvalidConfig::Rule(
                "order.election_timeout_max must exceed order.election_timeout_min",
            ));
        }
        if o.snapshot_every == 0 {
            return Err(InvalidConfig::Rule(
                "order.snapshot_every must be at least 1",
            ));
        }
        if t.leader_poll >= t.election {
            // A lookup would look once and give up, never seeing the election's result.
            return Err(InvalidConfig::Rule(
                "timeouts.leader_poll must be below timeouts.election",
            ));
        }
        if t.reconnect_max < t.reconnect_min {
            return Err(InvalidConfig::Rule(
                "timeouts.reconnect_max must not be below timeouts.reconnect_min",
            ));
        }
        if f.attempt_timeout > f.failover_timeout {
            return Err(InvalidConfig::Rule(
                "frontend.attempt_timeout must not exceed frontend.failover_timeout",
            ));
        }
        let mut ids: Vec<ReplicaId> = self.replicas.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(InvalidConfig::Rule("replica ids must be unique"));
        }
        let mut addrs: Vec<SocketAddr> = self.replicas.iter().map(|r| r.addr).collect();
        addrs.sort_unstable();
        if addrs.windows(2).any(|w| w[0] == w[1]) {
            return Err(InvalidConfig::Rule("replica addresses must be unique"));
        }
        Ok(())
    }

    /// The replica with this id.
    pub fn replica(&self, id: ReplicaId) -> Option<&ReplicaConfig> {
        self.replicas.iter().find(|r| r.id == id)
    }

    /// The catalog's redb file.
    pub fn catalog_db(&self) -> PathBuf {
        self.data_dir.join("catalog.redb")
    }

    /// Replica `id`'s redb file.
    pub fn order_db(&self, id: ReplicaId) -> PathBuf {
        self.data_dir.join(format!("order-{id}.redb"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default_store_and_round_trips() {
        let c = ClusterConfig::parse("").expect("empty file is valid");
        assert_eq!(c, ClusterConfig::default());
        assert_eq!(c.frontend.addr.port(), 8080);
        assert_eq!(c.catalog.addr.port(), 8090);
        assert_eq!(
            c.replicas.iter().map(|r| r.addr.port()).collect::<Vec<_>>(),
            vec![8091, 8092, 8093]
        );
        assert_eq!(ClusterConfig::parse(&c.to_toml()).expect("round trip"), c);
    }

    #[test]
    fn order_section_parses_and_bad_timeouts_are_refused() {
        let c = ClusterConfig::parse("[order]\nelection = \"raft\"\nelection_timeout_max = 500\n")
            .expect("valid order section");
        assert_eq!(c.order.election, Election::Raft);
        assert_eq!(c.order.election_timeout_max, Duration::from_millis(500));
        assert_eq!(c.order.heartbeat, OrderConfig::default().heartbeat);
        let text = ClusterConfig::parse("[order]\nelection_timeout_max = \"0.5s\"\n")
            .expect("humantime text");
        assert_eq!(text.order.election_timeout_max, Duration::from_millis(500));
        let old = ClusterConfig::parse("[order]\nelection_timeout_max_ms = 500\n")
            .expect("a file from before durations were text");
        assert_eq!(old.order.election_timeout_max, Duration::from_millis(500));
        assert!(c.to_toml().contains("election_timeout_max = \"500ms\""));
        let zero = ClusterConfig::parse("[timeouts]\nhealth = \"0ms\"\n").expect_err("zero");
        assert!(zero.to_string().contains("timeouts.health"), "{zero}");
        assert_eq!(ClusterConfig::parse(&c.to_toml()).expect("round trip"), c);
        assert!(ClusterConfig::parse("[order]\nelection = \"vote\"\n").is_err());
        assert!(ClusterConfig::parse("[order]\nelection_timeout_min = 10\n").is_err());
        assert!(ClusterConfig::parse("[order]\nelection_timeout_max = 100\n").is_err());
        assert!(ClusterConfig::parse("[order]\ncomplete_after = 0\n").is_err());
        assert!(ClusterConfig::parse("[frontend]\nattempt_timeout = 0\n").is_err());
        let longer = "[frontend]\nattempt_timeout = 3000\nfailover_timeout = 2000\n";
        assert!(ClusterConfig::parse(longer).is_err());
    }

    #[test]
    fn waits_and_pacing_come_from_timeouts_with_defaults() {
        let d = Timeouts::default();
        assert_eq!(
            (d.leader_poll, d.reconnect_min, d.reconnect_max),
            (
                Duration::from_millis(25),
                Duration::from_millis(50),
                Duration::from_secs(2)
            )
        );
        assert_eq!(
            (d.completion_check, d.keep_alive),
            (Duration::from_millis(500), Duration::from_secs(15))
        );
        let text = "[timeouts]\nleader_poll = \"10ms\"\nreconnect_min = \"20ms\"\nreconnect_max = \"1s\"\ncompletion_check = \"2s\"\nkeep_alive = \"30s\"\n";
        let t = ClusterConfig::parse(text).expect("valid").timeouts;
        assert_eq!(t.leader_poll, Duration::from_millis(10));
        assert_eq!(t.reconnect_min, Duration::from_millis(20));
        assert_eq!(t.reconnect_max, Duration::from_secs(1));
        assert_eq!(t.completion_check, Duration::from_secs(2));
        assert_eq!(t.keep_alive, Duration::from_secs(30));
        let upside = "[timeouts]\nreconnect_min = \"3s\"\nreconnect_max = \"1s\"\n";
        let e = ClusterConfig::parse(upside).expect_err("max below min");
        assert!(e.to_string().contains("reconnect_max"), "{e}");
        let slow = "[timeouts]\nelection = \"1s\"\nleader_poll = \"1s\"\n";
        let e = ClusterConfig::parse(slow).expect_err("a poll as long as the election");
        assert!(e.to_string().contains("leader_poll must be below"), "{e}");
        let zero = ClusterConfig::parse("[timeouts]\nleader_poll = \"0ms\"\n").expect_err("zero");
        assert!(zero.to_string().contains("timeouts.leader_poll"), "{zero}");
    }

    #[test]
    fn rejects_unknown_fields_and_duplicate_replicas() {
        assert!(ClusterConfig::parse("tokn = \"x\"").is_err());
        let dup = "[[replicas]]\nid = 1\naddr = \"127.0.0.1:1\"\n[[replicas]]\nid = 1\naddr = \"127.0.0.1:2\"\n";
        assert!(ClusterConfig::parse(dup).is_err());
    }

    #[test]
    fn stock_and_restock_interval_must_be_positive() {
        let c = ClusterConfig::parse("[catalog]\nstock = 1000000\n").expect("valid");
        assert_eq!(c.catalog.stock, 1_000_000);
        assert_eq!(ClusterConfig::default().catalog.stock, 100);
        let zero = ClusterConfig::parse("[catalog]\nstock = 0\n").expect_err("zero stock");
        assert!(zero.to_string().contains("stock"), "{zero}");
        let never =
            ClusterConfig::parse("[catalog]\nrestock_interval = 0\n").expect_err("zero interval");
        assert!(never.to_string().contains("restock_interval"), "{never}");
    }
}
