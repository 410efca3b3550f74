//! The catalog's product endpoints: a new catalog holds the twenty seeded toys (the handout's
//! ten among them) at 100 units each, lists them sorted by name with the sequence number they
//! are current at, finds percent-encoded names, and answers an unknown or undecodable name
//! with `404 product not found`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use toystore_catalog::toys::TOYS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_catalog_lists_every_seeded_toy_sorted_at_full_stock() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let list = catalog.client().products().await.expect("list");
    assert_eq!(list.seq.0, TOYS.len() as u64, "one ProductAdded per toy");
    assert!(list.products.len() >= 15);
    let names: Vec<&str> = list.products.iter().map(|p| p.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
    for toy in HANDOUT_TOYS {
        assert!(names.contains(&toy), "{toy} is in the catalog");
    }
    for (name, price) in TOYS {
        let p = list
            .products
            .iter()
            .find(|p| p.name == *name)
            .expect("seeded toy listed");
        assert_eq!((p.price, p.quantity), (*price, 100), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_are_found_by_exact_percent_decoded_name() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let http = http();
    let get = |path: &str| {
        http.get(format!("{}/internal/products/{path}", catalog.url))
            .header("authorization", bearer())
    };

    let (status, body) = send_json(get("Tux")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"data": {"seq": 20, "product": {"name": "Tux", "price": 25.99, "quantity": 100}}})
    );

    let (status, body) = send_json(get("Rubik%27s%20Cube")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["product"]["name"], "Rubik's Cube");

    // The typed client encodes names itself.
    let reply = catalog
        .client()
        .product("Etch A Sketch")
        .await
        .expect("product");
    assert_eq!(reply.product.price, 22.99);

    for missing in ["tux", "TUX", "Nope", "%ff", "Tux%20", "Rubik's%2FCube"] {
        let (status, body) = send_json(get(missing)).await;
        assert_eq!(
            (status, body),
            (404, error_body(404, "product not found")),
            "{missing}"
        );
    }
}
