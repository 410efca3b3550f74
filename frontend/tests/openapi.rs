//! The OpenAPI document (`GET /openapi.json`) against the contract: every example reply in
//! docs/API.md validates against the schema the document gives for that route and status,
//! and a reply of the wrong shape does not (so the check can fail).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use toystore_frontend::openapi::{document, route};

/// (method, OpenAPI path, status, example) for every example reply in docs/API.md.
fn examples() -> Vec<(String, String, u16, Value)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md"))
        .expect("docs/API.md");
    let mut route: Option<(String, String)> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## `") {
            route = heading.trim_end_matches('`').split_once(' ').map(|(m, p)| {
                let path = p.replace('<', "{").replace('>', "}");
                (m.to_lowercase(), path)
            });
            continue;
        }
        let Some((method, path)) = &route else {
            continue;
        };
        let Some(rest) = line.strip_prefix("    ") else {
            continue;
        };
        let Some((status, body)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        let body: Value = serde_json::from_str(&body.replace(", ...]", "]"))
            .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}: {body}"));
        out.push((method.clone(), path.clone(), status, body));
    }
    out
}

/// Validates `instance` against the schema of `method path` answering `status`.
fn check(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    instance: &Value,
) -> Result<(), String> {
    let pointer = |s: &str| s.replace('~', "~0").replace('/', "~1");
    let schema = format!(
        "/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        pointer(path)
    );
    validate_at(doc, &schema, instance).map_err(|e| format!("{method} {path} {status}: {e}"))
}

/// Validates `instance` against the schema at JSON pointer `schema` in the document (with
/// the document's components in reach of its `$ref`s).
fn validate_at(doc: &Value, schema: &str, instance: &Value) -> Result<(), String> {
    if doc.pointer(schema).is_none() {
        return Err(format!("the document has no schema at {schema}"));
    }
    let mut root = doc.clone();
    root["$ref"] = json!(format!(
        "#{}",
        schema.replace('{', "%7B").replace('}', "%7D")
    ));
    let validator = jsonschema::validator_for(&root).map_err(|e| e.to_string())?;
    validator.validate(instance).map_err(|e| e.to_string())
}

#[test]
fn every_example_of_the_contract_matches_the_document() {
    let doc = document();
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with('3')),
        Some(true)
    );
    let examples = examples();
    assert!(examples.len() >= 11, "examples found: {}", examples.len());
    for (method, path, status, body) in &examples {
        check(&doc, method, path, *status, body)
            .unwrap_or_else(|e| panic!("{method} {path} {status} {body}: {e}"));
    }
}

#[test]
fn replies_of_the_wrong_shape_do_not_match() {
    let doc = document();
    let wrong = [
        (
            "get",
            "/products/{name}",
            200,
            json!({"data": {"name": "Tux"}}),
        ),
        (
            "get",
            "/products/{name}",
            200,
            json!({"name": "Tux", "price": 1.0, "quantity": 1}),
        ),
        (
            "get",
            "/products",
            200,
            json!({"data": {"name": "Tux", "price": 1.0, "quantity": 1}}),
        ),
        (
            "post",
            "/orders",
            200,
            json!({"data": {"order_number": "0"}}),
        ),
        (
            "get",
            "/orders/{order_number}",
            404,
            json!({"error": {"message": "order not found"}}),
        ),
        (
            "get",
            "/products/{name}",
            200,
            json!({"data": {"name": "Tux", "price": 1.0, "quantity": -1}}),
        ),
    ];
    for (method, path, status, body) in wrong {
        assert!(
            check(&doc, method, path, status, &body).is_err(),
            "{method} {path} {status} accepted {body}"
        );
    }
    assert!(check(&doc, "get", "/products", 418, &json!({})).is_err());
}

/// Validates `instance` against the document's request body schema of `POST /orders`.
fn check_order_body(doc: &Value, instance: &Value) -> Result<(), String> {
    let schema = "/paths/~1orders/post/requestBody/content/application~1json/schema";
    validate_at(doc, schema, instance)
}

#[test]
fn the_contracts_order_body_matches_and_bad_bodies_do_not() {
    let doc = document();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/API.md"))
        .expect("docs/API.md");
    // "Body: `{...}`" under POST /orders.
    let body = text
        .lines()
        .find_map(|l| l.strip_prefix("Body: `")?.split_once('`').map(|(b, _)| b))
        .expect("API.md gives the order body");
    let body: Value = serde_json::from_str(body).unwrap();
    check_order_body(&doc, &body).unwrap_or_else(|e| panic!("{body}: {e}"));
    for wrong in [
        json!({"name": "Tux"}),
        json!({"name": "Tux", "quantity": 0}),
        json!({"name": "Tux", "quantity": 1_000_001}),
        json!({"name": "Tux", "quantity": 1.5}),
        json!({"name": "", "quantity": 1}),
        json!({"name": "Tux", "quantity": 1, "extra": true}),
    ] {
        assert!(
            check_order_body(&doc, &wrong).is_err(),
            "the document accepts {wrong}"
        );
    }
}

#[test]
fn the_operational_routes_are_described() {
    let doc = document();
    check(
        &doc,
        "get",
        "/health",
        200,
        &json!({"data": {"status": "ok"}}),
    )
    .unwrap();
    assert!(check(&doc, "get", "/health", 200, &json!({"status": "ok"})).is_err());
    assert!(
        doc.pointer("/paths/~1events/get/responses/200/content/text~1event-stream")
            .is_some(),
        "GET /events as an event stream"
    );
}

#[tokio::test]
async fn the_front_end_serves_the_document() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(toystore_http::serve(listener, route(), {
        let stop = stop.clone();
        async move { stop.cancelled().await }
    }));
    let resp = reqwest::get(format!("http://{addr}/openapi.json"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let served: Value = resp.json().await.unwrap();
    assert_eq!(served, document());
    assert!(
        served["components"]["schemas"]["OrderBody"]["properties"]["quantity"]["maximum"]
            .as_f64()
            .is_some_and(|m| m == 1_000_000.0)
    );
    stop.cancel();
    server.await.unwrap();
}
