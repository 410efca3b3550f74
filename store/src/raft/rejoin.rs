//! What a replica's file remembers of its rejoining a running group (docs/DESIGN.md,
//! "Initial membership, and a replica that lost its log"): the mark of a file restored for
//! one replica of a running group ([`RaftStore::must_rejoin`]), and the *voter floor*
//! ([`RaftStore::voter_floor`]).
//!
//! A replica that lost its log (wiped, or restored from a backup) is taken out of its
//! group's voters by the leader before it takes part, then added back as a learner and made
//! a voter once caught up. While it catches up, its log replays the group's older
//! membership entries, which still list it as a voter: by its own log it would look like
//! a voter long before the group counts on it again. The floor is the index of the
//! leader's committed membership entry that held it as no voter when it was admitted; only
//! a membership entry above it can make it a voter again. Kept in the file, it holds across
//! a restart in the middle of the catch-up.

use super::tables::{self, STATE};
use super::{RaftStore, RaftTypes};
use crate::StoreError;
use toystore_events::LogEvent;

/// `STATE`: present (true) while a file restored for one replica of a running group has not
/// been taken out of its group's voters yet.
pub(super) const REJOIN: &str = "rejoin";

/// `STATE`: the voter floor, once the replica has rejoined.
const VOTER_FLOOR: &str = "voter_floor";

impl<C: RaftTypes, E: LogEvent> RaftStore<C, E> {
    /// Whether this file was restored for one replica of a running group and has not been
    /// taken out of its voters since: it must neither vote nor campaign until it has.
    pub fn must_rejoin(&self) -> Result<bool, StoreError> {
        let tx = self.shared.log.begin_read()?;
        let state = tx.open_table(STATE)?;
        Ok(tables::get::<bool, _>(&state, REJOIN)?.unwrap_or(false))
    }

    /// The group's leader holds this replica as no voter, in its committed membership entry
    /// at index `floor`: records `floor` as the [`RaftStore::voter_floor`] and clears the
    /// [`RaftStore::must_rejoin`] mark, in one durable transaction.
    pub async fn rejoined(&self, floor: u64) -> Result<(), StoreError> {
        self.shared
            .log
            .execute(move |b| {
                let mut state = b.tx().open_table(STATE)?;
                state.remove(REJOIN)?;
                tables::put(&mut state, VOTER_FLOOR, &floor)?;
                Ok(())
            })
            .await
    }

    /// The index of the membership entry that held this replica as no voter when it last
    /// rejoined its group (`None`: it never had to): a membership at or below it is older
    /// than the replica's return and does not make it a voter.
    pub fn voter_floor(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.shared.log.begin_read()?;
        let state = tx.open_table(STATE)?;
        tables::get::<u64, _>(&state, VOTER_FLOOR)
    }
}
