//! The benchmark scenarios: what each simulated client sends, and what counts as an error.
//!
//! | scenario | each operation | measures |
//! | --- | --- | --- |
//! | `query-hit` | `GET /products/Tux` | the cached read path (one product, always in the cache) |
//! | `query-miss` | `GET /products/<toy>`, every client cycling through all toys | the read path through the catalog (more toys than cache entries, visited in a cycle, so an LRU never hits) |
//! | `buy` | `POST /orders` of one unit of a random toy, fresh `Idempotency-Key` | the 3-way durable purchase (catalog commit, then the order's replication) |
//! | `order-read` | `GET /orders/<n>` of a random order placed before the run | the order read path through the leader |
//! | `mixed --p P` | the handout's session: query a random toy, buy one with probability P if in stock | the store as the handout's clients use it |
//! | `bare-http` (a ceiling) | `GET /` of a bare warp server on the store's serving loop, answering a fixed body | the HTTP ceiling of the store's own stack |
//! | `bare-hyper` (a ceiling) | `GET /` of a bare hyper server answering the same body | the HTTP ceiling of this machine and load generator |
//!
//! Every reply but the expected 200 is an error, except that in `mixed` a 409 "insufficient
//! stock" (another client bought the last units between the query and the buy) is a
//! correct answer and counted as `rejected`.

use super::conn::{Call, Conn, ConnError, Reply};
use bytes::Bytes;
use hyper::Method;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rand::rngs::StdRng;
use rand::Rng;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use toystore_frontend::api::Product;

/// Bytes escaped in a path segment: everything but unreserved characters (RFC 3986).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A benchmark scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scenario {
    /// One product, always cached.
    QueryHit,
    /// Every toy in a cycle: the cache never holds the next one.
    QueryMiss,
    /// Durable purchases.
    Buy,
    /// Reads of existing orders.
    OrderRead,
    /// The handout's session with buy probability `p`.
    Mixed {
        /// Probability of buying after a query that found stock.
        p: f64,
    },
    /// The bare warp server on the store's serving loop (a ceiling).
    BareHttp,
    /// The bare hyper server (a ceiling).
    BareHyper,
}

impl Scenario {
    /// The scenario's name in reports.
    pub fn name(&self) -> String {
        match self {
            Scenario::QueryHit => "query-hit".into(),
            Scenario::QueryMiss => "query-miss".into(),
            Scenario::Buy => "buy".into(),
            Scenario::OrderRead => "order-read".into(),
            Scenario::Mixed { p } => format!("mixed-p{p}"),
            Scenario::BareHttp => "bare-http".into(),
            Scenario::BareHyper => "bare-hyper".into(),
        }
    }
}

/// The kind of one request, for per-kind statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `GET /products/<name>`.
    Query,
    /// `POST /orders`.
    Buy,
    /// `GET /orders/<n>`.
    OrderRead,
    /// `GET /` of a bare server.
    Bare,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The expected answer.
    Ok,
    /// A correct refusal (`mixed`: sold out between query and buy).
    Rejected,
    /// Anything else: no answer, a 5xx, an unexpected status (what happened).
    Error(String),
}

/// Receives each request's kind, outcome and the instant its latency is measured from.
pub trait Record {
    /// Records one request that started (or was due) at `from` and has just ended.
    fn record(&mut self, kind: Kind, outcome: Outcome, from: Instant);
}

/// What every client of a run shares: the toys, and the orders that exist before the run.
#[derive(Debug)]
pub struct Shared {
    /// The toys' names, percent-encoded for a path.
    pub toys: Vec<String>,
    /// The same names as JSON strings, for order bodies.
    pub names_json: Vec<String>,
    /// Order numbers placed before the run (for `order-read`).
    pub orders: Vec<u64>,
}

/// A prefix no other client of any run shares, for idempotency keys.
pub fn unique_prefix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Shared {
    /// The store's toys, and no orders yet.
    pub fn new(toys: &[&str]) -> Self {
        Self {
            toys: toys.iter().map(|t| encode_segment(t)).collect(),
            names_json: toys
                .iter()
                .map(|t| serde_json::Value::from(*t).to_string())
                .collect(),
            orders: Vec::new(),
        }
    }
}

/// Percent-encodes one path segment.
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// One simulated client's state.
pub struct Client {
    scenario: Scenario,
    id: usize,
    clients: usize,
    key_prefix: String,
    rng: StdRng,
    next: u64,
    shared: Arc<Shared>,
}

