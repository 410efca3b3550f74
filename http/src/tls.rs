//! TLS between services: one setting per process, made once at start-up from the cluster
//! file's `[tls]` section ([`install`]).
//!
//! With `[tls]`, every client this crate builds ([`crate::client`]) trusts the cluster's CA
//! and nothing else (no built-in roots), and a serving process ([`crate::serve`]) answers
//! TLS only, with the certificate of its own host, which it also presents as a client when
//! it calls its peers. A server asks every caller for a certificate: one signed by another
//! CA is refused; none at all is accepted (browsers, probes, `curl`), and internal routes
//! still demand the cluster token. Without `[tls]`, everything is plaintext, as before.
//!
//! A process is one or the other, for good: the first [`install`] decides, and so does the
//! first client built without one (plaintext); a later, different [`install`] is an
//! error ([`TlsError::AlreadySet`]), so no connection is ever made with the wrong trust.
//!
//! Guarantees: a plaintext client gets no answer from a TLS port (the handshake fails before
//! any request is read), nor does one presenting a certificate the CA did not sign; a client
//! never talks to a server whose certificate the CA did not sign for the name or IP it
//! dialled (unless the client itself skips that check, as `curl -k` does: TLS keeps the
//! token secret only from those who check).
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
    /// The CA could not verify client certificates.
    #[error("TLS set-up: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The process's TLS setting was already made, differently (or a client was built
    /// before it, in plaintext).
    #[error("TLS was already set up differently in this process (or a plaintext client was built before it)")]
    AlreadySet,
}

/// What a process uses: the client configuration (trusting the cluster CA) and, if it
/// serves, its acceptor.
struct Settings {
    client: Option<Arc<rustls::ClientConfig>>,
    server: Option<TlsAcceptor>,
    /// What was installed, so that installing the same again is harmless.
    source: Source,
}

/// Where a process's TLS setting came from: two installs agree when their sources are equal.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// No TLS (no `[tls]`, or a client built before any install).
    Plaintext,
    /// A cluster file's `[tls]`, for a service serving as `host` (`None`: a tool).
    Cluster {
        tls: toystore_config::TlsConfig,
        host: Option<String>,
    },
    /// A tool trusting one CA file.
    Trust(std::path::PathBuf),
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn plaintext() -> Settings {
    Settings {
        client: None,
        server: None,
        source: Source::Plaintext,
    }
}

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

fn roots(ca: &Path) -> Result<Arc<rustls::RootCertStore>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert)?;
    }
    Ok(Arc::new(roots))
}

/// A certificate chain and its key, as a service presents them.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        Identity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

fn identity(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    Ok(Identity {
        chain: read_certs(cert)?,
        key: PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?,
    })
}

/// A client configuration that trusts the certificates of `ca` only, presenting no
/// certificate of its own.
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    client_with(roots(ca)?, None)
}

fn client_with(
    roots: Arc<rustls::RootCertStore>,
    identity: Option<Identity>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder.with_client_auth_cert(id.chain, id.key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A server acceptor presenting the chain in `cert` with the key in `key`, and asking
/// callers for a certificate of `ca` (a caller without one is served; one with a
/// certificate of another CA is refused).
pub fn acceptor(ca: &Path, cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    server_with(roots(ca)?, identity(cert, key)?)
}

fn server_with(roots: Arc<rustls::RootCertStore>, id: Identity) -> Result<TlsAcceptor, TlsError> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider())
        .allow_unauthenticated()
        .build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.chain, id.key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Sets this process up from the cluster file: clients trust its CA, and if `serve_as` is
/// given (the service's own address in the file), the process serves TLS with the
/// certificate for that address's host and presents it when it calls its peers. Without
/// `[tls]` the process is plaintext. Call once, before the first client is built; calling
/// again with the same arguments is harmless, with others an error.
pub fn install(cluster: &ClusterConfig, serve_as: Option<&ServiceAddr>) -> Result<(), TlsError> {
    let Some(tls) = &cluster.tls else {
        return settle(plaintext());
    };
    let host = serve_as.map(ServiceAddr::host);
    let roots = roots(&tls.ca)?;
    // The service's certificate, read once: presented to its callers and to its peers.
    let id = match &host {
        Some(host) => Some(identity(&tls.cert_for(host), &tls.key_for(host))?),
        None => None,
    };
    let server = match &id {
        Some(id) => Some(server_with(roots.clone(), id.clone())?),
        None => None,
    };
    let client = client_with(roots, id)?;
    settle(Settings {
        client: Some(client),
        server,
        source: Source::Cluster {
            tls: tls.clone(),
            host,
        },
    })
}

/// Sets this process's clients up to trust `ca` only (a tool that serves nothing and has
/// no cluster file, e.g. a health probe given `--ca`). The same rules as [`install`].
pub fn trust(ca: &Path) -> Result<(), TlsError> {
    settle(Settings {
        client: Some(client_config(ca)?),
        server: None,
        source: Source::Trust(ca.to_path_buf()),
    })
}

/// What a tool that serves nothing trusts: the CA of the cluster file `config` (which it
/// returns, read once, for its other uses), else `ca`, else nothing (plaintext, or a file
/// without `[tls]`).
pub fn for_tool(
    config: Option<&Path>,
    ca: Option<&Path>,
) -> Result<Option<ClusterConfig>, ToolTrustError> {
    if let Some(path) = config {
        let cluster = ClusterConfig::load(path)?;
        install(&cluster, None)?;
        return Ok(Some(cluster));
    }
    if let Some(ca) = ca {
        trust(ca)?;
    }
    Ok(None)
}

/// Why [`for_tool`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolTrustError {
    /// The cluster file.
    #[error(transparent)]
    Config(#[from] toystore_config::ConfigError),
    /// Its TLS material.
    #[error("setting up TLS: {0}")]
    Tls(#[from] TlsError),
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

/// This process's setting: the one installed, or plaintext from now on if none was.
fn settings() -> &'static Settings {
    SETTINGS.get_or_init(plaintext)
}

/// The client configuration of this process, if TLS is on.
pub fn client() -> Option<Arc<rustls::ClientConfig>> {
    settings().client.clone()
}

/// The acceptor of this process's listener, if it serves TLS.
pub fn server() -> Option<TlsAcceptor> {
    settings().server.clone()
}

/// Whether this process's clients speak TLS.
pub fn enabled() -> bool {
    settings().client.is_some()
}

/// The base URL of the service at `addr` for this process's clients: `https://host:port`
/// with TLS, `http://host:port` without (the one place that chooses the scheme of a peer's
/// address read from the file or from Raft's membership).
pub fn base_url(addr: &ServiceAddr) -> String {
    addr.url(enabled())
}

/// A client builder with this process's TLS trust (unchanged without TLS).
pub fn configure(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    match client() {
        Some(config) => builder.use_preconfigured_tls((*config).clone()),
        None => builder,
    }
}
