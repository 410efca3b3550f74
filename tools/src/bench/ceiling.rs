//! The ceilings a scenario is compared with, measured on the same machine in the same run:
//!
//! - **HTTP**: two [`BareServer`]s answering `GET /` with a fixed product reply ([`BODY`],
//!   the size of a cached `GET /products/Tux`), each in its own process like every service
//!   and loaded by the same load generator:
//!   - `bare-http` ([`Bare::Warp`]): a warp route on the store's own serving loop
//!     (`toystore_http::serve`: `TCP_NODELAY`, the same hyper stack, metrics off), so the
//!     store's query path minus the store;
//!   - `bare-hyper` ([`Bare::Hyper`]): hyper's HTTP/1 server alone (`TCP_NODELAY`, no warp,
//!     no serving loop of ours), so what the machine and the load generator allow at all.
//!
//!   A query scenario is judged against whichever of the two is faster at its client count
//!   ([`super::faster_ceiling`]): nothing can answer a query faster.
//! - **Disk**: [`disk`], the raw append loop ([`super::disk`]): a
//!   redb insert committed with `Durability::Immediate`, one value per commit ("single") and
//!   many ("batched"). A purchase needs several such commits in a row (catalog, leader,
//!   followers), so its latency is read as a multiple of one commit, and its throughput
//!   against the batched rate.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use warp::Filter;

/// The bare servers' reply: a cached product query's body, byte for byte in size.
pub const BODY: &str = r#"{"data":{"name":"Tux","price":25.99,"quantity":100}}"#;

/// Which bare server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    /// A warp route on `toystore_http::serve` (`bare-http`).
    Warp,
    /// hyper's HTTP/1 server alone (`bare-hyper`).
    Hyper,
}

/// Arguments of the hidden `tools bare-http` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct BareArgs {
    /// Listen address.
    #[arg(long)]
    pub addr: SocketAddr,
    /// Serve with hyper alone instead of warp on the store's serving loop.
    #[arg(long)]
    pub hyper: bool,
}

/// Serves [`BODY`] on `GET /` until Ctrl-C or SIGTERM.
pub async fn serve_bare(args: BareArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    let shutdown = toystore_http::shutdown::signal();
    if args.hyper {
        serve_hyper(listener, shutdown).await;
    } else {
        serve_warp(listener, shutdown).await;
    }
    Ok(())
}

/// `bare-http`: [`BODY`] from a warp route on the store's serving loop.
pub async fn serve_warp(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let route = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::with_header(BODY, "content-type", "application/json"));
    toystore_http::serve(listener, route, shutdown).await;
}

/// `bare-hyper`: [`BODY`] from hyper's HTTP/1 server alone, every connection with
/// `TCP_NODELAY` (like the store's). Anything but `GET /` is an empty 404. Stops accepting
/// when `shutdown` completes; open connections end with the process.
pub async fn serve_hyper(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    let http = hyper::server::conn::http1::Builder::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                Ok::<_, Infallible>(bare_reply(req.method(), req.uri().path()))
            }),
        );
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// The bare hyper server's answer to `method path`.
fn bare_reply(method: &hyper::Method, path: &str) -> hyper::Response<Full<Bytes>> {
    let mut resp = hyper::Response::new(Full::new(Bytes::new()));
    if method == hyper::Method::GET && path == "/" {
        *resp.body_mut() = Full::new(Bytes::from_static(BODY.as_bytes()));
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
    } else {
        *resp.status_mut() = hyper::StatusCode::NOT_FOUND;
    }
    resp
}

/// A bare HTTP server in a child process (killed when dropped).
pub struct BareServer {
    /// Its address.
    pub addr: SocketAddr,
    _child: Child,
}

impl BareServer {
    /// Starts `tools bare-http` (with `--hyper` for [`Bare::Hyper`]) on a free loopback port
    /// and waits until it answers.
    pub async fn start(kind: Bare) -> anyhow::Result<Self> {
        let port = toystore_harness::free_ports(1)?[0];
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let program = std::env::current_exe().context("locating the tools binary")?;
        let mut command = Command::new(program);
        command.arg("bare-http").arg("--addr").arg(addr.to_string());
        if kind == Bare::Hyper {
            command.arg("--hyper");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the bare HTTP server ({kind:?})"))?;
        let answers = || async {
            let mut conn = super::conn::Conn::new(addr, Duration::from_secs(1));
            let reply = conn.send(&super::conn::Call::get("/".into())).await;
            reply.ok().filter(|r| r.is_success()).map(drop)
        };
        let what = format!("the bare HTTP server ({kind:?}) did not answer");
        toystore_harness::probe::poll_until(Duration::from_secs(20), &what, answers).await?;
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
) -> anyhow::Result<super::disk::AppendCeiling> {
    let path = dir.join(format!(
        "toystore-ceiling-{}.redb",
        uuid::Uuid::new_v4().simple()
    ));
    tokio::task::spawn_blocking(move || {
        super::disk::raw_append(&path, per_commit, VALUE_LEN, duration)
    })
    .await
    .context("the disk ceiling task")?
    .context("the disk ceiling loop")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Runs one bare server in this process and asks it `GET /` and `GET /nowhere`.
    async fn ask(kind: Bare) -> [(u16, Option<String>, String); 2] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let server = tokio::spawn(async move {
            match kind {
                Bare::Warp => serve_warp(listener, shutdown).await,
                Bare::Hyper => serve_hyper(listener, shutdown).await,
            }
        });
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for path in ["/", "/nowhere"] {
            let resp = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            answers.push((status, content_type, resp.text().await.unwrap()));
        }
        drop(client);
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the bare server stops")
            .unwrap();
        answers.try_into().unwrap()
    }

    #[tokio::test]
    async fn both_bare_servers_answer_the_body_as_json() {
        for kind in [Bare::Warp, Bare::Hyper] {
            let [root, nowhere] = ask(kind).await;
            assert_eq!(
                root,
                (200, Some("application/json".into()), BODY.to_string()),
                "{kind:?}"
            );
            assert_eq!(nowhere.0, 404, "{kind:?}");
        }
    }
}