impl Client {
    /// Client number `id` of `clients` in a run.
    pub fn new(
        scenario: Scenario,
        (id, clients): (usize, usize),
        rng: StdRng,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            scenario,
            id,
            clients,
            key_prefix: unique_prefix(),
            rng,
            next: 0,
            shared,
        }
    }

    /// The call that places an order for one unit of `toy` (index into the toys).
    fn buy_call(&mut self, toy: usize) -> Call {
        self.next += 1;
        let name = self
            .shared
            .names_json
            .get(toy)
            .map_or("\"\"", String::as_str);
        Call {
            method: Method::POST,
            path: "/orders".into(),
            body: Some(Bytes::from(format!("{{\"name\":{name},\"quantity\":1}}"))),
            idempotency_key: Some(format!("{}-{}", self.key_prefix, self.next)),
        }
    }

    /// Runs one operation (one or, for `mixed`, two requests) on `conn`; `due` is when it
    /// was due to start (now, in a closed loop; its slot in the schedule, in an open loop).
    pub async fn step(&mut self, conn: &mut Conn, due: Instant, rec: &mut impl Record) {
        let toys = self.shared.toys.len().max(1);
        match self.scenario {
            Scenario::QueryHit => {
                let call = Call::get(format!("/products/{}", self.shared.toys[0]));
                let outcome = expect_ok(conn.send(&call).await);
                rec.record(Kind::Query, outcome, due);
            }
            Scenario::QueryMiss => {
                // Each client walks the toys in order, the clients' starting points spread
                // evenly, so a toy comes round again only after the others were asked for.
                let offset = self.id * toys / self.clients.max(1);
                let toy = (offset + self.next as usize) % toys;
                self.next += 1;
                let call = Call::get(format!("/products/{}", self.shared.toys[toy]));
                let outcome = expect_ok(conn.send(&call).await);
                rec.record(Kind::Query, outcome, due);
            }
            Scenario::Buy => {
                let toy = self.rng.random_range(0..toys);
                let call = self.buy_call(toy);
                let outcome = expect_ok(conn.send(&call).await);
                rec.record(Kind::Buy, outcome, due);
            }
            Scenario::OrderRead => {
                let orders = &self.shared.orders;
                let outcome = if orders.is_empty() {
                    Outcome::Error("no orders to read".into())
                } else {
                    let n = orders[self.rng.random_range(0..orders.len())];
                    expect_ok(conn.send(&Call::get(format!("/orders/{n}"))).await)
                };
                rec.record(Kind::OrderRead, outcome, due);
            }
            Scenario::Mixed { p } => {
                let toy = self.rng.random_range(0..toys);
                let call = Call::get(format!("/products/{}", self.shared.toys[toy]));
                let reply = conn.send(&call).await;
                let in_stock = match &reply {
                    Ok(r) => quantity_of(r).is_some_and(|q| q > 0),
                    Err(_) => false,
                };
                rec.record(Kind::Query, expect_ok(reply), due);
                if in_stock && self.rng.random_bool(p.clamp(0.0, 1.0)) {
                    let start = Instant::now();
                    let call = self.buy_call(toy);
                    let outcome = match conn.send(&call).await {
                        Ok(r) if r.is_sold_out() => Outcome::Rejected,
                        other => expect_ok(other),
                    };
                    rec.record(Kind::Buy, outcome, start);
                }
            }
            Scenario::BareHttp | Scenario::BareHyper => {
                let outcome = expect_ok(conn.send(&Call::get("/".into())).await);
                rec.record(Kind::Bare, outcome, due);
            }
        }
    }
}

fn expect_ok(reply: Result<Reply, ConnError>) -> Outcome {
    match reply {
        Ok(r) if r.is_success() => Outcome::Ok,
        Ok(other) => Outcome::Error(other.describe()),
        Err(e) => Outcome::Error(e.to_string()),
    }
}

/// The `quantity` of a product reply (the front-end's wire type).
fn quantity_of(reply: &Reply) -> Option<u32> {
    reply.decode::<Product>().ok().map(|p| p.quantity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_as_one_segment() {
        assert_eq!(encode_segment("Tux"), "Tux");
        assert_eq!(encode_segment("Rubik's Cube"), "Rubik%27s%20Cube");
        assert_eq!(encode_segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn reads_the_quantity_of_a_product_reply() {
        let reply = |status: u16, body: &'static str| Reply {
            status,
            body: body.into(),
        };
        let product = r#"{"data":{"name":"Tux","price":25.99,"quantity":7}}"#;
        assert_eq!(quantity_of(&reply(200, product)), Some(7));
        assert_eq!(quantity_of(&reply(200, r#"{"error":{}}"#)), None);
        let refused = r#"{"error":{"code":404,"message":"product not found"}}"#;
        assert_eq!(quantity_of(&reply(404, refused)), None);
    }

    #[test]
    fn only_too_little_stock_is_a_rejection() {
        let reply = |status: u16, body: &'static str| Reply {
            status,
            body: body.into(),
        };
        let sold_out = r#"{"error":{"code":409,"message":"insufficient stock"}}"#;
        assert!(reply(409, sold_out).is_sold_out());
        assert!(!reply(409, sold_out).is_success());
        let unavailable = r#"{"error":{"code":503,"message":"order service unavailable"}}"#;
        assert!(!reply(503, unavailable).is_sold_out());
        assert!(!reply(200, r#"{"data":{"order_number":1}}"#).is_sold_out());
        assert!(reply(200, r#"{"data":{"order_number":1}}"#).is_success());
    }
}
