//! What the order projection's tests share: an order event, and two request ids whose index
//! keys collide.

#![allow(clippy::unwrap_used, dead_code)]

use toystore_events::{OrderEvent, OrderNumber};
use toystore_order::projection::prefix;

/// Order `number` of two Tux under `request_id`.
pub fn order(number: u64, request_id: &str) -> OrderEvent {
    OrderEvent::OrderPlaced {
        number: OrderNumber(number),
        request_id: request_id.try_into().unwrap(),
        name: "Tux".try_into().unwrap(),
        quantity: 2u32.try_into().unwrap(),
    }
}

/// Two request ids whose index keys share their hash prefix (a real collision, found by
/// trying ids until two meet).
pub fn colliding_ids() -> (String, String) {
    let mut seen = std::collections::HashMap::new();
    for i in 0u64.. {
        let id = format!("id-{i}");
        if let Some(other) = seen.insert(prefix(&id), id.clone()) {
            return (other, id);
        }
    }
    unreachable!("the ids run out before a collision")
}
