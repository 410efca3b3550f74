//! The generator: an order replica's redb file holding N orders, written directly through
//! the real Raft storage (`toystore_store::raft::RaftStore`) and the order state machine
//! (`toystore_order::apply::Orders`) — no HTTP, no catalog, no other replica, no Raft node.
//!
//! The file is the one a replica of a three-replica store holds after its Raft cluster
//! applied N purchases and took a snapshot, with its log purged behind it:
//!
//! - the state machine: the initial membership entry at log id 0 (term 0, as
//!   `Raft::initialize` writes it) with replicas 1, 2, 3 as voters at the addresses given
//!   ([`members`]); a blank entry at index 1 (the leader of term [`TERM`], replica
//!   [`LEADER`], commits one on election); then N purchases at indexes 2..=N+1, each
//!   applied by the order applier, which appends `OrderPlaced` (number n at seq n + 1) and
//!   its projection rows — so last applied = (term [`TERM`], node [`LEADER`], index N+1);
//! - a snapshot of it built by the storage's own `build_snapshot` (stored as current);
//! - the vote: term [`TERM`] for [`LEADER`], committed; committed = last applied;
//! - the Raft log purged up to last applied (`RaftLogStorage::purge`): no entry is left, so
//!   a replica that lags can only be brought up to date by installing the snapshot.
//!
//! All of it goes through openraft's storage traits (`RaftStateMachine::apply`,
//! `RaftSnapshotBuilder::build_snapshot`, `RaftLogStorage::save_vote`, `save_committed`,
//! `purge`): the entries are applied in batches of [`DEFAULT_BATCH`] (one group-commit
//! transaction, one durable commit each), which is what makes a million orders take
//! seconds, but they were never appended to the Raft log (they would be purged anyway).
//! The file is written with a large page cache ([`CACHE_BYTES`]); nothing of it depends on
//! the cache.
//! So `tools replay` finds the events consistent, `tools diff` finds copies of it equal to
//! what a replica installing its snapshot writes, and a real replica starts on it.
//!
//! The addresses in the membership only matter to a replica that does not find the peer in
//! the cluster file: a replica's network takes each peer's address from the cluster file
//! first (`toystore_raft::network`), so a file generated for other ports still works. The
//! orders look like real ones: a UUID request id (the front-end's format for a request
//! without an `Idempotency-Key`), a toy of the catalog's list, 1 to 5 units; they are a pure
//! function of the seed.

use anyhow::{bail, Context};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, RaftSnapshotBuilder, Vote,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};
use toystore_catalog::toys::TOYS;
use toystore_config::ReplicaId;
use toystore_events::Purchase;
use toystore_events::{InvalidInput, OrderEvent, OrderNumber, ProductName, Quantity, RequestId};
use toystore_order::apply::Orders as Applier;
use toystore_order::replica::OrderStore;
use toystore_order::types::{OrderRaft, Proposal};

/// The term in which the generated orders were placed (the vote's and the entries' term).
pub const TERM: u64 = 1;
/// The leader of that term: replica 3, which the measurement then starts with an empty
/// file, as if it had lost its disk.
pub const LEADER: ReplicaId = 3;
/// The generator's page cache: the request-id index of 10M orders (8 bytes each, about
/// 120 MB of pages) fits in it, so the applier's random index inserts stay in memory
/// where a service's 16 MiB cache would send most of them to the disk. A service opening
/// the file afterwards uses its own small cache.
pub const CACHE_BYTES: usize = 256 * 1024 * 1024;
/// Orders per write transaction, by default.
pub const DEFAULT_BATCH: usize = 250_000;

/// The membership of replicas `(id, address)`, all voters, as `order` initialises it from
/// the cluster file.
pub fn members(
    replicas: impl IntoIterator<Item = (ReplicaId, String)>,
) -> BTreeMap<ReplicaId, BasicNode> {
    replicas
        .into_iter()
        .map(|(id, addr)| (id, BasicNode::new(addr)))
        .collect()
}

/// Replicas 1, 2, 3 on placeholder loopback addresses (for files that are not served by a
/// cluster whose file names other addresses: see the module doc).
pub fn default_members() -> BTreeMap<ReplicaId, BasicNode> {
    members((1..=3).map(|id| (id, format!("127.0.0.1:{}", 7000 + id))))
}

