//! `tools bench` end to end, briefly: every scenario and every ceiling against a store the
//! benchmark starts itself, and closed and open loop against a store that is already
//! running. The tests check that the numbers are produced, sane and error-free, and that the
//! scenarios do what they say (a cache-hit run hits, a cache-miss run misses, an open loop
//! never sends faster than asked) — not how fast this machine is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spec, start, stop, tools};
use serde_json::Value;

fn rows(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn row<'a>(rows: &'a [Value], scenario: &str, clients: u64) -> &'a Value {
    rows.iter()
        .find(|r| r["scenario"] == scenario && r["clients"] == clients)
        .unwrap_or_else(|| panic!("no {scenario} x{clients} row in {rows:#?}"))
}

fn assert_measured(r: &Value) {
    assert_eq!(r["errors"], 0, "errors in {r}");
    for field in [
        "throughput_rps",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "duration_s",
    ] {
        let v = r[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} missing in {r}"));
        assert!(v > 0.0, "{field} is {v} in {r}");
    }
    assert!(r["p50_ms"].as_f64() <= r["p99_ms"].as_f64(), "{r}");
    assert!(r["p99_ms"].as_f64() <= r["p999_ms"].as_f64(), "{r}");
}

#[test]
fn all_scenarios_and_ceilings_on_a_store_it_starts() {
    let out = tempfile::tempdir().unwrap();
    let run = tools([
        "bench",
        "all",
        "--clients",
        "1,2",
        "--duration",
        "1s",
        "--warmup",
        "300ms",
        // The running-store test below uses the default `frontend` policy.
        "--election",
        "raft",
        "--json",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    run.expect_code(0);
    let rows = rows(&run.stdout);
    for clients in [1, 2] {
        for scenario in [
            "bare-http",
            "bare-hyper",
            "query-hit",
            "query-miss",
            "order-read",
            "buy",
            "mixed-p0.5",
        ] {
            assert_measured(row(&rows, scenario, clients));
        }
        // Queries are judged against the faster bare server at the same client count.
        let tput = |scenario| row(&rows, scenario, clients)["throughput_rps"].as_f64();
        let faster = if tput("bare-hyper") > tput("bare-http") {
            "bare-hyper"
        } else {
            "bare-http"
        };
        for scenario in ["query-hit", "query-miss", "order-read", "mixed-p0.5"] {
            let r = row(&rows, scenario, clients);
            assert_eq!(r["ceiling"], faster, "{r}");
            assert!(r["throughput_ratio"].as_f64().unwrap() > 0.0, "{r}");
        }
        let buy = row(&rows, "buy", clients);
        assert_eq!(buy["ceiling"], "disk", "{buy}");
        assert!(buy["p50_ratio"].as_f64().unwrap() > 0.0, "{buy}");
        // The scenarios do what they say: a hit run is served by the cache, a miss run
        // (two clients half the toys apart, more toys than cache entries) is not.
        let hit = row(&rows, "query-hit", clients)["cache_hit_rate"]
            .as_f64()
            .unwrap();
        assert!(hit > 0.95, "query-hit hit rate {hit}");
        let miss = row(&rows, "query-miss", clients)["cache_hit_rate"]
            .as_f64()
            .unwrap();
        assert!(miss < 0.2, "query-miss hit rate {miss}");
        // Every service's memory is reported.
        let memory = &row(&rows, "buy", clients)["memory_kib"];
        for service in ["frontend", "catalog-1", "order-1", "order-2", "order-3"] {
            assert!(
                memory[service]["hwm_kib"].as_u64().unwrap() > 0,
                "{service} memory missing: {memory}"
            );
        }
    }
    // A mixed run has both kinds of request.
    let mixed = row(&rows, "mixed-p0.5", 2);
    assert!(
        mixed["kinds"]["query"]["answered"].as_u64().unwrap() > 0,
        "{mixed}"
    );
    assert!(
        mixed["kinds"]["buy"]["answered"].as_u64().unwrap() > 0,
        "{mixed}"
    );
    for scenario in ["disk-single", "disk-batched"] {
        let r = row(&rows, scenario, 1);
        assert!(r["throughput_rps"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["p50_ms"].as_f64().unwrap() > 0.0, "{r}");
    }
    let csv = std::fs::read_to_string(out.path().join("bench.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + rows.len(), "{csv}");
    for plot in [
        "query-throughput.svg",
        "query-latency.svg",
        "buy-throughput.svg",
        "buy-latency.svg",
    ] {
        let svg = std::fs::read_to_string(out.path().join(plot)).unwrap();
        assert!(svg.contains("<svg"), "{plot} is not an SVG");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_and_open_loop_against_a_running_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path());
    spec.config.catalog.stock = 1_000_000;
    let cluster = start(spec).await;
    let url = cluster.frontend_url();
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "bench",
            "--frontend",
            url.as_str(),
            "--no-ceiling",
            "--json",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        v.extend(extra.iter().map(ToString::to_string));
        v
    };
    let buy = args(&[
        "buy",
        "--clients",
        "1",
        "--duration",
        "500ms",
        "--warmup",
        "100ms",
    ]);
    let run = tokio::task::spawn_blocking(move || tools(buy))
        .await
        .unwrap();
    run.expect_code(0);
    let r = rows(&run.stdout);
    assert_eq!(r.len(), 1, "one row: {r:#?}");
    assert_measured(&r[0]);
    assert_eq!(r[0]["mode"], "closed");
    assert!(r[0].get("ceiling").is_none(), "no ceiling was asked for");

    let open = args(&[
        "query-hit",
        "--clients",
        "2",
        "--rate",
        "200",
        "--duration",
        "1s",
        "--warmup",
        "100ms",
    ]);
    let run = tokio::task::spawn_blocking(move || tools(open))
        .await
        .unwrap();
    run.expect_code(0);
    let r = rows(&run.stdout);
    assert_measured(&r[0]);
    assert_eq!(r[0]["mode"], "open");
    assert_eq!(r[0]["rate"], 200.0);
    let tput = r[0]["throughput_rps"].as_f64().unwrap();
    assert!(tput <= 200.0 * 1.1, "an open loop at 200/s sent {tput}/s");
    stop(cluster).await;
}

#[test]
fn bad_arguments_are_refused() {
    tools([
        "bench",
        "buy",
        "--clients",
        "0",
        "--frontend",
        "http://127.0.0.1:9",
    ])
    .expect_code(1)
    .stderr_has("--clients must be at least 1");
    tools([
        "bench",
        "mixed",
        "--p",
        "2",
        "--frontend",
        "http://127.0.0.1:9",
    ])
    .expect_code(1)
    .stderr_has("--p must be from 0 to 1");
    tools(["bench", "query-hit", "--duration", "0s"]).expect_code(2);
    tools(["bench", "nonsense"]).expect_code(2);
}
