//! Wire types of the front-end: the public REST contract of docs/API.md, and the few
//! operational endpoints callers read (`/health`, `/internal/metrics`).
//!
//! Every payload type here is the one the server serializes (or parses) and the one
//! [`crate::client::FrontendClient`] decodes, so the two cannot drift apart; the OpenAPI
//! document ([`crate::openapi`]) is derived from them too. The envelope ([`Data`],
//! [`Error`]) is written by `toystore_http::reply` for every service; these two describe it
//! for the document, and a test checks that they give the same bytes as the server.
//!
//! | endpoint | body | reply `data` | errors |
//! | --- | --- | --- | --- |
//! | `GET /products/<name>` | | [`Product`] | 404 `product not found` |
//! | `GET /products` | | `Vec<`[`Product`]`>`, sorted by name | |
//! | `POST /orders` (header [`IDEMPOTENCY_KEY`] optional) | [`OrderBody`] | [`OrderNumber`] | 400, 404, 409 `insufficient stock`, 422, 503 |
//! | `GET /orders/<order_number>` | | [`OrderRecord`] | 400 `invalid order number`, 404 `order not found`, 503 |
//! | `GET /health` | | [`Health`] | |
//! | `GET /internal/metrics` (cluster token) | | [`InternalMetrics`] | 401 |
//!
//! A success reply is [`Data`]`<T>`, an error reply is [`Error`] (`code` always equals the
//! HTTP status). [`Product`] is the catalog's and [`OrderRecord`] the order service's type
//! (the front-end passes them through unchanged); they are re-exported here so that callers
//! of the front-end need only this module.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::cache::CacheStats;
pub use toystore_catalog_api::Product;
pub use toystore_order_api::OrderRecord;

/// The request header carrying a purchase's idempotency key (1 to 64 printable ASCII).
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// A success reply: the payload under `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Data<T> {
    /// The payload.
    pub data: T,
}

/// An error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Error {
    /// What went wrong.
    pub error: ErrorFields,
}

/// The fields of an error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorFields {
    /// Always the HTTP status.
    #[schema(minimum = 400, maximum = 599)]
    pub code: u16,
    /// A short lower-case text.
    pub message: String,
}

/// The body of `POST /orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    /// The toy.
    #[schema(min_length = 1)]
    pub name: String,
    /// Units, 1 to 1,000,000: a JSON integer, which JSON Schema says `2.0` is too.
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(deserialize_with = "integral_u32")]
    pub quantity: u32,
}

/// A JSON number that is an integer in JSON Schema's sense (`2` or `2.0`, not `2.5`) and
/// fits a `u32`; whether it is a valid quantity is checked after (`Quantity`).
fn integral_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::{Error, Unexpected, Visitor};
    struct Integral;
    impl Visitor<'_> for Integral {
        type Value = u32;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number of units")
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<u32, E> {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                // Whole and in range: the conversion is exact.
                Ok(v as u32)
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }
    d.deserialize_any(Integral)
}

/// The public shape of a placed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderNumber {
    /// The order's number: unique, from 0, without gaps.
    #[schema(value_type = u64)]
    pub order_number: toystore_events::OrderNumber,
}

/// `GET /health`: the process is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `"ok"`.
    pub status: String,
}

/// `GET /internal/metrics` (behind the cluster token): the front-end's own view, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InternalMetrics {
    /// The cache's counters (`None` with caching off).
    pub cache: Option<CacheStats>,
    /// The replica purchases go to, if one is selected.
    pub leader: Option<LeaderRef>,
    /// The order replicas it knows, highest id first.
    pub replicas: Vec<ReplicaRef>,
}

/// The selected leader in [`InternalMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRef {
    /// Its replica id.
    pub id: u32,
    /// The term it leads (0 when adopted from a leader hint).
    pub term: u64,
}

/// One order replica in [`InternalMetrics`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaRef {
    /// Its id.
    pub id: u32,
    /// Its base URL.
    pub url: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    /// The bytes the server's envelope code (`toystore_http::reply`) writes for a reply.
    async fn served(reply: warp::reply::Response) -> String {
        use http_body_util::BodyExt;
        let body = reply.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }

    /// The exact bytes of API.md's examples: these types (the OpenAPI document's) and what
    /// the server really writes both give them.
    #[tokio::test]
    async fn shapes_are_those_of_api_md() {
        use toystore_http::reply::{data, respond};
        use toystore_http::ApiError;
        let placed = Data {
            data: OrderNumber {
                order_number: toystore_events::OrderNumber(0),
            },
        };
        assert_eq!(json(&placed), r#"{"data":{"order_number":0}}"#);
        assert_eq!(served(data(&placed.data)).await, json(&placed));
        let refused = Error {
            error: ErrorFields {
                code: 409,
                message: "insufficient stock".into(),
            },
        };
        assert_eq!(
            json(&refused),
            r#"{"error":{"code":409,"message":"insufficient stock"}}"#
        );
        let conflict = ApiError::new(warp::http::StatusCode::CONFLICT, "insufficient stock");
        assert_eq!(served(respond::<()>(Err(conflict))).await, json(&refused));
        let health = Data {
            data: Health {
                status: "ok".into(),
            },
        };
        assert_eq!(json(&health), r#"{"data":{"status":"ok"}}"#);
        assert_eq!(served(data(&health.data)).await, json(&health));
        let body = OrderBody {
            name: "Tux".into(),
            quantity: 1,
        };
        assert_eq!(json(&body), r#"{"name":"Tux","quantity":1}"#);
        let parsed: OrderBody =
            serde_json::from_value(json!({"name": "Tux", "quantity": 2})).unwrap();
        assert_eq!(parsed.quantity, 2);
        let extra = json!({"name": "Tux", "quantity": 2, "extra": true});
        assert!(serde_json::from_value::<OrderBody>(extra).is_err());
    }

    #[test]
    fn a_quantity_is_any_json_integer_that_fits() {
        let quantity = |q: serde_json::Value| {
            serde_json::from_value::<OrderBody>(json!({"name": "Tux", "quantity": q}))
                .map(|b| b.quantity)
        };
        assert_eq!(quantity(json!(2)).unwrap(), 2);
        assert_eq!(
            quantity(json!(972237.0)).unwrap(),
            972237,
            "JSON Schema's integer"
        );
        assert_eq!(quantity(json!(0)).unwrap(), 0, "the range is checked after");
        assert_eq!(quantity(json!(4294967295.0)).unwrap(), u32::MAX);
        for refused in [
            json!(2.5),
            json!(-1),
            json!(-1.0),
            json!(4294967296u64),
            json!(4294967296.0),
            json!(1e300),
            json!("2"),
            json!(null),
        ] {
            assert!(quantity(refused.clone()).is_err(), "{refused}");
        }
    }
}
