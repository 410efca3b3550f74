//! The store a benchmark measures: one already running (`--frontend URL`), or one
//! [`Target::start`]s itself in a temporary directory and stops afterwards.
//!
//! A store the benchmark starts itself has stock high enough that purchases never run out
//! (the handout's 100 per toy would cap buying at ~200/s), runs its services as child
//! processes of the `tools` binary (exactly as `tools up` does), and reports each service's
//! resident memory, read from `/proc/<pid>/status`.

use anyhow::Context;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;
use toystore_harness::memory::Memory;
use toystore_harness::{Cluster, ClusterSpec, Service};

/// Stock per toy of a store the benchmark starts (far beyond any run's purchases).
pub const BENCH_STOCK: u32 = 1_000_000_000;

/// A store under measurement.
pub struct Target {
    /// The front-end's address.
    pub frontend: SocketAddr,
    /// The front-end's base URL (`https://` with TLS).
    url: String,
    /// The front-end's host as its URL names it (a name or an IP).
    pub host: String,
    /// The cluster token, when known (to read the front-end's cache counters).
    pub token: Option<String>,
    pub(super) http: reqwest::Client,
    cluster: Option<Cluster>,
    _dir: Option<tempfile::TempDir>,
}

/// The socket address of the front-end of a store the tools started (on an IP, never a
/// name).
pub fn loopback_frontend(cluster: &Cluster) -> anyhow::Result<SocketAddr> {
    let addr = &cluster.config().frontend.addr;
    addr.socket_addr()
        .with_context(|| format!("the front-end's address {addr} is not an IP"))
}

/// The client of the target's own calls (cache counters), trusting the store's CA if it
/// runs TLS.
fn http() -> anyhow::Result<reqwest::Client> {
    Ok(toystore_http::tls::configure(reqwest::Client::builder()).build()?)
}

/// How a store the benchmark starts is set up.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// Units per toy.
    pub stock: u32,
    /// The front-end's product cache on or off.
    pub cache: bool,
    /// Who starts order elections.
    pub election: toystore_config::Election,
    /// Catalog replicas.
    pub catalogs: u32,
    /// TLS on every connection (certificates made in the store's directory).
    pub tls: bool,
}

impl Target {
    /// A store already running at `url` (`http://host:port`).
    pub fn external(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url).with_context(|| format!("bad --frontend {url}"))?;
        let host = parsed.host_str().context("--frontend has no host")?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let frontend = (host, port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {host}"))?
            .next()
            .with_context(|| format!("{host} has no address"))?;
        Ok(Self {
            frontend,
            host: host.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
            token,
            http: http()?,
            cluster: None,
            _dir: None,
        })
    }

    /// Starts a whole store on free loopback ports in a new temporary directory (under
    /// `parent`, or the system's), set up as `options` say.
    pub async fn start(
        parent: Option<&std::path::Path>,
        options: StoreOptions,
    ) -> anyhow::Result<Self> {
        let dir = match parent {
            Some(p) => tempfile::Builder::new()
                .prefix("toystore-bench-")
                .tempdir_in(p),
            None => tempfile::Builder::new().prefix("toystore-bench-").tempdir(),
        }
        .context("creating a temporary directory")?;
        let program = std::env::current_exe().context("locating the tools binary")?;
        let mut spec = ClusterSpec::on_free_ports_with_catalogs(
            program,
            Vec::new(),
            dir.path(),
            options.catalogs,
        )?;
        spec.config.catalog.stock = options.stock;
        spec.config.order.election = options.election;
        spec.no_cache = !options.cache;
        if options.tls {
            crate::certs::for_cluster(&mut spec.config, &dir.path().join("tls"))?;
        }
        let cluster = Cluster::start(spec, Duration::from_secs(60)).await?;
        let frontend = loopback_frontend(&cluster)?;
        Ok(Self {
            frontend,
            host: frontend.ip().to_string(),
            url: cluster.frontend_url(),
            token: Some(cluster.config().token.clone()),
            http: http()?,
            cluster: Some(cluster),
            _dir: Some(dir),
        })
    }

    /// The front-end's base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The front-end's cache (hits, misses) from its `GET /internal/metrics`, when the token is
    /// known and the front-end answers.
    pub async fn cache_counters(&self) -> Option<(u64, u64)> {
        let token = self.token.as_ref()?;
        let resp = self
            .http
            .get(format!("{}/internal/metrics", self.url()))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = resp.json().await.ok()?;
        let c = &v["data"]["cache"];
        Some((c["hits"].as_u64()?, c["misses"].as_u64()?))
    }

    /// The base URL of every service: all of them when the benchmark started the store,
    /// the front-end alone for an external one.
    pub fn service_urls(&self) -> Vec<String> {
        let Some(cluster) = &self.cluster else {
            return vec![self.url()];
        };
        let config = cluster.config();
        std::iter::once(self.url())
            .chain(config.replica_urls().into_iter().map(|(_, url)| url))
            .chain(config.catalog_urls().into_iter().map(|(_, url)| url))
            .collect()
    }

    /// Resident memory of every service, when the benchmark started them.
    pub fn memory(&self) -> BTreeMap<String, Memory> {
        let Some(cluster) = &self.cluster else {
            return BTreeMap::new();
        };
        let mut services = vec![Service::Frontend];
        services.extend(cluster.catalog_ids().into_iter().map(Service::Catalog));
        services.extend(cluster.replica_ids().into_iter().map(Service::Order));
        services
            .into_iter()
            .filter_map(|s| {
                let pid = cluster.pid(s)?;
                Some((s.to_string(), Memory::of(pid).ok()?))
            })
            .collect()
    }

    /// Stops a store the benchmark started (nothing for an external one).
    pub async fn stop(self) {
        if let Some(cluster) = self.cluster {
            cluster.stop(Duration::from_secs(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_external_store_is_a_resolved_address() {
        let t = Target::external("http://127.0.0.1:8080", None).expect("parses");
        assert_eq!(t.frontend, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert!(Target::external("not a url", None).is_err());
    }
}
