//! `GET /cluster/status`: what the cluster page shows, gathered by the front-end at the
//! moment of the request: each replica's health (role, term, log and applied index, lag
//! behind the leader), each catalog replica's likewise, the front-end's own cache and leader, and the recent
//! stock changes.
//!
//! Public and read-only, like `/health` and `/metrics`: addresses, roles and counters, no
//! data. Every service is asked at once with a short deadline, so a replica that is down or
//! paused shows as down without holding the page up.

use crate::relay::{Change, Relay};
use crate::state::Frontend;
use serde::Serialize;
use std::sync::Arc;
use toystore_order_api::ReplicaStatus;
use warp::{Filter, Rejection};

/// The cluster as the front-end sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// The front-end itself.
    pub frontend: FrontendView,
    /// The catalog (its leader, or the replica believed to lead).
    pub catalog: CatalogView,
    /// Every catalog replica, in the cluster file's order.
    pub catalogs: Vec<ReplicaView>,
    /// Every order replica, highest id first.
    pub replicas: Vec<ReplicaView>,
    /// The last stock changes, newest first.
    pub recent: Vec<Change>,
}

/// The front-end's own state.
#[derive(Debug, Clone, Serialize)]
pub struct FrontendView {
    /// The replica it sends purchases to.
    pub leader: Option<u32>,
    /// The cache (none with caching off).
    pub cache: Option<CacheView>,
    /// Browsers following `/events`.
    pub listeners: usize,
}

/// The cache's counters.
#[derive(Debug, Clone, Serialize)]
pub struct CacheView {
    /// Entries held.
    pub entries: usize,
    /// Capacity.
    pub capacity: usize,
    /// Queries answered from it.
    pub hits: u64,
    /// Queries that went to the catalog.
    pub misses: u64,
    /// hits / (hits + misses), if there was any query.
    pub hit_rate: Option<f64>,
    /// LRU evictions.
    pub evictions: u64,
    /// Invalidations applied.
    pub invalidations: u64,
    /// Serving (false while the invalidation stream is down).
    pub active: bool,
}

/// The catalog.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogView {
    /// Its base URL.
    pub url: String,
    /// It answered its health check.
    pub up: bool,
    /// Its last sequence number.
    pub last_seq: Option<u64>,
}

/// One order replica.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaView {
    /// Its id.
    pub id: u32,
    /// Its base URL.
    pub url: String,
    /// It answered its health check.
    pub up: bool,
    /// What it said (its `/health`), if it answered.
    pub status: Option<ReplicaStatus>,
    /// Entries it lacks compared with the leader's log (none without a leader or answer).
    pub lag: Option<u64>,
}

/// One group's replicas as the page shows them: each (id, URL) with what it said, and its
/// lag behind the group's leader (the one rule of `toystore_order_api::leader`).
fn views(
    members: impl IntoIterator<Item = (u32, String)>,
    statuses: Vec<Option<ReplicaStatus>>,
) -> Vec<ReplicaView> {
    let leader_log =
        toystore_order_api::leader(statuses.iter().flatten()).and_then(|s| s.last_log_index);
    members
        .into_iter()
        .zip(statuses)
        .map(|((id, url), status)| ReplicaView {
            id,
            url,
            up: status.is_some(),
            lag: match (&status, leader_log) {
                (Some(s), Some(l)) => Some(l.saturating_sub(s.last_log_index.unwrap_or(0))),
                _ => None,
            },
            status,
        })
        .collect()
}

/// Asks every service and puts the answers together.
pub async fn gather(frontend: &Frontend, relay: &Relay) -> ClusterView {
    let members = frontend.replicas().members();
    // Each health check has the cluster file's short health timeout (in its client).
    let asks = members.iter().map(|m| async move { m.health().await.ok() });
    let catalog_replicas = frontend.catalog().replicas();
    let catalog_asks = catalog_replicas
        .iter()
        .map(|(id, _)| async move { frontend.catalog().health_of(Some(*id)).await.ok() });
    let (statuses, catalog_statuses) = tokio::join!(
        futures_util::future::join_all(asks),
        futures_util::future::join_all(catalog_asks),
    );
    let replicas = views(
        members
            .iter()
            .map(|m| (m.id(), m.base().as_str().trim_end_matches('/').to_string())),
        statuses,
    );
    let catalog_leader = toystore_order_api::leader(catalog_statuses.iter().flatten());
    let catalog = CatalogView {
        url: match catalog_leader {
            Some(l) => catalog_replicas
                .iter()
                .find(|(id, _)| *id == l.id)
                .map(|(_, url)| url.clone())
                .unwrap_or_default(),
            None => frontend
                .catalog()
                .base()
                .as_str()
                .trim_end_matches('/')
                .to_string(),
        },
        up: catalog_leader.is_some(),
        last_seq: catalog_leader.map(|h| h.last_seq.0),
    };
    let catalogs = views(catalog_replicas, catalog_statuses);
    let mut recent = relay.recent();
    recent.reverse();
    ClusterView {
        frontend: FrontendView {
            leader: frontend.replicas().current().map(|l| l.client.id()),
            cache: frontend.cache_stats().map(|c| {
                let queries = c.hits + c.misses;
                CacheView {
                    entries: c.entries,
                    capacity: c.capacity,
                    hits: c.hits,
                    misses: c.misses,
                    hit_rate: (queries > 0).then(|| c.hits as f64 / queries as f64),
                    evictions: c.evictions,
                    invalidations: c.invalidations,
                    active: c.active,
                }
            }),
            listeners: relay.listeners(),
        },
        catalog,
        catalogs,
        replicas,
        recent,
    }
}

/// `GET /cluster/status`: [`gather`], in the JSON envelope.
pub fn route(
    frontend: Arc<Frontend>,
    relay: Arc<Relay>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("cluster" / "status")
        .and(warp::get())
        .then(move || {
            let (frontend, relay) = (frontend.clone(), relay.clone());
            async move {
                toystore_http::reply::respond(Ok::<_, toystore_http::ApiError>(
                    gather(&frontend, &relay).await,
                ))
            }
        })
}
