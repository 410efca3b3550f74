//! `tools certs --out DIR --hosts HOST...`: a cluster CA and a certificate for every
//! service host, for `[tls]` in the cluster file.
//!
//! Writes `DIR/ca.pem` (the CA's certificate: what every client trusts), `DIR/ca.key` (its
//! key: keep it offline, it signs new hosts), and for every host `DIR/<host>.pem` and
//! `DIR/<host>.key`, the certificate valid for that host (and any other names or IPs given
//! with it: `o1.toystore=10.77.0.5,o1`). The cluster file then says
//! `[tls] ca = "DIR/ca.pem"`, `cert = "DIR/{host}.pem"`, `key = "DIR/{host}.key"`.
//!
//! A directory that holds a CA already (`ca.pem` and `ca.key`) keeps it: the new hosts'
//! certificates are signed by it, so a store can gain a host without a new CA.
//!
//! Guarantees: nothing is overwritten (a host whose files exist is refused, before anything
//! is written); keys are written readable by their owner only; every certificate is signed
//! by the directory's CA and names exactly its host and the alternatives given.

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `tools certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// The directory to write into (created if missing; its CA is used if it has one).
    #[arg(long)]
    pub out: PathBuf,
    /// The hosts to certify, as the cluster file names them (`order-1`, `10.77.0.5`,
    /// `127.0.0.1`); `HOST=ALT,ALT` adds other names or IPs the same certificate is valid for.
    #[arg(long, num_args = 1.., required = true)]
    pub hosts: Vec<HostSpec>,
}

/// One host to certify: the name its files are called by, and every name or IP it answers
/// to (the first being that name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// The host as the cluster file writes it (the `{host}` of `[tls] cert`).
    pub host: String,
    /// Other names and IPs it is reached by.
    pub alternatives: Vec<String>,
}

impl std::str::FromStr for HostSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (host, alternatives) = match text.split_once('=') {
            Some((host, alts)) => (host, alts.split(',').map(str::to_owned).collect()),
            None => (text, Vec::new()),
        };
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'))
        };
        if !ok(host) || !alternatives.iter().all(|a| ok(a)) {
            return Err(format!(
                "{text:?}: expected HOST or HOST=ALT,ALT (names and IPs)"
            ));
        }
        Ok(HostSpec {
            host: host.to_owned(),
            alternatives,
        })
    }
}

/// The files of one directory of certificates.
#[derive(Debug, Clone)]
pub struct CertDir {
    /// The directory.
    pub dir: PathBuf,
}

impl CertDir {
    /// The CA's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA's private key.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    /// The `[tls]` section that uses this directory.
    pub fn tls_config(&self) -> toystore_config::TlsConfig {
        toystore_config::TlsConfig {
            ca: self.ca(),
            cert: self.dir.join("{host}.pem").display().to_string(),
            key: self.dir.join("{host}.key").display().to_string(),
            public: true,
        }
    }
}

/// Runs `tools certs`.
pub fn run(args: CertsArgs) -> anyhow::Result<()> {
    let dir = make(&args.out, &args.hosts)?;
    println!(
        "wrote a CA and {} host certificates to {}",
        args.hosts.len(),
        args.out.display()
    );
    let tls = dir.tls_config();
    println!("in the cluster file:");
    println!("  [tls]");
    println!("  ca = {:?}", tls.ca.display().to_string());
    println!("  cert = {:?}", tls.cert);
    println!("  key = {:?}", tls.key);
    Ok(())
}

/// The distinct hosts of a cluster file's addresses (front-end, catalogs, replicas), each
/// valid under its own name only.
pub fn hosts_of(config: &toystore_config::ClusterConfig) -> Vec<HostSpec> {
    let mut hosts: Vec<String> = std::iter::once(&config.frontend.addr)
        .chain(config.catalogs.iter().map(|c| &c.addr))
        .chain(config.replicas.iter().map(|r| &r.addr))
        .map(toystore_config::ServiceAddr::host)
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
        .into_iter()
        .map(|host| HostSpec {
            host,
            alternatives: Vec::new(),
        })
        .collect()
}

/// TLS for the store `config` describes, with the certificates in `dir`: made there (a CA
/// and a certificate per host) unless `dir` already holds a CA and every host's files, as
/// when a store is started again on the same data. `config.tls` is set to use them.
pub fn for_cluster(config: &mut toystore_config::ClusterConfig, dir: &Path) -> anyhow::Result<()> {
    let hosts = hosts_of(config);
    let hosts_count = hosts.len();
    let out = CertDir {
        dir: dir.to_path_buf(),
    };
    let tls = out.tls_config();
    let missing: Vec<HostSpec> = hosts
        .into_iter()
        .filter(|h| !tls.cert_for(&h.host).exists() || !tls.key_for(&h.host).exists())
        .collect();
    if !out.ca().exists() && missing.len() < hosts_count {
        bail!(
            "{} holds host certificates but no CA ({}): they were signed by a CA that is \
             gone; move the directory aside to start with a new one",
            dir.display(),
            out.ca().display()
        );
    }
    if !out.ca().exists() || !missing.is_empty() {
        make(dir, &missing)?;
    }
    config.tls = Some(tls);
    Ok(())
}

/// Makes a certificate for every host in `dir`, signed by the CA there, which is made
/// first if `dir` has none.
pub fn make(dir: &Path, hosts: &[HostSpec]) -> anyhow::Result<CertDir> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = CertDir {
        dir: dir.to_path_buf(),
    };
    let tls = out.tls_config();
    for host in hosts {
        for file in [tls.cert_for(&host.host), tls.key_for(&host.host)] {
            if file.exists() {
                bail!(
                    "{} exists: a host's certificate is made once (nothing is overwritten)",
                    file.display()
                );
            }
        }
    }
    let issuer = if out.ca().exists() {
        existing_ca(&out)?
    } else {
        new_ca(&out)?
    };
    for host in hosts {
        let mut names = vec![host.host.clone()];
        names.extend(host.alternatives.iter().cloned());
        let mut params = CertificateParams::new(names)
            .with_context(|| format!("a certificate for {}", host.host))?;
        params
            .distinguished_name
            .push(DnType::CommonName, host.host.clone());
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        write_new(&tls.cert_for(&host.host), cert.pem().as_bytes(), false)?;
        write_new(
            &tls.key_for(&host.host),
            key.serialize_pem().as_bytes(),
            true,
        )?;
    }
    Ok(out)
}

/// Makes a new CA in `out`'s directory: writes `ca.pem` and `ca.key`.
fn new_ca(out: &CertDir) -> anyhow::Result<Issuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "toystore cluster CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    write_new(&out.ca(), cert.pem().as_bytes(), false)?;
    write_new(&out.ca_key(), key.serialize_pem().as_bytes(), true)?;
    Ok(Issuer::new(params, key))
}

/// The CA of `out`'s directory, read back (`ca.pem` and `ca.key`).
fn existing_ca(out: &CertDir) -> anyhow::Result<Issuer<'static, KeyPair>> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    };
    let key = KeyPair::from_pem(&read(&out.ca_key())?)
        .with_context(|| format!("{}: not a private key", out.ca_key().display()))?;
    Issuer::from_ca_cert_pem(&read(&out.ca())?, key)
        .with_context(|| format!("{}: not a CA certificate", out.ca().display()))
}

/// Writes a file that must not exist yet; a key readable by its owner only.
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn host_specs_parse() {
        let h: HostSpec = "o1.toystore=10.77.0.5,o1".parse().unwrap();
        assert_eq!(h.host, "o1.toystore");
        assert_eq!(h.alternatives, ["10.77.0.5", "o1"]);
        assert!("a b".parse::<HostSpec>().is_err());
        assert!("a=".parse::<HostSpec>().is_err());
    }

    #[test]
    fn makes_a_ca_and_host_certificates_rustls_accepts_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = vec!["127.0.0.1=localhost".parse().unwrap()];
        let made = make(dir.path(), &hosts).unwrap();
        let tls = made.tls_config();
        toystore_http::tls::client_config(&tls.ca).unwrap();
        toystore_http::tls::acceptor(
            &tls.ca,
            &tls.cert_for("127.0.0.1"),
            &tls.key_for("127.0.0.1"),
        )
        .unwrap();
        let err = make(dir.path(), &hosts).unwrap_err();
        assert!(err.to_string().contains("nothing is overwritten"), "{err}");
        // Another host joins under the same CA.
        let ca = std::fs::read(made.ca()).unwrap();
        make(dir.path(), &["order-4".parse().unwrap()]).unwrap();
        assert_eq!(std::fs::read(made.ca()).unwrap(), ca);
        toystore_http::tls::acceptor(&tls.ca, &tls.cert_for("order-4"), &tls.key_for("order-4"))
            .unwrap();
    }
}
