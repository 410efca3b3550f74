//! [`Conn`]: one keep-alive HTTP/1.1 connection of the load generator.
//!
//! The load generator must cost the machine as little as possible, because on a small
//! machine it shares the cores with the store it measures. So each simulated client owns
//! one connection made directly with hyper's HTTP/1 client (no pool, no redirects, no
//! per-request allocation beyond the request itself), with `TCP_NODELAY`, and sends its
//! requests one after another. A connection that fails is dropped and made again on the
//! next request; the failed request is reported as an error, never retried here. When the
//! process trusts a cluster CA (`toystore_http::tls`), every connection is TLS, verified
//! against it (the TLS handshake is part of connecting, so of a new connection's first
//! request).
//!
//! A [`Reply`] is the status and body as they came. The bench tells a success by its 2xx
//! status alone (the cheap test every answer gets, with no body decoded); what any other
//! answer means is decided by the front-end's own client code ([`Reply::decode`], through
//! `toystore_frontend::client::decode`), never by status numbers here.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use toystore_frontend::client::FrontendError;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Connecting failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The HTTP exchange failed (connection closed, malformed reply...).
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// Building the request failed (a bad path).
    #[error("request: {0}")]
    Request(#[from] hyper::http::Error),
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
}

/// An answer: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

impl Reply {
    /// A success (any 2xx), the only answer a load scenario counts as done.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The front-end's reply as its wire type, or the typed refusal it is.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, FrontendError> {
        toystore_frontend::client::decode(self.status, &self.body)
    }

    /// Whether the front-end refused a purchase by its rules (too little stock), which a
    /// load scenario counts as rejected rather than failed.
    pub fn is_sold_out(&self) -> bool {
        !self.is_success()
            && matches!(
                self.decode::<serde::de::IgnoredAny>(),
                Err(FrontendError::InsufficientStock(_))
            )
    }

    /// The reply as an error message: status and the start of the body.
    pub fn describe(&self) -> String {
        let body: String = String::from_utf8_lossy(&self.body)
            .chars()
            .take(200)
            .collect();
        format!("{}: {body}", self.status)
    }
}

/// A request to send: method, path (with query) and an optional JSON body.
#[derive(Debug, Clone)]
pub struct Call {
    /// GET or POST.
    pub method: Method,
    /// Path and query, already percent-encoded.
    pub path: String,
    /// A JSON body (sent with `content-type: application/json`).
    pub body: Option<Bytes>,
    /// An `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
}

impl Call {
    /// `GET path`.
    pub fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            body: None,
            idempotency_key: None,
        }
    }
}

/// An HTTP/1 client connection over `io`; the connection itself runs in a task of its own,
/// which ends when the sender is dropped or the server closes the connection.
async fn http1<I>(io: I) -> Result<SendRequest<Full<Bytes>>, ConnError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One keep-alive connection to `addr`.
pub struct Conn {
    addr: SocketAddr,
    /// The name its TLS certificate must hold (the host of the URL it was given, or the IP).
    tls_name: String,
    host: String,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    /// A connection to `addr`, made on first use.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Self {
        Self {
            addr,
            tls_name: addr.ip().to_string(),
            host: addr.to_string(),
            timeout,
            sender: None,
        }
    }

    /// The same connection, its TLS certificate checked for `host` (a name or an IP; a
    /// store reached by name).
    pub fn named(mut self, host: &str) -> Self {
        self.tls_name = host.to_owned();
        self
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ConnError> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(ConnError::Connect)?;
        stream.set_nodelay(true).map_err(ConnError::Connect)?;
        // Over TLS when the process trusts a cluster CA (a store with `[tls]`).
        match toystore_http::tls::client() {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.tls_name.clone())
                    .map_err(|e| ConnError::Connect(std::io::Error::other(e)))?;
                let stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, stream)
                    .await
                    .map_err(ConnError::Connect)?;
                http1(stream).await
            }
            None => http1(stream).await,
        }
    }

    /// Sends `call` and reads the whole reply.
    pub async fn send(&mut self, call: &Call) -> Result<Reply, ConnError> {
        match tokio::time::timeout(self.timeout, self.exchange(call)).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                Err(ConnError::Timeout)
            }
        }
    }

    async fn exchange(&mut self, call: &Call) -> Result<Reply, ConnError> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await?;
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header(hyper::header::HOST, self.host.as_str());
        if call.body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(key) = &call.idempotency_key {
            req = req.header("idempotency-key", key.as_str());
        }
        let req = req.body(Full::new(call.body.clone().unwrap_or_default()))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        self.sender = Some(sender);
        Ok(Reply { status, body })
    }
}
