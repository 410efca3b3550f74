//! The process-wide TLS setting (`toystore_http::tls`): installing the same setting again
//! is harmless, and any other one afterwards is refused ([`TlsError::AlreadySet`]). One test
//! in a binary of its own: the setting belongs to the process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::path::Path;
use toystore_config::{ClusterConfig, ServiceAddr, TlsConfig};
use toystore_http::tls::{self, TlsError};

/// A CA (`ca.pem`) and, signed by it, a certificate and key for each of `hosts`
/// (`<host>.pem`, `<host>.key`) in `dir`; returns the cluster's `[tls]` for them.
fn material(dir: &Path, hosts: &[&str]) -> TlsConfig {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.clone().self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    for host in hosts {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![host.to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join(format!("{host}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{host}.key")), key.serialize_pem()).unwrap();
    }
    TlsConfig {
        ca: dir.join("ca.pem"),
        cert: format!("{}/{{host}}.pem", dir.display()),
        key: format!("{}/{{host}}.key", dir.display()),
        public: true,
    }
}

#[test]
fn the_same_setting_again_is_harmless_and_any_other_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tls = material(dir.path(), &["order-1.toystore", "order-2.toystore"]);
    let cluster = ClusterConfig {
        tls: Some(tls.clone()),
        ..ClusterConfig::default()
    };
    let addr: ServiceAddr = "order-1.toystore:8091".parse().unwrap();

    tls::install(&cluster, Some(&addr)).unwrap();
    assert!(tls::enabled());
    // The same file and host again (a service's command line and its server both install).
    tls::install(&cluster, Some(&addr)).unwrap();

    let refused = |what: &str, result: Result<(), TlsError>| {
        assert!(
            matches!(result, Err(TlsError::AlreadySet)),
            "{what}: {result:?}"
        );
    };
    // The same `[tls]`, but as a tool (no host) or serving as another host.
    refused("as a tool", tls::install(&cluster, None));
    let other: ServiceAddr = "order-2.toystore:8091".parse().unwrap();
    refused("as another host", tls::install(&cluster, Some(&other)));
    // Another `[tls]`, trust in the CA alone, or no TLS at all.
    let public_off = ClusterConfig {
        tls: Some(TlsConfig {
            public: false,
            ..tls.clone()
        }),
        ..ClusterConfig::default()
    };
    refused("another [tls]", tls::install(&public_off, Some(&addr)));
    refused("trusting the CA", tls::trust(&tls.ca));
    refused("plaintext", tls::install(&ClusterConfig::default(), None));
    assert!(tls::enabled(), "the first setting stays");
}
