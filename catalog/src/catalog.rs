//! [`Catalog`]: one catalog replica's operations on top of its Raft node.
//!
//! - **Writes** (leader only): a buy, a restock or the seed is a Raft entry ([`Command`]),
//!   decided when it is applied ([`crate::rules`]), identically on every replica; the
//!   caller hears the applied outcome once the entry is committed on a majority. A write not
//!   committed within the write timeout is [`CatalogError::Unavailable`]: nothing is
//!   acknowledged, and a retried buy under the same request id is a replay, never a second
//!   sale.
//! - **Reads** (leader only): after `ensure_linearizable` (a quorum confirms the leadership
//!   and everything committed is applied), from the local projection; a product's value and
//!   the sequence number it is current at come from one read transaction.
//! - A non-leader answers [`CatalogError::NotLeader`] with the leader it knows of.
//! - **Local reads** ([`Catalog::local_products`], [`Catalog::purchases`]) read this
//!   replica's applied state without asking anyone: for metrics and tools only.

use crate::projection::{PURCHASES, STOCK};
use crate::rules::{decide_on, stored_name, BuyOutcome, Decision};
use crate::toys::TOYS;
use crate::types::{CatalogRaft, Command, Reply};
use std::sync::Arc;
use std::time::Duration;
use toystore_catalog_api::Product;
use toystore_events::{CatalogEvent, ProductName, Purchase, Seq};
use toystore_http::stages::{Stage, Stages};
use toystore_raft::leadership::{written, Unconfirmed};
use toystore_raft::proposer::{Entries, Proposer};
use toystore_raft::Node;
use toystore_raft_api::ReplicaStatus;
use toystore_store::{EventLog, StoreError};

/// Errors of catalog operations (not outcomes like "sold out", see [`BuyOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This replica does not lead; the leader it knows of.
    #[error("not the leader")]
    NotLeader {
        /// The leader it names, if any.
        leader: Option<toystore_config::ReplicaId>,
    },
    /// Not committed or confirmed in time, no quorum, or Raft stopped.
    #[error("{0}")]
    Unavailable(String),
}

impl From<Unconfirmed> for CatalogError {
    fn from(e: Unconfirmed) -> Self {
        match e {
            Unconfirmed::NotLeader { leader } => CatalogError::NotLeader { leader },
            Unconfirmed::Unavailable(m) => CatalogError::Unavailable(m),
        }
    }
}

/// The replica's Raft node.
pub type CatalogNode = Node<CatalogRaft, CatalogEvent>;

/// One catalog replica.
pub struct Catalog {
    node: Arc<CatalogNode>,
    stock: u32,
    write_timeout: Duration,
    /// Batches the leader's concurrent buys into entries.
    buys: Proposer<Purchase, BuyOutcome>,
    /// The buy path's stages this replica times.
    stages: Stages,
}

/// How buys become an entry and its reply their outcomes.
const BUYS: Entries<CatalogRaft, Purchase, BuyOutcome> = Entries {
    entry: Command::Buy,
    split: |reply| match reply {
        Reply::Bought(outcomes) => outcomes,
        // The wrong kind of reply has no outcome: the proposal fails (`one_each`).
        _ => Vec::new(),
    },
};

impl Catalog {
    /// A catalog on Raft node `node`: toys start with and are restocked to `stock` units;
    /// a write waits `write_timeout` for its commit; its buys are timed in `stages`. Starts
    /// its proposer: call within a Tokio runtime.
    pub fn new(
        node: Arc<CatalogNode>,
        stock: u32,
        write_timeout: Duration,
        stages: Stages,
    ) -> Self {
        let buys = Proposer::start(
            node.raft().clone(),
            write_timeout,
            BUYS,
            node.disk().clone(),
        );
        Self {
            node,
            stock,
            write_timeout,
            buys,
            stages,
        }
    }

    /// The buy proposer's measurements (shared handles: register them to export them).
    pub fn proposal_metrics(&self) -> &toystore_raft::proposer::ProposalMetrics {
        self.buys.metrics()
    }

    /// The buy path's stages this replica times (shared handles: register them to export).
    pub fn stages(&self) -> &Stages {
        &self.stages
    }

    /// The Raft node (for its routes).
    pub fn node(&self) -> &Arc<CatalogNode> {
        &self.node
    }

    /// The event log (for streaming it to subscribers; reads only).
    pub fn log(&self) -> &Arc<EventLog<CatalogEvent>> {
        self.node.store().event_log()
    }

    /// What the replica says about itself; `ready` also needs the toys to be there (the
    /// seed applied), so a ready catalog can sell.
    pub fn status(&self) -> ReplicaStatus {
        let mut status = self.node.status();
        status.ready &= status.last_seq > Seq::ZERO;
        status
    }

    /// One product and the sequence number its value is current at (leader only).
    pub async fn product(
        &self,
        name: &ProductName,
    ) -> Result<(Option<Product>, Seq), CatalogError> {
        self.confirm().await?;
        let tables = self.log().read()?;
        let seq = tables.last_seq()?;
        let product = tables
            .open(STOCK)?
            .get(name.as_str())?
            .map(|(price, quantity)| Product {
                name: name.clone(),
                price,
                quantity,
            });
        Ok((product, seq))
    }

