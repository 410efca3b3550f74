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
//! restock_interval = "10s"
//! stock = 100
//!
//! [[catalogs]]
//! id = 1
//! addr = "127.0.0.1:8090"
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
//! attempt = "250ms"
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
//! The catalog replicas are listed under `[[catalogs]]`, as the order replicas are under
//! `[[replicas]]`; `[catalog]` holds the settings they share. A file from before that,
//! with the one catalog's address as `[catalog] addr = "…"`, still reads: it describes one
//! catalog replica, id 1, at that address (and is written back as `[[catalogs]]`). A file
//! with neither describes the default: one catalog, id 1, at 127.0.0.1:8090.
//!
//! Why one file of this length: the cluster file is one document; its sections, defaults and
//! validation are read together (and the tests check them together).

use crate::addr::ServiceAddr;
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
    /// Listen address (overrides the file's address for binding only: peers still use the
    /// file's, e.g. a container listens on 0.0.0.0:8091 under its name order-1:8091).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Logging.
    #[command(flatten)]
    pub log: crate::logging::LogArgs,
}

impl ServiceArgs {
    /// Where the service listens, for messages: `--addr` if given, else its address in the
    /// file.
    pub fn listening(&self, addr: &ServiceAddr) -> String {
        self.addr
            .map_or_else(|| addr.to_string(), |a| a.to_string())
    }

    /// The cluster description and its token (the flag or environment winning over the
    /// file). A store without a token is refused.
    pub fn load(&self) -> Result<(ClusterConfig, crate::ClusterToken), ConfigError> {
        let cluster = ClusterConfig::load_or_default(self.config.as_deref())?;
        let token = self.token.clone().unwrap_or_else(|| cluster.token.clone());
        let token = crate::ClusterToken::new(token).ok_or(ConfigError::NoToken)?;
        crate::token::check_strength(token.expose())?;
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

/// The refusal of a file that gives the catalog both ways.
const BOTH_CATALOG_FORMS: &str =
    "[catalog] addr and [[catalogs]] both given: list every catalog replica under [[catalogs]]";

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
    /// A token too short to keep internal routes closed.
    #[error(transparent)]
    WeakToken(#[from] crate::token::WeakToken),
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
    /// The catalog service's settings (every catalog replica's).
    pub catalog: CatalogConfig,
    /// The catalog replicas (at least one). Empty only while a file is being read: see
    /// [`ClusterConfig::parse`].
    #[serde(default)]
    pub catalogs: Vec<ReplicaConfig>,
    /// The front-end service.
    pub frontend: FrontendConfig,
    /// The order replicas.
    pub replicas: Vec<ReplicaConfig>,
    /// The order service's replication (Raft) settings.
    pub order: OrderConfig,
    /// Timeouts of calls between services.
    pub timeouts: Timeouts,
    /// TLS between services (and on the public port); plaintext without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

/// `[tls]`: every internal connection over TLS, each service proving itself with a
/// certificate of the cluster's CA, and every client checking that proof. `{host}` in
/// `cert` and `key` stands for the host of the service's own address in this file (its
/// name, or its IP), so one file serves every service: `cert = "tls/{host}.pem"`.
/// Relative paths are relative to the working directory, as `data_dir` is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The cluster CA's certificate (PEM): the only root a client trusts.
    pub ca: PathBuf,
    /// The service's certificate chain (PEM), `{host}` replaced by its host.
    pub cert: String,
    /// The service's private key (PEM), `{host}` replaced by its host.
    pub key: String,
    /// Whether the front-end's public port serves TLS too (default: yes). Off, browsers
    /// and the load client talk plaintext to the front-end while everything behind it
    /// stays encrypted.
    #[serde(default = "yes")]
    pub public: bool,
}

fn yes() -> bool {
    true
}

impl TlsConfig {
    /// The certificate file of the service whose host is `host`.
    pub fn cert_for(&self, host: &str) -> PathBuf {
        PathBuf::from(self.cert.replace("{host}", host))
    }

    /// The key file of the service whose host is `host`.
    pub fn key_for(&self, host: &str) -> PathBuf {
        PathBuf::from(self.key.replace("{host}", host))
    }
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
    /// Free bytes a replica keeps on its file's disk: below this it takes no writes (503
    /// `insufficient disk space`), no entries from its leader, and steps down if it leads,
    /// until space is freed (so a write never meets a full disk half-way).
    pub disk_reserve: u64,
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
    /// One attempt of a call to a replicated group's leader (the catalog's) before the
    /// call tries another replica: a stopped or cut-off leader holds a call no longer.
    #[serde(with = "crate::duration::human")]
    pub attempt: Duration,
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
            attempt: Duration::from_millis(250),
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
            disk_reserve: 64 << 20,
        }
    }
}

