//! `--log-format json` (here through `TOYSTORE_LOG_FORMAT`, the flag's environment
//! variable): every service writes one JSON object per log line, with a level, a
//! timestamp and a message, for log shippers; the default stays human lines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use toystore_tests::start_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_logs_json_lines_when_asked() {
    let store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |spec| {
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
    assert_eq!(services, 5, "catalog, three replicas, front-end");
}
