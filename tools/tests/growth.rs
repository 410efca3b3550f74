//! `tools growth` end to end at tiny sizes, as a user runs it: it generates the files
//! (snapshotted Raft replicas with purged logs), starts real replicas, and must report that
//! the replica started on the file reached ready with `last_seq` = N (alone and with a peer,
//! twice each, stopped in between), that the empty replica caught up to N by installing a
//! snapshot (the events it covers and its install time reported), that replay found the file consistent and
//! diff found the three replicas' files identical, with memory read for every replica, and
//! that buys ran on an empty store and on copies of the three files without an error; its
//! CSV, text and plots must be written; the kept files must pass `tools replay` and
//! `tools diff` run separately. Every replica is stopped: the run only succeeds if each
//! exited cleanly on SIGTERM. Timings are not checked, only that they are there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tools;
use std::path::Path;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn positive(v: &serde_json::Value, what: &str) {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"));
    assert!(x > 0.0, "{what} = {x}");
}

#[test]
fn growth_measures_tiny_logs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("perf");
    let data = dir.path().join("data");
    let run = tools([
        "growth",
        "--sizes",
        "200,300",
        "--batch",
        "64",
        "--starts",
        "2",
        "--json",
        "--timeout",
        "60s",
        "--buy-duration",
        "1s",
        "--out",
        p(&out),
        "--data-dir",
        p(&data),
    ]);
    run.expect_code(0);
    let results: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{run}")))
        .collect();
    assert_eq!(results.len(), 2, "{run}");
    for (r, n) in results.iter().zip([200u64, 300]) {
        assert_eq!(r["orders"].as_u64(), Some(n), "{r}");
        assert_eq!(r["startup_alone"]["last_seq"].as_u64(), Some(n), "{r}");
        assert_eq!(r["startup_with_peer"]["last_seq"].as_u64(), Some(n), "{r}");
        assert_eq!(r["catchup"]["last_seq"].as_u64(), Some(n), "{r}");
        assert_eq!(r["replay"]["consistent"], true, "{r}");
        assert_eq!(r["replay"]["events"].as_u64(), Some(n), "{r}");
        assert_eq!(r["diff"]["identical"], true, "{r}");
        assert_eq!(r["diff"]["files"].as_u64(), Some(3), "{r}");
        assert_eq!(r["diff"]["last_seq"].as_u64(), Some(n), "{r}");
        let transfer = r["snapshot"]["transfer_secs"].as_f64().unwrap();
        let install = r["snapshot"]["install_secs"].as_f64().unwrap();
        assert!(
            (0.0..=r["catchup"]["secs"].as_f64().unwrap()).contains(&(transfer + install)),
            "the transfer and the install are part of the catch-up: {r}"
        );
        assert_eq!(
            r["snapshot"]["events"].as_u64(),
            Some(n),
            "the installed snapshot covers every order: {r}"
        );
        for time in [
            &r["generate"]["secs"],
            &r["replay"]["secs"],
            &r["diff"]["secs"],
            &r["startup_alone"]["secs"],
            &r["startup_with_peer"]["secs"],
            &r["catchup"]["secs"],
            &r["catchup"]["orders_per_sec"],
            &r["generate"]["file_bytes"],
            &r["catchup"]["file_bytes"],
        ] {
            positive(time, "a time, rate or size");
        }
        for start in ["startup_alone", "startup_with_peer"] {
            let samples = r[start]["samples"].as_array().unwrap();
            assert_eq!(samples.len(), 2, "one sample per start: {r}");
        }
        let ready = r["catchup"]["ready_secs"].as_f64().unwrap();
        assert!(ready <= r["catchup"]["secs"].as_f64().unwrap(), "{r}");
        for memory in [
            &r["startup_alone"]["memory"],
            &r["startup_with_peer"]["memory"],
            &r["catchup"]["memory"],
            &r["catchup"]["source_memory"],
        ] {
            positive(&memory["rss_kib"], "VmRSS");
            let (rss, hwm) = (memory["rss_kib"].as_u64(), memory["hwm_kib"].as_u64());
            assert!(hwm >= rss, "VmHWM below VmRSS: {memory}");
        }
        positive(&r["max_hwm_kib"], "the highest VmHWM");
        for run in ["empty", "full"] {
            let buys = &r["buys"][run];
            positive(&buys["buys_per_sec"], "buys per second");
            positive(&buys["p99_ms"], "a buy's p99");
            assert_eq!(buys["errors"].as_u64(), Some(0), "{r}");
        }
    }

    let csv = std::fs::read_to_string(out.join("growth.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "orders");
    assert!(header.contains(&"snapshot_install_secs"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let install = header
        .iter()
        .position(|h| *h == "snapshot_install_secs")
        .unwrap();
    assert!(
        rows.iter().all(|r| !r[install].is_empty()),
        "snapshot columns filled: {csv}"
    );
    assert_eq!((rows[0][0], rows[1][0]), ("200", "300"));
    let text = std::fs::read_to_string(out.join("growth.md")).unwrap();
    for part in [
        "| orders | generate |",
        "Goals",
        "Growth from N = 200 to N = 300",
        "| orders | buys/s empty, N |",
        "buys on N = 300 orders",
    ] {
        assert!(text.contains(part), "growth.md lacks {part:?}:\n{text}");
    }
    for plot in ["growth_time.svg", "growth_rate.svg", "growth_rss.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(svg.contains("<svg"), "{plot} is not an SVG");
    }
    assert!(std::fs::read_to_string(out.join("growth_time.svg"))
        .unwrap()
        .contains("catch-up of an empty replica"));

    // The kept files stand on their own.
    let kept = data.join("n-200");
    let files: Vec<String> = (1..=3)
        .map(|id| p(&kept.join(format!("order-{id}.redb"))).to_string())
        .collect();
    tools(["replay", &files[2]])
        .expect_code(0)
        .stdout_has("events      200")
        .stdout_has("consistent");
    let mut diff = vec!["diff".to_string()];
    diff.extend(files);
    tools(&diff)
        .expect_code(0)
        .stdout_has("identical: 3 toystore.order logs, 200 events each");
}

#[test]
fn growth_has_help_with_an_example_and_refuses_an_empty_size() {
    tools(["growth", "--help"])
        .expect_code(0)
        .stdout_has("Example:")
        .stdout_has("tools growth ")
        .stdout_has("--sizes");
    tools(["growth", "--sizes", "0"])
        .expect_code(1)
        .stderr_has("--sizes");
}
