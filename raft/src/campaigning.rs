//! [`Campaigning`]: whether a replica starts elections on its own, decided in one place.
//!
//! Under the `raft` policy a replica campaigns when its election timer runs out, unless
//! one of these holds, each of which would make a campaign depose a healthy leader or put a
//! replica that cannot serve at the head of the group:
//!
//! - it is not admitted to its group yet (`crate::founding`: a wiped or restored replica);
//! - it has not heard from a leader since it was admitted after a restore (its backup's
//!   membership still lists it as a voter, and its election timer ran out long ago);
//! - its disk is below the reserve (`crate::disk`: it takes no entries, so it would come
//!   back with a higher term);
//! - it is receiving a snapshot (its leader sends no heartbeats meanwhile).
//!
//! Every place that changes one of these calls [`Campaigning::update`], which sets
//! openraft's runtime switch from all of them together. Under the `frontend` policy it never
//! campaigns on its own, and nothing here changes that.

use crate::counts::Counts;
use crate::disk::Disk;
use crate::founding::Gate;
use crate::Types;
use openraft::Raft;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The inputs of a replica's decision to campaign, and the Raft handle it applies to.
pub struct Campaigning<C: Types> {
    raft: Raft<C>,
    /// Whether the policy lets replicas elect on their own (`raft`).
    elects: bool,
    gate: Gate,
    disk: Arc<Disk>,
    transfers: Arc<Counts>,
    /// Set while a restored replica waits to hear from its leader.
    waiting_for_leader: AtomicBool,
    /// Held from reading the inputs to setting the switch, so that two updates racing (a
    /// transfer ending as the disk goes low) cannot leave the older decision in place.
    deciding: std::sync::Mutex<()>,
}

impl<C: Types> Campaigning<C> {
    /// The decision for `raft`, whose configuration says whether it elects at all.
    pub fn new(raft: Raft<C>, gate: Gate, disk: Arc<Disk>, transfers: Arc<Counts>) -> Arc<Self> {
        let elects = raft.config().enable_elect;
        Arc::new(Self {
            raft,
            elects,
            gate,
            disk,
            transfers,
            waiting_for_leader: AtomicBool::new(false),
            deciding: std::sync::Mutex::new(()),
        })
    }

    /// Whether it may campaign now.
    fn allowed(&self) -> bool {
        self.elects
            && self.gate.is_open()
            && !self.waiting_for_leader.load(Ordering::Acquire)
            && !self.disk.is_low()
            && self.transfers.receiving.load(Ordering::Acquire) == 0
    }

    /// Sets openraft's switch from the inputs as they are now.
    pub fn update(&self) {
        let _deciding = self
            .deciding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.raft.runtime_config().elect(self.allowed());
    }

    /// Holds campaigns off until [`Campaigning::heard_from_leader`].
    pub fn wait_for_leader(&self) {
        self.waiting_for_leader.store(true, Ordering::Release);
        self.update();
    }

    /// A leader has been heard from: campaigns may go on (if nothing else holds them off).
    pub fn heard_from_leader(&self) {
        self.waiting_for_leader.store(false, Ordering::Release);
        self.update();
    }
}
