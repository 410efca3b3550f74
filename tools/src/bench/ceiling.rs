//! The ceilings a scenario is compared with, measured on the same machine in the same run:
//!
//! - **HTTP**: [`BareServer`], a warp server on the store's own serving loop
//!   (`toystore_http::serve`: `TCP_NODELAY`, same hyper stack) answering `GET /` with a fixed
//!   product reply of the same size as a cached `GET /products/Tux`, in its own process like
//!   every service; loaded by the same load generator. Nothing can answer a query faster.
//! - **Disk**: [`disk`], the store crate's raw append loop (`toystore_store::ceiling`): a
//!   redb insert committed with `Durability::Immediate`, one value per commit ("single") and
//!   many ("batched"). A purchase needs several such commits in a row (catalog, leader,
//!   followers), so its latency is read as a multiple of one commit, and its throughput
//!   against the batched rate.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use warp::Filter;

/// The bare server's reply: a cached product query's body, byte for byte in size.
pub const BODY: &str = r#"{"data":{"name":"Tux","price":25.99,"quantity":100}}"#;

/// Arguments of the hidden `tools bare-http` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct BareArgs {
    /// Listen address.
    #[arg(long)]
    pub addr: SocketAddr,
}

/// Serves [`BODY`] on `GET /` until Ctrl-C or SIGTERM.
pub async fn serve_bare(args: BareArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    let route = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::with_header(BODY, "content-type", "application/json"));
    toystore_http::serve(listener, route, toystore_http::shutdown::signal()).await;
    Ok(())
}

/// A bare HTTP server in a child process (killed when dropped).
pub struct BareServer {
    /// Its address.
    pub addr: SocketAddr,
    _child: Child,
}

impl BareServer {
    /// Starts `tools bare-http` on a free loopback port and waits until it answers.
    pub async fn start() -> anyhow::Result<Self> {
        let port = toystore_harness::free_ports(1)?[0];
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let program = std::env::current_exe().context("locating the tools binary")?;
        let child = Command::new(program)
            .arg("bare-http")
            .arg("--addr")
            .arg(addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the bare HTTP server")?;
        let mut conn = super::conn::Conn::new(addr, Duration::from_secs(1));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = conn.send(&super::conn::Call::get("/".into())).await;
            if ready.is_ok_and(|r| r.is_success()) {
                break;
            }
            if Instant::now() > deadline {
                anyhow::bail!("the bare HTTP server did not answer within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            addr,
            _child: child,
        })
    }
}

/// The size of an encoded `OrderPlaced` with a UUID request id, roughly: what one durable
/// append of the order log writes.
pub const VALUE_LEN: usize = 64;

/// Runs the raw durable append loop in `dir` for `duration` with `per_commit` values per
/// transaction.
pub async fn disk(
    dir: &Path,
    per_commit: usize,
    duration: Duration,
) -> anyhow::Result<toystore_store::ceiling::AppendCeiling> {
    let path = dir.join(format!(
        "toystore-ceiling-{}.redb",
        uuid::Uuid::new_v4().simple()
    ));
    tokio::task::spawn_blocking(move || {
        toystore_store::ceiling::raw_append(&path, per_commit, VALUE_LEN, duration)
    })
    .await
    .context("the disk ceiling task")?
    .context("the disk ceiling loop")
}
