//! The catalog's HTTP server: internal endpoints (see [`toystore_catalog_api::wire`]) and the restock loop.
//!
//! Every endpoint but `/health` demands the cluster token. The event stream pushes each
//! commit to subscribers as it happens and sends a heartbeat when idle; it ends when the
//! server shuts down.

use crate::{BuyOutcome, Catalog, CatalogError};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::{
    BuyRefusal, BuyReply, ByName, Health, ProductList, ProductReply, RestockReply,
};
use toystore_events::Purchase;
use toystore_events::{ProductName, Seq};
use toystore_http::reply::respond;
use toystore_http::stream::AfterQuery;
use toystore_http::{body, path::decode_segment, ApiError, ClusterToken};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// How the catalog server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The catalog's redb file.
    pub db_path: PathBuf,
    /// The cluster token.
    pub token: ClusterToken,
    /// How often sold-out toys are restocked.
    pub restock_interval: Duration,
    /// Units every toy starts with and is restocked to.
    pub stock: u32,
    /// Heartbeat interval of event streams.
    pub heartbeat: Duration,
}

/// Opens the catalog and serves it on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CatalogError> {
    let path = config.db_path.clone();
    let stock = config.stock;
    let catalog = tokio::task::spawn_blocking(move || Catalog::open(&path, stock))
        .await
        .map_err(|e| {
            CatalogError::Store(toystore_store::StoreError::Io(std::io::Error::other(e)))
        })??;
    let catalog = Arc::new(catalog);
    let stop = CancellationToken::new();
    let restock = tokio::spawn(restock_loop(
        catalog.clone(),
        config.restock_interval,
        stop.clone(),
    ));
    let addr = listener.local_addr().ok();
    tracing::info!(?addr, seq = %catalog.log().last_seq(), "catalog serving");
    let (registry, http) = crate::metrics::registry(catalog.clone());
    let routes = routes(catalog, config.token, config.heartbeat, stop.clone())
        .or(toystore_http::metrics::route(Arc::new(registry)))
        .unify();
    toystore_http::serve_until(listener, routes, shutdown, stop, http).await;
    let _ = restock.await;
    tracing::info!("catalog stopped");
    Ok(())
}

/// Restocks sold-out toys every `interval` until `stop`.
async fn restock_loop(catalog: Arc<Catalog>, interval: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        match catalog.restock().await {
            Ok(names) if names.is_empty() => {}
            Ok(names) => tracing::info!(toys = ?names, "restocked"),
            Err(e) => tracing::error!(error = %e, "restock failed"),
        }
    }
}

fn storage_error(e: CatalogError) -> ApiError {
    tracing::error!(error = %e, "catalog storage error");
    ApiError::internal("storage error")
}

/// The catalog's routes (public for in-process tests).
pub fn routes(
    catalog: Arc<Catalog>,
    token: ClusterToken,
    heartbeat: Duration,
    stop: CancellationToken,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let with = move || {
        let c = catalog.clone();
        warp::any().map(move || c.clone())
    };
    let auth = toystore_http::auth::require(&token);

    let health = warp::path!("health")
        .and(warp::get())
        .and(with())
        .map(|c: Arc<Catalog>| {
            respond(Ok(Health {
                status: "ok".into(),
                seq: c.log().last_seq(),
            }))
        });

    let list = warp::path!("internal" / "products")
        .and(warp::get())
        .and(auth.clone())
        .and(with())
        .map(|c: Arc<Catalog>| {
            respond(
                c.products()
                    .map(|(products, seq)| ProductList { seq, products })
                    .map_err(storage_error),
            )
        });

    // One product: by a query parameter (what `CatalogClient` sends: any name survives it
    // exactly, even `.`, `..` and control characters, which a URL path cannot carry), or as
    // a path segment (handy with curl).
    let by_query = warp::path!("internal" / "products")
        .and(warp::get())
        .and(warp::query::<ByName>())
        .map(|q: ByName| Some(q.name));
    let by_path = warp::path!("internal" / "products" / String)
        .and(warp::get())
        .map(|raw: String| decode_segment(&raw));
    let product = by_query
        .or(by_path)
        .unify()
        .and(auth.clone())
        .and(with())
        .map(|name: Option<String>, c: Arc<Catalog>| {
            let not_found = || ApiError::not_found("product not found");
            // An empty name is no toy's: not found, like any other name that is not a toy.
            let name = name.and_then(|n| ProductName::try_from(n).ok());
            respond(name.ok_or_else(not_found).and_then(|name| {
                match c.product(&name).map_err(storage_error)? {
                    (Some(product), seq) => Ok(ProductReply { seq, product }),
                    (None, _) => Err(not_found()),
                }
            }))
        });

    let buy = warp::path!("internal" / "buy")
        .and(warp::post())
        .and(auth.clone())
        .and(body::json::<Purchase>())
        .and(with())
        .then(|req: Purchase, c: Arc<Catalog>| async move { respond(buy(&c, req).await) });

    let restock = warp::path!("internal" / "restock")
        .and(warp::post())
        .and(auth.clone())
        .and(with())
        .then(|c: Arc<Catalog>| async move {
            respond(
                c.restock()
                    .await
                    .map(|restocked| RestockReply { restocked })
                    .map_err(storage_error),
            )
        });

    let events = warp::path!("internal" / "events")
        .and(warp::get())
        .and(auth)
        .and(warp::query::<AfterQuery>())
        .and(with())
        .map(move |q: AfterQuery, c: Arc<Catalog>| {
            let frames = toystore_store::follow(
                c.log().clone(),
                Seq(q.after),
                heartbeat,
                stop.clone().cancelled_owned(),
            );
            toystore_http::stream::reply(frames, toystore_http::stream::EVENT_STREAM_TYPE)
        });

    health
        .or(product)
        .unify()
        .or(list)
        .unify()
        .or(buy)
        .unify()
        .or(restock)
        .unify()
        .or(events)
        .unify()
}

/// A purchase. Its fields were checked when the body was read (they are validated types).
async fn buy(c: &Catalog, req: Purchase) -> Result<BuyReply, ApiError> {
    match c.buy(req).await.map_err(storage_error)? {
        BuyOutcome::Bought { seq, replayed } => Ok(BuyReply { seq, replayed }),
        BuyOutcome::NotFound => Err(refused(BuyRefusal::ProductNotFound)),
        BuyOutcome::InsufficientStock => Err(refused(BuyRefusal::InsufficientStock)),
        BuyOutcome::Conflict => Err(refused(BuyRefusal::KeyReused)),
    }
}

/// A refused purchase as its answer: the status and message of the API crate's table.
fn refused(refusal: BuyRefusal) -> ApiError {
    ApiError::new(refusal.status(), refusal.message())
}