/// The catalog's part: the settings every catalog replica shares (their ids and
/// addresses are [`ClusterConfig::catalogs`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// The one catalog's listen address, as files from before `[[catalogs]]` give it; read
    /// as catalog replica 1 at this address (then `None`: [`ClusterConfig::parse`] moves it
    /// into `catalogs`, so it is never written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<ServiceAddr>,
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
    /// Public address (`host:port`, the host an IP or a DNS name).
    pub addr: ServiceAddr,
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

/// A replica's id (an order replica's or a catalog replica's): the same number in the
/// cluster file, the API, the logs and Raft; the Raft node id is this type, so no id is
/// ever converted.
pub type ReplicaId = u32;

/// One replica: an order replica (`[[replicas]]`) or a catalog replica (`[[catalogs]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaConfig {
    /// Unique id among the replicas of its service; among order replicas, the highest
    /// live id leads (with the front-end's election).
    pub id: ReplicaId,
    /// Its address, `host:port`: an IP or a DNS name, which peers resolve when they
    /// connect (and again after a connection fails).
    pub addr: ServiceAddr,
}

fn loopback(port: u16) -> ServiceAddr {
    ServiceAddr::loopback(port)
}

/// The loopback port of catalog replica `id` in the default layout: 8090 for catalog 1
/// (today's single catalog), `8092 + id` for the others (8094, 8095, 8096, …), so that none
/// takes the front-end's 8080 or the order replicas' 8091–8093.
pub fn default_catalog_port(id: ReplicaId) -> u16 {
    match id {
        1 => 8090,
        // Ids past the port range saturate (and are refused as duplicate addresses).
        id => u16::try_from(id).map_or(u16::MAX, |id| 8092u16.saturating_add(id)),
    }
}

