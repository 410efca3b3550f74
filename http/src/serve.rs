//! [`serve`]: run a warp filter on a bound listener.
//!
//! warp's own server cannot set `TCP_NODELAY` on accepted sockets (without it, a keep-alive
//! client pays a Nagle / delayed-ACK stall of about 40 ms on every second request), and its
//! graceful shutdown waits forever for long-lived streams. This loop sets `TCP_NODELAY`,
//! stops accepting when `shutdown` completes, lets in-flight requests finish for at most
//! [`GRACE_PERIOD`], and then returns. Streaming handlers should watch the same shutdown
//! signal and end their bodies, so the grace period is rarely needed. A 4xx answer to a
//! request that carried a body closes the connection (`connection: close`): the body may
//! not have been read. When the process serves TLS ([`crate::tls`]), every connection is a
//! TLS one; a client that does not complete the handshake is never read from.

use crate::metrics::HttpMetrics;
use crate::reply::recover;
use crate::stream::into_served;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::either::Either;
use tower_service::Service;
use warp::{Filter, Rejection, Reply};

/// How long in-flight connections may run after shutdown begins.
pub const GRACE_PERIOD: Duration = Duration::from_secs(3);

/// How long a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds a service's listener: `listen` if given (e.g. `0.0.0.0:8091` in a container), else
/// the service's own address from the cluster file, its name resolved now (a name must
/// resolve to an address of this host).
pub async fn bind(
    listen: Option<std::net::SocketAddr>,
    addr: &toystore_config::ServiceAddr,
) -> std::io::Result<TcpListener> {
    match listen {
        Some(listen) => TcpListener::bind(listen).await,
        None => TcpListener::bind((addr.host(), addr.port())).await,
    }
}

/// Serves until `shutdown` completes or `stop` is cancelled, and cancels `stop` in either
/// case, so everything the service runs beside its routes (streams, background tasks)
/// ends with it. Every answered request is recorded in `metrics`.
pub async fn serve_until<F, R>(
    listener: TcpListener,
    filter: F,
    shutdown: impl Future<Output = ()>,
    stop: tokio_util::sync::CancellationToken,
    metrics: HttpMetrics,
) where
    F: Filter<Extract = (R,), Error = Rejection> + Clone + Send + Sync + 'static,
    R: Reply + 'static,
{
    let on_shutdown = stop.clone();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            () = on_shutdown.cancelled() => {}
        }
        on_shutdown.cancel();
    };
    serve_observed(listener, filter, shutdown, Some(metrics)).await;
    stop.cancel();
}

/// The method's name as a metrics label (`OTHER` for extension methods, so that a client
/// cannot grow the label set).
fn method_name(method: &hyper::Method) -> &'static str {
    use hyper::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// Whether a request carries a body (a declared length above zero, or a chunked one).
fn carries_body<B>(req: &hyper::Request<B>) -> bool {
    let headers = req.headers();
    headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// Marks a response as the connection's last. An error answer to a request with a body may
/// have left the body unread (refused before reading: no token, unknown route, too large),
/// so the connection cannot carry another request; saying so keeps a keep-alive client from
/// sending its next request into a connection the server is closing.
fn close_after(resp: &mut warp::reply::Response) {
    resp.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
}

/// A client's TLS handshake, or `None` (logged) if it fails, does not finish within
/// [`HANDSHAKE_TIMEOUT`], or the server begins to close (`closing`).
async fn handshake(
    acceptor: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    closing: &tokio_util::sync::CancellationToken,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    tokio::select! {
        done = handshake => match done {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake refused");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                None
            }
        },
        () = closing.cancelled() => None,
    }
}

/// Serves `filter` on `listener` until `shutdown` completes, then drains for at most
/// [`GRACE_PERIOD`]. Every rejection becomes the JSON error envelope ([`recover`]).
pub async fn serve<F, R>(listener: TcpListener, filter: F, shutdown: impl Future<Output = ()>)
where
    F: Filter<Extract = (R,), Error = Rejection> + Clone + Send + Sync + 'static,
    R: Reply + 'static,
{
    serve_observed(listener, filter, shutdown, None).await;
}

