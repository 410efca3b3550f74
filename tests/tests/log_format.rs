//! `--log-format json` (the flag, or `TOYSTORE_LOG_FORMAT`, its environment variable):
//! every service writes one JSON object per log line, with a level, a timestamp and a
//! message, for log shippers; the default stays human lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use toystore_harness::Service;
use toystore_tests::{start_with, READY};

const NODE: &str = env!("CARGO_BIN_EXE_toystore-node");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_logs_json_lines_when_asked() {
    let store = start_with(NODE, |spec| {
        spec.env.push(("TOYSTORE_LOG_FORMAT".into(), "json".into()));
    })
    .await
    .unwrap();
    store
        .shop
        .buy_until_placed("log-1", "Tux", 1, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let logs = store.dir.path().join("logs");
    let mut services = 0;
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{} is empty", path.display());
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line}", path.display()));
            assert!(
                v["level"].is_string() && v["timestamp"].is_string(),
                "{line}"
            );
        }
        services += 1;
    }
    let catalogs = store.cluster.catalog_ids().len();
    assert_eq!(
        services,
        catalogs + 4,
        "catalogs, three replicas, front-end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lines_are_human_by_default_and_the_flag_asks_for_json() {
    let mut store = start_with(NODE, |_| {}).await.unwrap();
    // Without flag or variable: human lines, none of them JSON.
    let log = store.dir.path().join("logs").join("catalog-1.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "{} is empty", log.display());
    for line in lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_err(),
            "a JSON line by default: {line}"
        );
    }

    // The catalog started again by hand, on the same cluster file, with the flag.
    store.cluster.kill(Service::Catalog(1)).await.unwrap();
    let config = store.cluster.config().data_dir.join("toystore.toml");
    let mut catalog = tokio::process::Command::new(NODE)
        .arg("catalog")
        .arg("--config")
        .arg(&config)
        .args(["--id", "1"])
        .args(["--log-format", "json"])
        .env_remove("TOYSTORE_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(catalog.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(READY, lines.next_line())
        .await
        .expect("the catalog logs at start-up")
        .unwrap()
        .expect("a line before the catalog exits");
    let v: serde_json::Value = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("not JSON with --log-format json ({e}): {first}"));
    assert!(
        v["level"].is_string() && v["timestamp"].is_string(),
        "{first}"
    );
    // It is the real catalog, serving: the store sells through it.
    store
        .shop
        .buy_until_placed("log-flag", "Tux", 1, Duration::from_secs(30))
        .await
        .unwrap();
    catalog.kill().await.unwrap();
}
