//! [`FrontendClient`]: how callers (the load client, the fault tools, the tests) use the
//! front-end's public API, with typed replies ([`crate::api`]) and typed errors
//! ([`FrontendError`]) instead of status numbers and hand-read JSON.
//!
//! One client is one pooled keep-alive connection set (`TCP_NODELAY`), cheap to clone; it is
//! built, and its URLs joined and replies read, with the same pieces as every service
//! client (`toystore_http::client`). Names and order numbers travel as percent-encoded path
//! segments, so any name reaches the front-end as given, except `.` and `..`, which no URL
//! path can carry ([`FrontendError::Unsendable`], nothing sent). A purchase carries the
//! caller's idempotency key, if any; the client never retries on its own (retrying under
//! the same key is the caller's decision, and the error says whether the attempt may have
//! been applied).
//!
//! This is the caller side's HTTP module: the mapping of status codes to [`FrontendError`]
//! lives here and nowhere else ([`decode`], a pure function of status and body).

use crate::api::{
    Health, InternalMetrics, OrderBody, OrderNumber, OrderRecord, Product, IDEMPOTENCY_KEY,
};
use reqwest::Url;
use serde::de::DeserializeOwned;
use toystore_config::ClusterToken;
pub use toystore_http::client::ClientOptions;
use toystore_http::client::{decode_envelope, http_client_with, join, parse_base, ClientError};

/// Why a call to the front-end failed.
///
/// The HTTP variants carry the server's message; their `Display` is `"<status> <message>"`,
/// e.g. `404 product not found`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontendError {
    /// 404: no such toy, order or route.
    #[error("404 {0}")]
    NotFound(String),
    /// 409: too few units in stock; nothing was bought.
    #[error("409 {0}")]
    InsufficientStock(String),
    /// 422: the idempotency key was used for a different purchase; nothing was bought.
    #[error("422 {0}")]
    KeyReused(String),
    /// Any other 4xx: the request was refused as it is (malformed body, bad quantity, bad
    /// key, bad order number, wrong method...); nothing changed.
    #[error("{status} {message}")]
    Invalid {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// 5xx: the store could not do it now (503 `order service unavailable`, `catalog
    /// unavailable`); a purchase may still be completed later, so retry it under the same
    /// key.
    #[error("{status} {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// No reply: the connection failed, broke or timed out.
    #[error("unreachable: {message}")]
    Transport {
        /// What failed.
        message: String,
        /// False only when the request certainly never reached the server (no connection
        /// could be made); a purchase that may have been applied must be retried under the
        /// same key, never a new one.
        maybe_applied: bool,
    },
    /// A reply that is not the expected envelope (or an unexpected status).
    #[error("malformed reply: {0}")]
    BadReply(String),
    /// A request that cannot be sent as asked (a name `.` or `..`, which no URL path can
    /// carry; a key that is not a valid header value); nothing was sent.
    #[error("cannot send: {0}")]
    Unsendable(String),
}

impl FrontendError {
    /// The HTTP status of an error reply, if the front-end answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            FrontendError::NotFound(_) => Some(404),
            FrontendError::InsufficientStock(_) => Some(409),
            FrontendError::KeyReused(_) => Some(422),
            FrontendError::Invalid { status, .. } | FrontendError::Unavailable { status, .. } => {
                Some(*status)
            }
            FrontendError::Transport { .. }
            | FrontendError::BadReply(_)
            | FrontendError::Unsendable(_) => None,
        }
    }

    /// The error of a reply with a non-success `status` and the server's `message`.
    fn from_status(status: u16, message: String) -> Self {
        match status {
            404 => FrontendError::NotFound(message),
            409 => FrontendError::InsufficientStock(message),
            422 => FrontendError::KeyReused(message),
            400..=499 => FrontendError::Invalid { status, message },
            500..=599 => FrontendError::Unavailable { status, message },
            _ => FrontendError::BadReply(format!("unexpected status {status}: {message}")),
        }
    }

    fn transport(e: &reqwest::Error, maybe_applied: bool) -> Self {
        FrontendError::Transport {
            message: e.to_string(),
            maybe_applied,
        }
    }
}

