//! Generators of hostile requests and the check of their answers, for the fuzz tests of a
//! running store (`tests/tests/fuzz_store.rs`): proptest strategies drawn with a fixed seed
//! (a failure is reproducible), families of bad input per service, and [`fire`], which
//! sends them and requires every answer to be a 4xx JSON error whose code is the status (a
//! read that finds something may answer 200; a GET the client resolved to a page may get
//! the page).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::StreamExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use toystore_catalog::toys::TOYS;

/// One generated request.
#[derive(Debug, Clone)]
pub struct Hostile {
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[\\x00-\\x1f%./\\\\ '\"<>]{1,8}",
        // A huge name.
        (1000usize..4000).prop_map(|n| "Tux".repeat(n)),
        Just("..".to_string()),
        Just(String::new()),
        "[0-9]{0,3}[^0-9]{1,3}[0-9]{0,25}",
    ]
    .prop_map(|s| utf8_percent_encode(&s, NON_ALPHANUMERIC).to_string())
}

/// A JSON value of the wrong kind for a string or a quantity field.
fn wrong_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(json!(true)),
        Just(json!([])),
        Just(json!({})),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1.5)),
        Just(json!(1e300)),
        Just(json!(1_000_001)),
        Just(json!(4_294_967_296_u64)),
        Just(json!("1")),
        Just(json!("")),
    ]
}

/// An order or buy body that is invalid by construction (never a purchase).
fn bad_body(with_request_id: bool) -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        prop::sample::select(TOYS.iter().map(|t| t.0.to_string()).collect::<Vec<_>>()),
        "\\PC{1,40}",
        // Control characters, and huge names (within the body limit and over it).
        "[\\x00-\\x1f\\x7f]{1,16}",
        (1000usize..10_000).prop_map(|n| "Tux".repeat(n)),
    ];
    let object = move |fields: Vec<(&'static str, Value)>| {
        let mut map = serde_json::Map::new();
        if with_request_id {
            map.insert("request_id".into(), json!("fuzz-key"));
        }
        for (k, v) in fields {
            map.insert(k.into(), v);
        }
        serde_json::to_vec(&Value::Object(map)).unwrap()
    };
    prop_oneof![
        // Not JSON, or cut short.
        prop::collection::vec(any::<u8>(), 0..600),
        "\\{\"name\": \"[A-Za-z]{0,8}".prop_map(String::into_bytes),
        // A quantity of the wrong kind or out of range.
        (name.clone(), wrong_value())
            .prop_map(move |(n, q)| object(vec![("name", json!(n)), ("quantity", q)])),
        name.clone()
            .prop_map(move |n| object(vec![("name", json!(n))])),
        // A name of the wrong kind (or empty).
        wrong_value()
            .prop_filter("a string name", |v| !v.is_string() || v == "")
            .prop_map(move |n| object(vec![("name", n), ("quantity", json!(1))])),
        Just(object(vec![("quantity", json!(1))])),
        // An unknown field.
        name.prop_map(move |n| object(vec![
            ("name", json!(n)),
            ("quantity", json!(1)),
            ("coupon", json!("FREE"))
        ])),
        // Deep nesting, and a body over the limit.
        (1usize..4000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
        (17_000usize..40_000).prop_map(|n| vec![b' '; n]),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(0x20u8..0x7f, 65..100),
        prop::collection::vec(0x80u8..=0xff, 1..20),
        Just(Vec::new()),
    ]
}

