//! [`Frontend`]: the front-end's state (the catalog's client, the product cache, the
//! replicas and their leader, the failover budget, the buy stages it times) and what can be
//! read from it without answering a request: cache counters, the leader, the replicas.
//!
//! It depends on neither the server nor the modules the server serves ([`crate::metrics`],
//! [`crate::cluster_view`]), which read the state through it; the server builds it
//! (`Frontend::new`) and adds the operations that answer the public API (product queries,
//! orders), since it alone chooses their statuses. It is re-exported as
//! `server::Frontend`, its public path. Nothing here chooses an HTTP status or changes the
//! state: it only holds it and reads it.

use crate::api::{CacheStats, InternalMetrics, LeaderRef, ReplicaRef};
use crate::cache::ProductCache;
use crate::leader::LeaderTracker;
use crate::orders::Failover;
use std::sync::Arc;
use toystore_catalog_api::CatalogClient;
use toystore_http::stages::Stages;

/// The front-end's state.
pub struct Frontend {
    catalog: CatalogClient,
    cache: Option<Arc<ProductCache>>,
    replicas: Arc<LeaderTracker>,
    failover: Failover,
    stages: Stages,
}

impl Frontend {
    /// The state of a front-end that asks `catalog` (its replicas), caches products in
    /// `cache` (none: caching off) and sends orders to the leader of `replicas`, failing over
    /// for at most `failover`.
    pub(crate) fn new(
        catalog: CatalogClient,
        cache: Option<Arc<ProductCache>>,
        replicas: Arc<LeaderTracker>,
        failover: Failover,
    ) -> Self {
        Self {
            catalog,
            cache,
            replicas,
            failover,
            stages: Stages::default(),
        }
    }

    /// The replicas and their leader.
    pub fn replicas(&self) -> &Arc<LeaderTracker> {
        &self.replicas
    }

    /// The catalog's client.
    pub fn catalog(&self) -> &CatalogClient {
        &self.catalog
    }

    /// The product cache (`None` with caching off).
    pub(crate) fn cache(&self) -> Option<&ProductCache> {
        self.cache.as_deref()
    }

    /// The buy path's stages the front-end times (its call to the order service).
    pub fn stages(&self) -> &Stages {
        &self.stages
    }

    /// How long a request may keep failing over before it is refused.
    pub(crate) fn failover(&self) -> Failover {
        self.failover
    }

    /// Cache counters (`None` with caching off).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    /// What `GET /internal/metrics` shows: cache counters, the leader, the replicas.
    pub fn internal_metrics(&self) -> InternalMetrics {
        InternalMetrics {
            cache: self.cache_stats(),
            leader: self.replicas.current().map(|l| LeaderRef {
                id: l.client.id(),
                term: l.term,
            }),
            replicas: self
                .replicas
                .members()
                .iter()
                .map(|c| ReplicaRef {
                    id: c.id(),
                    url: c.base().as_str().to_string(),
                })
                .collect(),
        }
    }
}
