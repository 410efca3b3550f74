//! TLS on one machine, and the token's strength: `tools certs` makes a CA and host
//! certificates, never overwrites them, and signs later hosts with the same CA; a store on loopback with `[tls]` serves the
//! handout's client given the CA (`tools client --ca`) and refuses it without, and the
//! benchmark measures it given the CA (`tools bench --frontend https://… --ca`); a service
//! refuses to start with a token weaker than 128 bits, saying why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tools;

#[test]
fn certs_are_made_once_never_overwritten_and_new_hosts_join_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls");
    let out = out.to_str().unwrap();
    tools([
        "certs",
        "--out",
        out,
        "--hosts",
        "order-1",
        "127.0.0.1=localhost",
    ])
    .expect_code(0)
    .stdout_has("cert = ");
    for file in [
        "ca.pem",
        "ca.key",
        "order-1.pem",
        "order-1.key",
        "127.0.0.1.pem",
    ] {
        assert!(dir.path().join("tls").join(file).exists(), "{file} missing");
    }
    let before = std::fs::read(dir.path().join("tls/ca.pem")).unwrap();
    let key = std::fs::read(dir.path().join("tls/order-1.key")).unwrap();
    // A host made already is refused, and nothing is written for the others either.
    tools(["certs", "--out", out, "--hosts", "order-3", "order-1"])
        .expect_code(1)
        .stderr_has("nothing is overwritten");
    assert_eq!(
        std::fs::read(dir.path().join("tls/order-1.key")).unwrap(),
        key
    );
    assert!(!dir.path().join("tls/order-3.pem").exists());
    // A new host joins under the same CA.
    tools(["certs", "--out", out, "--hosts", "order-2"]).expect_code(0);
    assert!(dir.path().join("tls/order-2.pem").exists());
    assert_eq!(
        std::fs::read(dir.path().join("tls/ca.pem")).unwrap(),
        before
    );
}

#[test]
fn a_service_refuses_a_weak_token_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("toystore.toml");
    std::fs::write(&file, "token = \"short\"\n").unwrap();
    let config = file.to_str().unwrap();
    for service in [
        vec!["order", "--config", config, "--id", "1"],
        vec!["catalog", "--config", config],
        vec!["frontend", "--config", config],
    ] {
        tools(&service)
            .expect_code(1)
            .stderr_has("too weak")
            .stderr_has("at least 128");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_store_serves_the_client_given_the_ca_and_no_one_else() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = common::spec(dir.path());
    toystore_tools::certs::for_cluster(&mut spec.config, &dir.path().join("tls")).unwrap();
    let ca = spec.config.tls.as_ref().unwrap().ca.clone();
    let cluster = common::start(spec).await;
    let url = cluster.frontend_url();
    assert!(url.starts_with("https://"), "{url}");
    let ca = ca.to_str().unwrap().to_owned();
    let client = |extra: &[&str]| {
        let mut args = vec![
            "client",
            "--frontend",
            &url,
            "--iterations",
            "5",
            "--clients",
            "2",
        ];
        args.extend(extra);
        args.push("--json");
        tools(&args)
    };
    let run = client(&["--ca", &ca]);
    run.expect_code(0);
    let report = run.json();
    assert_eq!(report["query"]["errors"], 0, "{run}");
    assert_eq!(report["verification"]["ok"], true, "{run}");
    // Without the CA nothing gets through: the client cannot even list the toys.
    let refused = client(&["--timeout", "2s"]);
    refused
        .expect_code(1)
        .stderr_has("listing toys")
        .stderr_has("unreachable");
    // The benchmark measures it given the CA, and says what is missing without.
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "query-hit",
            "--frontend",
            &url,
            "--clients",
            "1",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--no-ceiling",
            "--json",
        ];
        args.extend(extra);
        tools(&args)
    };
    let measured = bench(&["--ca", &ca]);
    measured.expect_code(0);
    let row = measured.json();
    assert_eq!(row["errors"], 0, "{measured}");
    assert!(row["throughput_rps"].as_f64().unwrap() > 0.0, "{measured}");
    bench(&[])
        .expect_code(1)
        .stderr_has("give its CA with --ca");
    common::stop(cluster).await;
}