/// `n` catalog replicas on loopback, ids 1 to `n`, at [`default_catalog_port`]s: what
/// `tools up --catalogs N` writes into the cluster file.
pub fn default_catalogs(n: u32) -> Vec<ReplicaConfig> {
    (1..=n)
        .map(|id| ReplicaConfig {
            id,
            addr: loopback(default_catalog_port(id)),
        })
        .collect()
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            token: String::new(),
            data_dir: PathBuf::from("data"),
            catalog: CatalogConfig::default(),
            catalogs: default_catalogs(1),
            frontend: FrontendConfig::default(),
            replicas: (1..=3)
                .map(|id| ReplicaConfig {
                    id,
                    addr: loopback(8090 + id as u16),
                })
                .collect(),
            order: OrderConfig::default(),
            timeouts: Timeouts::default(),
            tls: None,
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            addr: None,
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
    ///
    /// The catalog replicas are settled first: an old `[catalog] addr` becomes catalog
    /// replica 1 at that address (and `catalog.addr` is cleared, so [`Self::to_toml`]
    /// writes `[[catalogs]]`); no catalog at all gives [`default_catalogs`]`(1)`; both is
    /// refused.
    pub fn parse(text: &str) -> Result<Self, InvalidConfig> {
        let mut config: ClusterConfig = toml::from_str(text)?;
        match (config.catalog.addr.take(), config.catalogs.is_empty()) {
            // Both forms: put back for `validate` to refuse.
            (Some(addr), false) => config.catalog.addr = Some(addr),
            (Some(addr), true) => {
                config.catalogs = vec![ReplicaConfig { id: 1, addr }];
            }
            // An explicit `catalogs = []` is left empty, for `validate` to refuse.
            (None, true) if !toml::from_str::<toml::Table>(text)?.contains_key("catalogs") => {
                config.catalogs = default_catalogs(1);
            }
            (None, _) => {}
        }
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

    /// Checks what types cannot: unique replica ids and addresses (order and catalog
    /// replicas and the front-end each at an address of their own), at least one catalog
    /// replica, a positive stock.
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
            ("timeouts.attempt", t.attempt),
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
        if has_duplicates(self.replicas.iter().map(|r| r.id)) {
            return Err(InvalidConfig::Rule("replica ids must be unique"));
        }
        if has_duplicates(self.replicas.iter().map(|r| &r.addr)) {
            return Err(InvalidConfig::Rule("replica addresses must be unique"));
        }
        self.validate_catalogs()
    }

    /// The catalog replicas' part of [`Self::validate`].
    fn validate_catalogs(&self) -> Result<(), InvalidConfig> {
        if self.catalog.addr.is_some() && !self.catalogs.is_empty() {
            return Err(InvalidConfig::Rule(BOTH_CATALOG_FORMS));
        }
        if self.catalogs.is_empty() {
            return Err(InvalidConfig::Rule(
                "no catalog replica: list at least one under [[catalogs]]",
            ));
        }
        if has_duplicates(self.catalogs.iter().map(|c| c.id)) {
            return Err(InvalidConfig::Rule("catalog ids must be unique"));
        }
        if has_duplicates(self.catalogs.iter().map(|c| &c.addr)) {
            return Err(InvalidConfig::Rule("catalog addresses must be unique"));
        }
        let taken = |addr: &ServiceAddr| {
            *addr == self.frontend.addr || self.replicas.iter().any(|r| r.addr == *addr)
        };
        if self.catalogs.iter().any(|c| taken(&c.addr)) {
            return Err(InvalidConfig::Rule(
                "a catalog replica's address is also the front-end's or an order replica's",
            ));
        }
        Ok(())
    }

    /// The replica with this id.
    pub fn replica(&self, id: ReplicaId) -> Option<&ReplicaConfig> {
        self.replicas.iter().find(|r| r.id == id)
    }

    /// The catalog replica with this id.
    pub fn catalog(&self, id: ReplicaId) -> Option<&ReplicaConfig> {
        self.catalogs.iter().find(|c| c.id == id)
    }

    /// Catalog replica `id`'s redb file, `<data_dir>/catalog-<id>.redb`.
    pub fn catalog_db(&self, id: ReplicaId) -> PathBuf {
        self.data_dir.join(format!("catalog-{id}.redb"))
    }

    /// Every catalog replica's id and base URL (`http://<addr>`, `https://` with TLS), in
    /// the file's order.
    pub fn catalog_urls(&self) -> Vec<(ReplicaId, String)> {
        self.catalogs
            .iter()
            .map(|c| (c.id, self.url(&c.addr)))
            .collect()
    }

    /// Every order replica's id and base URL, in the file's order.
    pub fn replica_urls(&self) -> Vec<(ReplicaId, String)> {
        self.replicas
            .iter()
            .map(|r| (r.id, self.url(&r.addr)))
            .collect()
    }

    /// The base URL of an internal service at `addr`: `https://` when the file turns TLS on.
    pub fn url(&self, addr: &ServiceAddr) -> String {
        addr.url(self.tls.is_some())
    }

    /// The front-end's public base URL (`https://` when TLS is on and the public port
    /// serves it).
    pub fn frontend_url(&self) -> String {
        self.frontend.addr.url(self.public_tls())
    }

    /// Whether the front-ends' public port serves TLS (`[tls]` with `public`).
    pub fn public_tls(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.public)
    }

    /// Replica `id`'s redb file.
    pub fn order_db(&self, id: ReplicaId) -> PathBuf {
        self.data_dir.join(format!("order-{id}.redb"))
    }
}

