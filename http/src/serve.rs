//! [`serve`]: run a warp filter on a bound listener.
//!
//! warp's own server cannot set `TCP_NODELAY` on accepted sockets (without it, a keep-alive
//! client pays a Nagle / delayed-ACK stall of about 40 ms on every second request), and its
//! graceful shutdown waits forever for long-lived streams. This loop sets `TCP_NODELAY`,
//! stops accepting when `shutdown` completes, lets in-flight requests finish for at most
//! [`GRACE_PERIOD`], and then returns. Streaming handlers should watch the same shutdown
//! signal and end their bodies, so the grace period is rarely needed. A 4xx answer to a
//! request that carried a body closes the connection (`connection: close`): the body may
//! not have been read.

use crate::metrics::HttpMetrics;
use crate::reply::recover;
use crate::stream::into_served;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_service::Service;
use warp::{Filter, Rejection, Reply};

/// How long in-flight connections may run after shutdown begins.
pub const GRACE_PERIOD: Duration = Duration::from_secs(3);

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
    let graceful = GracefulShutdown::new();
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
        let warp_service = warp::service(filter.clone());
        let metrics = metrics.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut warp_service = warp_service.clone();
            let has_body = carries_body(&req);
            let metrics = metrics.clone();
            let started = std::time::Instant::now();
            let route = metrics.as_ref().and_then(|m| m.route(req.uri().path()));
            let method = method_name(req.method());
            async move {
                let mut resp = match warp_service.call(req).await {
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
        let conn = Builder::new(TokioExecutor::new())
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(GRACE_PERIOD, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("grace period over, closing remaining connections");
    }
}
