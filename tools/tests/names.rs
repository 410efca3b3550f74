//! Services found by name: a store whose cluster file names every service by a DNS name
//! only (`o1.toystore:…`, `cat2.toystore:…`, resolved through each network namespace's own
//! hosts file), whose order leader moves to a new address under the same name mid-run, and
//! loses nothing (see `common/named.rs`).
//!
//! Needs root (as CI runs): the test fails with the reason if it cannot build the hosts.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_named_only_survives_its_leader_moving_to_a_new_address() {
    let named = common::named::start(3, false).await;
    common::named::move_the_leader(named).await;
}
