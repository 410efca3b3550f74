//! The front-end's public HTTP server (API.md), serving its state ([`Frontend`], kept in
//! [`crate::state`]).
//!
//! Product queries are answered from the [`ProductCache`] when possible and from the
//! catalog otherwise; orders are forwarded to the order service's leader ([`crate::orders`],
//! [`crate::leader`]). Every reply is the JSON envelope of the wire types in [`crate::api`];
//! every bad request a 4xx that changes nothing.
//!
//! This is the only module of the front-end that chooses HTTP status codes: the rest of the
//! crate answers with typed outcomes (such as [`OrderRefusal`]), mapped to a status and the
//! JSON error here.

use crate::api::{Health, OrderBody, OrderNumber, OrderRecord, Product, IDEMPOTENCY_KEY};
use crate::cache::ProductCache;
use crate::invalidation::follow_catalog;
use crate::leader::LeaderTracker;
use crate::orders::OrderRefusal;
use crate::relay::Relay;
use std::future::Future;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::CatalogClient;
use toystore_config::Timeouts;
use toystore_events::Purchase;
use toystore_events::{InvalidInput, ProductName, Quantity, RequestId};
use toystore_http::client::ClientError;
use toystore_http::reply::respond;
use toystore_http::stages::Stage;
use toystore_http::{path::decode_segment, ApiError, ClusterToken};
use toystore_order_api::OrderPlacedReply;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

/// How the front-end runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The catalog replicas: (id, base URL).
    pub catalogs: Vec<(toystore_config::ReplicaId, String)>,
    /// The cluster token.
    pub token: ClusterToken,
    /// LRU capacity; `None` turns caching off.
    pub cache_capacity: Option<NonZeroUsize>,
    /// How long the catalog's event stream may be silent before it counts as broken.
    pub stream_silence: Duration,
    /// The order replicas: (id, base URL).
    pub replicas: Vec<(u32, String)>,
    /// How often replicas are health-checked.
    pub health_interval: Duration,
    /// How long a request may keep failing over before it becomes a 503.
    pub failover: crate::orders::Failover,
    /// The cluster file to watch for topology changes, if any.
    pub watch: Option<PathBuf>,
    /// The order service's election policy.
    pub election: toystore_config::Election,
    /// Timeouts of calls to the catalog and the replicas.
    pub timeouts: Timeouts,
}

/// Errors starting the front-end.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

pub use crate::state::Frontend;

/// The operations that answer the public API: they choose statuses, so they live here, not
/// with the state ([`crate::state`]).
impl Frontend {
    /// A product: from the cache, or from the catalog (then cached).
    pub async fn product(&self, name: &str) -> Result<Product, ApiError> {
        if let Some(product) = self.cache().and_then(|c| c.get(name)) {
            return Ok(product);
        }
        match self.catalog().product(name).await {
            Ok(reply) => {
                if let Some(cache) = self.cache() {
                    cache.insert(reply.product.clone(), reply.seq);
                }
                Ok(reply.product)
            }
            Err(e) => Err(catalog_error(e)),
        }
    }

    /// Every product, sorted by name (not cached: the listing is for picking a toy).
    pub async fn products(&self) -> Result<Vec<Product>, ApiError> {
        self.catalog()
            .products()
            .await
            .map(|l| l.products)
            .map_err(catalog_error)
    }

    /// Places an order through the leader. `key` is the client's `Idempotency-Key`.
    pub async fn place_order(
        &self,
        body: OrderBody,
        key: Option<String>,
    ) -> Result<OrderPlacedReply, ApiError> {
        let order = purchase(body, key).map_err(invalid)?;
        let placed = crate::orders::place(self.replicas(), &order, self.failover());
        self.stages()
            .time(Stage::OrderCall, placed)
            .await
            .map_err(refusal)
    }

    /// Reads an order through the leader.
    pub async fn order(&self, raw: &str) -> Result<OrderRecord, ApiError> {
        let number = raw
            .parse::<toystore_events::OrderNumber>()
            .map_err(invalid)?;
        crate::orders::get(self.replicas(), number, self.failover())
            .await
            .map_err(refusal)
    }
}

/// The public order body and `Idempotency-Key` as a validated purchase: where input is
/// checked, once (quantity first, then name, then key, as API.md lists them). No key: a
/// fresh request id.
fn purchase(body: OrderBody, key: Option<String>) -> Result<Purchase, InvalidInput> {
    let quantity = Quantity::try_from(body.quantity)?;
    let name = ProductName::try_from(body.name)?;
    let request_id = match key {
        Some(key) => RequestId::try_from(key)?,
        None => RequestId::fresh(),
    };
    Ok(Purchase {
        request_id,
        name,
        quantity,
    })
}

/// Input that is not a valid word of the store: 400 with its one message.
fn invalid(e: InvalidInput) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// The status and message of an order refusal (the message is the refusal's text).
fn refusal(e: OrderRefusal) -> ApiError {
    let status = match e {
        OrderRefusal::UnknownProduct | OrderRefusal::UnknownOrder => StatusCode::NOT_FOUND,
        OrderRefusal::InsufficientStock => StatusCode::CONFLICT,
        OrderRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
        OrderRefusal::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        OrderRefusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, e.to_string())
}

fn catalog_error(e: ClientError) -> ApiError {
    match e.status() {
        Some(404) => ApiError::not_found("product not found"),
        _ => {
            tracing::warn!(error = %e, "catalog call failed");
            ApiError::unavailable("catalog unavailable")
        }
    }
}

