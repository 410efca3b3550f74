//! [`Node`]: one replica's Raft handle, its storage and its transfer counts; [`start`] brings
//! one up ([`open_and_start`] opens its file first, as a service does): the storage's two halves under openraft, the HTTP network, the founding of a new
//! cluster and the admission of a replica that starts with an empty log ([`crate::founding`]) and the membership following the cluster file
//! ([`crate::membership`], the file watched for changes). [`Started::stop`] ends those tasks
//! and shuts Raft down.

use crate::campaigning::Campaigning;
use crate::confirmer::Confirmer;
use crate::counts::Counts;
use crate::disk::Disk;
use crate::founding::Gate;
use crate::leadership::{isolated, must_lead, role, Unconfirmed};
use crate::membership::{book_of, members_of, Pace, Replicas};
use crate::network::{AddressBook, Network};
use crate::settings::{raft_config, Timing};
use crate::timed::Timed;
use crate::Types;
use openraft::Raft;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use toystore_config::{ClusterConfig, ClusterToken, ReplicaId};
use toystore_events::LogEvent;
use toystore_http::client::ClientError;
use toystore_http::stages::{Stage, Stages};
use toystore_raft_api::ReplicaStatus;
use toystore_store::raft::{Apply, RaftStore};
use toystore_store::StoreError;

/// One replica's Raft node and what it runs on.
pub struct Node<C: Types, E: LogEvent> {
    id: ReplicaId,
    raft: Raft<C>,
    store: RaftStore<C, E>,
    transfers: Arc<Counts>,
    /// Confirms the leadership for the reads waiting, one round for all of them.
    confirmer: Confirmer,
    /// Whether it takes part in the group yet ([`crate::founding`]).
    gate: Gate,
    /// The free space under its file ([`crate::disk`]).
    disk: Arc<Disk>,
    /// Whether it starts elections on its own now ([`crate::campaigning`]).
    campaigning: Arc<Campaigning<C>>,
}

impl<C: Types, E: LogEvent> Node<C, E> {
    /// This replica's id.
    pub fn id(&self) -> ReplicaId {
        self.id
    }

    /// The Raft handle.
    pub fn raft(&self) -> &Raft<C> {
        &self.raft
    }

    /// The storage (reads; writes go through Raft).
    pub fn store(&self) -> &RaftStore<C, E> {
        &self.store
    }

    /// What this replica's snapshot transfers moved (shared with its network).
    pub fn transfers(&self) -> &Arc<Counts> {
        &self.transfers
    }

    /// Whether this replica takes part in its group yet: one that started with an empty log
    /// refuses votes, entries and snapshots until it is admitted ([`crate::founding`]).
    pub fn admitted(&self) -> bool {
        self.gate.is_open()
    }

    /// The free space under its file, and whether it is below the reserve.
    pub fn disk(&self) -> &Arc<Disk> {
        &self.disk
    }

    /// Whether it starts elections on its own now, and what decides it.
    pub fn campaigning(&self) -> &Arc<Campaigning<C>> {
        &self.campaigning
    }

    /// What the replica says about itself (its role, term, positions, voters, isolation).
    pub fn status(&self) -> ReplicaStatus {
        // Read from the file and the disk before borrowing the metrics: the borrow holds off
        // openraft's next publication.
        let last_log_id = self.store.last_log_id().ok().flatten();
        let storage = self.disk.check().err().map(|low| low.to_string());
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let role = role(m.state);
        let membership = m.membership_config.membership();
        let voters: Vec<ReplicaId> = membership.voter_ids().collect();
        // A voter of every configuration: in a joint membership, a replica in one half only
        // (being added, or taken out) is not counted on yet; no membership at all (a
        // replica admitted, nothing received yet) makes no voter. And admitted, with the
        // membership above its voter floor: a replica catching up after it rejoined replays
        // older memberships that list it.
        let configs = membership.get_joint_config();
        let voter = !configs.is_empty()
            && configs.iter().all(|config| config.contains(&self.id))
            && self
                .gate
                .admits_voter_at(m.membership_config.log_id().as_ref().map(|l| l.index));
        let lease = self.raft.config().election_timeout_max.saturating_mul(2);
        ReplicaStatus {
            id: self.id,
            role,
            ready: m.running_state.is_ok() && voter && storage.is_none(),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            last_log_id: last_log_id.map(|id| toystore_raft_api::EntryId {
                term: id.leader_id.term,
                leader: id.leader_id.node_id,
                index: id.index,
            }),
            applied: m.last_applied.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            last_seq: self.store.event_log().last_seq(),
            voters,
            quorum_ack_ms: m.millis_since_quorum_ack,
            isolated: isolated(role, m.millis_since_quorum_ack, lease)
                || (role == toystore_raft_api::Role::Leader && storage.is_some()),
            storage,
        }
    }

