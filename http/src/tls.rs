//! TLS between services: one setting per process, made once at start-up from the cluster
//! file's `[tls]` section ([`install`]).
//!
//! With `[tls]`, every client this crate builds ([`crate::client`]) trusts the cluster's CA
//! and nothing else (no built-in roots), and a serving process ([`crate::serve`]) answers
//! TLS only, with the certificate of its own host. Without it, everything is plaintext, as
//! before. A process is one or the other: the setting cannot change once made, so no
//! connection is ever made with the wrong trust.
//!
//! Guarantees: a plaintext client, or one that does not trust the cluster's CA, gets no
//! answer from a TLS port (the handshake fails before any request is read); a client never
//! talks to a server whose certificate the CA did not sign for the name or IP it dialled.
//! Authentication of callers is still the cluster token: TLS keeps it secret on the wire.
//!
//! Crypto is rustls with the `ring` provider (no OpenSSL).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio_rustls::TlsAcceptor;
use toystore_config::{ClusterConfig, ServiceAddr};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or holds no usable PEM item.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// rustls refused the material (a key that does not match its certificate, ...).
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
    /// The process's TLS setting was already made, differently.
    #[error("TLS was already set up differently in this process")]
    AlreadySet,
}

/// What a process uses: the client configuration (trusting the cluster CA) and, if it
/// serves, its acceptor.
struct Settings {
    client: Option<Arc<rustls::ClientConfig>>,
    server: Option<TlsAcceptor>,
    /// What was installed, so that installing the same again is harmless.
    source: Option<String>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// Reads every certificate of a PEM file (at least one).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// A client configuration that trusts the certificates of `ca` only.
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A server acceptor presenting the chain in `cert` with the key in `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = read_certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Sets this process up from the cluster file: clients trust its CA, and if `serve_as` is
/// given (the service's own address in the file), the process serves TLS with the
/// certificate for that address's host. Without `[tls]` nothing changes (plaintext). Call
/// once, before the first client is built; calling again with the same arguments is
/// harmless, with others an error.
pub fn install(cluster: &ClusterConfig, serve_as: Option<&ServiceAddr>) -> Result<(), TlsError> {
    let Some(tls) = &cluster.tls else {
        return settle(Settings {
            client: None,
            server: None,
            source: None,
        });
    };
    let host = serve_as.map(ServiceAddr::host);
    let client = client_config(&tls.ca)?;
    let server = match &host {
        Some(host) => Some(acceptor(&tls.cert_for(host), &tls.key_for(host))?),
        None => None,
    };
    settle(Settings {
        client: Some(client),
        server,
        source: Some(format!("{tls:?} serving as {host:?}")),
    })
}

/// Sets this process's clients up to trust `ca` only (a tool that serves nothing and has
/// no cluster file, e.g. a health probe given `--ca`). The same rules as [`install`].
pub fn trust(ca: &Path) -> Result<(), TlsError> {
    settle(Settings {
        client: Some(client_config(ca)?),
        server: None,
        source: Some(format!("trusting {}", ca.display())),
    })
}

fn settle(settings: Settings) -> Result<(), TlsError> {
    let source = settings.source.clone();
    let set = SETTINGS.get_or_init(|| settings);
    if set.source == source {
        Ok(())
    } else {
        Err(TlsError::AlreadySet)
    }
}

/// The client configuration of this process, if TLS is on.
pub fn client() -> Option<Arc<rustls::ClientConfig>> {
    SETTINGS.get().and_then(|s| s.client.clone())
}

/// The acceptor of this process's listener, if it serves TLS.
pub fn server() -> Option<TlsAcceptor> {
    SETTINGS.get().and_then(|s| s.server.clone())
}

/// Whether this process's clients speak TLS.
pub fn enabled() -> bool {
    client().is_some()
}

/// A client builder with this process's TLS trust (unchanged without TLS).
pub fn configure(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    match client() {
        Some(config) => builder
            .use_preconfigured_tls((*config).clone())
            .tls_built_in_root_certs(false),
        None => builder,
    }
}
