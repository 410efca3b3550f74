//! The value encoding of events: one format-version byte, then postcard.
//!
//! Decoding never panics: empty input, an unknown version byte, and bytes postcard cannot
//! read as the expected type are all [`DecodeError`]s. Encoding is deterministic, so two
//! replicas that hold the same events hold the same bytes.

use serde::{de::DeserializeOwned, Serialize};

/// The format version written in front of every encoded value.
pub const FORMAT_VERSION: u8 = 1;

/// Why bytes could not be decoded as an event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// There were no bytes at all.
    #[error("empty value")]
    Empty,
    /// The leading byte names a format this build does not know.
    #[error("unknown format version {0} (this build reads version {FORMAT_VERSION})")]
    UnknownVersion(u8),
    /// The payload is not a valid value of the expected type.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

/// Encodes a value as `[FORMAT_VERSION] ++ postcard(value)`.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![FORMAT_VERSION];
    // Serializing our own plain data types into a Vec cannot fail: postcard errors only on
    // unsupported serde features (none used) or on a full fixed-size buffer (not a Vec).
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard cannot fail to encode toystore events: {e}"),
    }
}

/// Decodes bytes written by [`encode`]. Trailing bytes are an error: a value is exactly one
/// encoded event.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (&version, payload) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let (value, rest) =
        postcard::take_from_bytes(payload).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CatalogEvent, OrderEvent, OrderNumber, ProductName, Quantity, RequestId};

    #[test]
    fn round_trips_and_starts_with_version() {
        let e = OrderEvent::OrderPlaced {
            number: OrderNumber(7),
            request_id: RequestId::try_from("r").unwrap(),
            name: ProductName::try_from("Tux").unwrap(),
            quantity: Quantity::try_from(2u32).unwrap(),
        };
        let bytes = encode(&e);
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(decode::<OrderEvent>(&bytes), Ok(e));
    }

    #[test]
    fn rejects_empty_unknown_version_garbage_and_trailing_bytes() {
        assert_eq!(decode::<CatalogEvent>(&[]), Err(DecodeError::Empty));
        assert_eq!(
            decode::<CatalogEvent>(&[9, 0, 0]),
            Err(DecodeError::UnknownVersion(9))
        );
        assert!(matches!(
            decode::<CatalogEvent>(&[FORMAT_VERSION, 200, 200, 200]),
            Err(DecodeError::Malformed(_))
        ));
        let mut bytes = encode(&CatalogEvent::Restocked {
            name: ProductName::try_from("Uno").unwrap(),
            added: 100,
        });
        bytes.push(0);
        assert!(matches!(
            decode::<CatalogEvent>(&bytes),
            Err(DecodeError::Malformed(_))
        ));
    }
}
