//! Three openraft nodes on the redb Raft storage, in one process, joined by an in-memory
//! network: what the order crate's wiring will look like, end to end.
//!
//! Two nodes form the quorum while the third is down; purchases are proposed through the leader
//! (a retried request id answers its first number); the snapshot policy
//! (`SnapshotPolicy::LogsSinceLast`) snapshots and purges the log; the third node then starts
//! on a fresh file, can only catch up by installing the snapshot, and ends with byte-identical
//! events and the same projection rows as the others, which survive a reopen.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod raft_support;

use openraft::error::{
    Fatal, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, OptionalSend, Raft, Snapshot, SnapshotPolicy, Vote};
use raft_support::{dump, open, raw_events, Purchase, Purchases, Reply, Store, TestConfig};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Node = Raft<TestConfig>;

/// The nodes that are up, by id.
#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<u64, Node>>>,
}

impl Router {
    fn get(&self, id: u64) -> Result<Node, Unreachable> {
        let nodes = self.nodes.lock().unwrap();
        nodes
            .get(&id)
            .cloned()
            .ok_or_else(|| Unreachable::new(&std::io::Error::other(format!("node {id} is down"))))
    }
}

/// A connection to one node through the router.
struct Link {
    router: Router,
    target: u64,
}

impl RaftNetworkFactory<TestConfig> for Router {
    type Network = Link;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> Link {
        Link {
            router: self.clone(),
            target,
        }
    }
}

type RpcError<E = openraft::error::Infallible> = RPCError<u64, BasicNode, RaftError<u64, E>>;

impl RaftNetwork<TestConfig> for Link {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TestConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcError> {
        let node = self.router.get(self.target)?;
        node.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    /// In process: the snapshot's data refers to the leader's file, from which the target
    /// stages the events itself.
    async fn full_snapshot(
        &mut self,
        vote: Vote<u64>,
        snapshot: Snapshot<TestConfig>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<u64>, StreamingError<TestConfig, Fatal<u64>>> {
        let node = self.router.get(self.target)?;
        node.install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| StreamingError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RpcError> {
        let node = self.router.get(self.target)?;
        node.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// Every 20 log entries a snapshot, and the log purged up to it at once.
fn config() -> Arc<Config> {
    let config = Config {
        heartbeat_interval: 50,
        election_timeout_min: 200,
        election_timeout_max: 400,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(20),
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Default::default()
    };
    Arc::new(config.validate().unwrap())
}

/// Starts node `id` on the file at `path` and puts it on the router.
async fn start(router: &Router, id: u64, path: &Path) -> (Node, Store) {
    let store = open(path);
    let raft = Raft::new(
        id,
        config(),
        router.clone(),
        store.log_store(),
        store.state_machine(Purchases),
    )
    .await
    .unwrap();
    router.nodes.lock().unwrap().insert(id, raft.clone());
    (raft, store)
}

fn purchase(i: u64) -> Purchase {
    Purchase {
        request_id: format!("req-{i}"),
        product: format!("toy{}", i % 4),
        quantity: 1 + (i % 3) as u32,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_was_down_catches_up_by_snapshot_and_matches_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = |id: u64| dir.path().join(format!("order-{id}.redb"));
    let router = Router::default();
    let (n1, s1) = start(&router, 1, &path(1)).await;
    let (n2, s2) = start(&router, 2, &path(2)).await;
    let members: BTreeMap<u64, BasicNode> = (1..=3)
        .map(|id| (id, BasicNode::new(format!("node-{id}"))))
        .collect();
    n1.initialize(members).await.unwrap();
    let wait = Some(Duration::from_secs(10));
    n1.wait(wait)
        .state(openraft::ServerState::Leader, "node 1 leads")
        .await
        .unwrap();

    let mut numbers = Vec::new();
    for i in 0..45 {
        let reply = n1.client_write(purchase(i)).await.unwrap().data;
        numbers.push(reply);
    }
    // A retry of an earlier purchase answers its number and places nothing.
    let retry = n1.client_write(purchase(7)).await.unwrap().data;
    assert_eq!(
        retry,
        Reply::Placed {
            number: 7,
            new: false
        }
    );
    let expected: Vec<Reply> = (0..45)
        .map(|number| Reply::Placed { number, new: true })
        .collect();
    assert_eq!(numbers, expected);

    // Snapshots were taken and the log purged, so node 3 cannot catch up from the log alone.
    let m = n1
        .wait(wait)
        .metrics(
            |m| m.snapshot.is_some() && m.purged.is_some(),
            "snapshot and purge",
        )
        .await
        .unwrap();
    let purged = m.purged.unwrap().index;
    assert!(purged >= 20, "purged up to {purged}");
    let last = m.last_applied.unwrap();

    let (n3, s3) = start(&router, 3, &path(3)).await;
    n3.wait(wait)
        .metrics(|m| m.last_applied >= Some(last), "node 3 caught up")
        .await
        .unwrap();
    n2.wait(wait)
        .metrics(|m| m.last_applied >= Some(last), "node 2 caught up")
        .await
        .unwrap();
    let m3 = n3.metrics().borrow().clone();
    assert!(m3.snapshot.is_some(), "node 3 installed a snapshot: {m3:?}");

    let events = raw_events(&s1);
    assert_eq!(events.len(), 45);
    let rows = dump(&s1);
    assert_eq!(rows.len(), 90);
    for other in [&s2, &s3] {
        assert_eq!(raw_events(other), events);
        assert_eq!(dump(other), rows);
    }

    // Node 3's state machine and log survive a restart.
    n3.shutdown().await.unwrap();
    router.nodes.lock().unwrap().remove(&3);
    drop((n3, s3));
    // Tasks openraft spawned (e.g. a snapshot build) may hold the file a moment longer
    // after shutdown: wait for the lock to go rather than fail on it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let s3 = loop {
        match Store::open(path(3), raft_support::Orders) {
            Ok(store) => break store,
            Err(toystore_store::StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopening node 3: {e}"),
        }
    };
    assert_eq!(raw_events(&s3), events);
    assert_eq!(dump(&s3), rows);

    for node in [n1, n2] {
        node.shutdown().await.unwrap();
    }
}
