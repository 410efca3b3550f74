//! The simulated clients: each [`Sim`] queries random toys, buys with probability p
//! (retrying a purchase under the same idempotency key), records its orders and, in the last
//! phase, reads every order back; [`run_clients`] runs them concurrently and gathers the
//! report.
//!
//! Longer than most files on purpose: the phases share one client's state (its connection,
//! its seeded generator, its recorders and its history), and read best side by side.

use super::report::{ClientReport, Recorder, Verification};
use super::ClientConfig;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use toystore_net::client::{read_envelope, ClientError};

/// An order as the client recorded it and as `GET /orders/<n>` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OrderView {
    number: u64,
    name: String,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct ProductView {
    name: String,
    quantity: u32,
}

#[derive(Debug, Deserialize)]
struct Placed {
    order_number: u64,
}

#[derive(Debug, Serialize)]
struct BuyBody<'a> {
    name: &'a str,
    quantity: u32,
}

/// What one call ended with.
enum Call<T> {
    /// The `data` of a success reply.
    Data(T),
    /// An error reply with this status and message.
    Status(u16, String),
    /// No usable reply: connection error, timeout, malformed body.
    Failed(ClientError),
}

async fn call<T: serde::de::DeserializeOwned>(req: reqwest::RequestBuilder) -> Call<T> {
    let resp = match req.send().await {
        Ok(resp) => resp,
        Err(e) => return Call::Failed(ClientError::from(e)),
    };
    match read_envelope::<T>(resp).await {
        Ok(data) => Call::Data(data),
        Err(ClientError::Status { status, message }) => Call::Status(status, message),
        Err(e) => Call::Failed(e),
    }
}

