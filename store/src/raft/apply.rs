//! [`Apply`]: what the application's log entries do to the state machine.
//!
//! The storage applies committed entries inside one group-commit write transaction: for a
//! normal entry it calls [`Apply::apply`] with the transaction's [`Batch`] (read the
//! projection, append events), and in the same transaction it records the last applied log id
//! and, for a membership entry, the membership. So an entry's events, their projection rows and
//! "applied up to here" commit together or not at all, before openraft hears the replies,
//! without an fsync of their own: the entries are durable in the Raft log, and the next
//! durable commit (at most `SYNC_BEHIND` later) persists the apply.

use super::RaftTypes;
use crate::{Batch, StoreError};
use openraft::LogId;
use toystore_events::LogEvent;

/// The application's state machine logic: what a normal entry's data does.
///
/// It must be deterministic: every replica applies the same entries in the same order and must
/// end with byte-identical events. It runs on the writer thread, so it must not block on
/// anything but the transaction, and must not hold a handle of the store it is applied to
/// (the store closes when its last handle drops).
///
/// An `Err` is a storage failure, not a business answer: it aborts the whole group commit and
/// openraft stops the node. Business outcomes (e.g. "request id already placed") belong in
/// `C::R`.
pub trait Apply<C: RaftTypes, E: LogEvent>: Send + Sync + 'static {
    /// Applies the data of the normal entry at `log_id` inside the open transaction and
    /// returns the reply openraft hands back to the client that proposed it.
    fn apply(
        &self,
        batch: &mut Batch<'_, E>,
        log_id: &LogId<C::NodeId>,
        data: &C::D,
    ) -> Result<C::R, StoreError>;

    /// Applies consecutive normal entries, in order, as `apply` of each does (the default),
    /// returning one reply per entry. An implementation may read and append for all of them
    /// at once; the result must be exactly that of applying them one by one.
    fn apply_all(
        &self,
        batch: &mut Batch<'_, E>,
        entries: &[(&LogId<C::NodeId>, &C::D)],
    ) -> Result<Vec<C::R>, StoreError> {
        entries
            .iter()
            .map(|(log_id, data)| {
                self.apply(batch, log_id, data)
                    .map_err(|e| StoreError::Apply {
                        index: log_id.index,
                        source: Box::new(e),
                    })
            })
            .collect()
    }

    /// The reply for an entry without application data (a blank entry, or a membership change,
    /// whose reply `Raft::change_membership` returns).
    fn reply_without_data(&self) -> C::R;

    /// Hears how long one apply of committed entries took, from its queueing on the writer
    /// to its transaction's commit (for the application's metrics; nothing by default).
    fn applied(&self, _took: std::time::Duration) {}
}
