//! [`Refusal`]: why a replica refused a call, and the HTTP status each refusal travels as.
//! The replica's server answers with [`Refusal::status`]; its client reads the status back
//! with [`Refusal::from_status`]. This is the only place those statuses are written.

use http::StatusCode;

/// Why a replica refused to place or read an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request was malformed, or the catalog found it so (400).
    BadRequest,
    /// No such toy (a purchase) or order (a read) (404).
    NotFound,
    /// Too few units in stock (409).
    InsufficientStock,
    /// This replica does not lead (421, misdirected request); the leader it knows of, if
    /// any, is named in [`crate::LEADER_HEADER`].
    NotLeader,
    /// The request id names a different purchase (422).
    KeyReused,
    /// Not now: no majority, the catalog unreachable, Raft stopped; retry (503).
    Unavailable,
}

impl Refusal {
    /// Every refusal, for tests and tables.
    pub const ALL: [Refusal; 6] = [
        Refusal::BadRequest,
        Refusal::NotFound,
        Refusal::InsufficientStock,
        Refusal::NotLeader,
        Refusal::KeyReused,
        Refusal::Unavailable,
    ];

    /// The HTTP status the refusal travels as.
    pub const fn status(self) -> StatusCode {
        match self {
            Refusal::BadRequest => StatusCode::BAD_REQUEST,
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::InsufficientStock => StatusCode::CONFLICT,
            Refusal::NotLeader => StatusCode::MISDIRECTED_REQUEST,
            Refusal::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The refusal a status stands for, if it stands for one.
    pub fn from_status(status: u16) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.status().as_u16() == status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_has_its_own_status() {
        for refusal in Refusal::ALL {
            assert_eq!(
                Refusal::from_status(refusal.status().as_u16()),
                Some(refusal)
            );
        }
        assert_eq!(Refusal::from_status(200), None);
        assert_eq!(Refusal::from_status(500), None);
    }
}
