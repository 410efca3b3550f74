//! [`Timed`]: a service's [`Apply`] with each apply's duration recorded as a stage of the buy
//! path ([`toystore_http::stages`]), the applied entries and replies left exactly as the
//! wrapped applier makes them.

use openraft::LogId;
use std::time::Duration;
use toystore_events::LogEvent;
use toystore_http::stages::{Stage, Stages};
use toystore_store::raft::{Apply, RaftTypes};
use toystore_store::{Batch, StoreError};

/// `applier`, timed as `stage` in `stages`.
#[derive(Debug, Clone)]
pub struct Timed<A> {
    applier: A,
    stages: Stages,
    stage: Stage,
}

impl<A> Timed<A> {
    /// Wraps `applier`; each apply is observed as `stage`.
    pub fn new(applier: A, stages: Stages, stage: Stage) -> Self {
        Self {
            applier,
            stages,
            stage,
        }
    }
}

impl<C: RaftTypes, E: LogEvent, A: Apply<C, E>> Apply<C, E> for Timed<A> {
    fn apply(
        &self,
        batch: &mut Batch<'_, E>,
        log_id: &LogId<C::NodeId>,
        data: &C::D,
    ) -> Result<C::R, StoreError> {
        self.applier.apply(batch, log_id, data)
    }

    fn apply_all(
        &self,
        batch: &mut Batch<'_, E>,
        entries: &[(&LogId<C::NodeId>, &C::D)],
    ) -> Result<Vec<C::R>, StoreError> {
        self.applier.apply_all(batch, entries)
    }

    fn reply_without_data(&self) -> C::R {
        self.applier.reply_without_data()
    }

    fn applied(&self, took: Duration) {
        self.stages.observe(self.stage, took);
        self.applier.applied(took);
    }
}
