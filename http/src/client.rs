//! Pooled keep-alive HTTP clients between services, and reading envelope replies.
//!
//! Every service talks to another through one [`reqwest::Client`] built by [`http_client`]
//! (connection pool, `TCP_NODELAY`, connect and request timeouts), and reads replies with
//! [`read_envelope`], which turns `{"data": T}` into `T` and `{"error": {...}}` into
//! [`ClientError::Status`], keeping the service's status and message.

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

/// A pooled keep-alive client with `TCP_NODELAY` and the given per-request timeout.
/// Building fails only if the TLS-less HTTP stack cannot initialise, which does not happen
/// on supported platforms; the error is returned rather than unwrapped all the same.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .build()
        .map_err(|e| ClientError::Unreachable(format!("cannot build http client: {e}")))
}

/// A client for long-lived streams: like [`http_client`] but with no overall timeout
/// (streams are kept alive by heartbeats, which the reader times out on itself).
pub fn stream_client() -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
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
    let status = resp.status();
    let bytes = resp.bytes().await?;
    match serde_json::from_slice::<Envelope<T>>(&bytes) {
        Ok(Envelope::Data { data }) if status.is_success() => Ok(data),
        Ok(Envelope::Error { error }) => Err(ClientError::Status {
            status: error.code,
            message: error.message,
        }),
        _ if !status.is_success() => Err(ClientError::Status {
            status: status.as_u16(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
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
        let base = reqwest::Url::parse(base)
            .map_err(|e| ClientError::Unreachable(format!("bad url {base}: {e}")))?;
        if base.cannot_be_a_base() {
            return Err(ClientError::Unreachable(format!("bad url {base}")));
        }
        Ok(Self {
            base,
            http: http_client(timeout)?,
            streams: stream_client()?,
            token,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &reqwest::Url {
        &self.base
    }

    /// The URL of a path given as segments (each percent-encoded).
    pub fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
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
    /// `E`.
    pub async fn events<E: DeserializeOwned>(
        &self,
        segments: &[&str],
        after: toystore_events::Seq,
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
        Ok(toystore_events::frame::read_stream(
            Box::pin(resp.bytes_stream()),
            after,
        ))
    }
}
