//! Helpers shared by the Raft storage tests: a test type configuration whose entries are
//! purchases, the order log's projection (orders by number, request id → number) and an
//! example applier with the order store's semantics.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use openraft::{BasicNode, Entry, EntryPayload, LogId, Membership};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use toystore_events::{OrderEvent, OrderNumber, ProductName, Quantity, RequestId, Seq};
use toystore_store::raft::{Apply, LogStore, RaftStore, StateMachine};
use toystore_store::{Batch, Check, Projection, ReadTables, StoreError, Table, WriteTables};

/// A purchase proposed through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// The idempotency key.
    pub request_id: String,
    /// The toy.
    pub product: String,
    /// Units.
    pub quantity: u32,
}

/// What applying an entry answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The purchase is order `number`; `new` is false when the request id was already placed.
    Placed {
        /// The order number.
        number: u64,
        /// Whether this entry placed it.
        new: bool,
    },
    /// A blank or membership entry.
    Nothing,
}

openraft::declare_raft_types!(
    /// The test type configuration.
    pub TestConfig:
        D = Purchase,
        R = Reply,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TestConfig>,
        SnapshotData = toystore_store::raft::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// number → (name, quantity).
pub const ORDERS: Table<u64, (&'static str, u32)> = Table::new("orders");
/// request id → order number.
pub const REQUESTS: Table<&'static str, u64> = Table::new("requests");

/// The order log's projection (as the order crate has it).
#[derive(Debug, Default, Clone, Copy)]
pub struct Orders;

impl Projection<OrderEvent> for Orders {
    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.open(ORDERS)?;
        tables.open(REQUESTS)?;
        Ok(())
    }

    fn apply(
        &self,
        tables: &WriteTables<'_>,
        seq: Seq,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        let OrderEvent::OrderPlaced {
            number,
            request_id,
            name,
            quantity,
        } = event;
        if number.0.checked_add(1) != Some(seq.0) {
            return Err(StoreError::Projection {
                table: "orders",
                message: format!("order {number} at seq {seq}"),
            });
        }
        tables
            .open(ORDERS)?
            .insert(number.0, (name.as_str(), quantity.get()))?;
        if tables
            .open(REQUESTS)?
            .insert(request_id.as_str(), number.0)?
            .is_some()
        {
            return Err(StoreError::Projection {
                table: "requests",
                message: format!("request id {request_id} placed twice"),
            });
        }
        Ok(())
    }

    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.reset(ORDERS)?;
        tables.reset(REQUESTS)
    }

    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for row in tables.open(ORDERS)?.rows()? {
            let (k, (name, quantity)) = row?;
            out.push(format!("order {} {name} {quantity}", k));
        }
        for row in tables.open(REQUESTS)?.rows()? {
            let (k, v) = row?;
            out.push(format!("request {} {}", k, v));
        }
        Ok(out)
    }

    /// Rebuilds both tables in memory (tests' logs are small) and compares them row by row.
    fn check(
        &self,
        tables: &ReadTables,
        events: &mut dyn Iterator<Item = Result<(Seq, OrderEvent), StoreError>>,
    ) -> Result<Check, StoreError> {
        let mut check = Check::default();
        let mut orders = BTreeMap::new();
        let mut requests = BTreeMap::new();
        check.replay(events, |seq, event| {
            let OrderEvent::OrderPlaced {
                number,
                request_id,
                name,
                quantity,
            } = event;
            if number.0.checked_add(1) != Some(seq.0) {
                return Err(format!("order {number} at seq {seq}"));
            }
            if requests.insert(request_id.to_string(), number.0).is_some() {
                return Err(format!("request id {request_id} placed twice"));
            }
            orders.insert(number.0, (name.to_string(), quantity.get()));
            Ok(())
        })?;
        check.compare_sorted(
            "orders",
            tables.open(ORDERS)?.rows()?,
            orders,
            |k, (name, quantity)| format!("order {k} {name} {quantity}"),
        )?;
        check.compare_sorted(
            "requests",
            tables.open(REQUESTS)?.rows()?,
            requests,
            |k, v| format!("request {k} {v}"),
        )?;
        Ok(check)
    }
}

/// The example applier: a purchase becomes order number "orders so far"; a request id already
/// placed answers its number and adds nothing. A purchase of 0 units is refused as a storage
/// error (only so tests can see a failing apply write nothing).
#[derive(Debug, Default, Clone, Copy)]
pub struct Purchases;

impl Apply<TestConfig, OrderEvent> for Purchases {
    fn apply(
        &self,
        batch: &mut Batch<'_, OrderEvent>,
        _log_id: &LogId<u64>,
        data: &Purchase,
    ) -> Result<Reply, StoreError> {
        let known = batch
            .tables()
            .open(REQUESTS)?
            .get(data.request_id.as_str())?;
        if let Some(number) = known {
            return Ok(Reply::Placed { number, new: false });
        }
        // A purchase of 0 units (which the tests use to make an apply fail) is no purchase.
        let invalid = |e: toystore_events::InvalidInput| StoreError::Projection {
            table: "orders",
            message: format!("an invalid purchase: {e}"),
        };
        let number = batch.last_seq().0;
        batch.append(&OrderEvent::OrderPlaced {
            number: OrderNumber(number),
            request_id: RequestId::try_from(data.request_id.as_str()).map_err(invalid)?,
            name: ProductName::try_from(data.product.as_str()).map_err(invalid)?,
            quantity: Quantity::try_from(data.quantity).map_err(invalid)?,
        })?;
        Ok(Reply::Placed { number, new: true })
    }

    fn reply_without_data(&self) -> Reply {
        Reply::Nothing
    }
}

/// The store type of these tests.
pub type Store = RaftStore<TestConfig, OrderEvent>;
/// Its log half.
pub type Log = LogStore<TestConfig, OrderEvent>;
/// Its state machine half.
pub type Machine = StateMachine<TestConfig, OrderEvent, Purchases>;

/// Opens (creating) a replica file.
pub fn open(path: &Path) -> Store {
    RaftStore::open(path, Orders).expect("open raft store")
}

/// Log id (term, node 1, index).
pub fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(openraft::CommittedLeaderId::new(term, 1), index)
}

/// A purchase entry.
pub fn purchase(term: u64, index: u64, request_id: &str, quantity: u32) -> Entry<TestConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Purchase {
            request_id: request_id.to_string(),
            product: format!("toy{}", index % 5),
            quantity,
        }),
    }
}

/// A blank entry.
pub fn blank(term: u64, index: u64) -> Entry<TestConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

/// A membership entry with voters `voters`.
pub fn membership(term: u64, index: u64, voters: &[u64]) -> Entry<TestConfig> {
    let voters: BTreeSet<u64> = voters.iter().copied().collect();
    let nodes: BTreeMap<u64, BasicNode> = voters
        .iter()
        .map(|&id| (id, BasicNode::new(format!("127.0.0.1:{}", 9000 + id))))
        .collect();
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![voters], nodes)),
    }
}

/// Every event of the store as stored bytes.
pub fn raw_events(store: &Store) -> Vec<(Seq, Vec<u8>)> {
    store
        .event_log()
        .read_raw_after(Seq::ZERO)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Every event of the store, decoded.
pub fn events(store: &Store) -> Vec<(Seq, OrderEvent)> {
    store
        .event_log()
        .read_after(Seq::ZERO)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The projection's rows.
pub fn dump(store: &Store) -> Vec<String> {
    let tables = store.event_log().read().unwrap();
    store.event_log().projection().dump(&tables).unwrap()
}
