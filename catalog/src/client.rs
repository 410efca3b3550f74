//! [`CatalogClient`]: how other services call the catalog.
//!
//! One pooled keep-alive connection set per client; every call carries the cluster token.
//! Product names are percent-encoded into the path.

use crate::api::{BuyReply, BuyRequest, Health, ProductList, ProductReply, RestockReply};
use futures_util::Stream;
use std::time::Duration;
use toystore_events::{frame, CatalogEvent, FrameError, Seq, StreamItem};
use toystore_net::client::{http_client, read_envelope, stream_client, ClientError};
use toystore_net::ClusterToken;

/// A typed client of one catalog.
#[derive(Clone, Debug)]
pub struct CatalogClient {
    base: reqwest::Url,
    http: reqwest::Client,
    streams: reqwest::Client,
    token: ClusterToken,
}

impl CatalogClient {
    /// A client of the catalog at `base` (e.g. `http://127.0.0.1:8090`).
    pub fn new(base: &str, token: ClusterToken) -> Result<Self, ClientError> {
        let base = reqwest::Url::parse(base)
            .map_err(|e| ClientError::Unreachable(format!("bad catalog url {base}: {e}")))?;
        Ok(Self {
            base,
            http: http_client(Duration::from_secs(5))?,
            streams: stream_client()?,
            token,
        })
    }

    fn url(&self, segments: &[&str]) -> Result<reqwest::Url, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::Unreachable(format!("bad catalog url {}", self.base)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        let resp = self.http.get(self.url(&["health"])?).send().await?;
        read_envelope(resp).await
    }

    /// One product; a missing one is `ClientError::Status { status: 404, .. }`.
    pub async fn product(&self, name: &str) -> Result<ProductReply, ClientError> {
        let url = self.url(&["internal", "products", name])?;
        let resp = self
            .http
            .get(url)
            .header("authorization", self.token.bearer())
            .send()
            .await?;
        read_envelope(resp).await
    }

    /// Every product.
    pub async fn products(&self) -> Result<ProductList, ClientError> {
        let url = self.url(&["internal", "products"])?;
        let resp = self
            .http
            .get(url)
            .header("authorization", self.token.bearer())
            .send()
            .await?;
        read_envelope(resp).await
    }

    /// Buys (idempotent by request id). 404: no such toy; 409: insufficient stock.
    pub async fn buy(&self, req: &BuyRequest) -> Result<BuyReply, ClientError> {
        let url = self.url(&["internal", "buy"])?;
        let resp = self
            .http
            .post(url)
            .header("authorization", self.token.bearer())
            .json(req)
            .send()
            .await?;
        read_envelope(resp).await
    }

    /// Restocks sold-out toys now.
    pub async fn restock(&self) -> Result<RestockReply, ClientError> {
        let url = self.url(&["internal", "restock"])?;
        let resp = self
            .http
            .post(url)
            .header("authorization", self.token.bearer())
            .send()
            .await?;
        read_envelope(resp).await
    }

    /// Subscribes to the catalog's events after `after`: a stream of events and heartbeats
    /// that ends (with an error, or cleanly on the catalog's shutdown) when the connection
    /// does.
    pub async fn events(
        &self,
        after: Seq,
    ) -> Result<impl Stream<Item = Result<StreamItem<CatalogEvent>, FrameError>>, ClientError> {
        let mut url = self.url(&["internal", "events"])?;
        url.query_pairs_mut().append_pair("after", &after.0.to_string());
        let resp = self
            .streams
            .get(url)
            .header("authorization", self.token.bearer())
            .send()
            .await?;
        if !resp.status().is_success() {
            return Err(read_envelope::<serde_json::Value>(resp)
                .await
                .err()
                .unwrap_or(ClientError::Malformed("error status with data".into())));
        }
        Ok(frame::read_stream(Box::pin(resp.bytes_stream()), after))
    }
}
