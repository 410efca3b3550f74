//! The completer's checkpoint: where a replica's completer ([`crate::complete`]) resumes the
//! catalog's event stream after a restart, so start-up reads what the catalog recorded since
//! the replica last looked, not the catalog's whole history.
//!
//! **The rule** ([`checkpoint`]): the checkpoint is the highest catalog sequence number C
//! such that every `Purchased` at a seq <= C is known to have an order in this replica's
//! state machine: one below the oldest purchase still waiting for its order, or the last
//! event read when none waits. A purchase leaves the completer's memory only once the state
//! machine has recorded its request id (or the completion found the id taken by another
//! purchase, which no restart would change), so C never passes a purchase that still needs
//! completing.
//!
//! **Where it lives**: a row of its own (`completer` table, key `checkpoint` → `u64`) in the
//! replica's redb file, beside the events, written through the event log's group-commit
//! writer ([`save`], one durable transaction) at most once per completion check and only when
//! it moved. It is local: not replicated, not part of the projection (`OrderProjection::dump`,
//! and so `tools replay`, read only the projection's own tables, which a rebuild clears and
//! refills from the events), and a Raft snapshot install leaves it alone (an install rewrites
//! the events, the projection and Raft's own tables only). The durable write also makes the state machine's earlier applies durable
//! (they commit without an fsync of their own), so the orders C relies on survive a crash
//! whenever C does. A missing row (a new or wiped file, or one from before the checkpoint) is
//! seq 0: the whole catalog log is read again, as before.
//!
//! A catalog whose log ends before the checkpoint (its data was replaced) is noticed by the
//! completer from the stream's heartbeats (`CatalogClient::log_replaced`, the rule it shares
//! with the front-end); it then reads the catalog's
//! log again from the start. A replacement at least as long as the checkpoint is not noticed
//! (as for the front-end's cache): wipe the replicas' files with the catalog's.

use toystore_events::{LogEvent, Seq};
use toystore_store::{EventLog, StoreError, Table};

/// The completer's local table: [`KEY`] → the checkpoint (a catalog sequence number).
pub const COMPLETER: Table<&'static str, u64> = Table::new("completer");

/// The checkpoint's row in [`COMPLETER`].
pub const KEY: &str = "checkpoint";

/// The checkpoint rule: given the catalog sequence numbers of the purchases still waiting for
/// an order and the last event read, the highest seq up to which every purchase has one.
pub fn checkpoint(waiting: impl IntoIterator<Item = Seq>, last_read: Seq) -> Seq {
    match waiting.into_iter().min() {
        Some(oldest) => Seq(oldest.0.saturating_sub(1)).min(last_read),
        None => last_read,
    }
}

/// The stored checkpoint; seq 0 when none was ever stored (or the file has no such table).
pub fn load<E: LogEvent>(log: &EventLog<E>) -> Result<Seq, StoreError> {
    let stored = match log.read()?.open_if_exists(COMPLETER)? {
        Some(table) => table.get(KEY)?,
        None => None,
    };
    Ok(Seq(stored.unwrap_or(0)))
}

/// Stores `at` as the checkpoint (one durable group-commit transaction).
pub async fn save<E: LogEvent>(log: &EventLog<E>, at: Seq) -> Result<(), StoreError> {
    log.execute(move |batch| {
        batch.tables().open(COMPLETER)?.insert(KEY, at.0)?;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::OrderProjection;
    use toystore_events::OrderEvent;
    use toystore_store::Projection;

    fn seqs(v: &[u64]) -> Vec<Seq> {
        v.iter().copied().map(Seq).collect()
    }

    #[test]
    fn nothing_waiting_is_the_last_event_read() {
        assert_eq!(checkpoint(seqs(&[]), Seq(0)), Seq(0));
        assert_eq!(checkpoint(seqs(&[]), Seq(41)), Seq(41));
    }

    #[test]
    fn the_checkpoint_stops_just_below_the_oldest_purchase_waiting() {
        assert_eq!(checkpoint(seqs(&[7]), Seq(12)), Seq(6));
        assert_eq!(checkpoint(seqs(&[12, 7, 9]), Seq(12)), Seq(6));
        assert_eq!(checkpoint(seqs(&[12]), Seq(12)), Seq(11));
        // The catalog's first event waiting: nothing is known, 0.
        assert_eq!(checkpoint(seqs(&[1, 5]), Seq(5)), Seq(0));
    }

    #[test]
    fn the_checkpoint_never_passes_the_last_event_read() {
        // Cannot happen (a purchase waits only once read), but the rule stays below both.
        assert_eq!(checkpoint(seqs(&[20]), Seq(10)), Seq(10));
        assert_eq!(checkpoint(seqs(&[0]), Seq(10)), Seq(0));
    }

    #[tokio::test]
    async fn a_stored_checkpoint_survives_reopening_and_stays_out_of_the_projection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order.redb");
        let log: EventLog<OrderEvent> = EventLog::open(&path, OrderProjection).unwrap();
        let dump_before = OrderProjection.dump(&log.read().unwrap()).unwrap();
        assert_eq!(load(&log).unwrap(), Seq::ZERO, "none stored");
        assert_eq!(log.commits().durable, 0, "a load commits nothing");
        save(&log, Seq(41)).await.unwrap();
        save(&log, Seq(42)).await.unwrap();
        assert_eq!(load(&log).unwrap(), Seq(42));
        assert_eq!(log.commits().durable, 2, "one durable commit per save");
        assert_eq!(
            OrderProjection.dump(&log.read().unwrap()).unwrap(),
            dump_before
        );
        assert_eq!(log.last_seq(), Seq::ZERO, "no event appended");
        log.close();

        let log: EventLog<OrderEvent> = EventLog::open_existing(&path, OrderProjection).unwrap();
        assert_eq!(load(&log).unwrap(), Seq(42));
    }
}