/// [`serve`], recording every answered request in `metrics` if given.
async fn serve_observed<F, R>(
    listener: TcpListener,
    filter: F,
    shutdown: impl Future<Output = ()>,
    metrics: Option<HttpMetrics>,
) where
    F: Filter<Extract = (R,), Error = Rejection> + Clone + Send + Sync + 'static,
    R: Reply + 'static,
{
    let filter = filter.map(Reply::into_response).recover(recover).unify();
    // Built once; cloned once per connection (a clone of the filter tree), never per
    // request.
    let warp_service = warp::service(filter);
    let metrics = metrics.map(Arc::new);
    let graceful = GracefulShutdown::new();
    let tls = crate::tls::server();
    // Cancelled once the loop stops accepting: a handshake still under way is dropped
    // then, rather than holding the shutdown for its whole timeout.
    let closing = tokio_util::sync::CancellationToken::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "set TCP_NODELAY failed");
        }
        // The connection's own copy of the warp service. warp's `call` takes `&mut self`,
        // but the future it returns owns what it needs, so the copy is borrowed for the
        // synchronous call only: hyper calls a connection's service from that connection's
        // task, one call at a time, so the borrow never overlaps and never fails. Nothing of
        // the filter tree is cloned per request here (warp itself still clones the captures
        // of the filters it runs, which is why services capture their state behind `Arc`s).
        let warp_service = RefCell::new(warp_service.clone());
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let has_body = carries_body(&req);
            let metrics = metrics.clone();
            let started = std::time::Instant::now();
            let route = metrics.as_ref().and_then(|m| m.route(req.uri().path()));
            let method = method_name(req.method());
            let answer = warp_service.borrow_mut().call(req);
            async move {
                let mut resp = match answer.await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                };
                if let Some(m) = &metrics {
                    let template = route.map_or("other", |r| r.template);
                    m.observe(template, method, resp.status().as_u16(), started.elapsed());
                }
                if let Some(route) =
                    route.filter(|_| resp.status() == StatusCode::METHOD_NOT_ALLOWED)
                {
                    // RFC 9110 15.5.6: a 405 lists the methods the resource answers.
                    resp.headers_mut()
                        .insert(hyper::header::ALLOW, HeaderValue::from_static(route.allow));
                }
                if has_body && resp.status().is_client_error() {
                    close_after(&mut resp);
                }
                Ok::<_, Infallible>(into_served(resp))
            }
        });
        let watcher = graceful.watcher();
        let (tls, closing) = (tls.clone(), closing.clone());
        // The TLS handshake runs in the connection's own task, so a slow or silent client
        // holds up nobody else.
        tokio::spawn(async move {
            let io = match tls {
                None => Either::Left(stream),
                Some(acceptor) => match handshake(&acceptor, stream, peer, &closing).await {
                    Some(stream) => Either::Right(stream),
                    None => return,
                },
            };
            let conn = Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(io), service)
                .into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    closing.cancel();
    if tokio::time::timeout(GRACE_PERIOD, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("grace period over, closing remaining connections");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::metrics::Route;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::oneshot;

    /// A path segment that counts its clones (warp's exact-path filter never clones it
    /// while routing, so every clone is the serving loop's).
    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.fetch_add(1, Ordering::SeqCst);
            Counted(self.0.clone())
        }
    }

    impl AsRef<str> for Counted {
        fn as_ref(&self) -> &str {
            "counted"
        }
    }

    /// Serves `filter` (with metrics over `routes`) on a free port; dropping the sender
    /// stops it.
    async fn start<F, R>(
        filter: F,
        routes: &'static [&'static [Route]],
    ) -> (std::net::SocketAddr, oneshot::Sender<()>)
    where
        F: Filter<Extract = (R,), Error = Rejection> + Clone + Send + Sync + 'static,
        R: Reply + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = HttpMetrics::register(&mut registry, routes);
        tokio::spawn(serve_until(
            listener,
            filter,
            async move {
                let _ = rx.await;
            },
            tokio_util::sync::CancellationToken::new(),
            metrics,
        ));
        (addr, tx)
    }

    #[tokio::test]
    async fn requests_on_one_connection_share_its_service() {
        let clones = Arc::new(AtomicUsize::new(0));
        let route = warp::path(Counted(clones.clone()))
            .and(warp::path::end())
            .map(|| "ok");
        let (addr, _stop) = start(route, &[]).await;
        let client = reqwest::Client::new();
        for _ in 0..20 {
            let resp = client
                .get(format!("http://{addr}/counted"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.text().await.unwrap(), "ok");
        }
        // One copy for the connection (two if the client ever opened a second one), not
        // one per request.
        let n = clones.load(Ordering::SeqCst);
        assert!(n <= 2, "{n} clones of the filter tree for 20 requests");
    }

    #[tokio::test]
    async fn a_refused_body_closes_and_a_405_lists_the_methods() {
        const ROUTES: &[Route] = &[Route::get("/x")];
        let route = warp::path!("x").and(warp::get()).map(|| "x");
        let (addr, _stop) = start(route, &[ROUTES]).await;
        let client = reqwest::Client::new();
        let resp = client
            .post(format!("http://{addr}/x"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        assert_eq!(header("allow").as_deref(), Some("GET"));
        assert_eq!(header("connection").as_deref(), Some("close"));
        // Without a body the connection stays open; an unknown path has no Allow.
        let resp = client
            .get(format!("http://{addr}/nowhere"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert!(resp.headers().get("allow").is_none());
        assert!(resp.headers().get("connection").is_none());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], 404);
    }

    #[tokio::test]
    async fn a_streamed_reply_is_sent_as_its_stream() {
        let route = warp::path!("s").map(|| {
            let chunks =
                futures_util::stream::iter([&b"a"[..], b"bc"].map(bytes::Bytes::from_static));
            crate::stream::reply(chunks, "text/plain")
        });
        let (addr, _stop) = start(route, &[]).await;
        let resp = reqwest::get(format!("http://{addr}/s")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "abc");
    }
}
