//! `tools client`: the handout's client, as a load generator with a checker.
//!
//! [`run_clients`] runs `clients` simulated clients concurrently against a front-end. Each
//! has its own keep-alive connection (one [`reqwest::Client`] with one idle connection and
//! `TCP_NODELAY`) and its own seeded random generator, so the toys queried and the buy
//! decisions are a function of the seed alone. Each iteration queries a random toy
//! (`GET /products/<name>`); if the reply shows stock, the client buys one with probability
//! `p` (`POST /orders` with a fresh `Idempotency-Key`, retried with the same key after a
//! connection error or a 503, so a retry never buys twice) and records the order. When every
//! client is done, each reads its orders back (`GET /orders/<n>`) and checks that the store
//! returns exactly what it acknowledged; order numbers must also be unique across clients.
//! A query the store does not answer is followed by a short pause (a person would not
//! hammer a shop that is down, and spinning would starve the clients still served).
//!
//! The result is a [`ClientReport`]: per request type (query, buy, order check) the count,
//! errors, throughput and latency (mean, p50, p90, p99, max, measured with hdrhistogram in
//! microseconds and reported in milliseconds), and the [`Verification`]. `tools client`
//! prints it as a table or as JSON and exits 1 if any order is missing or differs;
//! `tools eval` calls [`run_clients`] in-process.
//!
//! Counting rules: a request counts once however many attempts it took (`retries` counts
//! the extra attempts). Latency is recorded for requests the store answered (a success, or
//! for a buy the 409 "insufficient stock" that another client's purchase can cause, counted
//! as `rejected`); a request that ends without an answer, with a 5xx, or with any other
//! unexpected reply is an `error` and has no latency.

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use toystore_net::client::{read_envelope, ClientError};

/// Arguments of `tools client`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  tools client --frontend http://127.0.0.1:8080 --p 0.5 --iterations 200 --clients 5\n  tools client --p 0.2 --iterations 1000 --clients 5 --seed 7 --json > run.json\n\nExit status: 0 when every order read back matches, 1 otherwise or on error."
)]
pub struct ClientArgs {
    /// The front-end's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub frontend: String,
    /// Probability of buying after a query that found the toy in stock (0 to 1).
    #[arg(long, value_name = "P", default_value_t = 0.5)]
    pub p: f64,
    /// Iterations per client (a query, and maybe a buy, each).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub iterations: u64,
    /// Concurrent clients, each on its own keep-alive connection.
    #[arg(long, value_name = "C", default_value_t = 5)]
    pub clients: usize,
    /// Seed of the clients' random choices (default: random; the report shows it).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Units per order.
    #[arg(long, default_value_t = 1)]
    pub quantity: u32,
    /// Per-request timeout, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 15_000)]
    pub timeout_ms: u64,
    /// Print the report as JSON (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

/// How [`run_clients`] runs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The front-end's base URL, e.g. `http://127.0.0.1:8080`.
    pub frontend: String,
    /// Probability of buying after a query that found stock.
    pub p: f64,
    /// Iterations per client.
    pub iterations: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Seed of the random choices; client `i` uses `seed + i`.
    pub seed: u64,
    /// Units per order.
    pub quantity: u32,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attempts per buy (the first and the retries) on connection errors and 503s.
    pub buy_attempts: u32,
    /// Show a progress bar on stderr (only drawn when stderr is a terminal).
    pub progress: bool,
    /// End the query/buy phase after this long even if iterations remain (for runs that
    /// last a given time, like `tools chaos`); the order check still follows.
    pub stop_after: Option<Duration>,
    /// Record every purchase (invoke, then ok / fail / unknown) here, e.g. for the
    /// checker of `tools chaos`.
    pub history: Option<crate::history::History>,
}

impl ClientConfig {
    /// A configuration with a random seed, one unit per order, a 15 s timeout, 4 buy
    /// attempts and no progress bar.
    pub fn new(frontend: impl Into<String>, p: f64, iterations: u64, clients: usize) -> Self {
        Self {
            frontend: frontend.into(),
            p,
            iterations,
            clients,
            seed: rand::random(),
            quantity: 1,
            timeout: Duration::from_secs(15),
            buy_attempts: 4,
            progress: false,
            stop_after: None,
            history: None,
        }
    }

