//! The public API's OpenAPI 3 document, served at `GET /openapi.json`.
//!
//! The payload schemas are derived (utoipa) from the wire types of [`crate::api`], which the
//! handlers really serialize and parse — [`Product`], [`OrderBody`], [`OrderNumber`],
//! [`OrderRecord`] — so a change to them changes the document. warp has no utoipa
//! integration, so each route is described by an item below carrying `#[utoipa::path]` (the
//! handlers are warp filters in [`crate::server`]), and the JSON envelope every reply wears
//! (`{"data": …}` or `{"error": {"code", "message"}}`, `toystore_http::reply`) by [`Data`] and
//! [`Error`].
//! `frontend/tests/openapi.rs` validates every example of docs/API.md against this document.

use crate::api::{Data, Error, ErrorFields, Health, OrderBody, OrderNumber, OrderRecord, Product};
use utoipa::OpenApi;
use warp::{Filter, Rejection};

/// One toy.
#[utoipa::path(
    get,
    path = "/products/{name}",
    params(("name" = String, Path, description = "The toy's exact, case-sensitive name, percent-encoded")),
    responses(
        (status = 200, description = "The toy", body = Data<Product>),
        (status = 404, description = "No such toy", body = Error),
    )
)]
pub fn product() {}

/// Every toy, sorted by name.
#[utoipa::path(
    get,
    path = "/products",
    responses((status = 200, description = "Every toy", body = Data<Vec<Product>>))
)]
pub fn products() {}

/// Buys a toy.
#[utoipa::path(
    post,
    path = "/orders",
    request_body = OrderBody,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 64 printable ASCII characters; a retry with the same key returns the first reply and buys nothing more",
        min_length = 1, max_length = 64,
        // Printable ASCII; HTTP trims a header value's outer spaces, so a key neither
        // starts nor ends with one.
        pattern = "^[!-~]([ -~]{0,62}[!-~])?$")),
    responses(
        (status = 200, description = "Placed", body = Data<OrderNumber>),
        (status = 400, description = "A malformed request", body = Error),
        (status = 404, description = "No such toy", body = Error),
        (status = 409, description = "Not enough in stock", body = Error),
        (status = 413, description = "A body over 16 KiB", body = Error),
        (status = 415, description = "Not application/json", body = Error),
        (status = 422, description = "The key was used for a different purchase", body = Error),
        (status = 503, description = "The order service cannot take it now", body = Error),
    )
)]
pub fn place_order() {}

/// One order.
#[utoipa::path(
    get,
    path = "/orders/{order_number}",
    params(("order_number" = u64, Path, description = "The number the purchase was given")),
    responses(
        (status = 200, description = "The order", body = Data<OrderRecord>),
        (status = 400, description = "Not a number", body = Error),
        (status = 404, description = "No such order", body = Error),
        (status = 503, description = "The order service cannot answer now", body = Error),
    )
)]
pub fn order() {}

/// Liveness: the front-end process answers.
#[utoipa::path(
    get,
    path = "/health",
    responses((status = 200, description = "Up", body = Data<Health>))
)]
pub fn health() {}

/// The catalog's stock changes as Server-Sent Events, for browsers: a `stock` event per
/// change (`{"seq", "name", "kind"}`, kind `purchased`, `restocked` or `added`; the event id
/// is the seq), and a `resync` event when changes may have been missed (read the stock
/// again). Read-only; no request ids.
#[utoipa::path(
    get,
    path = "/events",
    responses((status = 200, description = "An endless event stream", content_type = "text/event-stream", body = String))
)]
pub fn events() {}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "toystore",
        description = "The public REST API of the toy store's front-end."
    ),
    paths(product, products, place_order, order, health, events),
    components(schemas(
        Product,
        OrderBody,
        OrderNumber,
        OrderRecord,
        Health,
        Error,
        ErrorFields
    ))
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

/// `GET /openapi.json`. The document is written once, at start-up: the serving loop clones
/// the whole filter tree for every request, so what a filter captures must be cheap to
/// clone (here shared bytes, not the document's tree).
pub fn route() -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    let body = bytes::Bytes::from(serde_json::to_vec(&document()).unwrap_or_default());
    warp::path!("openapi.json").and(warp::get()).map(move || {
        let mut reply = warp::reply::Response::new(body.clone().into());
        reply.headers_mut().insert(
            warp::http::header::CONTENT_TYPE,
            warp::http::HeaderValue::from_static("application/json"),
        );
        reply
    })
}
