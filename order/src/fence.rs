//! The fence: the newest epoch a replica has seen and its leader, kept durably in the
//! replica's redb file (table `fence`, beside the log, not part of it), so that a restarted
//! replica still refuses a leader older than one it had accepted.
//!
//! Beside it, `last_epoch`: the epoch of the leader from which the replica's last entry
//! came (written in the same transaction as the entries). A log with a higher
//! `(last_epoch, last_seq)` is more up to date; a new leader takes the most up-to-date log
//! of a majority before it leads, so it holds every acknowledged order.

use toystore_events::OrderEvent;
use toystore_store::redb::{ReadableTable, TableDefinition, TableError, WriteTransaction};
use toystore_store::{EventLog, StoreError};

const FENCE: TableDefinition<'static, &'static str, u64> = TableDefinition::new("fence");

/// An epoch and its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fence {
    /// The newest epoch seen (0: none).
    pub epoch: u64,
    /// Its leader.
    pub leader: Option<u32>,
}

/// Reads the fence (the default if none was ever written).
pub fn load(log: &EventLog<OrderEvent>) -> Result<Fence, StoreError> {
    let tx = log.begin_read()?;
    let table = match tx.open_table(FENCE) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(Fence::default()),
        Err(e) => return Err(e.into()),
    };
    let epoch = table.get("epoch")?.map(|v| v.value()).unwrap_or(0);
    let leader = table
        .get("leader")?
        .and_then(|v| u32::try_from(v.value()).ok());
    Ok(Fence { epoch, leader })
}

/// The epoch of the leader the log's last entry came from (0 if none was written).
pub fn last_epoch(log: &EventLog<OrderEvent>) -> Result<u64, StoreError> {
    let tx = log.begin_read()?;
    let table = match tx.open_table(FENCE) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let epoch = table.get("last_epoch")?.map(|v| v.value()).unwrap_or(0);
    Ok(epoch)
}

/// The epoch of the last entry as seen inside a write transaction.
pub fn last_epoch_in(tx: &WriteTransaction) -> Result<u64, StoreError> {
    let table = tx.open_table(FENCE)?;
    let epoch = table.get("last_epoch")?.map(|v| v.value()).unwrap_or(0);
    Ok(epoch)
}

/// Records, inside the transaction that appends entries, the epoch they came from.
pub fn set_last_epoch_in(tx: &WriteTransaction, epoch: u64) -> Result<(), StoreError> {
    tx.open_table(FENCE)?.insert("last_epoch", epoch)?;
    Ok(())
}

/// The fence's epoch as seen inside a write transaction (0 if none was written).
pub fn epoch_in(tx: &WriteTransaction) -> Result<u64, StoreError> {
    let table = tx.open_table(FENCE)?;
    let epoch = table.get("epoch")?.map(|v| v.value()).unwrap_or(0);
    Ok(epoch)
}

/// Writes the fence durably (returns after the commit).
pub async fn store(log: &EventLog<OrderEvent>, fence: Fence) -> Result<(), StoreError> {
    log.execute(move |b| {
        let mut table = b.tx().open_table(FENCE)?;
        table.insert("epoch", fence.epoch)?;
        match fence.leader {
            Some(id) => table.insert("leader", u64::from(id))?,
            None => table.remove("leader")?,
        };
        Ok(())
    })
    .await
}
