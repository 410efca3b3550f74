//! [`Seq`]: the position of an event in a log.
//!
//! Sequence numbers are assigned by the log, start at 1 and increase by one per event with no
//! gaps. `Seq::ZERO` is the position before the first event.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The position of an event in one service's log. Gap-free, increasing, first event is 1.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    /// The position before the first event: an empty log's last sequence number.
    pub const ZERO: Seq = Seq(0);

    /// The sequence number that follows this one.
    pub fn next(self) -> Seq {
        Seq(self.0 + 1)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Seq {
    fn from(v: u64) -> Self {
        Seq(v)
    }
}