/// A hostile request to the front-end's public API: bad names and order numbers, unknown
/// paths, wrong methods, bad bodies, content types, idempotency keys and tokens.
pub fn frontend_request() -> impl Strategy<Value = Hostile> {
    use reqwest::Method;
    let get = |path: String| Hostile {
        method: Method::GET,
        path,
        headers: Vec::new(),
        body: None,
    };
    prop_oneof![
        segment().prop_map(move |s| get(format!("/products/{s}"))),
        segment().prop_map(move |s| {
            let s = if s.parse::<u64>().is_ok() {
                format!("x{s}")
            } else {
                s
            };
            get(format!("/orders/{s}"))
        }),
        (segment(), segment()).prop_map(move |(a, b)| get(format!("/{a}/{b}"))),
        header_value().prop_map(move |v| Hostile {
            headers: vec![("authorization".into(), v)],
            ..get("/internal/metrics".into())
        }),
        (
            prop::sample::select(vec!["PUT", "DELETE", "PATCH", "POST"]),
            prop::sample::select(vec!["/products", "/products/Tux", "/orders/1", "/health"]),
        )
            .prop_map(|(m, p)| Hostile {
                method: Method::from_bytes(m.as_bytes()).unwrap(),
                path: p.into(),
                headers: vec![("content-type".into(), b"application/json".to_vec())],
                body: Some(b"{}".to_vec()),
            }),
        (
            bad_body(false),
            prop::sample::select(vec!["application/json", "application/json; charset=utf-8"])
        )
            .prop_map(|(body, ct)| Hostile {
                method: Method::POST,
                path: "/orders".into(),
                headers: vec![("content-type".into(), ct.as_bytes().to_vec())],
                body: Some(body),
            }),
        // A good body with a bad content type or a bad idempotency key.
        prop_oneof![
            Just(("content-type".to_string(), b"text/plain".to_vec())),
            header_value().prop_map(|v| ("idempotency-key".to_string(), v)),
        ]
        .prop_map(|h| {
            let mut headers = vec![h];
            if headers[0].0 != "content-type" {
                headers.push(("content-type".into(), b"application/json".to_vec()));
            }
            Hostile {
                method: Method::POST,
                path: "/orders".into(),
                headers,
                body: Some(br#"{"name":"Tux","quantity":1}"#.to_vec()),
            }
        }),
    ]
}

/// A hostile request to the catalog's internal API, with the cluster token `token`, a bad
/// one or none.
pub fn catalog_request(token: &str) -> impl Strategy<Value = Hostile> {
    use reqwest::Method;
    let bearer = format!("Bearer {token}").into_bytes();
    let auth = prop_oneof![
        2 => Just(Some(bearer)),
        1 => header_value().prop_map(Some),
        1 => Just(None),
    ];
    let routes = prop_oneof![
        segment().prop_map(|s| (Method::GET, format!("/internal/products/{s}"), None)),
        bad_body(true).prop_map(|b| (Method::POST, "/internal/buy".to_string(), Some(b))),
        segment().prop_map(|s| (Method::GET, format!("/internal/events?after={s}x"), None)),
        (segment(), segment()).prop_map(|(a, b)| (Method::GET, format!("/internal/{a}/{b}"), None)),
        prop::sample::select(vec![
            "/internal/buy",
            "/internal/restock",
            "/internal/products/Tux"
        ])
        .prop_map(|p| (Method::DELETE, p.to_string(), None)),
    ];
    (routes, auth).prop_map(internal)
}

/// A drawn route: method, path and body.
type Route = (reqwest::Method, String, Option<Vec<u8>>);

/// An internal route's request: JSON content type, and the authorization drawn for it.
fn internal(((method, path, body), auth): (Route, Option<Vec<u8>>)) -> Hostile {
    let mut headers = vec![("content-type".to_string(), b"application/json".to_vec())];
    if let Some(a) = auth {
        headers.push(("authorization".into(), a));
    }
    Hostile {
        method,
        path,
        headers,
        body,
    }
}

/// A hostile request to an order replica's internal API (orders and Raft messages), with
/// the cluster token `token`, a bad one or none.
pub fn replica_request(token: &str) -> impl Strategy<Value = Hostile> {
    use reqwest::Method;
    let auth = prop_oneof![
        3 => Just(Some(format!("Bearer {token}").into_bytes())),
        1 => header_value().prop_map(Some),
        1 => Just(None),
    ];
    // A body no Raft message decodes from: its first varint overflows.
    let not_raft = prop::collection::vec(any::<u8>(), 0..64).prop_map(|tail| {
        let mut body = vec![0xff_u8; 11];
        body.extend(tail);
        body
    });
    let routes = prop_oneof![
        bad_body(true).prop_map(|b| (Method::POST, "/internal/orders".to_string(), Some(b))),
        segment().prop_map(|s| {
            let s = if s.parse::<u64>().is_ok() {
                format!("x{s}")
            } else {
                s
            };
            (Method::GET, format!("/internal/orders/{s}"), None)
        }),
        (
            prop::sample::select(vec!["append", "vote", "snapshot"]),
            not_raft
        )
            .prop_map(|(r, b)| (Method::POST, format!("/internal/raft/{r}"), Some(b))),
        (segment(), segment()).prop_map(|(a, b)| (Method::GET, format!("/internal/{a}/{b}"), None)),
        prop::sample::select(vec!["/internal/orders", "/internal/raft/vote", "/health"])
            .prop_map(|p| (Method::DELETE, p.to_string(), None)),
    ];
    (routes, auth).prop_map(internal)
}

/// `n` byte strings of garbage drawn with `seed`, each written on a fresh connection to
/// every one of `bases` ([`raw_garbage`]).
pub async fn garbage_on(bases: &[&str], n: usize, seed: u8) {
    let garbage = draw(prop::collection::vec(any::<u8>(), 1..300), n, seed);
    for base in bases {
        let addr = base.trim_start_matches("http://");
        for g in &garbage {
            raw_garbage(addr, g).await;
        }
    }
}

/// Writes `garbage` on a fresh connection to `addr`: the answer, if any, must be a 4xx.
pub async fn raw_garbage(addr: &str, garbage: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(garbage).await;
    let _ = stream.shutdown().await;
    let mut reply = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut reply),
    )
    .await;
    assert!(read.is_ok(), "no answer and no close after {garbage:?}");
    if !reply.is_empty() {
        let head = String::from_utf8_lossy(&reply[..reply.len().min(12)]).to_string();
        assert!(head.starts_with("HTTP/1.1 4"), "{garbage:?} got {head:?}");
    }
}

