//! Bad input to the catalog's buy endpoint (and the event stream's query) gets a 4xx with the
//! JSON error envelope and changes no state: malformed JSON, a missing, unknown or mistyped
//! field, a quantity outside 1..=1,000,000, a bad request id, a wrong content type (415), a
//! body over 16 KiB whether announced by `Content-Length` or streamed chunked (413). A body of
//! exactly 16 KiB is still accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;
use toystore_catalog_api::CatalogClient;
use toystore_events::Seq;
use toystore_http::body::MAX_BODY;

/// Everything a bad request must leave untouched: the log position and every product.
async fn state(client: &CatalogClient) -> (Seq, Value) {
    let list = client.products().await.expect("list");
    (
        list.seq,
        serde_json::to_value(&list.products).expect("json"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_buy_bodies_are_4xx_json_and_change_nothing() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let before = state(&client).await;
    let http = http();
    let url = format!("{}/internal/buy", catalog.url);

    let cases = bad_bodies();
    for (what, body, want) in &cases {
        let (status, reply) = send_json(
            http.post(&url)
                .header("authorization", bearer())
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
        assert_eq!(status, *want, "{what}: {reply}");
        assert_error_envelope(status, &reply);
    }

    // Each invalid field gets the store's one message for it (toystore_events::InvalidInput,
    // the front-end's wording), said as a fault of the body.
    for (body, message) in [
        (
            serde_json::json!({"request_id": "a", "name": "Tux", "quantity": 0}),
            "quantity must be an integer from 1 to 1000000",
        ),
        (
            serde_json::json!({"request_id": "a", "name": "", "quantity": 1}),
            "name must not be empty",
        ),
        (
            serde_json::json!({"request_id": "a\tb", "name": "Tux", "quantity": 1}),
            "idempotency-key must be 1 to 64 printable ascii characters",
        ),
    ] {
        let (status, reply) = send_json(
            http.post(&url)
                .header("authorization", bearer())
                .json(&body),
        )
        .await;
        assert_eq!(
            (status, reply),
            (400, error_body(400, &format!("invalid body: {message}"))),
            "{body}"
        );
    }

    let valid = r#"{"request_id": "a", "name": "Tux", "quantity": 1}"#;
    for ctype in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let (status, reply) = send_json(
            http.post(&url)
                .header("authorization", bearer())
                .header("content-type", ctype)
                .body(valid),
        )
        .await;
        assert_eq!(
            (status, reply),
            (
                415,
                error_body(415, "content type must be application/json")
            ),
            "content type {ctype}"
        );
    }

    // Over 16 KiB, announced by Content-Length.
    let big = padded(valid, MAX_BODY + 1);
    let (status, reply) = send_json(
        http.post(&url)
            .header("authorization", bearer())
            .header("content-type", "application/json")
            .body(big.clone()),
    )
    .await;
    assert_eq!(
        (status, reply),
        (413, error_body(413, "request body too large"))
    );

    // Over 16 KiB, streamed in chunks with no Content-Length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .as_bytes()
        .chunks(1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let (status, reply) = send_json(
        http.post(&url)
            .header("authorization", bearer())
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            ))),
    )
    .await;
    assert_eq!(
        (status, reply),
        (413, error_body(413, "request body too large"))
    );

    assert_eq!(
        state(&client).await,
        before,
        "no bad request changed anything"
    );

    // The limit is inclusive: a valid body of exactly 16 KiB buys.
    let (status, reply) = send_json(
        http.post(&url)
            .header("authorization", bearer())
            .header("content-type", "application/json; charset=utf-8")
            .body(padded(valid, MAX_BODY)),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(quantity(&client, "Tux").await, 99);
}

/// Buy bodies that are wrong in one way each, with the status they must get.
fn bad_bodies() -> Vec<(&'static str, String, u16)> {
    let long_id = "x".repeat(65);
    vec![
        (
            "malformed json",
            r#"{"request_id": "a", "name": "Tux", "quantity": "#.into(),
            400,
        ),
        ("not json", "hello".into(), 400),
        ("empty body", String::new(), 400),
        ("json null", "null".into(), 400),
        (
            "missing quantity",
            r#"{"request_id": "a", "name": "Tux"}"#.into(),
            400,
        ),
        (
            "missing name",
            r#"{"request_id": "a", "quantity": 1}"#.into(),
            400,
        ),
        (
            "missing request id",
            r#"{"name": "Tux", "quantity": 1}"#.into(),
            400,
        ),
        (
            "unknown field",
            r#"{"request_id": "a", "name": "Tux", "quantity": 1, "price": 0}"#.into(),
            400,
        ),
        (
            "quantity as string",
            r#"{"request_id": "a", "name": "Tux", "quantity": "1"}"#.into(),
            400,
        ),
        (
            "fractional quantity",
            r#"{"request_id": "a", "name": "Tux", "quantity": 1.5}"#.into(),
            400,
        ),
        (
            "zero quantity",
            r#"{"request_id": "a", "name": "Tux", "quantity": 0}"#.into(),
            400,
        ),
        (
            "negative quantity",
            r#"{"request_id": "a", "name": "Tux", "quantity": -1}"#.into(),
            400,
        ),
        (
            "quantity over the limit",
            r#"{"request_id": "a", "name": "Tux", "quantity": 1000001}"#.into(),
            400,
        ),
        (
            "quantity over u32",
            r#"{"request_id": "a", "name": "Tux", "quantity": 4294967296}"#.into(),
            400,
        ),
        (
            "name as number",
            r#"{"request_id": "a", "name": 7, "quantity": 1}"#.into(),
            400,
        ),
        (
            "empty request id",
            r#"{"request_id": "", "name": "Tux", "quantity": 1}"#.into(),
            400,
        ),
        (
            "request id of 65 characters",
            format!(r#"{{"request_id": "{long_id}", "name": "Tux", "quantity": 1}}"#),
            400,
        ),
        (
            "non-ascii request id",
            r#"{"request_id": "é", "name": "Tux", "quantity": 1}"#.into(),
            400,
        ),
        (
            "control character in request id",
            r#"{"request_id": "a\nb", "name": "Tux", "quantity": 1}"#.into(),
            400,
        ),
    ]
}

/// `json` followed by spaces up to exactly `len` bytes.
fn padded(json: &str, len: usize) -> String {
    let mut s = json.to_string();
    s.push_str(&" ".repeat(len - json.len()));
    assert_eq!(s.len(), len);
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_stream_query_is_400_json() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let http = http();
    for query in ["after=abc", "after=-1", "after=1&extra=2"] {
        let (status, reply) = send_json(
            http.get(format!("{}/internal/events?{query}", catalog.url))
                .header("authorization", bearer()),
        )
        .await;
        assert_eq!(status, 400, "{query}: {reply}");
        assert_error_envelope(status, &reply);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_wrong_methods_are_json_errors() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let http = http();
    let base = &catalog.url;
    let cases = [
        (http.get(format!("{base}/nope")), 404),
        (http.get(format!("{base}/internal")), 404),
        (http.get(format!("{base}/internal/products/Tux/extra")), 404),
        (http.post(format!("{base}/health")), 405),
        (http.delete(format!("{base}/internal/products/Tux")), 405),
        (http.get(format!("{base}/internal/buy")), 405),
        (http.get(format!("{base}/internal/restock")), 405),
    ];
    for (req, want) in cases {
        let (status, reply) = send_json(req.header("authorization", bearer())).await;
        assert_eq!(status, want, "{reply}");
        assert_error_envelope(status, &reply);
    }
    // A 405 names the methods the route answers (RFC 9110, 15.5.6).
    for (req, allow) in [
        (http.post(format!("{base}/health")), "GET"),
        (http.get(format!("{base}/internal/buy")), "POST"),
    ] {
        let resp = req.header("authorization", bearer()).send().await.unwrap();
        assert_eq!(resp.status(), 405);
        let header = resp.headers().get("allow").and_then(|v| v.to_str().ok());
        assert_eq!(header, Some(allow), "{:?}", resp.url());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_message_is_lower_case() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let http = http();
    let mut upper = Vec::new();
    for (what, body, _) in bad_bodies() {
        let (_, reply) = send_json(
            http.post(format!("{}/internal/buy", catalog.url))
                .header("authorization", bearer())
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        let message = reply["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if message != message.to_lowercase() {
            upper.push(format!("{what}: {message}"));
        }
    }
    for query in ["after=abc", "after=-1", "after=1&extra=2"] {
        let (_, reply) = send_json(
            http.get(format!("{}/internal/events?{query}", catalog.url))
                .header("authorization", bearer()),
        )
        .await;
        let message = reply["error"]["message"]
            .as_str()
            .expect("message")
            .to_string();
        if message != message.to_lowercase() {
            upper.push(format!("?{query}: {message}"));
        }
    }
    assert!(
        upper.is_empty(),
        "messages that are not lower-case:\n{}",
        upper.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_array_body_is_refused_and_buys_nothing() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let before = state(&client).await;
    let (status, reply) = send_json(
        http()
            .post(format!("{}/internal/buy", catalog.url))
            .header("authorization", bearer())
            .header("content-type", "application/json")
            .body(r#"["array-id", "Tux", 1]"#),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_error_envelope(status, &reply);
    assert_eq!(state(&client).await, before);
}