    /// `Err(leader hint)` unless this replica leads ([`must_lead`] on one metrics snapshot).
    pub fn leadership(&self) -> Result<(), Option<ReplicaId>> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        must_lead(m.state, m.current_leader)
    }

    /// Confirms leadership with a quorum within `timeout` and waits until everything
    /// committed is applied: after it, a read of the state machine is linearizable.
    /// Concurrent reads share a confirmation round ([`Confirmer`]).
    pub async fn linearize(&self, timeout: Duration) -> Result<(), Unconfirmed> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.confirmer.confirm(deadline).await
    }
}

/// How a node starts.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This replica's id.
    pub id: ReplicaId,
    /// Every replica of the group (this one included), as the cluster file lists them.
    pub replicas: Replicas,
    /// The cluster token.
    pub token: ClusterToken,
    /// Raft timing and snapshot policy.
    pub timing: Timing,
    /// How the leader keeps the membership in line with the file.
    pub pace: Pace,
    /// One Raft message between replicas (`[timeouts] raft_rpc`).
    pub rpc_timeout: Duration,
    /// The cluster file to watch for changes of the group's replicas, if any.
    pub watch: Option<PathBuf>,
    /// The group's replicas in a cluster file (the order replicas, the catalog replicas).
    pub pick: fn(&ClusterConfig) -> Replicas,
    /// Free bytes kept on the file's disk ([`crate::disk`]).
    pub disk_reserve: u64,
}

impl NodeConfig {
    /// Replica `id` of a group whose replicas `pick` finds in a cluster file (`replicas`
    /// now), with the cluster file's Raft settings (`settings`, the `[order]` section both
    /// groups take their pacing from) and timeouts.
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        id: ReplicaId,
        replicas: Replicas,
        token: ClusterToken,
        timing: Timing,
        settings: &toystore_config::OrderConfig,
        timeouts: &toystore_config::Timeouts,
        watch: Option<PathBuf>,
        pick: fn(&ClusterConfig) -> Replicas,
    ) -> Self {
        Self {
            id,
            replicas,
            token,
            timing,
            pace: Pace {
                every: settings.reconcile_every,
                call_timeout: timeouts.membership,
            },
            rpc_timeout: timeouts.raft_rpc,
            watch,
            pick,
            disk_reserve: settings.disk_reserve,
        }
    }
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Raft settings are invalid.
    #[error("raft config: {0}")]
    Config(#[from] Box<openraft::ConfigError>),
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Raft failed to start.
    #[error("raft: {0}")]
    Raft(String),
    /// The replica's file could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A started node and its background tasks.
pub struct Started<C: Types, E: LogEvent> {
    /// The node.
    pub node: Arc<Node<C, E>>,
    tasks: Vec<JoinHandle<()>>,
}

impl<C: Types, E: LogEvent> Started<C, E> {
    /// Waits for the background tasks (they end at the `stop` given to [`start`]) and shuts
    /// Raft down.
    pub async fn stop(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        if let Err(e) = self.node.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
    }
}

/// What a service starts a replica with: opens its file at `path` with `open` (on a
/// blocking thread: a large file's first open reads for a while), then [`start`]s the node
/// with the state machine rules `applier`, each apply timed as `apply_stage` in the
/// returned [`Stages`] (the service times its own stages in them too).
pub async fn open_and_start<C, E, A>(
    config: NodeConfig,
    path: PathBuf,
    open: fn(&Path) -> Result<RaftStore<C, E>, StoreError>,
    applier: A,
    apply_stage: Stage,
    stop: CancellationToken,
) -> Result<(Started<C, E>, Stages), StartError>
where
    C: Types,
    E: LogEvent,
    A: Apply<C, E>,
{
    let store = tokio::task::spawn_blocking(move || open(&path))
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))??;
    let stages = Stages::default();
    let applier = Timed::new(applier, stages.clone(), apply_stage);
    Ok((start(config, store, applier, stop).await?, stages))
}

