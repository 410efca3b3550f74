//! Runs `tools eval` and `tools chaos` briefly, as a user would, and checks that their
//! outputs exist and parse, so they cannot silently rot: eval's CSV has a row per setting
//! and request type, its JSON holds verified reports, its plots are SVG; chaos (in both
//! election modes, and on separate hosts with every nemesis) faults the leader, loses
//! nothing by its checker's verdict, writes a history whose every purchase has one outcome
//! and whose every fault is healed, and draws a timeline.

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
    // It says which command and which commit produced it, then what it holds.
    assert!(
        table.starts_with("Produced by `tools eval --iterations 8 --clients 2"),
        "{table}"
    );
    assert!(table.contains("` at commit "), "{table}");
    assert!(
        table.contains("\n\nEach setting: 1 run(s) of 2 clients"),
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
    chaos("frontend", "kill", &[], "6s", "1500ms");
}

#[test]
fn chaos_with_raft_elections_kills_and_pauses_leader_and_follower_and_loses_nothing() {
    chaos("raft", "kill,pause", &[], "5s", "1s");
}

/// Replicas killed and restarted on an empty file under their old id (the order leader, a
/// follower, catalog replicas), between kills: each is taken out of the voters and brought
/// back as a learner, then a voter; nothing is lost and the files end equal. Both policies.
#[test]
fn chaos_with_raft_elections_wipes_and_kills_replicas_and_loses_nothing() {
    chaos("raft", "wipe,kill", &[], "9s", "1500ms");
}

/// Wipes, and replicas' files corrupted: each refuses its file, which is set aside, and is
/// rebuilt from its peers.
#[test]
fn chaos_wipes_and_corrupts_replicas_and_loses_nothing() {
    chaos("frontend", "wipe,corrupt", &[], "9s", "1500ms");
}

/// Replicas' disks filled past their reserve (the order leader, a follower, the catalog;
/// each replica's file on a tmpfs of its own, needs root) and freed, between kills: writes
/// are refused meanwhile, a full leader steps down, nothing is lost and the files end
/// equal. Both policies.
#[test]
fn chaos_with_raft_elections_fills_disks_and_kills_replicas_and_loses_nothing() {
    chaos(
        "raft",
        "disk-full,kill",
        &["--disk-size", "67108864"],
        "7s",
        "1500ms",
    );
}

#[test]
fn chaos_fills_disks_and_loses_nothing() {
    chaos(
        "frontend",
        "disk-full",
        &["--disk-size", "67108864"],
        "6s",
        "1500ms",
    );
}

/// Every nemesis on separate hosts (needs root, as CI runs): kills and pauses of replicas,
/// each partition in turn, the catalog and a front-end killed.
#[test]
fn chaos_on_separate_hosts_with_every_nemesis_loses_nothing() {
    chaos(
        "raft",
        "partition,kill,partition,pause,partition,catalog,partition,frontend,partition",
        &["--netns"],
        "14s",
        "1200ms",
    );
}

fn chaos(election: &str, nemesis: &str, extra: &[&str], duration: &str, every: &str) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("chaos.json");
    let history = dir.path().join("history.jsonl");
    let timeline = dir.path().join("timeline.svg");
    let output = tools()
        .args([
            "chaos",
            "--duration",
            duration,
            "--fault-every",
            every,
            "--nemesis",
            nemesis,
            "--down-for",
            "500ms",
            "--clients",
            "4",
            "--election",
            election,
            "--seed",
            "7",
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--json")
        .arg(&report)
        .arg("--history")
        .arg(&history)
        .arg("--timeline")
        .arg(&timeline)
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
    assert_eq!(json["seed"], 7);
    let faults = json["faults"].as_array().unwrap();
    assert!(faults.len() >= 2, "{json}");
    assert!(json["leader_faults"].as_u64().unwrap() >= 1);
    // Every nemesis asked for injected at least one fault.
    for n in nemesis.split(',') {
        assert!(
            faults.iter().any(|f| f["nemesis"] == n),
            "no {n} fault in {faults:?}"
        );
    }
    let v = &json["verdict"];
    for problem in ["lost", "duplicated", "gaps", "stock", "diverged"] {
        assert_eq!(v[problem], serde_json::json!([]), "{problem}: {v}");
    }
    assert!(v["acknowledged"].as_u64().unwrap() > 0);
    for c in json["clients"].as_array().unwrap() {
        assert_eq!(c["verification"]["missing"], 0);
        assert_eq!(c["verification"]["mismatched"], 0);
    }

    // The history holds every purchase with an outcome and every fault with its heal.
    let lines =
        toystore_harness::checker::read_history(&std::fs::read_to_string(&history).unwrap())
            .unwrap();
    let count = |kind: &str| {
        lines
            .iter()
            .filter(|l| serde_json::to_value(l).unwrap()["type"] == kind)
            .count()
    };
    let outcomes = count("ok") + count("fail") + count("unknown");
    assert_eq!(
        count("invoke"),
        outcomes,
        "every purchase ends in one outcome"
    );
    assert_eq!(count("ok") as u64, v["acknowledged"].as_u64().unwrap());
    assert_eq!(count("fault"), faults.len());
    assert_eq!(count("heal"), faults.len());
    let svg = std::fs::read_to_string(&timeline).unwrap();
    assert!(svg.contains("<svg"), "the timeline is not an SVG");

    // The saved history draws the same picture again.
    let redrawn = dir.path().join("redrawn.svg");
    let status = tools()
        .arg("timeline")
        .arg(&history)
        .arg("--out")
        .arg(&redrawn)
        .status()
        .unwrap();
    assert!(status.success());
    let again = std::fs::read_to_string(&redrawn).unwrap();
    for nemesis in nemesis.split(',') {
        assert!(
            again.contains(nemesis),
            "no {nemesis} band in the redrawn timeline"
        );
    }
}
