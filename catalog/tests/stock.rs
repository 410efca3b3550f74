//! The configured stock: a new catalog seeds every toy with it, and a sold-out toy is
//! restocked to it (the handout's 100 is only the default). Reopening with another level
//! keeps the stock the log says and restocks to the new level.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use toystore_catalog::server::{open_alone, Running};
use toystore_catalog::{BuyOutcome, Catalog};
use toystore_events::Purchase;

async fn open(path: PathBuf, stock: u32) -> Running {
    open_alone(&path, stock).await.unwrap()
}

async fn quantity(catalog: &Catalog, name: &str) -> u32 {
    catalog
        .product(&name.try_into().unwrap())
        .await
        .unwrap()
        .0
        .unwrap()
        .quantity
}

async fn buy_all(catalog: &Catalog, name: &str, id: &str) {
    let quantity = quantity(catalog, name).await;
    let outcome = catalog
        .buy(Purchase {
            request_id: id.try_into().unwrap(),
            name: name.try_into().unwrap(),
            quantity: quantity.try_into().unwrap(),
        })
        .await
        .unwrap();
    assert!(matches!(outcome, BuyOutcome::Bought { .. }), "{outcome:?}");
    assert_eq!(self::quantity(catalog, name).await, 0);
}

#[tokio::test]
async fn seeds_and_restocks_to_the_configured_stock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let catalog = open(path.clone(), 7).await;
    let (products, _) = catalog.products().await.unwrap();
    assert!(products.len() >= 15);
    assert!(products.iter().all(|p| p.quantity == 7), "{products:?}");

    buy_all(&catalog, "Tux", "a").await;
    assert_eq!(catalog.restock().await.unwrap(), vec!["Tux".to_string()]);
    assert_eq!(quantity(&catalog, "Tux").await, 7);
    catalog.stop().await;

    // Reopened with another level: the stock is what the log says; restocks use the new one.
    let catalog = open(path, 250).await;
    assert_eq!(quantity(&catalog, "Tux").await, 7);
    assert_eq!(quantity(&catalog, "Whale").await, 7);
    buy_all(&catalog, "Whale", "b").await;
    assert_eq!(catalog.restock().await.unwrap(), vec!["Whale".to_string()]);
    assert_eq!(quantity(&catalog, "Whale").await, 250);
    assert_eq!(
        quantity(&catalog, "Tux").await,
        7,
        "only sold-out toys are restocked"
    );
}