/// Reads a reply ([`toystore_http::client::decode_envelope`]): `T` from `{"data": T}` on a
/// 2xx, otherwise the [`FrontendError`] of the error's code, with the message of the
/// `{"error": {...}}` body (or the start of the body, if it is not one: e.g. a proxy's
/// page, under the HTTP status).
pub fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, FrontendError> {
    decode_envelope(status, body).map_err(|e| match e {
        ClientError::Status { status, message } => FrontendError::from_status(status, message),
        ClientError::Malformed(m) | ClientError::Unreachable(m) => FrontendError::BadReply(m),
        ClientError::BadUrl(m) => FrontendError::Unsendable(m),
    })
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The base URL is not an `http://` or `https://` URL that can take a path.
    #[error("invalid front-end URL: {0}")]
    BadUrl(String),
    /// The HTTP stack could not be initialised.
    #[error("cannot build an HTTP client: {0}")]
    Http(String),
}

/// A typed client of one front-end.
#[derive(Clone, Debug)]
pub struct FrontendClient {
    base: Url,
    http: reqwest::Client,
}

impl FrontendClient {
    /// A client of the front-end at `base` (e.g. `http://127.0.0.1:8080`) with the default
    /// [`ClientOptions`].
    pub fn new(base: &str) -> Result<Self, BuildError> {
        Self::with_options(base, ClientOptions::default())
    }

    /// A client of the front-end at `base` whose requests may take `timeout` (the other
    /// [`ClientOptions`] at their defaults).
    pub fn with_timeout(base: &str, timeout: std::time::Duration) -> Result<Self, BuildError> {
        let options = ClientOptions {
            timeout,
            ..ClientOptions::default()
        };
        Self::with_options(base, options)
    }

    /// A client of the front-end at `base` with `options`. A base with a path
    /// (`http://host/store/`) keeps it: routes are appended to it.
    pub fn with_options(base: &str, options: ClientOptions) -> Result<Self, BuildError> {
        let url = parse_base(base).map_err(|e| BuildError::BadUrl(e.to_string()))?;
        let http = http_client_with(options).map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(Self { base: url, http })
    }

    /// The base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The URL of a route given as path segments, each percent-encoded (a name holding `/`,
    /// `%`, `?` or spaces stays one segment); `.` and `..` are [`FrontendError::Unsendable`].
    pub fn url(&self, segments: &[&str]) -> Result<Url, FrontendError> {
        join(&self.base, segments).map_err(|e| FrontendError::Unsendable(e.to_string()))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, FrontendError> {
        let resp = req.send().await.map_err(|e| {
            if e.is_builder() {
                return FrontendError::Unsendable(e.to_string());
            }
            // Without a connection nothing was sent; any later failure may come after the
            // server received the request.
            FrontendError::transport(&e, !e.is_connect())
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| FrontendError::transport(&e, true))?;
        decode(status, &body)
    }

    /// `GET /health`: the process is up.
    pub async fn health(&self) -> Result<Health, FrontendError> {
        self.call(self.http.get(self.url(&["health"])?)).await
    }

    /// `GET /products/<name>`: one toy. No such toy: [`FrontendError::NotFound`].
    pub async fn product(&self, name: &str) -> Result<Product, FrontendError> {
        self.call(self.http.get(self.url(&["products", name])?))
            .await
    }

    /// `GET /products`: every toy, sorted by name.
    pub async fn products(&self) -> Result<Vec<Product>, FrontendError> {
        self.call(self.http.get(self.url(&["products"])?)).await
    }

    /// `POST /orders`: buys `quantity` of `name`, under `idempotency_key` if given (a retry
    /// with the same key returns the first attempt's order and buys nothing more). Refusals:
    /// [`FrontendError::NotFound`], [`FrontendError::InsufficientStock`],
    /// [`FrontendError::KeyReused`], [`FrontendError::Invalid`]; not now:
    /// [`FrontendError::Unavailable`].
    pub async fn buy(
        &self,
        name: &str,
        quantity: u32,
        idempotency_key: Option<&str>,
    ) -> Result<OrderNumber, FrontendError> {
        let body = OrderBody {
            name: name.to_string(),
            quantity,
        };
        let mut req = self.http.post(self.url(&["orders"])?).json(&body);
        if let Some(key) = idempotency_key {
            req = req.header(IDEMPOTENCY_KEY, key);
        }
        self.call(req).await
    }

    /// `GET /orders/<number>`: one order. No such order: [`FrontendError::NotFound`].
    pub async fn order(
        &self,
        number: impl Into<toystore_events::OrderNumber>,
    ) -> Result<OrderRecord, FrontendError> {
        let number = number.into().to_string();
        self.call(self.http.get(self.url(&["orders", &number])?))
            .await
    }

    /// `GET /internal/metrics` with the cluster token: the cache's counters, the leader the
    /// front-end uses and the replicas it knows. A wrong token:
    /// [`FrontendError::Invalid`] with status 401.
    pub async fn internal_metrics(
        &self,
        token: &ClusterToken,
    ) -> Result<InternalMetrics, FrontendError> {
        let req = self
            .http
            .get(self.url(&["internal", "metrics"])?)
            .header("authorization", token.bearer());
        self.call(req).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use warp::Filter;

    fn err(status: u16, message: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"error": {"code": status, "message": message}})).unwrap()
    }

