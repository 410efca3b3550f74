//! The order rules' refusals, as types, and the API crate's [`Refusal`] each one travels as
//! (its status is written there, once; the typed client turns it back into a
//! `toystore_order_api::CallError`).

use toystore_config::ReplicaId;
use toystore_order_api::Refusal;

/// Why a purchase was not placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// This replica does not lead; `leader` is the one it knows of, if any.
    #[error("not the leader")]
    NotLeader {
        /// The leader this replica knows of.
        leader: Option<ReplicaId>,
    },
    /// The request id names a different purchase.
    #[error("idempotency key reused for a different order")]
    KeyReused,
    /// The catalog has no such toy.
    #[error("product not found")]
    ProductNotFound,
    /// The catalog has too few units.
    #[error("insufficient stock")]
    InsufficientStock,
    /// The catalog refused the purchase as malformed.
    #[error("{0}")]
    Invalid(String),
    /// The catalog could not be reached.
    #[error("catalog unavailable")]
    CatalogUnavailable,
    /// The entry was not committed in time (no majority), or Raft stopped.
    #[error("{0}")]
    Unavailable(String),
}

impl PlaceError {
    /// The refusal this travels as.
    pub fn refusal(&self) -> Refusal {
        match self {
            PlaceError::NotLeader { .. } => Refusal::NotLeader,
            PlaceError::KeyReused => Refusal::KeyReused,
            PlaceError::ProductNotFound => Refusal::NotFound,
            PlaceError::InsufficientStock => Refusal::InsufficientStock,
            PlaceError::Invalid(_) => Refusal::BadRequest,
            PlaceError::CatalogUnavailable | PlaceError::Unavailable(_) => Refusal::Unavailable,
        }
    }
}

impl From<crate::proposer::ProposeError> for PlaceError {
    /// The proposer's refusal as the purchase's.
    fn from(e: crate::proposer::ProposeError) -> Self {
        use crate::proposer::ProposeError;
        match e {
            ProposeError::NotLeader { leader } => PlaceError::NotLeader { leader },
            ProposeError::Unavailable(m) => PlaceError::Unavailable(m),
        }
    }
}

/// Why an order could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// This replica does not lead (or could not confirm it still does).
    #[error("not the leader")]
    NotLeader {
        /// The leader this replica knows of.
        leader: Option<ReplicaId>,
    },
    /// No order has this number.
    #[error("order not found")]
    NotFound,
    /// Leadership could not be confirmed in time.
    #[error("{0}")]
    Unavailable(String),
    /// The replica's storage failed.
    #[error("storage error: {0}")]
    Storage(#[from] toystore_store::StoreError),
}

impl From<toystore_raft::leadership::Unconfirmed> for ReadError {
    fn from(e: toystore_raft::leadership::Unconfirmed) -> Self {
        use toystore_raft::leadership::Unconfirmed;
        match e {
            Unconfirmed::NotLeader { leader } => ReadError::NotLeader { leader },
            Unconfirmed::Unavailable(m) => ReadError::Unavailable(m),
        }
    }
}

impl ReadError {
    /// The refusal this travels as; `None` for a storage failure (an internal error, 500).
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            ReadError::NotLeader { .. } => Some(Refusal::NotLeader),
            ReadError::NotFound => Some(Refusal::NotFound),
            ReadError::Unavailable(_) => Some(Refusal::Unavailable),
            ReadError::Storage(_) => None,
        }
    }
}
