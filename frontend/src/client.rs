//! [`FrontendClient`]: how callers (the load client, the fault tools, the tests) use the
//! front-end's public API, with typed replies ([`crate::api`]) and typed errors
//! ([`FrontendError`]) instead of status numbers and hand-read JSON.
//!
//! One client is one pooled keep-alive connection set (`TCP_NODELAY`), cheap to clone.
//! Names and order numbers travel as percent-encoded path segments, so any name reaches the
//! front-end as given. A purchase carries the caller's idempotency key, if any; the client
//! never retries on its own (retrying under the same key is the caller's decision, and the
//! error says whether the attempt may have been applied).
//!
//! This is the caller side's HTTP module: the mapping of status codes to [`FrontendError`]
//! lives here and nowhere else ([`decode`], a pure function of status and body).

use crate::api::{
    Data, Error, Health, InternalMetrics, OrderBody, OrderNumber, OrderRecord, Product,
    IDEMPOTENCY_KEY,
};
use reqwest::Url;
use serde::de::DeserializeOwned;
use std::time::Duration;
use toystore_config::ClusterToken;

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
            FrontendError::Transport { .. } | FrontendError::BadReply(_) => None,
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

/// Reads a reply: `T` from `{"data": T}` on a 2xx, the [`FrontendError`] of the status
/// otherwise, with the message of the `{"error": {...}}` body (or the start of the body, if
/// it is not one: e.g. a proxy's page).
pub fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, FrontendError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice::<Data<T>>(body)
            .map(|d| d.data)
            .map_err(|e| FrontendError::BadReply(e.to_string()));
    }
    let message = match serde_json::from_slice::<Error>(body) {
        Ok(e) => e.error.message,
        Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
    };
    Err(FrontendError::from_status(status, message))
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The base URL is not an `http://` or `https://` URL that can take a path.
    #[error("invalid front-end URL {url:?}: {why}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The HTTP stack could not be initialised.
    #[error("cannot build an HTTP client: {0}")]
    Http(String),
}

/// How a [`FrontendClient`] connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long one request may take, from sending to the end of the reply.
    pub timeout: Duration,
    /// How long establishing a connection may take.
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept open (1: one connection, like one person's browser).
    pub max_idle_connections: usize,
}

impl Default for ClientOptions {
    /// 30 s per request, 2 s to connect, up to 64 idle connections.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            max_idle_connections: 64,
        }
    }
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

    /// A client of the front-end at `base` with `options`. A base with a path
    /// (`http://host/store/`) keeps it: routes are appended to it.
    pub fn with_options(base: &str, options: ClientOptions) -> Result<Self, BuildError> {
        let bad = |why: String| BuildError::BadUrl {
            url: base.to_string(),
            why,
        };
        let url = Url::parse(base).map_err(|e| bad(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(bad("expected http://HOST:PORT".into()));
        }
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(options.max_idle_connections)
            .connect_timeout(options.connect_timeout.min(options.timeout))
            .timeout(options.timeout)
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(Self { base: url, http })
    }

    /// The base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The URL of a route given as path segments, each percent-encoded (a name holding `/`,
    /// `%`, `?` or spaces stays one segment).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, FrontendError> {
        let resp = req.send().await.map_err(|e| {
            // Without a connection nothing was sent; any later failure may come after the
            // server received the request.
            let never_sent = e.is_connect() || e.is_builder();
            FrontendError::transport(&e, !never_sent)
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
        self.call(self.http.get(self.url(&["health"]))).await
    }

    /// `GET /products/<name>`: one toy. No such toy: [`FrontendError::NotFound`].
    pub async fn product(&self, name: &str) -> Result<Product, FrontendError> {
        self.call(self.http.get(self.url(&["products", name])))
            .await
    }

    /// `GET /products`: every toy, sorted by name.
    pub async fn products(&self) -> Result<Vec<Product>, FrontendError> {
        self.call(self.http.get(self.url(&["products"]))).await
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
        let mut req = self.http.post(self.url(&["orders"])).json(&body);
        if let Some(key) = idempotency_key {
            req = req.header(IDEMPOTENCY_KEY, key);
        }
        self.call(req).await
    }

    /// `GET /orders/<number>`: one order. No such order: [`FrontendError::NotFound`].
    pub async fn order(&self, number: u64) -> Result<OrderRecord, FrontendError> {
        let number = number.to_string();
        self.call(self.http.get(self.url(&["orders", &number])))
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
            .get(self.url(&["internal", "metrics"]))
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
        assert_eq!(placed.order_number, 7);

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
            client.url(&["products", "Rubik's Cube"]).as_str(),
            "http://127.0.0.1:8080/products/Rubik's%20Cube"
        );
        assert_eq!(
            client.url(&["products", "a/b%c?"]).as_str(),
            "http://127.0.0.1:8080/products/a%2Fb%25c%3F"
        );
        let client = FrontendClient::new("http://h/store/").unwrap();
        assert_eq!(
            client.url(&["orders", "7"]).as_str(),
            "http://h/store/orders/7"
        );
        for bad in ["localhost:8080", "ftp://h/", "not a url", "mailto:a@b"] {
            assert!(FrontendClient::new(bad).is_err(), "{bad}");
        }
    }

    /// What the fake front-end saw of one purchase: the key header and the body.
    type Seen = Arc<Mutex<Vec<(Option<String>, serde_json::Value)>>>;

    /// A tiny front-end: `/orders` answers by toy (Tux: order 3, Whale: 409, anything
    /// else: 404), records what it got; `/slow` never answers in time.
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
                    Some("Tux") => respond(Ok(OrderNumber { order_number: 3 })),
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
                name,
                price: 1.5,
                quantity: 2,
            }))
        });
        let slow = warp::path!("orders" / u64).then(|_| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
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
        assert_eq!(placed.order_number, 3);
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
        // A port nobody listens on: refused before anything was sent.
        let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
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
