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
