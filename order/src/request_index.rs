//! The request-id index's layout, shared by the projection that keeps it
//! ([`crate::projection`]) and the bulk build that fills it in key order ([`crate::bulk`]):
//! the table ([`REQUEST_INDEX`]), how an order's key is made (a keyed hash of its request id
//! over its number: [`prefix`], [`index_key`], `expected_key`), what is refused (a number
//! that is not its seq - 1, a number past [`MAX_ORDERS`], a request id placed twice:
//! `placed_twice`), and the comparison of the keys of one hash prefix (`Group`).
//!
//! It depends on no other module of the crate, so the projection and the bulk build use it
//! without depending on one another for it. It guarantees one definition of the key layout
//! and of each refusal's wording: every replica, every rebuild and every check computes the
//! same keys and refuses with the same error, whichever path wrote the index. The public
//! items are also re-exported by [`crate::projection`], their historical path.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use toystore_events::{OrderEvent, OrderNumber, RequestId, Seq};
use toystore_store::{StoreError, Table};

/// Bits of an index key holding the order number.
pub const NUMBER_BITS: u32 = 36;
/// Bits of an index key holding the request id's hash.
pub const HASH_BITS: u32 = 64 - NUMBER_BITS;
/// The most orders a log can index (order numbers are below this).
pub const MAX_ORDERS: u64 = 1 << NUMBER_BITS;
pub(crate) const NUMBER_MASK: u64 = MAX_ORDERS - 1;
/// SipHash key: fixed, so every replica and every rebuild computes the same index.
const SIP_KEY: (u64, u64) = (0x746f_7973_746f_7265, 0x7265_7175_6573_7473);

/// The index's name (in errors and checks).
pub(crate) const INDEX: &str = "request_index";
/// Request-id hash prefix | order number, no value.
pub const REQUEST_INDEX: Table<u64, ()> = Table::new(INDEX);

/// The first index key of `request_id`'s hash prefix (its order number bits zero).
pub fn prefix(request_id: &str) -> u64 {
    let mut hasher = SipHasher13::new_with_keys(SIP_KEY.0, SIP_KEY.1);
    hasher.write(request_id.as_bytes());
    hasher.finish() & !NUMBER_MASK
}

/// The index key of order `number` placed under `request_id`.
pub fn index_key(request_id: &str, number: OrderNumber) -> Result<u64, StoreError> {
    if number.0 >= MAX_ORDERS {
        return Err(StoreError::Projection {
            table: INDEX,
            message: format!("order {number}: a log holds at most {MAX_ORDERS} orders"),
        });
    }
    Ok(prefix(request_id) | number.0)
}

/// The index rows whose prefix is `request_id`'s, from an index opened for reading or
/// writing (`range` of either).
pub fn candidates_range(request_id: &str) -> (u64, u64) {
    let from = prefix(request_id);
    (from, from | NUMBER_MASK)
}

/// What `apply` refuses for a request id placed a second time.
pub(crate) fn placed_twice(request_id: &RequestId, earlier: u64, later: u64) -> (Seq, StoreError) {
    let seq = Seq(later.saturating_add(1));
    let error = StoreError::Projection {
        table: INDEX,
        message: format!("request id {request_id} placed twice (order {earlier} and seq {seq})"),
    };
    (seq, error)
}

/// The key `event` at `seq` adds to the index, or why `apply` refuses it.
pub(crate) fn expected_key(seq: Seq, event: &OrderEvent) -> Result<u64, StoreError> {
    let OrderEvent::OrderPlaced {
        number, request_id, ..
    } = event;
    if number.0.checked_add(1) != Some(seq.0) {
        return Err(StoreError::Projection {
            table: INDEX,
            message: format!("order {number} at seq {seq}: numbers must be seq - 1"),
        });
    }
    index_key(request_id.as_str(), *number)
}

/// Keys of one hash prefix whose request ids a [`Group`] keeps to compare with the next ones
/// (more than a handful is a damaged index; later keys are compared with these only).
const GROUP_MAX: usize = 64;

/// Consecutive index keys of one hash prefix, as the index streams past in key order (so by
/// order number within the prefix): from the second key on, their orders' request ids are
/// read and compared. A key alone in its prefix, nearly every key, costs no read. Used by
/// the projection's `check` over the stored index and by the bulk build ([`crate::bulk`])
/// over sorted keys.
#[derive(Default)]
pub(crate) struct Group {
    /// The prefix, and the first key's order number, if a key was seen.
    first: Option<(u64, u64)>,
    /// Whether the first key's request id was read into `ids`.
    read: bool,
    /// The orders of the group so far (at most [`GROUP_MAX`]) and their request ids.
    ids: Vec<(u64, RequestId)>,
}

impl Group {
    /// Takes the next key; `request_id` reads an order's request id (`None`: the log lacks
    /// it). Returns what `apply` refuses if its request id is one of the group's.
    pub(crate) fn next(
        &mut self,
        key: u64,
        request_id: &mut dyn FnMut(u64) -> Result<Option<RequestId>, StoreError>,
    ) -> Result<Option<(Seq, StoreError)>, StoreError> {
        let (prefix, number) = (key & !NUMBER_MASK, key & NUMBER_MASK);
        let first = match self.first {
            Some((p, first)) if p == prefix => first,
            _ => {
                self.first = Some((prefix, number));
                self.read = false;
                self.ids.clear();
                return Ok(None);
            }
        };
        if !self.read {
            self.read = true;
            if let Some(id) = request_id(first)? {
                self.ids.push((first, id));
            }
        }
        let Some(id) = request_id(number)? else {
            return Ok(None);
        };
        let twice = self
            .ids
            .iter()
            .find(|(_, other)| *other == id)
            .map(|(earlier, _)| placed_twice(&id, *earlier, number));
        if twice.is_none() && self.ids.len() < GROUP_MAX {
            self.ids.push((number, id));
        }
        Ok(twice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_number_under_the_request_ids_prefix() {
        let key = index_key("r-1", OrderNumber(12345)).unwrap();
        assert_eq!(key & NUMBER_MASK, 12345);
        assert_eq!(key & !NUMBER_MASK, prefix("r-1"));
        let (from, to) = candidates_range("r-1");
        assert!(from <= key && key <= to);
        assert_ne!(prefix("r-1"), prefix("r-2"));
    }

    #[test]
    fn numbers_past_the_layouts_capacity_are_refused() {
        assert!(index_key("r", OrderNumber(MAX_ORDERS - 1)).is_ok());
        assert!(index_key("r", OrderNumber(MAX_ORDERS)).is_err());
    }

    #[test]
    fn the_hash_is_stable() {
        // The index is stored: its hash must never change across builds or machines.
        assert_eq!(prefix("order-0") >> NUMBER_BITS, 189_526_239);
    }
}
