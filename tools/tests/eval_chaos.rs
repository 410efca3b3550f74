//! Runs `tools eval` and `tools chaos` briefly, as a user would, and checks that their
//! outputs exist and parse, so they cannot silently rot: eval's CSV has a row per setting
//! and request type, its JSON holds verified reports, its plots are SVG; chaos (in both
//! election modes) kills the leader and a follower, loses nothing, and reports identical
//! replicas.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn tools() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tools"))
}

#[test]
fn eval_writes_csv_json_table_and_plots() {
    let out = tempfile::tempdir().unwrap();
    let status = tools()
        .args([
            "eval",
            "--iterations",
            "8",
            "--clients",
            "2",
            "--p",
            "0,0.5",
            "--repeat",
            "1",
            "--out",
        ])
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());

    let csv = std::fs::read_to_string(out.path().join("results.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("cache,p,type,count,errors,mean_ms,p50_ms,p90_ms,p99_ms,max_ms,throughput_per_s")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(
        rows.len(),
        2 * 2 * 3,
        "cache on/off x 2 values of p x 3 request types"
    );
    for row in &rows {
        assert_eq!(row.len(), 11);
        assert!(matches!(row[0], "on" | "off"));
        for number in &row[3..] {
            number.parse::<f64>().unwrap();
        }
    }
    let queries: u64 = rows
        .iter()
        .filter(|r| r[2] == "query")
        .map(|r| r[3].parse::<u64>().unwrap())
        .sum();
    assert_eq!(queries, 4 * 2 * 8, "every iteration queries once");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    let runs = json.as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert!(runs
        .iter()
        .all(|r| r["report"]["verification"]["ok"] == true));

    let table = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    assert!(
        table.starts_with("Each setting: 1 run(s) of 2 clients"),
        "{table}"
    );
    assert!(table.contains("\n| cache | p | request |"), "{table}");
    assert!(
        table.contains("\n| p | cache hits | misses | hit rate |"),
        "{table}"
    );
    for plot in ["latency_mean.svg", "latency_p50.svg", "latency_p99.svg"] {
        let svg = std::fs::read_to_string(out.path().join(plot)).unwrap();
        assert!(svg.contains("<svg"), "{plot} is not an SVG");
        assert!(svg.contains("query, cache on") && svg.contains("query, cache off"));
    }
}

#[test]
fn chaos_kills_leader_and_follower_and_loses_nothing() {
    chaos("frontend");
}

#[test]
fn chaos_with_raft_elections_kills_and_pauses_leader_and_follower_and_loses_nothing() {
    chaos("raft");
}

fn chaos(election: &str) {
    // In `raft` mode, both nemeses: kill the leader, a follower, then pause the leader, a
    // follower (a fault a second).
    let (every, nemesis) = if election == "raft" {
        ("1s", "kill,pause")
    } else {
        ("1500ms", "kill")
    };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("chaos.json");
    let output = tools()
        .args([
            "chaos",
            "--duration",
            "5s",
            "--kill-every",
            every,
            "--nemesis",
            nemesis,
            "--down-for",
            "500ms",
            "--clients",
            "3",
            "--election",
            election,
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .arg("--json")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("result: OK"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["ok"], true);
    assert!(json["kills"].as_array().unwrap().len() >= 2);
    assert!(json["leader_kills"].as_u64().unwrap() >= 1);
    assert!(json["follower_kills"].as_u64().unwrap() >= 1);
    if nemesis.contains("pause") {
        let paused = json["kills"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["nemesis"] == "pause")
            .count();
        assert!(paused >= 1, "{json}");
    }
    assert_eq!(json["clients"]["verification"]["missing"], 0);
    assert_eq!(json["clients"]["verification"]["mismatched"], 0);
    assert!(json["clients"]["verification"]["orders"].as_u64().unwrap() > 0);
}
