//! The simulated clients: each [`Sim`] queries random toys, buys with probability p
//! (retrying a purchase under the same idempotency key), records its orders and, in the last
//! phase, reads every order back; [`run_clients`] runs them concurrently and gathers the
//! report.
//!
//! Longer than most files on purpose: the phases share one client's state (its connection,
//! its seeded generator, its recorders and its history), and read best side by side.
//!
//! Every request goes through [`FrontendClient`]; what a reply means for the statistics is
//! decided here from its typed [`FrontendError`].
//!
//! Purchases go through the harness's [`Buyer`] (the one retry policy with the same key);
//! what came of each is counted here.

use super::report::{ClientReport, Recorder, Verification};
use super::ClientConfig;
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use toystore_events::ProductName;
use toystore_frontend::api::OrderRecord;
use toystore_frontend::client::{ClientOptions, FrontendClient, FrontendError};
use toystore_harness::buyer::{retryable, Bought, Buyer, Retry};

/// One simulated client.
struct Sim {
    client: FrontendClient,
    /// The other front-end's client, where a query the own one did not answer is retried.
    fallback: Option<FrontendClient>,
    /// The same client, buying with retries (and recording the history, if any).
    buyer: Buyer,
    rng: StdRng,
    query: Recorder,
    buy: Recorder,
    check: Recorder,
    orders: Vec<OrderRecord>,
    problems: Vec<String>,
    matched: u64,
    missing: u64,
    mismatched: u64,
    unchecked: u64,
}

const PROBLEMS_KEPT: usize = 20;

/// How long a client waits after a query the store did not answer.
const QUERY_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Attempts per query (the first and the retries on the fallback front-end) when it gets
/// no answer or a 503.
const QUERY_ATTEMPTS: u32 = 3;

