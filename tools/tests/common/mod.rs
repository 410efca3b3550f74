//! Helpers shared by the tools' integration tests: running the `tools` binary and starting
//! a store made of `tools` processes on free ports.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod named;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toystore_harness::{Cluster, ClusterSpec};

/// The `tools` binary under test.
pub fn tools_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tools"))
}

/// What a `tools` run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// Exit status (-1: killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts the exit status, showing the output if it differs.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit status; output:\n{self}");
        self
    }

    /// Asserts that stdout contains `text`.
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}; output:\n{self}"
        );
        self
    }

    /// Asserts that stderr contains `text`.
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}; output:\n{self}"
        );
        self
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `tools ARGS` to completion.
pub fn tools<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = std::process::Command::new(tools_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("running the tools binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A store of `tools` processes on free ports with its data in `data_dir`.
pub fn spec(data_dir: &Path) -> ClusterSpec {
    ClusterSpec::on_free_ports(tools_bin(), Vec::new(), data_dir).unwrap()
}

/// Starts `spec` and waits until it serves.
pub async fn start(spec: ClusterSpec) -> Cluster {
    Cluster::start(spec, Duration::from_secs(30)).await.unwrap()
}

/// Stops a store cleanly (releasing its redb files) and checks that every service exited
/// cleanly.
pub async fn stop(cluster: Cluster) {
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    assert!(
        unclean.is_empty(),
        "services that did not stop cleanly: {unclean:?}"
    );
}