/// Starts replica `config.id` on `store` with the state machine rules `applier`; its tasks
/// run until `stop`.
async fn start<C, E, A>(
    config: NodeConfig,
    store: RaftStore<C, E>,
    applier: A,
    stop: CancellationToken,
) -> Result<Started<C, E>, StartError>
where
    C: Types,
    E: LogEvent,
    A: Apply<C, E>,
{
    let book = AddressBook::new(book_of(&config.replicas));
    let http = toystore_http::client::http_client(config.rpc_timeout)?;
    let network = Network::<C>::new(http, config.token.clone(), book.clone());
    let transfers = network.transfer_counts();
    // Read from the storage before Raft starts: its metrics may lag behind.
    let pristine = crate::founding::standing(&store)
        .await
        .map_err(|e| StartError::Raft(format!("reading the vote and the log: {e}")))?
        .pristine();
    let restored = store.must_rejoin()?;
    let gate = Gate::new(!pristine && !restored, store.voter_floor()?);
    let raft = Raft::new(
        config.id,
        raft_config(&config.timing)?,
        network.clone(),
        store.log_store(),
        store.state_machine(applier),
    )
    .await
    .map_err(|e| StartError::Raft(e.to_string()))?;
    let mut tasks_before = Vec::new();
    let disk = Disk::new(store.path(), config.disk_reserve);
    let campaigning = Campaigning::new(raft.clone(), gate.clone(), disk.clone(), transfers.clone());
    if restored {
        campaigning.wait_for_leader();
    }
    campaigning.update();
    {
        let (raft, campaigning) = (raft.clone(), campaigning.clone());
        // A low disk stops the heartbeats: a leader that can take no writes lets the others
        // elect one that can (and learns of it once its disk is back). Nor does it campaign
        // (`crate::campaigning`).
        let on_change = move |low: bool| {
            raft.runtime_config().heartbeat(!low);
            campaigning.update();
        };
        tasks_before.push(tokio::spawn(crate::disk::watch(
            disk.clone(),
            on_change,
            stop.clone(),
        )));
    }
    let members = members_of(&config.replicas);
    let peers: Vec<ReplicaId> = members
        .keys()
        .copied()
        .filter(|id| *id != config.id)
        .collect();
    let raft_for_membership = raft.clone();
    let mut tasks = tasks_before;
    if pristine {
        let (raft, store, stop, gate) = (raft.clone(), store.clone(), stop.clone(), gate.clone());
        let campaigning = campaigning.clone();
        tasks.push(tokio::spawn(async move {
            match crate::founding::admit(raft, store, members, network, gate, stop).await {
                // Admitted (or stopping): it may campaign now if nothing else holds it off.
                Ok(()) => campaigning.update(),
                Err(e) => tracing::error!(error = %e, "could not take part in the Raft group"),
            }
        }));
    } else if restored {
        let (raft, store, network) = (raft.clone(), store.clone(), network.clone());
        let (stop, gate, campaigning) = (stop.clone(), gate.clone(), campaigning.clone());
        tasks.push(tokio::spawn(async move {
            let rejoined = crate::founding::rejoin_restored(
                raft,
                store,
                peers,
                network,
                gate,
                campaigning,
                stop,
            );
            if let Err(e) = rejoined.await {
                tracing::error!(error = %e, "could not take part in the Raft group");
            }
        }));
    }
    let (desired_tx, desired) = watch::channel(config.replicas.clone());
    // The membership task holds the sender (it ends when the sender is dropped), shared
    // with the file's watch if there is one.
    let desired_tx = Arc::new(desired_tx);
    if let Some(path) = config.watch.clone() {
        let (pick, tx) = (config.pick, desired_tx.clone());
        toystore_config::watch::watch_cluster_file(path, stop.clone(), move |c| {
            tx.send_replace(pick(&c));
        });
    }
    tasks.push(tokio::spawn(async move {
        crate::membership::follow(raft_for_membership, book, desired, config.pace, stop).await;
        drop(desired_tx);
    }));
    Ok(Started {
        node: Arc::new(Node {
            id: config.id,
            confirmer: Confirmer::start(raft.clone()),
            raft,
            store,
            transfers,
            gate,
            disk,
            campaigning,
        }),
        tasks,
    })
}