    #[test]
    fn replies_map_to_values_and_typed_errors() {
        let body = br#"{"data": {"name": "Tux", "price": 25.99, "quantity": 100}}"#;
        let tux: Product = decode(200, body).unwrap();
        assert_eq!((tux.name.as_str(), tux.quantity), ("Tux", 100));
        let placed: OrderNumber = decode(200, br#"{"data": {"order_number": 7}}"#).unwrap();
        assert_eq!(placed.order_number.get(), 7);

        let cases = [
            (
                404,
                "product not found",
                FrontendError::NotFound("product not found".into()),
            ),
            (
                409,
                "insufficient stock",
                FrontendError::InsufficientStock("insufficient stock".into()),
            ),
            (
                422,
                "idempotency key reused for a different order",
                FrontendError::KeyReused("idempotency key reused for a different order".into()),
            ),
            (
                400,
                "invalid order number",
                FrontendError::Invalid {
                    status: 400,
                    message: "invalid order number".into(),
                },
            ),
            (
                415,
                "content type must be application/json",
                FrontendError::Invalid {
                    status: 415,
                    message: "content type must be application/json".into(),
                },
            ),
            (
                503,
                "order service unavailable",
                FrontendError::Unavailable {
                    status: 503,
                    message: "order service unavailable".into(),
                },
            ),
            (
                500,
                "storage failed",
                FrontendError::Unavailable {
                    status: 500,
                    message: "storage failed".into(),
                },
            ),
        ];
        for (status, message, want) in cases {
            let got = decode::<OrderNumber>(status, &err(status, message)).unwrap_err();
            assert_eq!(got, want);
            assert_eq!(got.status(), Some(status));
            assert_eq!(got.to_string(), format!("{status} {message}"));
        }
    }

    #[test]
    fn replies_that_are_not_the_envelope_are_bad_replies_or_keep_their_status() {
        // A success without the envelope, or of the wrong shape.
        for body in [
            &b"not json"[..],
            br#"{"name": "Tux"}"#,
            br#"{"data": {"order_number": "0"}}"#,
        ] {
            let got = decode::<OrderNumber>(200, body).unwrap_err();
            assert!(matches!(got, FrontendError::BadReply(_)), "{got:?}");
            assert_eq!(got.status(), None);
        }
        // An error status whose body is a proxy's page: the status decides, the text is kept.
        let got = decode::<OrderNumber>(502, b"<html>bad gateway</html>").unwrap_err();
        assert_eq!(
            got,
            FrontendError::Unavailable {
                status: 502,
                message: "<html>bad gateway</html>".into()
            }
        );
        let long = vec![b'x'; 1000];
        match decode::<OrderNumber>(404, &long).unwrap_err() {
            FrontendError::NotFound(m) => assert_eq!(m.len(), 200),
            other => panic!("{other:?}"),
        }
        // Neither success nor error.
        assert!(matches!(
            decode::<OrderNumber>(302, b"").unwrap_err(),
            FrontendError::BadReply(_)
        ));
    }

    #[test]
    fn urls_percent_encode_names_and_keep_a_base_path() {
        let client = FrontendClient::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            client.url(&["products", "Rubik's Cube"]).unwrap().as_str(),
            "http://127.0.0.1:8080/products/Rubik's%20Cube"
        );
        assert_eq!(
            client.url(&["products", "a/b%c?"]).unwrap().as_str(),
            "http://127.0.0.1:8080/products/a%2Fb%25c%3F"
        );
        let client = FrontendClient::new("http://h/store/").unwrap();
        assert_eq!(
            client.url(&["orders", "7"]).unwrap().as_str(),
            "http://h/store/orders/7"
        );
        // URL parsing drops `.` and `..` segments (even as %2E): refused, never sent
        // to another route.
        for dots in [".", ".."] {
            assert!(
                matches!(
                    client.url(&["products", dots]),
                    Err(FrontendError::Unsendable(_))
                ),
                "{dots}"
            );
        }
        for bad in ["localhost:8080", "ftp://h/", "not a url", "mailto:a@b"] {
            assert!(FrontendClient::new(bad).is_err(), "{bad}");
        }
    }

