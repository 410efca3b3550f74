//! `tools client`: the handout's client, as a load generator with a checker.
//!
//! [`run_clients`] runs `clients` simulated clients concurrently against a front-end. Each
//! has its own keep-alive connection (a [`toystore_frontend::client::FrontendClient`] keeping
//! one idle connection, `TCP_NODELAY`) and its own seeded random generator, so the toys queried and the buy
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
//!
//! Parts: [`report`] (what a run measured: per-request statistics and the verification, and
//! how they are printed) and [`sim`] (the simulated clients and their phases); this module
//! holds the command line and the configuration.

mod report;
mod sim;

pub use report::{ClientReport, RequestStats, Verification};
pub use sim::run_clients;

use anyhow::{bail, Context};
use std::time::Duration;
use toystore_events::Quantity;

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
    /// Units per order (1 to 1,000,000).
    #[arg(long, default_value = "1")]
    pub quantity: Quantity,
    /// Per-request timeout, e.g. 15s or 500ms.
    #[arg(long, default_value = "15s", value_parser = toystore_config::duration::parse_positive)]
    pub timeout: Duration,
    /// A CA certificate (PEM) to trust: the store's, when its front-end serves TLS
    /// (`https://` URLs); nothing else is trusted then.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<std::path::PathBuf>,
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
    pub quantity: Quantity,
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
    pub history: Option<toystore_harness::History>,
    /// Another front-end of the same store: a query its own front-end did not answer (no
    /// connection, a 503) is retried there, as a load balancer in front of both would.
    pub fallback: Option<String>,
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
            quantity: Quantity::ONE,
            timeout: Duration::from_secs(15),
            buy_attempts: 4,
            progress: false,
            stop_after: None,
            history: None,
            fallback: None,
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(0.0..=1.0).contains(&self.p) {
            bail!("--p must be a probability from 0 to 1, got {}", self.p);
        }
        if self.clients == 0 {
            bail!("--clients must be at least 1");
        }
        if self.buy_attempts == 0 {
            bail!("buy attempts must be at least 1");
        }
        toystore_http::client::parse_base(&self.frontend)
            .map_err(|e| anyhow::anyhow!("invalid front-end URL: {e}"))?;
        Ok(())
    }
}

/// Runs `tools client`: exit status 0 when every order was read back identical, 1 if not.
pub async fn run(args: ClientArgs) -> anyhow::Result<u8> {
    if let Some(ca) = &args.ca {
        toystore_http::tls::trust(ca).context("setting up TLS")?;
    }
    let config = ClientConfig {
        frontend: args.frontend,
        p: args.p,
        iterations: args.iterations,
        clients: args.clients,
        seed: args.seed.unwrap_or_else(rand::random),
        quantity: args.quantity,
        timeout: args.timeout,
        buy_attempts: 4,
        progress: !args.json,
        stop_after: None,
        history: None,
        fallback: None,
    };
    let report = run_clients(config).await?;
    crate::print_report(&report, args.json, ClientReport::to_text)?;
    Ok(if report.verification.ok { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

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
