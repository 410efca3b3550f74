//! The container image and the compose deployment, end to end with podman (root): builds
//! the image from this build's `tools` binary (`deploy/image/build`), brings
//! `deploy/compose.yaml` up (`deploy/stack`: three catalog replicas, three order replicas,
//! two front-ends, names as addresses, a volume each) on a /28 of 10.77.0.0/24 reserved for
//! the run, sells through both front-ends with the handout's client (`tools client`, every
//! order checked), kills the order leader's container and sells again; then every order
//! placed reads back through the front-end, numbers 0 to n-1 with none missing; last, a
//! follower's container stopped with SIGTERM exits 0 (the service is PID 1 and handles it). Everything
//! it made (containers, volumes, network, guard, image) is removed afterwards.
//!
//! Needs root and podman (`deploy/podman-setup`, which `scripts/test` runs): the test fails
//! with the reason if either is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use toystore_frontend::client::FrontendClient;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a command of the deployment with the stack's environment; panics with its output
/// unless it succeeds.
fn run(env: &[(String, String)], program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    let text = format!(
        "{} {args:?}: {}\n--- stdout\n{}--- stderr\n{}",
        program.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Takes the stack down (volumes too) and removes the image, whatever happened.
struct Teardown {
    env: Vec<(String, String)>,
    image: String,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("deploy/stack"))
            .args(["down", "-v"])
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output();
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

/// `tools client` against a front-end: its JSON report, with every order checked.
fn client(url: &str, seed: &str) -> serde_json::Value {
    let run = common::tools([
        "client",
        "--frontend",
        url,
        "--iterations",
        "30",
        "--clients",
        "3",
        "--p",
        "0.8",
        "--seed",
        seed,
        "--json",
    ]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["verification"]["ok"], true, "{run}");
    assert!(report["buy"]["count"].as_u64().unwrap() > 0, "{run}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_runs_the_compose_store_which_survives_its_leader_container_killed() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "podman's rootful containers need root"
    );
    assert!(
        Command::new("podman").arg("--version").output().is_ok(),
        "podman is not installed: run deploy/podman-setup"
    );
    let slot = toystore_harness::netns::Reserved::take().unwrap();
    let project = format!("toystore-test{}", slot.slot());
    let image = format!("localhost/{project}:latest");
    let ports = toystore_harness::free_ports(2).unwrap();
    let token = toystore_config::token::generate();
    let env: Vec<(String, String)> = [
        ("TOYSTORE_TOKEN", token.clone()),
        ("TOYSTORE_IMAGE", image.clone()),
        ("TOYSTORE_SUBNET", slot.subnet()),
        ("TOYSTORE_NETWORK", project.clone()),
        ("TOYSTORE_PROJECT", project.clone()),
        ("TOYSTORE_PORT", ports[0].to_string()),
        ("TOYSTORE_PORT2", ports[1].to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let _teardown = Teardown {
        env: env.clone(),
        image: image.clone(),
    };
    // A stack of an earlier run that died is taken down first.
    let stack = repo().join("deploy/stack");
    let _ = Command::new(&stack)
        .args(["down", "-v"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output();

    // The image, from the `tools` binary this test runs.
    let bin_dir = common::tools_bin().parent().unwrap().to_path_buf();
    run(
        &env,
        &repo().join("deploy/image/build"),
        &[bin_dir.to_str().unwrap()],
    );
    run(&env, &stack, &["up"]);
    run(&env, &stack, &["wait", "180"]);

    let fe1 = format!("http://127.0.0.1:{}", ports[0]);
    let fe2 = format!("http://127.0.0.1:{}", ports[1]);
    let mut placed = 0;
    for (url, seed) in [(&fe1, "1"), (&fe2, "2")] {
        placed += client(url, seed)["verification"]["orders"]
            .as_u64()
            .unwrap();
    }

    // Kill the order leader's container (SIGKILL: it stays down) and sell again.
    let frontend = FrontendClient::with_timeout(&fe1, Duration::from_secs(10)).unwrap();
    let token = toystore_config::ClusterToken::new(token).unwrap();
    let leader = frontend
        .internal_metrics(&token)
        .await
        .unwrap()
        .leader
        .expect("the front-end knows a leader")
        .id;
    let container = format!("{project}-order-{leader}");
    run(&env, Path::new("podman"), &["kill", &container]);
    eprintln!("killed {container}");
    for (url, seed) in [(&fe1, "3"), (&fe2, "4")] {
        placed += client(url, seed)["verification"]["orders"]
            .as_u64()
            .unwrap();
    }
    let status = run(
        &env,
        Path::new("podman"),
        &["inspect", "--format", "{{.State.Status}}", &container],
    );
    assert_eq!(status.trim(), "exited", "the killed leader came back");

    // Every order placed, through either front-end, before and after the kill: numbers
    // 0..placed, each readable (a purchase whose answer was lost may have placed one more:
    // numbers are gap-free, so those placed are among the first).
    assert!(placed > 0);
    for n in 0..placed {
        frontend
            .order(n)
            .await
            .unwrap_or_else(|e| panic!("order {n} of {placed}: {e}"));
    }
    // A service stops cleanly on SIGTERM as its container's PID 1 (`podman stop`: SIGTERM,
    // then SIGKILL after 15 s, which would show as exit code 137).
    let follower = format!("{project}-order-{}", if leader == 1 { 2 } else { 1 });
    run(&env, Path::new("podman"), &["stop", "-t", "15", &follower]);
    let code = run(
        &env,
        Path::new("podman"),
        &["inspect", "--format", "{{.State.ExitCode}}", &follower],
    );
    assert_eq!(
        code.trim(),
        "0",
        "{follower} did not exit cleanly on SIGTERM"
    );
}
