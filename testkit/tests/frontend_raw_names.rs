//! Names reach the catalog exactly as the client sent them. Raw requests (written on the
//! socket, so no client library normalises the path first) ask for names made of dots or
//! holding tab, CR or LF, literal or percent-encoded: each is not a toy, so each is a 404
//! JSON error, never a 503 and never another toy's answer (`Tux%0A` is not `Tux`). The same
//! names on the routes that take a number (the front-end's `/orders/<n>`, a replica's
//! `/internal/orders/<n>`) answer a 4xx JSON error, and as an asset's name a 404. The
//! catalog's product route refuses them in its path form and gets them byte for byte in its
//! query form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{http, token, TestCatalog, TestFrontend};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `GET <path>` as raw bytes and returns the status and JSON body.
async fn raw_get(addr: SocketAddr, path: &str) -> (u16, Value) {
    raw_get_with(addr, path, "").await
}

/// [`raw_get`] with extra header lines (each ending in CRLF).
async fn raw_get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nhost: test\r\n{headers}connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8(reply).unwrap();
    let status: u16 = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {reply}"));
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("{path}: not JSON: {reply}"));
    (status, json)
}

/// Path segments that are not a toy's name, as sent on the wire.
const NOT_TOYS: &[&str] = &[
    ".", "..", "%2e", "%2E", "%2e%2e", ".%2E", "%2e.", "%09", "%0A", "%0D%0A", "%0D", "Tux%0A",
    "T%09ux", "%0ATux", "Tux%0D", "%20Tux", "Tux.", "...",
];

#[tokio::test]
async fn every_name_reaches_the_catalog_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = TestCatalog::start(&dir.path().join("catalog.redb")).await;
    for capacity in [Some(8), None] {
        let frontend = TestFrontend::start(&catalog.url, capacity).await;
        let (status, body) = raw_get(frontend.addr, "/products/Tux").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["name"], "Tux");
        for name in NOT_TOYS {
            let (status, body) = raw_get(frontend.addr, &format!("/products/{name}")).await;
            assert_eq!(status, 404, "/products/{name}: {body}");
            assert_eq!(body["error"]["message"], "product not found", "{name}");
            let path = format!("/assets/{name}");
            let (status, body) = raw_get(frontend.addr, &path).await;
            assert_eq!(status, 404, "{path}: {body}");
            assert_eq!(body["error"]["code"], 404, "{path}");
            for route in ["/orders/", "/orders/1"] {
                let path = format!("{route}{name}");
                let (status, body) = raw_get(frontend.addr, &path).await;
                assert!((400..500).contains(&status), "{path}: {status} {body}");
                assert_eq!(body["error"]["code"], status, "{path}");
            }
        }
        frontend.stop().await.unwrap();
    }

    // The catalog's path form decodes the segment itself: the same names are not toys.
    let auth = format!("authorization: {}\r\n", token().bearer());
    for name in NOT_TOYS {
        let path = format!("/internal/products/{name}");
        let (status, body) = raw_get_with(catalog.addr, &path, &auth).await;
        assert_eq!(status, 404, "{path}: {body}");
    }

    // A replica's order route takes a number: these are 4xx JSON errors there too.
    let (replica, stop_replica) = common::start_replica(dir.path(), &catalog.url).await;
    let replica: SocketAddr = replica.trim_start_matches("http://").parse().unwrap();
    for name in NOT_TOYS {
        for route in ["/internal/orders/", "/internal/orders/1"] {
            let path = format!("{route}{name}");
            let (status, body) = raw_get_with(replica, &path, &auth).await;
            assert_eq!(status, 400, "{path}: {body}");
            assert_eq!(body["error"]["message"], "invalid order number", "{path}");
        }
    }
    let _ = stop_replica.send(());

    // The catalog's query form carries any name as it is.
    let client = http();
    for name in [".", "..", "\tTux", "Tux\n", "T\r\nux"] {
        let resp = client
            .get(format!("{}/internal/products", catalog.url))
            .bearer_auth(token().expose())
            .query(&[("name", name)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{name:?}");
    }
    let resp = client
        .get(format!("{}/internal/products", catalog.url))
        .bearer_auth(token().expose())
        .query(&[("name", "Tux")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["product"]["name"], "Tux", "{body}");
}