/// Serves the front-end on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let stop = CancellationToken::new();
    let catalog =
        CatalogClient::of_replicas(&config.catalogs, config.token.clone(), &config.timeouts)?;
    let cache = config
        .cache_capacity
        .map(|cap| Arc::new(ProductCache::new(cap)));
    let relay = Arc::new(Relay::new());
    let follower = tokio::spawn(follow_catalog(
        catalog.clone(),
        cache.clone(),
        relay.clone(),
        config.stream_silence,
        toystore_config::Backoff::reconnect(&config.timeouts),
        stop.clone(),
    ));
    let replicas = Arc::new(LeaderTracker::new(
        config.token.clone(),
        config.election,
        config.timeouts,
        &config.replicas,
    )?);
    let health = tokio::spawn(
        replicas
            .clone()
            .health_loop(config.health_interval, stop.clone()),
    );
    if let Some(path) = config.watch.clone() {
        crate::topology::watch(path, replicas.clone(), stop.clone());
    }
    let frontend = Arc::new(Frontend::new(catalog, cache, replicas, config.failover));
    tracing::info!(addr = ?listener.local_addr().ok(), cache = ?config.cache_capacity, "front-end serving");
    let (registry, http) = crate::metrics::registry(frontend.clone(), relay.clone());
    let frontend_for_view = frontend.clone();
    // Everything after the public API, boxed: warp clones an alternative that follows the
    // one it tries (with all its captures) for every request, so a product query pays one
    // reference count for all of these rather than one per capture.
    let rest = toystore_http::metrics::route(Arc::new(registry))
        .or(crate::relay::route(
            relay.clone(),
            config.timeouts.keep_alive,
            stop.clone(),
        ))
        .unify()
        .or(crate::cluster_view::route(frontend_for_view, relay))
        .unify()
        .or(crate::web::routes())
        .unify()
        .or(crate::openapi::route())
        .unify()
        .boxed();
    let routes = routes(frontend, config.token).or(rest).unify();
    toystore_http::serve_until(listener, routes, shutdown, stop.clone(), http).await;
    let _ = health.await;
    let _ = follower.await;
    tracing::info!("front-end stopped");
    Ok(())
}

/// The public routes (and `/internal/metrics`, JSON, behind the cluster token; Prometheus
/// `/metrics` is added by [`run`]).
///
/// warp clones, for every request, each alternative after the one it tries first (an
/// `a.or(b)` clones `b` with its captures) and each capture of the filters it runs, so the
/// captures are `Arc`s, the product query (the hot path) holds the front-end itself rather
/// than through another filter, and the routes after it are boxed (one reference count).
pub fn routes(
    frontend: Arc<Frontend>,
    token: ClusterToken,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let with = {
        let frontend = frontend.clone();
        move || {
            let f = frontend.clone();
            warp::any().map(move || f.clone())
        }
    };

    let health = warp::path!("health").and(warp::get()).map(|| {
        respond(Ok(Health {
            status: "ok".into(),
        }))
    });

    let list = warp::path!("products")
        .and(warp::get())
        .and(with())
        .then(|f: Arc<Frontend>| async move { respond(f.products().await) });

    let product = {
        let f = frontend.clone();
        warp::path!("products" / String)
            .and(warp::get())
            .then(move |raw: String| {
                let f = f.clone();
                async move {
                    let result = match decode_segment(&raw) {
                        Some(name) => f.product(&name).await,
                        None => Err(ApiError::not_found("product not found")),
                    };
                    respond(result)
                }
            })
    };

    let place_order = warp::path!("orders")
        .and(warp::post())
        .and(warp::header::optional::<String>(IDEMPOTENCY_KEY))
        .and(toystore_http::body::json::<OrderBody>())
        .and(with())
        .then(
            |key: Option<String>, body: OrderBody, f: Arc<Frontend>| async move {
                respond(f.place_order(body, key).await.map(|r| OrderNumber {
                    order_number: r.order_number,
                }))
            },
        );

    let get_order = warp::path!("orders" / String)
        .and(warp::get())
        .and(with())
        .then(|raw: String, f: Arc<Frontend>| async move { respond(f.order(&raw).await) });

    let metrics = warp::path!("internal" / "metrics")
        .and(warp::get())
        .and(toystore_http::auth::require(&token))
        .and(with())
        .map(|f: Arc<Frontend>| respond(Ok(f.internal_metrics())));

    let orders_and_internal = place_order
        .or(get_order)
        .unify()
        .or(metrics)
        .unify()
        .boxed();
    health
        .or(list)
        .unify()
        .or(product)
        .unify()
        .or(orders_and_internal)
        .unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_status_and_wording() {
        let cases = [
            (OrderRefusal::UnknownProduct, 404, "product not found"),
            (OrderRefusal::UnknownOrder, 404, "order not found"),
            (OrderRefusal::InsufficientStock, 409, "insufficient stock"),
            (
                OrderRefusal::Invalid("quantity too large".into()),
                400,
                "quantity too large",
            ),
            (
                OrderRefusal::KeyReused,
                422,
                "idempotency key reused for a different order",
            ),
            (OrderRefusal::Unavailable, 503, "order service unavailable"),
        ];
        for (refused, status, message) in cases {
            let reply = refusal(refused);
            assert_eq!(
                (reply.status.as_u16(), reply.message.as_ref()),
                (status, message)
            );
        }
    }
}
