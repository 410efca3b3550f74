//! Proves the `Idempotency-Key` contract end to end: a retry with the same key and the same
//! purchase returns the first order and buys nothing more; the same key for a different
//! purchase is refused with 422 and buys nothing.

#![allow(clippy::unwrap_used)]

use std::time::Duration;
use toystore_harness::probe::poll_until;
use toystore_tests::{start_in, Election, FrontendError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontend_election_a_key_names_one_purchase() {
    scenario(Election::Frontend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_election_a_key_names_one_purchase() {
    scenario(Election::Raft).await;
}

async fn scenario(election: Election) {
    let store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    let (tux, uno) = (
        shop.quantity("Tux").await.unwrap(),
        shop.quantity("Uno").await.unwrap(),
    );
    assert_eq!(shop.buy("key-1", "Tux", 2).await, Ok(0));
    assert_eq!(shop.buy("key-1", "Tux", 2).await, Ok(0));
    let reused = Err(FrontendError::KeyReused(
        "idempotency key reused for a different order".into(),
    ));
    assert_eq!(shop.buy("key-1", "Uno", 2).await, reused);
    assert_eq!(shop.buy("key-1", "Tux", 3).await, reused);
    assert_eq!(
        shop.order(1).await,
        Err(FrontendError::NotFound("order not found".into())),
        "no second order"
    );

    let stock = || async {
        (
            shop.quantity("Tux").await.unwrap(),
            shop.quantity("Uno").await.unwrap(),
        )
    };
    let what = "stock must drop once, for Tux only";
    let dropped = poll_until(Duration::from_secs(10), what, || async {
        (stock().await == (tux - 2, uno)).then_some(())
    })
    .await;
    if let Err(e) = dropped {
        panic!("{e}: {:?}", stock().await);
    }
}