/// The URL of `base` with `segments` appended (each percent-encoded).
fn url_of(base: &Url, segments: &[&str]) -> anyhow::Result<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("{base} cannot be a base URL"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// One simulated client.
struct Sim {
    http: reqwest::Client,
    rng: StdRng,
    query: Recorder,
    buy: Recorder,
    check: Recorder,
    orders: Vec<OrderView>,
    problems: Vec<String>,
    matched: u64,
    missing: u64,
    mismatched: u64,
    unchecked: u64,
}

/// What came of one purchase.
enum Bought {
    /// Acknowledged as this order.
    Placed(u64),
    /// Refused for good (sold out, bad request): nothing was bought.
    Refused,
    /// No answer that says: it may or may not have happened.
    Unknown,
}

/// The URLs a client uses.
struct Targets {
    toys: Vec<(String, Url)>,
    orders: Url,
    base: Url,
}

const PROBLEMS_KEPT: usize = 20;

/// How long a client waits after a query the store did not answer.
const QUERY_ERROR_PAUSE: Duration = Duration::from_millis(50);

impl Sim {
    fn new(config: &ClientConfig, index: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(2).min(config.timeout))
            .timeout(config.timeout)
            .build()
            .context("building an HTTP client")?;
        Ok(Self {
            http,
            rng: StdRng::seed_from_u64(config.seed.wrapping_add(index as u64)),
            query: Recorder::new()?,
            buy: Recorder::new()?,
            check: Recorder::new()?,
            orders: Vec::new(),
            problems: Vec::new(),
            matched: 0,
            missing: 0,
            mismatched: 0,
            unchecked: 0,
        })
    }

    fn problem(&mut self, what: String) {
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(what);
        }
    }

    /// The query/buy loop.
    async fn load(&mut self, config: &ClientConfig, targets: &Targets, bar: &ProgressBar) {
        let deadline = config.stop_after.map(|d| Instant::now() + d);
        for _ in 0..config.iterations {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            // Both draws happen every iteration, so the choices depend on the seed alone.
            let pick = self.rng.random_range(0..targets.toys.len());
            let wants = self.rng.random_bool(config.p);
            let (name, url) = &targets.toys[pick];
            match self.query_once(name, url).await {
                Some(in_stock) => {
                    if in_stock && wants {
                        self.buy_once(config, name, &targets.orders).await;
                    }
                }
                // The store did not answer (e.g. its catalog is down): pause as a person
                // would rather than spin, which would only starve the clients that can
                // still be served.
                None => tokio::time::sleep(QUERY_ERROR_PAUSE).await,
            }
            bar.inc(1);
        }
    }

    /// Queries one toy; `Some(quantity > 0)` when the store answered.
    async fn query_once(&mut self, name: &str, url: &Url) -> Option<bool> {
        self.query.count += 1;
        let started = Instant::now();
        match call::<ProductView>(self.http.get(url.clone())).await {
            Call::Data(product) if product.name == name => {
                self.query.answered(started);
                Some(product.quantity > 0)
            }
            Call::Data(product) => {
                self.query
                    .error(format!("query {name}: got product {:?}", product.name));
                None
            }
            Call::Status(status, message) => {
                self.query
                    .error(format!("query {name}: {status} {message}"));
                None
            }
            Call::Failed(e) => {
                self.query.error(format!("query {name}: {e}"));
                None
            }
        }
    }

    /// Buys `config.quantity` of `name`, retrying with the same idempotency key, and
    /// records what came of it in the history, if any.
    async fn buy_once(&mut self, config: &ClientConfig, name: &str, orders: &Url) {
        self.buy.count += 1;
        // Not from the seeded generator: keys must be unique across runs against one store.
        let key = uuid::Uuid::new_v4().to_string();
        let history = config.history.as_ref();
        if let Some(h) = history {
            h.invoke(&key, name, config.quantity);
        }
        let outcome = self.buy_with_retries(config, name, orders, &key).await;
        if let Some(h) = history {
            match outcome {
                Bought::Placed(number) => h.ok(&key, number),
                Bought::Refused => h.fail(&key),
                Bought::Unknown => h.unknown(&key),
            }
        }
    }

    async fn buy_with_retries(
        &mut self,
        config: &ClientConfig,
        name: &str,
        orders: &Url,
        key: &str,
    ) -> Bought {
        let body = BuyBody {
            name,
            quantity: config.quantity,
        };
        let started = Instant::now();
        for attempt in 1..=config.buy_attempts {
            let req = self
                .http
                .post(orders.clone())
                .header("Idempotency-Key", key)
                .json(&body);
            let retryable = match call::<Placed>(req).await {
                Call::Data(placed) => {
                    self.buy.answered(started);
                    self.orders.push(OrderView {
                        number: placed.order_number,
                        name: name.to_string(),
                        quantity: config.quantity,
                    });
                    return Bought::Placed(placed.order_number);
                }
                Call::Status(409, _) => {
                    self.buy.answered(started);
                    self.buy.rejected += 1;
                    return Bought::Refused;
                }
                Call::Status(503, message) => format!("buy {name}: 503 {message}"),
                Call::Status(status, message) => {
                    self.buy.error(format!("buy {name}: {status} {message}"));
                    // A 4xx refused it; anything else may have happened.
                    return match status {
                        400..=499 => Bought::Refused,
                        _ => Bought::Unknown,
                    };
                }
                Call::Failed(e @ ClientError::Unreachable(_)) => format!("buy {name}: {e}"),
                Call::Failed(e) => {
                    self.buy.error(format!("buy {name}: {e}"));
                    return Bought::Unknown;
                }
            };
            if attempt == config.buy_attempts {
                self.buy
                    .error(format!("{retryable} (after {attempt} attempts)"));
                return Bought::Unknown;
            }
            self.buy.retries += 1;
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        Bought::Unknown
    }

    /// Reads every recorded order back and compares.
    async fn verify(&mut self, targets: &Targets, bar: &ProgressBar) {
        let orders = std::mem::take(&mut self.orders);
        for order in &orders {
            self.check_one(order, &targets.base).await;
            bar.inc(1);
        }
        self.orders = orders;
    }

    async fn check_one(&mut self, order: &OrderView, base: &Url) {
        self.check.count += 1;
        let url = match url_of(base, &["orders", &order.number.to_string()]) {
            Ok(url) => url,
            Err(e) => {
                self.check.error(e.to_string());
                self.unchecked += 1;
                return;
            }
        };
        const ATTEMPTS: u32 = 4;
        let started = Instant::now();
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            match call::<OrderView>(self.http.get(url.clone())).await {
                Call::Data(got) => {
                    self.check.answered(started);
                    if &got == order {
                        self.matched += 1;
                    } else {
                        self.mismatched += 1;
                        self.problem(format!(
                            "order {}: acknowledged {} x{}, read back order {} {} x{}",
                            order.number,
                            order.name,
                            order.quantity,
                            got.number,
                            got.name,
                            got.quantity
                        ));
                    }
                    return;
                }
                Call::Status(404, message) => {
                    self.check.answered(started);
                    self.missing += 1;
                    self.problem(format!("order {}: missing (404 {message})", order.number));
                    return;
                }
                Call::Status(503, message) if !last => {
                    tracing::debug!(order = order.number, %message, "order check retry");
                }
                Call::Failed(ClientError::Unreachable(message)) if !last => {
                    tracing::debug!(order = order.number, %message, "order check retry");
                }
                Call::Status(status, message) => {
                    self.fail_check(order.number, format!("{status} {message}"));
                    return;
                }
                Call::Failed(e) => {
                    self.fail_check(order.number, e.to_string());
                    return;
                }
            }
            self.check.retries += 1;
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
    }

    fn fail_check(&mut self, number: u64, why: String) {
        self.unchecked += 1;
        self.check.error(format!("order {number}: {why}"));
        self.problem(format!("order {number}: could not be read ({why})"));
    }
}

fn progress_bar(config: &ClientConfig, len: u64) -> ProgressBar {
    if !config.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>11} [{bar:40.cyan/blue}] {pos}/{len} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Lists the toys (`GET /products`).