    /// What the fake front-end saw of one purchase: the key header and the body.
    type Seen = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;

    /// A tiny front-end: `POST /orders` answers by toy (Tux: order 3, Whale: 409, anything
    /// else: 404) and records what it got; `GET /orders/<n>` never answers.
    async fn fake(seen: Seen) -> (String, tokio::sync::oneshot::Sender<()>) {
        use toystore_http::reply::respond;
        use toystore_http::ApiError;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let buy = warp::path!("orders")
            .and(warp::post())
            .and(warp::header::optional::<String>(IDEMPOTENCY_KEY))
            .and(warp::body::json())
            .map(move |key: Option<String>, body: serde_json::Value| {
                seen.lock().unwrap().push((key, body.clone()));
                match body["name"].as_str() {
                    Some("Tux") => respond(Ok(OrderNumber {
                        order_number: 3.into(),
                    })),
                    Some("Whale") => respond::<()>(Err(ApiError::new(
                        warp::http::StatusCode::CONFLICT,
                        "insufficient stock",
                    ))),
                    _ => respond::<()>(Err(ApiError::not_found("product not found"))),
                }
            });
        let product = warp::path!("products" / String).map(|raw: String| {
            let name = toystore_http::path::decode_segment(&raw).unwrap_or_default();
            respond(Ok(Product {
                name: name.try_into().unwrap(),
                price: 1.5,
                quantity: 2,
            }))
        });
        let slow = warp::path!("orders" / u64).then(|_| async {
            std::future::pending::<()>().await;
            respond(Ok(()))
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let routes = buy.or(product).unify().or(slow).unify();
        tokio::spawn(toystore_http::serve(listener, routes, async move {
            let _ = rx.await;
        }));
        (url, tx)
    }

    #[tokio::test]
    async fn calls_send_the_key_and_the_exact_name_and_read_typed_replies() {
        let seen = Seen::default();
        let (url, _stop) = fake(seen.clone()).await;
        let client = FrontendClient::new(&url).unwrap();

        let placed = client.buy("Tux", 2, Some("key-1")).await.unwrap();
        assert_eq!(placed.order_number.get(), 3);
        assert_eq!(
            client.buy("Whale", 1, None).await,
            Err(FrontendError::InsufficientStock(
                "insufficient stock".into()
            ))
        );
        assert_eq!(
            client.buy("Nope", 1, Some("key-2")).await,
            Err(FrontendError::NotFound("product not found".into()))
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (Some("key-1".into()), json!({"name": "Tux", "quantity": 2})),
                (None, json!({"name": "Whale", "quantity": 1})),
                (Some("key-2".into()), json!({"name": "Nope", "quantity": 1})),
            ]
        );

        for name in ["Rubik's Cube", "a/b", "100%", "?x=1#y"] {
            assert_eq!(client.product(name).await.unwrap().name, name);
        }
    }

    #[tokio::test]
    async fn no_connection_is_never_applied_a_timeout_may_be() {
        // A port bound but not listening (held for the whole test, so nobody else takes
        // it): connections are refused before anything was sent.
        let held = tokio::net::TcpSocket::new_v4().unwrap();
        held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = held.local_addr().unwrap();
        let client = FrontendClient::new(&format!("http://{addr}")).unwrap();
        match client.buy("Tux", 1, Some("k")).await {
            Err(FrontendError::Transport { maybe_applied, .. }) => assert!(!maybe_applied),
            other => panic!("{other:?}"),
        }

        // A server that takes the request and does not answer in time.
        let (url, _stop) = fake(Seen::default()).await;
        let options = ClientOptions {
            timeout: Duration::from_millis(200),
            ..ClientOptions::default()
        };
        let client = FrontendClient::with_options(&url, options).unwrap();
        match client.order(1).await {
            Err(e @ FrontendError::Transport { maybe_applied, .. }) => {
                assert!(maybe_applied, "{e}");
                assert!(e.to_string().starts_with("unreachable: "), "{e}");
                assert_eq!(e.status(), None);
            }
            other => panic!("{other:?}"),
        }
    }
}
