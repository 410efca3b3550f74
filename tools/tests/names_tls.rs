//! TLS between services on hosts of their own, found by name: the store of `names.rs` with
//! `[tls]` on (a CA and a certificate per service from `tools certs`' code), moving its
//! order leader under its name and losing nothing; and what TLS must refuse: a plaintext
//! connection, a client without the cluster's CA, and one trusting another CA.
//!
//! Needs root (as CI runs): the test fails with the reason if it cannot build the hosts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use toystore_harness::Service;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_on_tls_refuses_strangers_and_survives_its_leader_moving() {
    let named = common::named::start(3, true).await;
    let cluster = &named.cluster;
    let replica = cluster.url(Service::Order(1));
    let frontend = cluster.frontend_url();
    assert!(replica.starts_with("https://") && frontend.starts_with("https://"));

    // The store's own trust (this process was set up with the CA by the harness) works.
    let trusted = toystore_http::client::http_client(std::time::Duration::from_secs(5)).unwrap();
    let ok = trusted
        .get(format!("{replica}/health"))
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());

    // A client without the CA: the handshake fails, nothing is answered.
    let bare = reqwest::Client::builder().build().unwrap();
    for url in [&replica, &frontend] {
        let refused = bare.get(format!("{url}/health")).send().await;
        assert!(refused.is_err(), "a client without the CA got {refused:?}");
    }
    // A client trusting another CA.
    let other = tempfile::tempdir().unwrap();
    let stranger =
        toystore_tools::certs::make(other.path(), &["127.0.0.1".parse().unwrap()]).unwrap();
    let wrong = toystore_http::tls::client_config(&stranger.ca()).unwrap();
    let wrong = reqwest::Client::builder()
        .use_preconfigured_tls((*wrong).clone())
        .build()
        .unwrap();
    let refused = wrong.get(format!("{replica}/health")).send().await;
    assert!(refused.is_err(), "a client of another CA got {refused:?}");
    // A client that trusts the CA but presents a certificate of another CA: the server
    // refuses it (one presenting none is served, as browsers and probes are).
    let ca = named.cluster.config().tls.as_ref().unwrap().ca.clone();
    let mut roots = rustls::RootCertStore::empty();
    for cert in toystore_http::tls::read_certs(&ca).unwrap() {
        roots.add(cert).unwrap();
    }
    let chain = toystore_http::tls::read_certs(&other.path().join("127.0.0.1.pem")).unwrap();
    let key = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivateKeyDer::from_pem_file(other.path().join("127.0.0.1.key")).unwrap()
    };
    let impostor = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .unwrap();
    let impostor = reqwest::Client::builder()
        .use_preconfigured_tls(impostor)
        .build()
        .unwrap();
    let refused = impostor.get(format!("{replica}/health")).send().await;
    assert!(
        refused.is_err(),
        "a client with another CA's certificate got {refused:?}"
    );
    // Plaintext to a TLS port: no HTTP answer.
    let plain = replica.replacen("https://", "http://", 1);
    let refused = bare.get(format!("{plain}/health")).send().await;
    assert!(refused.is_err(), "plaintext got {refused:?}");

    common::named::move_the_leader(named).await;
}
