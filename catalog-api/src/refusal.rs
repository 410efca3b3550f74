//! [`BuyRefusal`]: why the catalog refuses a purchase, and the HTTP status each refusal
//! travels as. The catalog's server answers with [`BuyRefusal::status`] and
//! [`BuyRefusal::message`]; a caller reads a refusal back with [`BuyRefusal::of`]. This is
//! the only place those statuses are written.

use http::StatusCode;
use toystore_http::client::ClientError;

/// Why the catalog did not sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuyRefusal {
    /// No toy has this name (404).
    ProductNotFound,
    /// Too few units in stock (409).
    InsufficientStock,
    /// The request id already bought something else (422).
    KeyReused,
}

impl BuyRefusal {
    /// Every refusal, for tests and tables.
    pub const ALL: [BuyRefusal; 3] = [
        BuyRefusal::ProductNotFound,
        BuyRefusal::InsufficientStock,
        BuyRefusal::KeyReused,
    ];

    /// The HTTP status the refusal travels as.
    pub const fn status(self) -> StatusCode {
        match self {
            BuyRefusal::ProductNotFound => StatusCode::NOT_FOUND,
            BuyRefusal::InsufficientStock => StatusCode::CONFLICT,
            BuyRefusal::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// The error message the catalog sends with it.
    pub const fn message(self) -> &'static str {
        match self {
            BuyRefusal::ProductNotFound => "product not found",
            BuyRefusal::InsufficientStock => "insufficient stock",
            BuyRefusal::KeyReused => "request id reused for a different order",
        }
    }

    /// The refusal a status stands for, if it stands for one.
    pub fn from_status(status: u16) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.status().as_u16() == status)
    }

    /// The refusal a failed call carries (`None` when the catalog did not refuse: it was
    /// unreachable, answered something else, or found the request malformed).
    pub fn of(error: &ClientError) -> Option<Self> {
        error.status().and_then(Self::from_status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_reads_back_from_its_status() {
        for refusal in BuyRefusal::ALL {
            assert_eq!(
                BuyRefusal::from_status(refusal.status().as_u16()),
                Some(refusal)
            );
            let error = ClientError::Status {
                status: refusal.status().as_u16(),
                message: refusal.message().into(),
            };
            assert_eq!(BuyRefusal::of(&error), Some(refusal));
        }
        assert_eq!(BuyRefusal::from_status(400), None);
        assert_eq!(BuyRefusal::of(&ClientError::Unreachable("x".into())), None);
    }
}