/// Whether `items` holds one value twice.
fn has_duplicates<T: Ord>(items: impl Iterator<Item = T>) -> bool {
    let mut items: Vec<T> = items.collect();
    items.sort_unstable();
    items.windows(2).any(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tls_read_and_round_trip() {
        let text = r#"
            [frontend]
            addr = "frontend-1:8080"

            [[catalogs]]
            id = 1
            addr = "catalog-1.toystore.svc:8090"

            [[replicas]]
            id = 1
            addr = "order-1:8091"

            [[replicas]]
            id = 2
            addr = "10.0.0.2:8091"

            [tls]
            ca = "tls/ca.pem"
            cert = "tls/{host}.pem"
            key = "tls/{host}.key"
        "#;
        let c = ClusterConfig::parse(text).expect("names are addresses");
        assert!(c.replicas[0].addr.is_name());
        assert!(!c.replicas[1].addr.is_name());
        assert_eq!(c.url(&c.replicas[0].addr), "https://order-1:8091");
        assert_eq!(c.frontend_url(), "https://frontend-1:8080");
        let tls = c.tls.as_ref().expect("tls");
        assert!(tls.public);
        assert_eq!(tls.cert_for("order-1"), PathBuf::from("tls/order-1.pem"));
        assert_eq!(tls.key_for("10.0.0.2"), PathBuf::from("tls/10.0.0.2.key"));
        assert_eq!(ClusterConfig::parse(&c.to_toml()).expect("round trip"), c);
        // Without [tls], plaintext URLs.
        let plain =
            ClusterConfig::parse("[[replicas]]\nid = 1\naddr = \"order-1:8091\"\n").expect("valid");
        assert_eq!(
            plain.replica_urls(),
            vec![(1, "http://order-1:8091".to_owned())]
        );
        // A name twice is a duplicate, whatever its case.
        let twice = "[[replicas]]\nid = 1\naddr = \"order-1:8091\"\n[[replicas]]\nid = 2\naddr = \"ORDER-1:8091\"\n";
        assert!(ClusterConfig::parse(twice).is_err());
        assert!(ClusterConfig::parse("[[replicas]]\nid = 1\naddr = \"order-1\"\n").is_err());
    }

    #[test]
    fn empty_file_is_the_default_store_and_round_trips() {
        let c = ClusterConfig::parse("").expect("empty file is valid");
        assert_eq!(c, ClusterConfig::default());
        assert_eq!(c.frontend.addr.port(), 8080);
        assert_eq!(c.catalog.addr, None);
        assert_eq!(
            c.catalogs,
            vec![ReplicaConfig {
                id: 1,
                addr: loopback(8090)
            }]
        );
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
    fn default_is_one_catalog_at_8090_and_the_helper_lists_n() {
        let d = ClusterConfig::default();
        assert_eq!(d.catalogs, default_catalogs(1));
        assert_eq!(d.catalog(1).map(|c| c.addr.clone()), Some(loopback(8090)));
        assert_eq!(d.catalog(2), None);
        assert_eq!(
            d.catalog_urls(),
            vec![(1, "http://127.0.0.1:8090".to_string())]
        );
        assert_eq!(
            d.catalog_db(1),
            PathBuf::from("data").join("catalog-1.redb")
        );
        let ports: Vec<u16> = default_catalogs(5).iter().map(|c| c.addr.port()).collect();
        assert_eq!(ports, vec![8090, 8094, 8095, 8096, 8097]);
        // Seven catalogs fit beside the default front-end and order replicas.
        let seven = ClusterConfig {
            catalogs: default_catalogs(7),
            ..ClusterConfig::default()
        };
        seven.validate().expect("seven default catalogs are valid");
        assert_eq!(
            ClusterConfig::parse(&seven.to_toml()).expect("round trip"),
            seven
        );
    }

    #[test]
    fn an_old_catalog_addr_is_catalog_one_and_round_trips_as_catalogs() {
        let old = "[catalog]\naddr = \"127.0.0.1:7000\"\nstock = 5\n";
        let c = ClusterConfig::parse(old).expect("an old file still reads");
        assert_eq!(
            c.catalogs,
            vec![ReplicaConfig {
                id: 1,
                addr: loopback(7000)
            }]
        );
        assert_eq!(c.catalog.addr, None);
        assert_eq!(c.catalog.stock, 5);
        let text = c.to_toml();
        assert!(text.contains("[[catalogs]]"), "{text}");
        let catalog_section = text
            .split("[catalog]")
            .nth(1)
            .and_then(|rest| rest.split("\n[").next())
            .expect("a [catalog] section");
        assert!(!catalog_section.contains("addr"), "{text}");
        let back = ClusterConfig::parse(&text).expect("round trip");
        assert_eq!(back, c);
        assert_eq!(back.to_toml(), text);
    }

    #[test]
    fn catalogs_list_parses_and_bad_lists_are_refused() {
        let two = "[[catalogs]]\nid = 1\naddr = \"127.0.0.1:7001\"\n[[catalogs]]\nid = 2\naddr = \"127.0.0.1:7002\"\n";
        let c = ClusterConfig::parse(two).expect("two catalogs");
        assert_eq!(
            c.catalog_urls(),
            vec![
                (1, "http://127.0.0.1:7001".to_string()),
                (2, "http://127.0.0.1:7002".to_string())
            ]
        );
        assert_eq!(ClusterConfig::parse(&c.to_toml()).expect("round trip"), c);

        let both = format!("[catalog]\naddr = \"127.0.0.1:7000\"\n{two}");
        let e = ClusterConfig::parse(&both).expect_err("both forms");
        assert!(
            e.to_string()
                .contains("[catalog] addr and [[catalogs]] both given"),
            "{e}"
        );
        let mut programmatic = c.clone();
        programmatic.catalog.addr = Some(loopback(7000));
        let e = programmatic
            .validate()
            .expect_err("both forms, built in code");
        assert!(e.to_string().contains("both given"), "{e}");

        let dup_id = "[[catalogs]]\nid = 1\naddr = \"127.0.0.1:7001\"\n[[catalogs]]\nid = 1\naddr = \"127.0.0.1:7002\"\n";
        let e = ClusterConfig::parse(dup_id).expect_err("duplicate catalog ids");
        assert!(e.to_string().contains("catalog ids must be unique"), "{e}");
        let dup_addr = "[[catalogs]]\nid = 1\naddr = \"127.0.0.1:7001\"\n[[catalogs]]\nid = 2\naddr = \"127.0.0.1:7001\"\n";
        let e = ClusterConfig::parse(dup_addr).expect_err("duplicate catalog addresses");
        assert!(
            e.to_string().contains("catalog addresses must be unique"),
            "{e}"
        );

        // Order replica 1 is at 127.0.0.1:8091 by default; the front-end at :8080.
        for taken in ["127.0.0.1:8091", "127.0.0.1:8080"] {
            let shared = format!("[[catalogs]]\nid = 1\naddr = \"{taken}\"\n");
            let e = ClusterConfig::parse(&shared).expect_err("an address shared");
            assert!(
                e.to_string().contains("also the front-end's or an order"),
                "{e}"
            );
        }
        let old_shared = "[catalog]\naddr = \"127.0.0.1:8092\"\n";
        let e = ClusterConfig::parse(old_shared).expect_err("the old form's address shared");
        assert!(
            e.to_string().contains("also the front-end's or an order"),
            "{e}"
        );

        let none = ClusterConfig::parse("catalogs = []\n").expect_err("no catalog");
        assert!(none.to_string().contains("no catalog replica"), "{none}");
        let mut empty = ClusterConfig::default();
        empty.catalogs.clear();
        let e = empty.validate().expect_err("no catalog, built in code");
        assert!(e.to_string().contains("no catalog replica"), "{e}");
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