/// A generated file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Generated {
    /// Orders written.
    pub orders: u64,
    /// From creating the file to closing it.
    pub elapsed: Duration,
    /// The file's size.
    pub file_bytes: u64,
    /// The events its snapshot covers (a snapshot is a reference to them, stored as its
    /// metadata and last sequence number).
    pub snapshot_events: u64,
    /// How long building that snapshot took (a reference: constant whatever N).
    pub snapshot_build: Duration,
    /// The last applied (and snapshot, and purged) log index: N + 1.
    pub last_index: u64,
}

/// The orders of a generated log, in order: a pure function of the seed.
pub struct Orders {
    rng: StdRng,
    next: u64,
    /// The catalog's toys, as names.
    toys: Vec<ProductName>,
    /// The quantities an order is drawn from (1 to 5).
    quantities: Vec<Quantity>,
}

impl Orders {
    /// The orders for `seed`, starting at order number 0.
    pub fn new(seed: u64) -> Result<Self, InvalidInput> {
        Ok(Self {
            rng: StdRng::seed_from_u64(seed),
            next: 0,
            toys: TOYS
                .iter()
                .map(|(name, _price)| ProductName::try_from(*name))
                .collect::<Result<_, _>>()?,
            quantities: (1..=5u32)
                .map(Quantity::try_from)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The next order (number 0, 1, 2, ...).
    pub fn next_order(&mut self) -> OrderEvent {
        let request_id = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
        let name = self.toys[self.rng.random_range(0..self.toys.len())].clone();
        let quantity = self.quantities[self.rng.random_range(0..self.quantities.len())];
        let order = OrderEvent::OrderPlaced {
            number: OrderNumber(self.next),
            request_id: RequestId::from(request_id),
            name,
            quantity,
        };
        self.next += 1;
        order
    }
}

/// What [`generate`] writes.
#[derive(Debug, Clone, Copy)]
pub struct Spec<'a> {
    /// How many orders.
    pub orders: u64,
    /// The seed the orders are drawn from ([`Orders`]).
    pub seed: u64,
    /// Orders applied per transaction.
    pub batch: usize,
    /// The cluster's voters.
    pub members: &'a BTreeMap<ReplicaId, BasicNode>,
}

/// Writes a new replica file at `path` holding `spec.orders` orders with `spec.members` as
/// the cluster's voters (see the module doc), applying `spec.batch` orders per transaction
/// and calling `progress` with the number applied after each. Refuses an existing `path`.
pub async fn generate(
    path: &Path,
    spec: Spec<'_>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<Generated> {
    let Spec {
        orders,
        seed,
        batch,
        members,
    } = spec;
    if path.exists() {
        bail!(
            "{} exists; the generator only writes new files",
            path.display()
        );
    }
    let started = Instant::now();
    let store: OrderStore = {
        let file = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            toystore_order::replica::open_store_with_cache(&file, CACHE_BYTES)
        })
        .await?
        .with_context(|| format!("creating {}", path.display()))?
    };
    let at = |index: u64| LogId::new(CommittedLeaderId::new(TERM, LEADER), index);
    let mut machine = store.state_machine(Applier);
    let voters: BTreeSet<ReplicaId> = members.keys().copied().collect();
    let first: Vec<Entry<OrderRaft>> = vec![
        Entry {
            log_id: LogId::default(),
            payload: EntryPayload::Membership(Membership::new(vec![voters], members.clone())),
        },
        Entry {
            log_id: at(1),
            payload: EntryPayload::Blank,
        },
    ];
    machine
        .apply(first)
        .await
        .with_context(|| format!("applying the membership to {}", path.display()))?;
    let mut source = Orders::new(seed)?;
    let batch = batch.max(1) as u64;
    let mut written = 0;
    while written < orders {
        let entries: Vec<Entry<OrderRaft>> = (0..batch.min(orders - written))
            .map(|i| {
                let OrderEvent::OrderPlaced {
                    request_id,
                    name,
                    quantity,
                    ..
                } = source.next_order();
                Entry {
                    log_id: at(written + i + 2),
                    payload: EntryPayload::Normal(Proposal {
                        purchases: vec![Purchase {
                            request_id,
                            name,
                            quantity,
                        }],
                    }),
                }
            })
            .collect();
        written += entries.len() as u64;
        machine
            .apply(entries)
            .await
            .with_context(|| format!("applying orders to {}", path.display()))?;
        progress(written);
    }
    let last = at(orders + 1);
    // The applies above commit lazily; make them durable first, so the build's time is the
    // build's own (its one durable write would otherwise flush the whole generation).
    store
        .event_log()
        .execute(|b| Ok(b.last_seq()))
        .await
        .with_context(|| format!("syncing {}", path.display()))?;
    let building = std::time::Instant::now();
    let snapshot = machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .with_context(|| format!("building the snapshot of {}", path.display()))?;
    let snapshot_build = building.elapsed();
    let snapshot_events = snapshot.snapshot.last_seq().0;
    if snapshot.meta.last_log_id != Some(last) {
        bail!(
            "{}: the snapshot covers {:?}, not {last}",
            path.display(),
            snapshot.meta.last_log_id
        );
    }
    let mut log = store.log_store();
    log.save_vote(&Vote::new_committed(TERM, LEADER))
        .await
        .with_context(|| format!("saving the vote of {}", path.display()))?;
    log.save_committed(Some(last))
        .await
        .with_context(|| format!("saving the committed index of {}", path.display()))?;
    log.purge(last)
        .await
        .with_context(|| format!("purging the log of {}", path.display()))?;
    let seq = store.event_log().last_seq().0;
    if seq != orders {
        bail!(
            "{}: applied {orders} orders but the log ends at {seq}",
            path.display()
        );
    }
    drop((machine, log, snapshot));
    tokio::task::spawn_blocking(move || drop(store)).await?;
    let elapsed = started.elapsed();
    let file_bytes = std::fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    Ok(Generated {
        orders,
        elapsed,
        file_bytes,
        snapshot_events,
        snapshot_build,
        last_index: orders + 1,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn orders_are_realistic_and_a_function_of_the_seed() {
        let a: Vec<OrderEvent> = {
            let mut o = Orders::new(7).unwrap();
            (0..50).map(|_| o.next_order()).collect()
        };
        let mut b = Orders::new(7).unwrap();
        assert!(a.iter().all(|e| *e == b.next_order()));
        for (
            i,
            OrderEvent::OrderPlaced {
                number,
                request_id,
                name,
                quantity,
            },
        ) in a.iter().enumerate()
        {
            assert_eq!(number.get(), i as u64);
            assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
            assert!(TOYS.iter().any(|(t, _)| *name == **t));
            assert!((1..=5).contains(&quantity.get()));
        }
        assert_ne!(a[0], Orders::new(8).unwrap().next_order());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_generated_file_replays_consistently_and_is_a_snapshotted_raft_replica() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order-1.redb");
        let members = default_members();
        let spec = |orders| Spec {
            orders,
            seed: 1,
            batch: 500,
            members: &members,
        };
        let generated = generate(&path, spec(1234), &|_| {}).await.unwrap();
        assert_eq!((generated.orders, generated.last_index), (1234, 1235));
        assert!(generated.file_bytes > 0 && generated.snapshot_events == 1234);
        assert!(
            generate(&path, spec(1), &|_| {}).await.is_err(),
            "refuses an existing file"
        );

        let report = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || crate::replay::replay_file(&path))
                .await
                .unwrap()
                .unwrap()
        };
        assert!(report.consistent(), "{}", report.to_text());
        assert_eq!((report.events, report.last_seq), (1234, 1234));

        let store = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || toystore_order::replica::open_store(&path))
                .await
                .unwrap()
                .unwrap()
        };
        let last = LogId::new(CommittedLeaderId::new(TERM, LEADER), 1235);
        let mut log = store.log_store();
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(Vote::new_committed(TERM, LEADER))
        );
        let state = log.get_log_state().await.unwrap();
        assert_eq!(
            (state.last_purged_log_id, state.last_log_id),
            (Some(last), Some(last)),
            "the log is purged up to the snapshot"
        );
        let mut machine = store.state_machine(Applier);
        let (applied, membership) = machine.applied_state().await.unwrap();
        assert_eq!(applied, Some(last));
        let voters: Vec<ReplicaId> = membership.membership().voter_ids().collect();
        assert_eq!(voters, vec![1, 2, 3]);
        let snapshot = machine.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(snapshot.meta.last_log_id, Some(last));
        assert_eq!(snapshot.snapshot.last_seq().0, generated.snapshot_events);
        assert_eq!(store.event_log().last_seq().0, 1234);
        drop((log, machine, snapshot));
        tokio::task::spawn_blocking(move || drop(store))
            .await
            .unwrap();
    }
}