async fn list_toys(http: &reqwest::Client, base: &Url) -> anyhow::Result<Vec<String>> {
    let url = url_of(base, &["products"])?;
    let toys = match call::<Vec<ProductView>>(http.get(url.clone())).await {
        Call::Data(toys) => toys,
        Call::Status(status, message) => bail!("listing toys at {url}: {status} {message}"),
        Call::Failed(e) => bail!("listing toys at {url}: {e} (is the store running?)"),
    };
    if toys.is_empty() {
        bail!("the store has no toys ({url} listed none)");
    }
    Ok(toys.into_iter().map(|t| t.name).collect())
}

/// Runs the clients and checks their orders. Fails only if the run cannot start (bad
/// configuration, front-end unreachable, no toys); errors of single requests are counted
/// in the report.
pub async fn run_clients(config: ClientConfig) -> anyhow::Result<ClientReport> {
    let base = config.check()?;
    let mut sims = (0..config.clients)
        .map(|i| Sim::new(&config, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names = list_toys(&sims[0].http, &base).await?;
    let targets = std::sync::Arc::new(Targets {
        toys: names
            .iter()
            .map(|n| Ok((n.clone(), url_of(&base, &["products", n])?)))
            .collect::<anyhow::Result<_>>()?,
        orders: url_of(&base, &["orders"])?,
        base: base.clone(),
    });
    let config = std::sync::Arc::new(config);

    let total = config.iterations.saturating_mul(config.clients as u64);
    let bar = progress_bar(&config, total);
    bar.set_message("query/buy");
    let started = Instant::now();
    sims = run_phase(sims, |mut sim| {
        let (config, targets, bar) = (config.clone(), targets.clone(), bar.clone());
        async move {
            sim.load(&config, &targets, &bar).await;
            sim
        }
    })
    .await?;
    let load_secs = started.elapsed().as_secs_f64();

    let acknowledged: u64 = sims.iter().map(|s| s.orders.len() as u64).sum();
    bar.set_length(acknowledged);
    bar.reset();
    bar.set_message("order check");
    let started = Instant::now();
    sims = run_phase(sims, |mut sim| {
        let (targets, bar) = (targets.clone(), bar.clone());
        async move {
            sim.verify(&targets, &bar).await;
            sim
        }
    })
    .await?;
    let check_secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let mut query = Recorder::new()?;
    let mut buy = Recorder::new()?;
    let mut check = Recorder::new()?;
    let mut verification = Verification {
        orders: acknowledged,
        matched: 0,
        missing: 0,
        mismatched: 0,
        unchecked: 0,
        duplicates: 0,
        problems: Vec::new(),
        ok: false,
    };
    let mut numbers: BTreeMap<u64, u32> = BTreeMap::new();
    for sim in &sims {
        query.merge(&sim.query)?;
        buy.merge(&sim.buy)?;
        check.merge(&sim.check)?;
        verification.matched += sim.matched;
        verification.missing += sim.missing;
        verification.mismatched += sim.mismatched;
        verification.unchecked += sim.unchecked;
        for problem in &sim.problems {
            if verification.problems.len() < PROBLEMS_KEPT {
                verification.problems.push(problem.clone());
            }
        }
        for order in &sim.orders {
            *numbers.entry(order.number).or_default() += 1;
        }
    }
    for (number, times) in numbers.iter().filter(|(_, t)| **t > 1) {
        verification.duplicates += u64::from(*times - 1);
        if verification.problems.len() < PROBLEMS_KEPT {
            verification.problems.push(format!(
                "order {number}: acknowledged to {times} different purchases"
            ));
        }
    }
    verification.ok = verification.matched == verification.orders && verification.duplicates == 0;

    Ok(ClientReport {
        frontend: config.frontend.clone(),
        clients: config.clients,
        iterations: config.iterations,
        p: config.p,
        seed: config.seed,
        toys: names.len(),
        load_secs,
        check_secs,
        query: query.stats(load_secs),
        buy: buy.stats(load_secs),
        order_check: check.stats(check_secs),
        verification,
    })
}

/// Runs `f` on every client concurrently (one task each) and returns them in order.
async fn run_phase<F, Fut>(sims: Vec<Sim>, f: F) -> anyhow::Result<Vec<Sim>>
where
    F: Fn(Sim) -> Fut,
    Fut: std::future::Future<Output = Sim> + Send + 'static,
{
    let handles: Vec<_> = sims.into_iter().map(|sim| tokio::spawn(f(sim))).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.context("a client task failed")?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn urls_percent_encode_names_and_keep_a_base_path() {
        let base = Url::parse("http://127.0.0.1:8080").unwrap();
        let url = url_of(&base, &["products", "Rubik's Cube"]).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/products/Rubik's%20Cube"
        );
        let base = Url::parse("http://h/store/").unwrap();
        assert_eq!(
            url_of(&base, &["orders", "7"]).unwrap().as_str(),
            "http://h/store/orders/7"
        );
    }
}
