//! Strict JSON request bodies.
//!
//! [`json`] accepts a body only if its content type is JSON (a request with no content type
//! at all is read as JSON, since simple clients send JSON without saying so), it is at most
//! [`MAX_BODY`] bytes (checked on the declared length and again while reading, so a chunked
//! body cannot grow past it), and it parses as `T`. Types should use
//! `#[serde(deny_unknown_fields)]`, so an unknown field is a 400 like a missing one.

use crate::ApiError;
use bytes::Buf;
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::http::StatusCode;
use warp::{Filter, Rejection};

/// The largest request body accepted (16 KiB).
pub const MAX_BODY: usize = 16 * 1024;

/// A filter extracting a `T` from a strict JSON body.
pub fn json<T: DeserializeOwned + Send + 'static>(
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream())
        .and_then(
            |content_type: Option<String>, length: Option<u64>, body| async move {
                read_json::<T, _, _>(content_type.as_deref(), length, body)
                    .await
                    .map_err(warp::reject::custom)
            },
        )
}

/// A filter extracting a raw body of at most `limit` bytes (checked on the declared length
/// and while reading; no `Content-Length` is needed).
pub fn bytes(limit: usize) -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and_then(move |length: Option<u64>, body| async move {
            read_limited(length, body, limit)
                .await
                .map(bytes::Bytes::from)
                .map_err(warp::reject::custom)
        })
}

fn too_large() -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
}

/// Reads a whole body, refusing more than `limit` bytes.
async fn read_limited<S, B>(length: Option<u64>, body: S, limit: usize) -> Result<Vec<u8>, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if length.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(length.unwrap_or(0).min(limit as u64) as usize);
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|_| ApiError::bad_request("could not read request body"))?;
        if bytes.len() + chunk.remaining() > limit {
            return Err(too_large());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(bytes)
}

async fn read_json<T, S, B>(
    content_type: Option<&str>,
    length: Option<u64>,
    body: S,
) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    if let Some(ct) = content_type {
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content type must be application/json",
            ));
        }
    }
    let bytes = read_limited(length, body, MAX_BODY).await?;
    parse_object(&bytes)
}

/// Parses a body that must be one JSON object. serde's derived structs would also accept
/// an array of the fields in order; API.md's bodies are objects, so anything else is a 400.
/// Messages are short, lower-case, and never name a Rust type.
fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|_| ApiError::bad_request("body is not valid json"))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("body must be a json object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(describe(&e)))
}

/// A lower-case description of why a JSON object does not fit the expected shape:
/// serde's message without positions and type names.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text);
    let text = match text.split_once(", expected struct ") {
        Some((head, _)) => head,
        None => text,
    };
    format!("invalid body: {}", text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Order {
        name: String,
        quantity: u32,
    }

    fn err(body: &str) -> String {
        parse_object::<Order>(body.as_bytes())
            .expect_err("must be refused")
            .message
            .into_owned()
    }

    #[test]
    fn only_objects_of_the_right_shape_are_accepted() {
        assert!(parse_object::<Order>(br#"{"name":"Tux","quantity":1}"#).is_ok());
        assert_eq!(err(r#"["Tux",1]"#), "body must be a json object");
        assert_eq!(err("null"), "body must be a json object");
        assert_eq!(err(r#"{"name":"Tux""#), "body is not valid json");
        assert_eq!(err(""), "body is not valid json");
        assert_eq!(
            err(r#"{"name":"Tux"}"#),
            "invalid body: missing field `quantity`"
        );
        assert!(err(r#"{"name":"Tux","quantity":1,"x":2}"#)
            .starts_with("invalid body: unknown field `x`"));
        assert!(err(r#"{"name":"Tux","quantity":-1}"#).starts_with("invalid body: invalid value"));
    }

    #[test]
    fn messages_are_lower_case_and_name_no_rust_type() {
        for body in [
            r#"{"name":1,"quantity":1}"#,
            r#"{"name":"Tux","quantity":"1"}"#,
            "{}",
            r#"{"Name":"x"}"#,
        ] {
            let m = err(body);
            assert_eq!(m, m.to_lowercase(), "{m}");
            assert!(!m.contains("struct"), "{m}");
        }
    }
}
