//! State machine applies commit without an fsync of their own (their entries are durable in
//! the Raft log), but they do not stay volatile: with no durable write behind them, the
//! writer makes them durable itself within `SYNC_BEHIND`. A child process applies purchases
//! one at a time and, after each, waits well beyond that bound and reports it; it is then
//! killed with SIGKILL. The reopened file must hold every purchase the child reported, as
//! events and as the last applied log id.
//!
//! The child is this test binary itself, re-executed to run only [`apply_child`] with
//! `TOYSTORE_APPLY_CHILD=<path>`; without that variable `apply_child` does nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod raft_support;

use openraft::storage::RaftStateMachine;
use raft_support::{events, log_id, membership, open, purchase, Purchases};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use toystore_store::SYNC_BEHIND;

const CHILD_ENV: &str = "TOYSTORE_APPLY_CHILD";
const MARK: &str = "settled ";

/// The child: applies purchases 2, 3, ... (after a membership entry at 1), one per apply,
/// and after each waits 10 × `SYNC_BEHIND` before reporting it, until killed.
#[test]
#[ignore = "run only as the child of `unsynced_applies_are_durable_soon_after`"]
fn apply_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = open(std::path::Path::new(&path));
        let mut sm = store.state_machine(Purchases);
        sm.apply(vec![membership(1, 1, &[1, 2, 3])]).await.unwrap();
        for i in 2.. {
            sm.apply(vec![purchase(2, i, &format!("r{i}"), 1)])
                .await
                .unwrap();
            tokio::time::sleep(SYNC_BEHIND * 10).await;
            println!("{MARK}{i}");
        }
    });
}

#[test]
fn unsynced_applies_are_durable_soon_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replica.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "apply_child", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut settled = 0;
    for line in stdout.lines() {
        if let Some(i) = line.unwrap().strip_prefix(MARK) {
            settled = i.trim().parse::<u64>().unwrap();
            if settled >= 5 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(settled >= 5, "the child stopped early");

    let store = open(&path);
    let held = events(&store).len() as u64;
    // Purchases 2..=settled are orders 0..settled-1; one more may have been applied too.
    assert!(
        held == settled - 1 || held == settled,
        "the killed child had settled {} purchases, the file holds {held}",
        settled - 1
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (applied, _) = runtime
        .block_on(store.state_machine(Purchases).applied_state())
        .unwrap();
    assert!(applied >= Some(log_id(2, settled)), "{applied:?}");
}
