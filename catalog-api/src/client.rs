//! [`CatalogClient`]: how other services call the catalog.
//!
//! One pooled keep-alive connection set per client; every call carries the cluster token.
//! A product name goes as a form-encoded query parameter (`/internal/products?name=`), so
//! any name, even `.`, `..` or one holding control characters, reaches the catalog exactly.

use crate::wire::{BuyReply, ByName, Health, ProductList, ProductReply, RestockReply};
use futures_util::Stream;
use toystore_config::ClusterToken;
use toystore_config::Timeouts;
use toystore_events::Purchase;
use toystore_events::{CatalogEvent, FrameError, Seq, StreamItem};
use toystore_http::client::{ClientError, ServiceClient};

/// A typed client of one catalog.
#[derive(Clone, Debug)]
pub struct CatalogClient {
    inner: ServiceClient,
    health_timeout: std::time::Duration,
}

impl CatalogClient {
    /// A client of the catalog at `base` (e.g. `http://127.0.0.1:8090`), with the default
    /// [`Timeouts`].
    pub fn new(base: &str, token: ClusterToken) -> Result<Self, ClientError> {
        Self::with_timeouts(base, token, &Timeouts::default())
    }

    /// A client whose requests may take `timeouts.request`, and its health checks
    /// `timeouts.health` (the cluster file's).
    pub fn with_timeouts(
        base: &str,
        token: ClusterToken,
        timeouts: &Timeouts,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            inner: ServiceClient::new(base, token, timeouts.request)?,
            health_timeout: timeouts.health,
        })
    }

    /// `GET /health`, with the short health timeout.
    pub async fn health(&self) -> Result<Health, ClientError> {
        let req = self
            .inner
            .request(reqwest::Method::GET, &["health"])
            .timeout(self.health_timeout);
        self.inner.call(req).await
    }

    /// One product; a missing one is `ClientError::Status { status: 404, .. }`. The name
    /// goes as a form-encoded query parameter, so it reaches the catalog byte for byte.
    pub async fn product(&self, name: &str) -> Result<ProductReply, ClientError> {
        let req = self
            .inner
            .request(reqwest::Method::GET, &["internal", "products"])
            .query(&ByName {
                name: name.to_string(),
            });
        self.inner.call(req).await
    }

    /// Every product.
    pub async fn products(&self) -> Result<ProductList, ClientError> {
        self.inner.get(&["internal", "products"]).await
    }

    /// Buys (idempotent by request id); a refusal reads back with [`crate::BuyRefusal::of`].
    pub async fn buy(&self, req: &Purchase) -> Result<BuyReply, ClientError> {
        self.inner.post(&["internal", "buy"], req).await
    }

    /// Restocks sold-out toys now.
    pub async fn restock(&self) -> Result<RestockReply, ClientError> {
        self.inner.post(&["internal", "restock"], &()).await
    }

    /// Subscribes to the catalog's events after `after`: a stream of events and heartbeats
    /// that ends (with an error, or cleanly on the catalog's shutdown) when the connection
    /// does, or with [`FrameError::Silent`] once nothing has arrived for `silence` (see
    /// [`toystore_config::CatalogConfig::stream_silence`]).
    pub async fn events(
        &self,
        after: Seq,
        silence: std::time::Duration,
    ) -> Result<impl Stream<Item = Result<StreamItem<CatalogEvent>, FrameError>>, ClientError> {
        self.inner
            .events(&["internal", "events"], after, silence)
            .await
    }
}
