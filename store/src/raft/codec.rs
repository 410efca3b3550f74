//! The encoding of every Raft value the storage writes: one format-version byte, then
//! postcard (the same layout as events, [`toystore_events::codec`]).
//!
//! Unlike events, Raft values hold the application's own types (`C::D`), so encoding can
//! fail (a serde impl postcard cannot handle); both directions return a
//! [`StoreError::RaftValue`] naming what was being encoded or decoded, and decoding never
//! panics on foreign bytes.

use crate::StoreError;
use serde::{de::DeserializeOwned, Serialize};
use toystore_events::codec::FORMAT_VERSION;

/// Encodes `value` as `[FORMAT_VERSION] ++ postcard(value)`; `what` names it in errors.
pub(crate) fn encode<T: Serialize + ?Sized>(
    what: impl FnOnce() -> String,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    postcard::to_extend(value, vec![FORMAT_VERSION]).map_err(|e| StoreError::RaftValue {
        what: what(),
        message: format!("cannot encode: {e}"),
    })
}

/// Decodes bytes written by [`encode`]; trailing bytes are an error.
pub(crate) fn decode<T: DeserializeOwned>(
    what: impl FnOnce() -> String,
    bytes: &[u8],
) -> Result<T, StoreError> {
    toystore_events::codec::decode(bytes).map_err(|e| StoreError::RaftValue {
        what: what(),
        message: format!("cannot decode: {e}"),
    })
}
