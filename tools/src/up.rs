//! `tools up`: the whole store on loopback with one command.
//!
//! Default ports are those of DESIGN.md (front-end 8080, replicas 8091–8093, catalog
//! replicas 8090, 8094, 8095, …; three of them unless `--catalogs` or a `--config` file
//! says otherwise), the token is random, data
//! lives in `./data`. The cluster file it uses is written to `<data-dir>/toystore.toml`, so
//! one service can be stopped, restarted or inspected by hand. Ctrl-C stops everything
//! cleanly.

use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use toystore_config::ClusterConfig;
use toystore_harness::logs::Logs;
use toystore_harness::{Cluster, ClusterSpec};

/// Arguments of `tools up`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  tools up --data-dir data\n  curl http://127.0.0.1:8080/products/Tux"
)]
pub struct UpArgs {
    /// Where the services keep their redb files (and the cluster file).
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// A cluster file to start from (addresses, token...); its data_dir is replaced by
    /// --data-dir, and a missing token is generated.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start the front-end with its product cache off.
    #[arg(long)]
    pub no_cache: bool,
    /// Units every toy starts with and is restocked to (default: the file's, else 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub stock: Option<u32>,
    /// How often sold-out toys are restocked, e.g. `10s`, `500ms` (default: the file's,
    /// else 10s).
    #[arg(long, value_parser = toystore_config::duration::parse_positive)]
    pub restock_interval: Option<Duration>,
    /// Who starts order elections: `frontend` (the front-end asks a replica to campaign)
    /// or `raft` (the replicas elect on their own); default: the file's, else frontend.
    #[arg(long, value_enum)]
    pub election: Option<toystore_config::Election>,
    /// How many catalog replicas to run (1 to 7): ids 1 to N on loopback, catalog 1 at
    /// 8090, the others at 8092 + id (8094, 8095, …), replacing the file's catalogs
    /// (default: the file's with `--config`, else 3; 1 is the handout's single catalog).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=7))]
    pub catalogs: Option<u32>,
    /// Run each service on a host of its own: a network namespace on a private bridge,
    /// addresses from 10.77.0.0/24 (needs root; removed when the store stops).
    #[arg(long)]
    pub netns: bool,
    /// Every connection over TLS (internal ones and the front-end's public port): makes a
    /// CA and the services' certificates in `<data-dir>/tls` (kept for the next start),
    /// unless the `--config` file has a `[tls]` section already.
    #[arg(long)]
    pub tls: bool,
    /// The services' log format: `human` (each line prefixed with the service's name) or
    /// `json` (one JSON object per line, with a `service` field).
    #[arg(long, value_enum, default_value_t = toystore_config::logging::LogFormat::Human)]
    pub log_format: toystore_config::logging::LogFormat,
}

/// Catalog replicas `tools up` runs without `--catalogs` or a `--config` file.
pub const DEFAULT_CATALOGS: u32 = 3;

/// `--catalogs N` of the tools that start a store of their own (bench, chaos, eval,
/// outage): how many catalog replicas it runs, the default store's three unless told.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Catalogs {
    /// Catalog replicas (1: the lab's single catalog; with several, the catalog is a Raft
    /// group of its own, and `tools chaos` gives catalog replicas their share of faults).
    #[arg(long = "catalogs", value_name = "N", default_value_t = DEFAULT_CATALOGS, value_parser = clap::value_parser!(u32).range(1..=7))]
    pub n: u32,
}

/// Runs `tools up` until Ctrl-C.
pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let mut config = ClusterConfig::load_or_default(args.config.as_deref())?;
    config.data_dir = args.data_dir.clone();
    if let Some(stock) = args.stock {
        config.catalog.stock = stock;
    }
    if let Some(interval) = args.restock_interval {
        config.catalog.restock_interval = interval;
    }
    if let Some(election) = args.election {
        config.order.election = election;
    }
    match (args.catalogs, &args.config) {
        (Some(n), _) => config.catalogs = toystore_config::default_catalogs(n),
        (None, None) => config.catalogs = toystore_config::default_catalogs(DEFAULT_CATALOGS),
        (None, Some(_)) => {}
    }
    if config.token.is_empty() {
        config.token = toystore_config::token::generate();
    }
    let program = std::env::current_exe().context("locating the tools binary")?;
    let mut spec = ClusterSpec {
        program,
        prefix: Vec::new(),
        config,
        env: match args.log_format {
            toystore_config::logging::LogFormat::Json => {
                vec![("TOYSTORE_LOG_FORMAT".into(), "json".into())]
            }
            toystore_config::logging::LogFormat::Human => Vec::new(),
        },
        service_env: Default::default(),
        logs: Logs::Prefixed,
        no_cache: args.no_cache,
        second_frontend: None,
        hosts: None,
        names: false,
        disks: None,
    };
    if args.netns {
        spec.place_on_hosts(false)?;
    }
    if args.tls && spec.config.tls.is_none() {
        let dir = spec.config.data_dir.join("tls");
        crate::certs::for_cluster(&mut spec.config, &dir)?;
    }
    let cluster = Cluster::start(spec, Duration::from_secs(30)).await?;
    let fe = cluster.frontend_url();
    let c = cluster.config();
    println!("toystore is up");
    println!("  front-end  {fe}");
    for catalog in &c.catalogs {
        println!("  catalog {}  {}", catalog.id, c.url(&catalog.addr));
    }
    for r in &c.replicas {
        println!("  order {}    {}", r.id, c.url(&r.addr));
    }
    if let Some(hosts) = cluster.hosts() {
        for service in hosts.services() {
            if let Some(host) = hosts.host(service) {
                println!(
                    "  {service:<10} runs in network namespace {}",
                    host.namespace
                );
            }
        }
    }
    println!("  election   {}", c.order.election);
    println!("  data       {}", c.data_dir.display());
    println!("  config     {}", cluster.config_path().display());
    println!();
    let curl = match c.tls.as_ref().filter(|t| t.public) {
        Some(tls) => format!("curl --cacert {}", tls.ca.display()),
        None => "curl".to_owned(),
    };
    println!("try:");
    println!("  {curl} {fe}/products/Tux");
    println!("  {curl} -X POST -H 'content-type: application/json' -d '{{\"name\":\"Tux\",\"quantity\":1}}' {fe}/orders");
    println!("  {curl} {fe}/orders/0");
    println!();
    // The handlers are installed here, before the line that invites a Ctrl-C: a SIGINT
    // sent as soon as it is printed must find them, not the default action (death).
    let stop = toystore_http::shutdown::signal();
    println!("Ctrl-C stops the store.");
    stop.await;
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    if unclean.is_empty() {
        println!("toystore stopped");
        Ok(())
    } else {
        anyhow::bail!("services that did not stop cleanly: {unclean:?}")
    }
}
