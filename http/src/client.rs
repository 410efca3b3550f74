//! Pooled keep-alive HTTP clients between services, and reading envelope replies.
//!
//! Every service talks to another through one [`reqwest::Client`] built by [`http_client`]
//! (connection pool, `TCP_NODELAY`, connect and request timeouts), and reads replies with
//! [`read_envelope`], which turns `{"data": T}` into `T` and `{"error": {...}}` into
//! [`ClientError::Status`], keeping the service's status and message. Clients trust the
//! cluster's CA when the process set TLS up ([`crate::tls`]); a host name in a URL is
//! resolved on every new connection, never cached.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

/// Why a call to another service failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The service could not be reached, or did not answer in time.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The service answered with an error envelope.
    #[error("{status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The service's message.
        message: String,
    },
    /// The service answered something that is not the expected envelope.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// A base URL or path that cannot be a request (nothing was sent).
    #[error("bad url {0}")]
    BadUrl(String),
}

impl ClientError {
    /// The status of an error reply, if the service answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_decode() {
            ClientError::Malformed(e.to_string())
        } else {
            ClientError::Unreachable(e.to_string())
        }
    }
}

/// How a pooled client connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long one request may take, from sending to the end of the reply.
    pub timeout: Duration,
    /// How long establishing a connection may take (at most `timeout`).
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept open per host (1: one connection, like one
    /// person's browser).
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

/// A pooled keep-alive client with `TCP_NODELAY` and the given per-request timeout (the
/// other [`ClientOptions`] at their defaults).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    http_client_with(ClientOptions {
        timeout,
        ..ClientOptions::default()
    })
}

/// A pooled keep-alive client with `TCP_NODELAY` and `options`. Building fails only if the
/// HTTP stack cannot initialise, which does not happen on supported platforms; the error is
/// returned rather than unwrapped all the same.
pub fn http_client_with(options: ClientOptions) -> Result<reqwest::Client, ClientError> {
    crate::tls::configure(reqwest::Client::builder())
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(options.max_idle_connections)
        .connect_timeout(options.connect_timeout.min(options.timeout))
        .timeout(options.timeout)
        .build()
        .map_err(|e| ClientError::Unreachable(format!("cannot build http client: {e}")))
}

/// Parses a service's base URL: `http://` or `https://`, able to take a path (a base with
/// a path, `http://host/store/`, keeps it).
pub fn parse_base(base: &str) -> Result<reqwest::Url, ClientError> {
    let bad = |why: &dyn std::fmt::Display| ClientError::BadUrl(format!("{base:?}: {why}"));
    let url = reqwest::Url::parse(base).map_err(|e| bad(&e))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad(&"expected http://HOST:PORT"));
    }
    Ok(url)
}

/// `base` with `segments` appended, each percent-encoded (a name holding `/`, `%`, `?` or
/// spaces stays one segment). A segment `.` or `..` cannot travel in a URL path (URL
/// parsing removes it, even percent-encoded), so it is refused rather than sent somewhere
/// else.
pub fn join(base: &reqwest::Url, segments: &[&str]) -> Result<reqwest::Url, ClientError> {
    if let Some(dots) = segments.iter().find(|s| matches!(**s, "." | "..")) {
        return Err(ClientError::BadUrl(format!(
            "a path segment {dots:?} cannot be sent in a URL"
        )));
    }
    Ok(append(base, segments))
}

fn append(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// A client for long-lived streams: like [`http_client`] but with no overall timeout
/// (streams are kept alive by heartbeats, which the reader times out on itself).
pub fn stream_client() -> Result<reqwest::Client, ClientError> {
    crate::tls::configure(reqwest::Client::builder())
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| ClientError::Unreachable(format!("cannot build http client: {e}")))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Envelope<T> {
    Data { data: T },
    Error { error: ErrorFields },
}

#[derive(Deserialize)]
struct ErrorFields {
    code: u16,
    message: String,
}

/// Reads a reply as the JSON envelope: `T` on `{"data": ...}`, [`ClientError::Status`] on
/// `{"error": ...}` (or on any non-success status without a readable envelope).
pub async fn read_envelope<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await?;
    decode_envelope(status, &bytes)
}

