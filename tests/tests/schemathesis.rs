//! The public API against its own OpenAPI document, checked by the ecosystem's tool:
//! Schemathesis (PyPI; `scripts/test` installs it) generates requests from the front-end's
//! `/openapi.json` (examples, boundary values, fuzzed bodies and headers, and stateful
//! sequences) and checks every answer against the document: status codes, content types,
//! schemas, headers (a 405's `Allow`), and that schema-valid data is accepted.
//!
//! `/events` (Server-Sent Events, a stream that never ends) is left out. One check is told
//! what this API answers beyond the document's happy path: `POST /orders` may refuse a
//! schema-valid body with 422 when its `Idempotency-Key` was used before for another
//! purchase, a refusal that depends on earlier requests, not on the body
//! (`tests/schemathesis.toml`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use toystore_tests::start_with;

/// Schemathesis' executable, as `pip install schemathesis` puts it on the PATH.
const SCHEMATHESIS: &str = "schemathesis";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_matches_its_openapi_document_under_schemathesis() {
    let found = Command::new(SCHEMATHESIS).arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "this test needs Schemathesis (pip install schemathesis; scripts/test installs it)"
    );
    let store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let schema = store.shop.url("/openapi.json");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml");
    // Hypothesis (under Schemathesis) keeps an example database in the working directory.
    let workdir = tempfile::tempdir().unwrap();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(SCHEMATHESIS)
            .arg("--config-file")
            .arg(config)
            .args(["run", &schema, "--checks", "all", "--max-examples", "100"])
            .args(["--exclude-path", "/events", "--seed", "20261204"])
            .current_dir(workdir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("running schemathesis")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "schemathesis found failures:\n{out}\n{err}"
    );
}
