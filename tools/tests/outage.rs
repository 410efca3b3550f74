//! Runs `tools outage` briefly, as a user would: one fault of each family, in `raft` mode,
//! and checks its JSON (every run recorded with a measured window, nothing lost) and its
//! Markdown table; and that a bad fault name is refused before anything starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn tools() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tools"))
}

#[test]
fn outage_measures_each_fault_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (json, md) = (dir.path().join("o.json"), dir.path().join("o.md"));
    let output = tools()
        .args([
            "outage",
            "--election",
            "raft",
            "--faults",
            "kill-leader,pause-follower:500ms",
            "--repeat",
            "1",
            "--clients",
            "2",
            "--settle",
            "300ms",
            "--down-for",
            "300ms",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--out")
        .arg(&md)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{report}");
    assert_eq!(runs[0]["label"], "kill leader");
    assert_eq!(runs[1]["label"], "pause follower 500ms");
    // Killing the leader stops sales at least until a new one is elected (an election
    // timeout of 150 ms or more), and that window starts at the fault.
    let kill = &runs[0];
    assert!(kill["longest_gap_ms"].as_f64().unwrap() >= 100.0, "{kill}");
    assert!(kill["gap_started_ms"].as_f64().unwrap() < 50.0, "{kill}");
    assert_eq!(report["bad_orders"], 0);
    assert!(report["acknowledged"].as_u64().unwrap() > 0);
    let table = std::fs::read_to_string(&md).unwrap();
    assert!(table.contains("| kill leader | 1 |"), "{table}");
    assert!(table.contains(", 0 orders lost"), "{table}");
}

#[test]
fn an_unknown_fault_is_refused() {
    let output = tools()
        .args(["outage", "--faults", "nap"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown fault"));
}