    /// Every product, sorted by name, and the sequence number the list is current at
    /// (leader only).
    pub async fn products(&self) -> Result<(Vec<Product>, Seq), CatalogError> {
        self.confirm().await?;
        self.local_products()
    }

    /// Every product as this replica has applied them, without confirming anything.
    pub fn local_products(&self) -> Result<(Vec<Product>, Seq), CatalogError> {
        let tables = self.log().read()?;
        let seq = tables.last_seq()?;
        let mut products = Vec::new();
        for row in tables.open(STOCK)?.rows()? {
            let (name, (price, quantity)) = row?;
            products.push(Product {
                name: stored_name(name)?,
                price,
                quantity,
            });
        }
        Ok((products, seq))
    }

    /// How many purchases this replica has applied (one per request id, ever).
    pub fn purchases(&self) -> Result<u64, CatalogError> {
        Ok(self.log().read()?.open(PURCHASES)?.len()?)
    }

    /// Buys `quantity` of a toy, at most once per request id (leader only). Returns after
    /// the purchase is committed on a majority and applied.
    ///
    /// A buy this replica's state would answer without selling (a replay, a conflict, too
    /// few units, no such toy) is answered after confirming the leadership, without a Raft
    /// write (no fsync anywhere); everything committed before it is applied by then, so
    /// the answer is linearizable. Any other buy is decided by the state machine when its
    /// entry is applied. Timed as [`Stage::CatalogWrite`] on the leader.
    pub async fn buy(&self, req: Purchase) -> Result<BuyOutcome, CatalogError> {
        self.lead()?;
        self.stages
            .time(Stage::CatalogWrite, self.buy_led(req))
            .await
    }

    /// [`Catalog::buy`] once this replica found itself leading.
    async fn buy_led(&self, req: Purchase) -> Result<BuyOutcome, CatalogError> {
        if let Decision::Answer(_) = self.decide_here(&req)? {
            self.node.linearize(self.write_timeout).await?;
            if let Decision::Answer(outcome) = self.decide_here(&req)? {
                return Ok(outcome);
            }
        }
        Ok(self.buys.propose(req).await?)
    }

    /// The buy rule on this replica's applied state.
    fn decide_here(&self, req: &Purchase) -> Result<Decision, CatalogError> {
        let tables = self.log().read()?;
        let earlier = tables.open(PURCHASES)?.get(req.request_id.as_str())?;
        let stock = tables.open(STOCK)?.get(req.name.as_str())?;
        Ok(decide_on(req, earlier, |seq| tables.event(seq), stock)?)
    }

    /// Restocks every sold-out toy to the configured stock (leader only); returns the names
    /// restocked.
    pub async fn restock(&self) -> Result<Vec<ProductName>, CatalogError> {
        let command = Command::Restock {
            stock: self.stock,
            seen: self.log().last_seq(),
        };
        match self.write(command).await? {
            Reply::Restocked(names) => Ok(names),
            other => Err(unexpected(&other)),
        }
    }

    /// Whether this replica leads and has a sold-out toy (what the restock loop asks).
    pub fn leads_with_sold_out(&self) -> bool {
        self.node.leadership().is_ok()
            && self
                .local_products()
                .is_ok_and(|(products, _)| products.iter().any(|p| p.quantity == 0))
    }

    /// Seeds the catalog with [`TOYS`] if nothing is applied yet (leader only); returns
    /// how many toys were added (0 when another leader seeded first).
    pub async fn seed(&self) -> Result<u32, CatalogError> {
        let toys = TOYS
            .iter()
            .map(|(name, price)| {
                ProductName::try_from(*name)
                    .map(|n| (n, *price))
                    .map_err(|e| CatalogError::Unavailable(format!("a seed toy's name: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match self
            .write(Command::Seed {
                toys,
                stock: self.stock,
            })
            .await?
        {
            Reply::Seeded(n) => Ok(n),
            other => Err(unexpected(&other)),
        }
    }

    /// Confirms leadership (a quorum's, everything committed applied) within the write
    /// timeout.
    async fn confirm(&self) -> Result<(), CatalogError> {
        self.lead()?;
        Ok(self.node.linearize(self.write_timeout).await?)
    }

    /// [`CatalogError::NotLeader`] unless this replica leads.
    fn lead(&self) -> Result<(), CatalogError> {
        self.node
            .leadership()
            .map_err(|leader| CatalogError::NotLeader { leader })
    }

    /// Proposes `command` and waits for its applied reply; refused at once while the disk
    /// is below its reserve (`toystore_raft::disk`).
    async fn write(&self, command: Command) -> Result<Reply, CatalogError> {
        self.lead()?;
        self.node
            .disk()
            .check()
            .map_err(|low| CatalogError::Unavailable(low.to_string()))?;
        let answer =
            tokio::time::timeout(self.write_timeout, self.node.raft().client_write(command))
                .await
                .ok();
        Ok(written(answer)?.data)
    }
}

fn unexpected(reply: &Reply) -> CatalogError {
    tracing::error!(
        ?reply,
        "the state machine answered with another kind of reply"
    );
    CatalogError::Unavailable("unexpected reply from the state machine".into())
}
