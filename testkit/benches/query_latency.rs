//! Latency of `GET /products/Tux` through the front-end, with its cache on and off.
//!
//! Starts a catalog (in a temporary directory) and two front-ends in-process — one caching,
//! one not — then, for each, sends N sequential requests over ONE keep-alive connection (a
//! single `reqwest::Client` that keeps at most one idle connection) and records every
//! request's latency in an HDR histogram. Prints a markdown table, and a warning if any
//! request took over 30 ms (the signature of a Nagle / delayed-ACK stall on keep-alive
//! connections, which `TCP_NODELAY` on the server must prevent).
//!
//! Run: `cargo bench -p toystore-testkit --bench query_latency [-- N]`; N (default 5000) can
//! also be set with `QUERY_LATENCY_N`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hdrhistogram::Histogram;
use std::time::{Duration, Instant};
use toystore_testkit::frontend::TestFrontend;
use toystore_testkit::TestCatalog;

const DEFAULT_REQUESTS: usize = 5000;
const WARMUP: usize = 200;
const STALL: Duration = Duration::from_millis(30);

/// N from the first numeric argument, else `QUERY_LATENCY_N`, else the default. (`cargo
/// bench` passes `--bench` itself, so flags are skipped.)
fn requests() -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .or_else(|| {
            std::env::var("QUERY_LATENCY_N")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(DEFAULT_REQUESTS)
}

struct Row {
    setting: &'static str,
    hist: Histogram<u64>,
    stalls: usize,
}

/// N sequential queries over one keep-alive connection.
async fn measure(setting: &'static str, url: &str, n: usize) -> Row {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let target = format!("{url}/products/Tux");
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let mut stalls = 0;
    for i in 0..WARMUP + n {
        let start = Instant::now();
        let resp = client.get(&target).send().await.expect("request");
        assert_eq!(resp.status(), 200);
        let body = resp.bytes().await.expect("body");
        let took = start.elapsed();
        assert!(!body.is_empty());
        if i < WARMUP {
            continue;
        }
        if took > STALL {
            stalls += 1;
        }
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        hist.saturating_record(micros);
    }
    Row {
        setting,
        hist,
        stalls,
    }
}

fn main() {
    let n = requests();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let catalog = TestCatalog::start(&dir.path().join("catalog.redb")).await;
        let catalog_url = catalog.url.clone();
        let cached = TestFrontend::start_active(&catalog_url, 8).await;
        let uncached = TestFrontend::start(&catalog_url, None).await;

        let on = measure("cache on", &cached.url, n).await;
        let stats = cached.stats().await;
        let off = measure("cache off", &uncached.url, n).await;

        println!();
        println!("| setting | requests | p50 µs | p99 µs | max µs | mean µs |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        for row in [&on, &off] {
            let h = &row.hist;
            println!(
                "| {} | {} | {} | {} | {} | {:.1} |",
                row.setting,
                h.len(),
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.max(),
                h.mean()
            );
        }
        println!();
        println!(
            "cache on: hits {} misses {} (warm-up of {WARMUP} requests per setting not recorded)",
            stats.hits, stats.misses
        );
        for row in [&on, &off] {
            if row.stalls > 0 {
                println!(
                    "WARNING: {}: {} of {} requests took over {} ms (Nagle / delayed-ACK stall?)",
                    row.setting,
                    row.stalls,
                    row.hist.len(),
                    STALL.as_millis()
                );
            }
        }
        if on.stalls + off.stalls == 0 {
            println!("no request took over {} ms", STALL.as_millis());
        }

        drop((cached, uncached));
        let _ = catalog.stop().await;
    });
}
