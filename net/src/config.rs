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
//! restock_interval_ms = 10000
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
//! heartbeat_ms = 50
//! election_timeout_min_ms = 150
//! election_timeout_max_ms = 300
//! write_timeout_ms = 1000
//! snapshot_every = 10000
//! keep_after_snapshot = 1000
//! complete_after_ms = 5000
//! ```

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The command-line flags every service shares: the cluster file and the token.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// The cluster file (toystore.toml); defaults apply without one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Cluster token (overrides the file).
    #[arg(long, env = "TOYSTORE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl ClusterArgs {
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
    pub heartbeat_ms: u64,
    /// Lower bound of the randomized election timeout (`raft` mode); also the leader lease
    /// a follower honours before voting for someone else is based on the upper bound.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the randomized election timeout.
    pub election_timeout_max_ms: u64,
    /// How long a purchase waits for its entry to commit before answering 503.
    pub write_timeout_ms: u64,
    /// A snapshot every this many applied log entries (then the log is purged).
    pub snapshot_every: u64,
    /// Log entries kept behind the last snapshot.
    pub keep_after_snapshot: u64,
    /// A catalog purchase still without an order this long after a replica saw it is
    /// completed by the leader (see the order crate's `complete` module).
    pub complete_after_ms: u64,
}

impl Default for OrderConfig {
    fn default() -> Self {
        Self {
            election: Election::Frontend,
            heartbeat_ms: 50,
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            write_timeout_ms: 1_000,
            snapshot_every: 10_000,
            keep_after_snapshot: 1_000,
            complete_after_ms: 5_000,
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
    pub restock_interval_ms: u64,
    /// Units every toy starts with and is restocked to (the handout's 100; raise it to
    /// benchmark purchases beyond the handout's stock).
    pub stock: u32,
    /// Heartbeat interval of event streams.
    pub heartbeat_ms: u64,
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
    pub health_interval_ms: u64,
    /// How long a purchase may keep retrying on new leaders before it becomes a 503.
    pub failover_timeout_ms: u64,
    /// How long one forwarded order request may take before the front-end gives up on that
    /// leader and looks again (same request id), so a paused leader holds nothing for long.
    pub attempt_timeout_ms: u64,
}

/// One order replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaConfig {
    /// Unique id; the highest live id leads.
    pub id: u32,
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
        }
    }
}

impl Default for CatalogConfig {
    fn default() -> Self {
        Self {
            addr: loopback(8090),
            restock_interval_ms: 10_000,
            stock: 100,
            heartbeat_ms: 1_000,
        }
    }
}

impl Default for FrontendConfig {
    fn default() -> Self {
        Self {
            addr: loopback(8080),
            cache: true,
            cache_capacity: 8,
            health_interval_ms: 1_000,
            failover_timeout_ms: 10_000,
            attempt_timeout_ms: 500,
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
        if self.catalog.restock_interval_ms == 0 {
            return Err(InvalidConfig::Rule(
                "catalog.restock_interval_ms must be at least 1",
            ));
        }
        let o = &self.order;
        if o.heartbeat_ms == 0 || o.election_timeout_min_ms <= o.heartbeat_ms {
            return Err(InvalidConfig::Rule(
                "order.election_timeout_min_ms must exceed order.heartbeat_ms (> 0)",
            ));
        }
        if o.election_timeout_max_ms <= o.election_timeout_min_ms {
            return Err(InvalidConfig::Rule(
                "order.election_timeout_max_ms must exceed order.election_timeout_min_ms",
            ));
        }
        if o.write_timeout_ms == 0 || o.snapshot_every == 0 {
            return Err(InvalidConfig::Rule(
                "order.write_timeout_ms and order.snapshot_every must be at least 1",
            ));
        }
        if o.complete_after_ms == 0 {
            return Err(InvalidConfig::Rule(
                "order.complete_after_ms must be at least 1",
            ));
        }
        let f = &self.frontend;
        if f.attempt_timeout_ms == 0 || f.attempt_timeout_ms > f.failover_timeout_ms {
            return Err(InvalidConfig::Rule(
                "frontend.attempt_timeout_ms must be from 1 to frontend.failover_timeout_ms",
            ));
        }
        let mut ids: Vec<u32> = self.replicas.iter().map(|r| r.id).collect();
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
    pub fn replica(&self, id: u32) -> Option<&ReplicaConfig> {
        self.replicas.iter().find(|r| r.id == id)
    }

    /// The catalog's redb file.
    pub fn catalog_db(&self) -> PathBuf {
        self.data_dir.join("catalog.redb")
    }

    /// Replica `id`'s redb file.
    pub fn order_db(&self, id: u32) -> PathBuf {
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
        let c =
            ClusterConfig::parse("[order]\nelection = \"raft\"\nelection_timeout_max_ms = 500\n")
                .expect("valid order section");
        assert_eq!(c.order.election, Election::Raft);
        assert_eq!(c.order.election_timeout_max_ms, 500);
        assert_eq!(c.order.heartbeat_ms, OrderConfig::default().heartbeat_ms);
        assert_eq!(ClusterConfig::parse(&c.to_toml()).expect("round trip"), c);
        assert!(ClusterConfig::parse("[order]\nelection = \"vote\"\n").is_err());
        assert!(ClusterConfig::parse("[order]\nelection_timeout_min_ms = 10\n").is_err());
        assert!(ClusterConfig::parse("[order]\nelection_timeout_max_ms = 100\n").is_err());
        assert!(ClusterConfig::parse("[order]\ncomplete_after_ms = 0\n").is_err());
        assert!(ClusterConfig::parse("[frontend]\nattempt_timeout_ms = 0\n").is_err());
        let longer = "[frontend]\nattempt_timeout_ms = 3000\nfailover_timeout_ms = 2000\n";
        assert!(ClusterConfig::parse(longer).is_err());
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
        let never = ClusterConfig::parse("[catalog]\nrestock_interval_ms = 0\n")
            .expect_err("zero interval");
        assert!(never.to_string().contains("restock_interval_ms"), "{never}");
    }
}