/// `n` requests drawn from `strategy` with a fixed seed.
pub fn draw<S: Strategy>(strategy: S, n: usize, seed: u8) -> Vec<S::Value> {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Sends every request (16 at a time) with `http` and checks each answer.
pub async fn fire(http: &reqwest::Client, base: &str, requests: Vec<Hostile>) {
    futures_util::stream::iter(requests)
        .for_each_concurrent(16, |r| {
            let http = http.clone();
            async move {
                let mut req = http.request(r.method.clone(), format!("{base}{}", r.path));
                for (k, v) in &r.headers {
                    if let Ok(v) = reqwest::header::HeaderValue::from_bytes(v) {
                        req = req.header(k.as_str(), v);
                    }
                }
                if let Some(b) = &r.body {
                    req = req.body(b.clone());
                }
                let resp = req.send().await.unwrap_or_else(|e| panic!("{r:?}: {e}"));
                let status = resp.status().as_u16();
                let url = resp.url().clone();
                // The client resolves dot segments (`/orders/%2E%2E` is `/`): a GET that
                // lands on a page gets the page.
                let html = resp
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
                if html {
                    assert!(
                        status == 200
                            && r.method == reqwest::Method::GET
                            && ["/", "/cluster"].contains(&url.path()),
                        "{r:?} ({url}): {status} HTML"
                    );
                    return;
                }
                let body: Value = resp.json().await.unwrap_or_else(|e| {
                    panic!("{r:?}: {status} with a body that is not JSON: {e}")
                });
                // A read may find something (a toy, or the list for `/products/`).
                let a_read =
                    status == 200 && r.method == reqwest::Method::GET && !body["data"].is_null();
                // 421 is a refusal for not leading: the request got past validation.
                assert_ne!(status, 421, "{r:?} ({url}) was valid: {body}");
                if !a_read {
                    assert!(
                        (400..500).contains(&status),
                        "{r:?} ({url}): {status} {body}"
                    );
                    assert_eq!(body["error"]["code"], status, "{r:?}: {body}");
                    assert!(
                        body["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                        "{r:?}: {body}"
                    );
                }
            }
        })
        .await;
}
