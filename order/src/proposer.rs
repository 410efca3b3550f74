//! The order replicas' [`Proposer`]: purchases batched into one [`Proposal`] per Raft entry
//! (`toystore_raft::proposer`, the group commit in front of Raft), each caller answered
//! with its purchase's [`Outcome`].

use crate::types::{OrderNode, OrderRaft, Outcome, Outcomes, Proposal};
use std::time::Duration;
use toystore_events::Purchase;
pub use toystore_raft::proposer::{ProposalMetrics, ProposeError};

/// Batches purchases into entries.
pub type Proposer = toystore_raft::proposer::Proposer<Purchase, Outcome>;

/// How purchases become an entry and its reply their outcomes.
const ENTRIES: toystore_raft::proposer::Entries<OrderRaft, Purchase, Outcome> =
    toystore_raft::proposer::Entries {
        entry: |purchases| Proposal { purchases },
        split: |Outcomes(outcomes)| outcomes,
    };

/// Starts the proposer of `raft` (call within a Tokio runtime): a proposal not committed
/// and applied within `timeout` fails its callers, and nothing is proposed while `disk` is
/// below its reserve.
pub fn start(
    raft: OrderNode,
    timeout: Duration,
    disk: std::sync::Arc<toystore_raft::disk::Disk>,
) -> Proposer {
    Proposer::start(raft, timeout, ENTRIES, disk)
}