    fn check(&self) -> anyhow::Result<Url> {
        if !(0.0..=1.0).contains(&self.p) {
            bail!("--p must be a probability from 0 to 1, got {}", self.p);
        }
        if self.clients == 0 {
            bail!("--clients must be at least 1");
        }
        if self.quantity == 0 {
            bail!("--quantity must be at least 1");
        }
        if self.buy_attempts == 0 {
            bail!("buy attempts must be at least 1");
        }
        let url = Url::parse(&self.frontend)
            .with_context(|| format!("invalid front-end URL {:?}", self.frontend))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            bail!(
                "invalid front-end URL {:?}: expected http://HOST:PORT",
                self.frontend
            );
        }
        Ok(url)
    }
}

/// Statistics of one request type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestStats {
    /// Requests made (each counted once, however many attempts it took).
    pub count: u64,
    /// Requests that got no usable answer (connection error, timeout, 5xx, unexpected
    /// reply).
    pub errors: u64,
    /// Requests the store refused with an expected answer (a buy's 409 insufficient stock).
    pub rejected: u64,
    /// Extra attempts made by retries.
    pub retries: u64,
    /// Requests per second over the phase they ran in.
    pub throughput: f64,
    /// Mean latency of answered requests, in milliseconds.
    pub mean_ms: f64,
    /// Median latency, in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, in milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// Maximum, in milliseconds.
    pub max_ms: f64,
    /// The first error seen, if any.
    pub first_error: Option<String>,
}

/// The outcome of reading every acknowledged order back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Orders acknowledged to the clients.
    pub orders: u64,
    /// Orders read back identical.
    pub matched: u64,
    /// Orders the store said do not exist.
    pub missing: u64,
    /// Orders read back different from what was acknowledged.
    pub mismatched: u64,
    /// Orders that could not be read at all (errors).
    pub unchecked: u64,
    /// Order numbers acknowledged to more than one purchase.
    pub duplicates: u64,
    /// The first problems, described.
    pub problems: Vec<String>,
    /// Whether every acknowledged order was read back identical, with unique numbers.
    pub ok: bool,
}

/// The result of a client run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientReport {
    /// The front-end used.
    pub frontend: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Iterations per client.
    pub iterations: u64,
    /// Buy probability.
    pub p: f64,
    /// The seed used.
    pub seed: u64,
    /// Toys in the catalog.
    pub toys: usize,
    /// Duration of the query/buy phase, in seconds.
    pub load_secs: f64,
    /// Duration of the order check phase, in seconds.
    pub check_secs: f64,
    /// `GET /products/<name>`.
    pub query: RequestStats,
    /// `POST /orders`.
    pub buy: RequestStats,
    /// `GET /orders/<n>`.
    pub order_check: RequestStats,
    /// Whether every order was read back as acknowledged.
    pub verification: Verification,
}

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

/// Counters and a latency histogram of one request type in one client.
struct Recorder {
    hist: Histogram<u64>,
    count: u64,
    errors: u64,
    rejected: u64,
    retries: u64,
    first_error: Option<String>,
}

impl Recorder {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            // 1 µs to 1 h at 3 significant digits; longer values saturate.
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .context("creating a latency histogram")?,
            count: 0,
            errors: 0,
            rejected: 0,
            retries: 0,
            first_error: None,
        })
    }

    fn answered(&mut self, started: Instant) {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.max(1));
    }

    fn error(&mut self, what: impl Into<String>) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what.into());
        }
    }

    fn merge(&mut self, other: &Recorder) -> anyhow::Result<()> {
        self.hist
            .add(&other.hist)
            .context("merging latency histograms")?;
        self.count += other.count;
        self.errors += other.errors;
        self.rejected += other.rejected;
        self.retries += other.retries;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        Ok(())
    }

    fn stats(&self, secs: f64) -> RequestStats {
        let ms = |us: u64| us as f64 / 1000.0;
        let answered = !self.hist.is_empty();
        let q = |quantile: f64| {
            if answered {
                ms(self.hist.value_at_quantile(quantile))
            } else {
                0.0
            }
        };
        RequestStats {
            count: self.count,
            errors: self.errors,
            rejected: self.rejected,
            retries: self.retries,
            throughput: if secs > 0.0 {
                self.count as f64 / secs
            } else {
                0.0
            },
            mean_ms: if answered {
                self.hist.mean() / 1000.0
            } else {
                0.0
            },
            p50_ms: q(0.5),
            p90_ms: q(0.9),
            p99_ms: q(0.99),
            max_ms: if answered { ms(self.hist.max()) } else { 0.0 },
            first_error: self.first_error.clone(),
        }
    }
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

