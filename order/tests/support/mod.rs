//! What the order crate's tests share: an order event, two request ids whose index keys
//! collide, and a Raft node on a file of its own.

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

/// Raft node `id` of an order replica on a new file at `path`, with the service's own
/// settings and an empty address book (its peers unreachable): its storage and the running
/// node, not initialised.
pub async fn raft_node(
    path: &std::path::Path,
    id: u32,
) -> (
    toystore_order::replica::OrderStore,
    toystore_order::types::OrderNode,
) {
    let store = toystore_order::replica::open_store(path).unwrap();
    let http = toystore_http::client::http_client(std::time::Duration::from_secs(1)).unwrap();
    let network = toystore_raft::network::Network::<toystore_order::types::OrderRaft>::new(
        http,
        toystore_config::ClusterToken::new("t").unwrap(),
        toystore_raft::network::AddressBook::default(),
    );
    let config = toystore_raft::settings::raft_config(&toystore_order::server::timing(
        &toystore_config::OrderConfig::default(),
    ))
    .unwrap();
    let raft = openraft::Raft::new(
        id,
        config,
        network,
        store.log_store(),
        store.state_machine(toystore_order::apply::Orders),
    )
    .await
    .unwrap();
    (store, raft)
}