impl Sim {
    fn new(config: &ClientConfig, index: usize) -> anyhow::Result<Self> {
        let options = ClientOptions {
            timeout: config.timeout,
            max_idle_connections: 1,
            ..ClientOptions::default()
        };
        let client = FrontendClient::with_options(&config.frontend, options)
            .context("building an HTTP client")?;
        let fallback = match &config.fallback {
            Some(url) => Some(
                FrontendClient::with_options(url, options)
                    .context("building the fallback front-end's HTTP client")?,
            ),
            None => None,
        };
        let retry = Retry::attempts(config.buy_attempts, Duration::from_millis(100));
        let mut buyer = Buyer::new(client.clone(), retry);
        if let Some(history) = &config.history {
            buyer = buyer.recording(history.clone());
        }
        Ok(Self {
            client,
            fallback,
            buyer,
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
    async fn load(&mut self, config: &ClientConfig, toys: &[ProductName], bar: &ProgressBar) {
        let deadline = config.stop_after.map(|d| Instant::now() + d);
        for _ in 0..config.iterations {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            // Both draws happen every iteration, so the choices depend on the seed alone.
            let pick = self.rng.random_range(0..toys.len());
            let wants = self.rng.random_bool(config.p);
            let name = &toys[pick];
            match self.query_once(name).await {
                Some(in_stock) => {
                    if in_stock && wants {
                        self.buy_once(config, name).await;
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

    /// Queries one toy; `Some(quantity > 0)` when the store answered. With a fallback
    /// front-end, a query without an answer or with a 503 is retried there (at once, then
    /// after a pause), up to [`QUERY_ATTEMPTS`] in all; without one it is not retried.
    async fn query_once(&mut self, name: &ProductName) -> Option<bool> {
        self.query.count += 1;
        let started = Instant::now();
        let mut answer = self.client.product(name).await;
        if let Some(fallback) = &self.fallback {
            for attempt in 1..QUERY_ATTEMPTS {
                match &answer {
                    Err(e) if retryable(e) => {
                        self.query.retries += 1;
                        tokio::time::sleep(QUERY_ERROR_PAUSE * (attempt - 1)).await;
                        answer = fallback.product(name).await;
                    }
                    _ => break,
                }
            }
        }
        match answer {
            Ok(product) if product.name == *name => {
                self.query.answered(started);
                Some(product.quantity > 0)
            }
            Ok(product) => {
                self.query
                    .error(format!("query {name}: got product {:?}", product.name));
                None
            }
            // "<status> <message>", or what failed.
            Err(e) => {
                self.query.error(format!("query {name}: {e}"));
                None
            }
        }
    }

    /// Buys `config.quantity` of `name`, retrying with the same idempotency key (the
    /// history, if any, records what came of it), and counts the outcome.
    async fn buy_once(&mut self, config: &ClientConfig, name: &ProductName) {
        self.buy.count += 1;
        // Not from the seeded generator: keys must be unique across runs against one store.
        let key = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let purchase = self.buyer.buy(&key, name, config.quantity.get()).await;
        self.buy.retries += purchase.retried.len() as u64;
        match purchase.bought {
            Bought::Placed(number) => {
                self.buy.answered(started);
                self.orders.push(OrderRecord {
                    number: toystore_events::OrderNumber(number),
                    name: name.clone(),
                    quantity: config.quantity,
                });
            }
            Bought::Refused(FrontendError::InsufficientStock(_)) => {
                self.buy.answered(started);
                self.buy.rejected += 1;
            }
            // Not now, or no answer, at every attempt.
            Bought::Unknown(e) if retryable(&e) => {
                let attempts = purchase.retried.len() + 1;
                self.buy
                    .error(format!("buy {name}: {e} (after {attempts} attempts)"));
            }
            Bought::Refused(e) | Bought::Unknown(e) => self.buy.error(format!("buy {name}: {e}")),
        }
    }

    /// Reads every recorded order back and compares.
    async fn verify(&mut self, bar: &ProgressBar) {
        let orders = std::mem::take(&mut self.orders);
        for order in &orders {
            self.check_one(order).await;
            bar.inc(1);
        }
        self.orders = orders;
    }

    async fn check_one(&mut self, order: &OrderRecord) {
        self.check.count += 1;
        const ATTEMPTS: u32 = 4;
        let started = Instant::now();
        for attempt in 1..=ATTEMPTS {
            let last = attempt == ATTEMPTS;
            match self.client.order(order.number).await {
                Ok(got) => {
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
                Err(FrontendError::NotFound(message)) => {
                    self.check.answered(started);
                    self.missing += 1;
                    self.problem(format!("order {}: missing (404 {message})", order.number));
                    return;
                }
                Err(FrontendError::Unavailable {
                    status: 503,
                    message,
                })
                | Err(FrontendError::Transport { message, .. })
                    if !last =>
                {
                    tracing::debug!(order = order.number.get(), %message, "order check retry");
                }
                // "<status> <message>", or what failed.
                Err(e) => {
                    self.fail_check(order.number.get(), e.to_string());
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
async fn list_toys(client: &FrontendClient) -> anyhow::Result<Vec<ProductName>> {
    let url = client.url(&["products"])?;
    let toys = match client.products().await {
        Ok(toys) => toys,
        Err(e) if e.status().is_some() => bail!("listing toys at {url}: {e}"),
        Err(e) => bail!("listing toys at {url}: {e} (is the store running?)"),
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
    config.check()?;
    let mut sims = (0..config.clients)
        .map(|i| Sim::new(&config, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names = list_toys(&sims[0].client).await?;
    let toys = std::sync::Arc::new(names.clone());
    let config = std::sync::Arc::new(config);

    let total = config.iterations.saturating_mul(config.clients as u64);
    let bar = progress_bar(&config, total);
    bar.set_message("query/buy");
    let started = Instant::now();
    sims = run_phase(sims, |mut sim| {
        let (config, toys, bar) = (config.clone(), toys.clone(), bar.clone());
        async move {
            sim.load(&config, &toys, &bar).await;
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
        let bar = bar.clone();
        async move {
            sim.verify(&bar).await;
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
            *numbers.entry(order.number.get()).or_default() += 1;
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
