//! A Raft node of toystore: one replica of a replicated service (the order replicas, the
//! catalog replicas) on openraft 0.9 and the store's storage (`toystore_store::raft`), with
//! everything that is the same whatever the state machine does.
//!
//! - [`Types`]: the type configurations a node can run (node id = [`ReplicaId`], node =
//!   `BasicNode`, entries and snapshot data the store's);
//! - [`settings`]: openraft's `Config` from a service's [`settings::Timing`];
//! - [`network`]: openraft's transport over HTTP between replicas, peers' addresses from the
//!   cluster file ([`network::AddressBook`]);
//! - [`transfer`]: a snapshot's transfer (only the events the receiver lacks) and install,
//!   counted in [`counts`];
//! - [`membership`]: the Raft membership following the cluster file (learner, then voter);
//! - [`founding`]: the one-time initialisation of a new cluster, and the admission of a
//!   replica that starts with an empty log ([`founding::Gate`]);
//! - [`backup`]: a consistent online copy of the state machine, streamed to `tools backup`;
//! - [`rejoin`]: the leader taking such a replica out of the voters before it takes part;
//! - [`campaigning`]: whether a replica starts elections on its own now, from everything
//!   that holds it off;
//! - [`disk`]: the free space under a replica's file and the reserve below which it takes
//!   no writes or entries and steps down;
//! - [`node`]: [`Node`], the Raft handle, its storage and counts, and [`node::open_and_start`], which
//!   opens a replica's file and starts all of the above for it;
//! - [`proposer`]: the group commit in front of Raft (concurrent writes batched into one
//!   entry);
//! - [`confirmer`]: one leadership confirmation shared by the reads waiting for one;
//! - [`leadership`]: who may answer (the leader rule, a confirmed leadership, the role and
//!   isolation a replica reports), as plain functions;
//! - [`metrics`]: what every replica's `/metrics` shows of its Raft node and proposer;
//! - [`routes`]: the Raft routes between replicas (`/internal/raft/...`), wire in [`wire`];
//! - [`timed`]: a service's applier with its applies timed as a stage of the buy path;
//! - [`failpoint`]: the crash hooks of the black-box tests.
//!
//! What a service adds: its type configuration, its [`toystore_store::raft::Apply`] (the
//! rules of an applied entry), its own routes and status. The order crate and the catalog
//! crate are the two users.

pub mod backup;
pub mod campaigning;
pub mod confirmer;
pub mod counts;
pub mod disk;
pub mod failpoint;
pub mod founding;
pub mod leadership;
pub mod membership;
pub mod metrics;
pub mod network;
pub mod node;
pub mod proposer;
pub mod rejoin;
pub mod routes;
pub mod settings;
pub mod timed;
pub mod transfer;
pub mod wire;

pub use node::Node;
pub use toystore_config::ReplicaId;

/// An openraft type configuration a toystore node runs: node ids are [`ReplicaId`]s (the
/// cluster file's ids), nodes are `BasicNode`s (an address), entries and snapshot data are
/// the store's ([`toystore_store::raft::RaftTypes`]), on Tokio. Implemented for every such
/// configuration.
pub trait Types:
    toystore_store::raft::RaftTypes<
    NodeId = ReplicaId,
    Node = openraft::BasicNode,
    AsyncRuntime = openraft::TokioRuntime,
    Responder = openraft::impls::OneshotResponder<Self>,
>
{
}

impl<C> Types for C where
    C: toystore_store::raft::RaftTypes<
        NodeId = ReplicaId,
        Node = openraft::BasicNode,
        AsyncRuntime = openraft::TokioRuntime,
        Responder = openraft::impls::OneshotResponder<C>,
    >
{
}