/// [`read_envelope`] of a reply already read: its status and body. An error envelope keeps
/// its own `code`; an error status without one keeps the start of its body (e.g. a proxy's
/// page) as the message.
pub fn decode_envelope<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, ClientError> {
    let success = (200..300).contains(&status);
    match serde_json::from_slice::<Envelope<T>>(body) {
        Ok(Envelope::Data { data }) if success => Ok(data),
        Ok(Envelope::Error { error }) => Err(ClientError::Status {
            status: error.code,
            message: error.message,
        }),
        _ if !success => Err(ClientError::Status {
            status,
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
        }),
        Ok(Envelope::Data { .. }) => Err(ClientError::Malformed("data with error status".into())),
        Err(e) => Err(ClientError::Malformed(e.to_string())),
    }
}

/// The common part of every typed service client: a base URL, the cluster token, a pooled
/// client for calls and one for streams. Paths are given as segments and percent-encoded.
#[derive(Clone, Debug)]
pub struct ServiceClient {
    base: reqwest::Url,
    http: reqwest::Client,
    streams: reqwest::Client,
    token: crate::ClusterToken,
}

impl ServiceClient {
    /// A client of the service at `base` (e.g. `http://127.0.0.1:8090`) whose calls time out
    /// after `timeout`.
    pub fn new(
        base: &str,
        token: crate::ClusterToken,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            base: parse_base(base)?,
            http: http_client(timeout)?,
            streams: stream_client()?,
            token,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    /// The URL of a route given as segments, each percent-encoded. The segments are the
    /// route's own parts and numbers (names travel as query parameters), so none is `.`
    /// or `..` (see [`join`] for paths that carry names).
    pub fn url(&self, segments: &[&str]) -> reqwest::Url {
        append(&self.base, segments)
    }

    /// A request with the cluster token.
    pub fn request(&self, method: reqwest::Method, segments: &[&str]) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(segments))
            .header("authorization", self.token.bearer())
    }

    /// Sends a request and reads the envelope.
    pub async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        read_envelope(req.send().await?).await
    }

    /// `GET` a path and read the envelope.
    pub async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.call(self.request(reqwest::Method::GET, segments))
            .await
    }

    /// `POST` a JSON body to a path and read the envelope.
    pub async fn post<B: serde::Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        segments: &[&str],
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(self.request(reqwest::Method::POST, segments).json(body))
            .await
    }

    /// Opens an event stream (`GET <path>?after=<after>`) and reads it as events of type
    /// `E`. A stream on which nothing arrives for `silence` (the sender heartbeats on a fixed
    /// interval, so a few missed ones mean a dead sender or path) ends with
    /// [`FrameError::Silent`](toystore_events::FrameError::Silent).
    pub async fn events<E: DeserializeOwned>(
        &self,
        segments: &[&str],
        after: toystore_events::Seq,
        silence: std::time::Duration,
    ) -> Result<
        impl futures_util::Stream<
            Item = Result<toystore_events::StreamItem<E>, toystore_events::FrameError>,
        >,
        ClientError,
    > {
        let mut url = self.url(segments);
        url.query_pairs_mut()
            .append_pair("after", &after.0.to_string());
        let resp = self
            .streams
            .get(url)
            .header("authorization", self.token.bearer())
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(match read_envelope::<serde_json::Value>(resp).await {
                Err(e) => e,
                Ok(_) => ClientError::Malformed("error status with data".into()),
            });
        }
        let items = toystore_events::frame::read_stream(Box::pin(resp.bytes_stream()), after);
        Ok(crate::stream::until_silent(items, silence))
    }
}