impl ClientReport {
    /// The report as the table `tools client` prints.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "toystore client: {} clients x {} iterations against {} (p = {}, seed {}, {} toys)",
            self.clients, self.iterations, self.frontend, self.p, self.seed, self.toys
        );
        let _ = writeln!(
            s,
            "{:<12} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "request",
            "count",
            "errors",
            "req/s",
            "mean ms",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms"
        );
        for (name, st) in [
            ("query", &self.query),
            ("buy", &self.buy),
            ("order check", &self.order_check),
        ] {
            let _ = writeln!(
                s,
                "{:<12} {:>7} {:>7} {:>9.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name,
                st.count,
                st.errors,
                st.throughput,
                st.mean_ms,
                st.p50_ms,
                st.p90_ms,
                st.p99_ms,
                st.max_ms
            );
        }
        let _ = writeln!(
            s,
            "phases: query/buy {:.2} s, order check {:.2} s; buys: {} rejected (insufficient stock), {} retries",
            self.load_secs, self.check_secs, self.buy.rejected, self.buy.retries
        );
        for (name, st) in [
            ("query", &self.query),
            ("buy", &self.buy),
            ("order check", &self.order_check),
        ] {
            if let Some(e) = &st.first_error {
                let _ = writeln!(s, "first {name} error: {e}");
            }
        }
        let v = &self.verification;
        if v.ok {
            let _ = writeln!(
                s,
                "verification: OK: all {} orders read back identical",
                v.orders
            );
        } else {
            let _ = writeln!(
                s,
                "verification: FAILED: {} orders, {} identical, {} missing, {} different, {} unreadable, {} duplicate numbers",
                v.orders, v.matched, v.missing, v.mismatched, v.unchecked, v.duplicates
            );
            for p in &v.problems {
                let _ = writeln!(s, "  {p}");
            }
        }
        s
    }
}

/// Runs `tools client`: exit status 0 when every order was read back identical, 1 if not.
pub async fn run(args: ClientArgs) -> anyhow::Result<u8> {
    let config = ClientConfig {
        frontend: args.frontend,
        p: args.p,
        iterations: args.iterations,
        clients: args.clients,
        seed: args.seed.unwrap_or_else(rand::random),
        quantity: args.quantity,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        buy_attempts: 4,
        progress: !args.json,
        stop_after: None,
        history: None,
    };
    let report = run_clients(config).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(if report.verification.ok { 0 } else { 1 })
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

    #[test]
    fn stats_are_in_milliseconds_and_count_unanswered_requests() {
        let mut r = Recorder::new().unwrap();
        for us in [1_000u64, 2_000, 3_000, 4_000] {
            r.hist.saturating_record(us);
        }
        r.count = 5;
        r.error("boom");
        let st = r.stats(2.0);
        assert_eq!(st.count, 5);
        assert_eq!(st.errors, 1);
        assert!((st.throughput - 2.5).abs() < 1e-9);
        assert!((st.mean_ms - 2.5).abs() < 0.01, "{st:?}");
        assert!((st.p50_ms - 2.0).abs() < 0.01, "{st:?}");
        assert!((st.max_ms - 4.0).abs() < 0.01, "{st:?}");
        assert_eq!(st.first_error.as_deref(), Some("boom"));
        let empty = Recorder::new().unwrap().stats(0.0);
        assert_eq!((empty.count, empty.p99_ms, empty.throughput), (0, 0.0, 0.0));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let bad_p = ClientConfig::new("http://127.0.0.1:1", 1.5, 1, 1);
        assert!(bad_p.check().unwrap_err().to_string().contains("--p"));
        let no_clients = ClientConfig::new("http://127.0.0.1:1", 0.5, 1, 0);
        assert!(no_clients.check().is_err());
        let bad_url = ClientConfig::new("localhost:8080", 0.5, 1, 1);
        assert!(bad_url
            .check()
            .unwrap_err()
            .to_string()
            .contains("front-end URL"));
    }
}
