//! `tools certs --out DIR --hosts HOST...`: a cluster CA and a certificate for every
//! service host, for `[tls]` in the cluster file.
//!
//! Writes `DIR/ca.pem` (the CA's certificate: what every client trusts), `DIR/ca.key` (its
//! key: keep it offline, it signs new hosts), and for every host `DIR/<host>.pem` and
//! `DIR/<host>.key`, the certificate valid for that host (and any other names or IPs given
//! with it: `o1.toystore=10.77.0.5,o1`). The cluster file then says
//! `[tls] ca = "DIR/ca.pem"`, `cert = "DIR/{host}.pem"`, `key = "DIR/{host}.key"`.
//!
//! Guarantees: nothing is overwritten (a directory that already holds a CA is refused);
//! keys are written readable by their owner only; every certificate is signed by the CA
//! just made and names exactly its host and the alternatives given.

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
    /// The directory to write into (created if missing; must not hold a CA yet).
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
    let out = CertDir {
        dir: dir.to_path_buf(),
    };
    let tls = out.tls_config();
    let complete = out.ca().exists()
        && hosts
            .iter()
            .all(|h| tls.cert_for(&h.host).exists() && tls.key_for(&h.host).exists());
    if !complete {
        make(dir, &hosts)?;
    }
    config.tls = Some(tls);
    Ok(())
}

/// Makes a new CA in `dir` and a certificate for every host.
pub fn make(dir: &Path, hosts: &[HostSpec]) -> anyhow::Result<CertDir> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = CertDir {
        dir: dir.to_path_buf(),
    };
    if out.ca().exists() {
        bail!(
            "{} already holds a CA ({}): choose another directory (nothing is overwritten)",
            dir.display(),
            out.ca().display()
        );
    }
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "toystore cluster CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);
    write_new(&out.ca(), ca_cert.pem().as_bytes(), false)?;
    write_new(&dir.join("ca.key"), ca_key.serialize_pem().as_bytes(), true)?;
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
        write_new(
            &dir.join(format!("{}.pem", host.host)),
            cert.pem().as_bytes(),
            false,
        )?;
        write_new(
            &dir.join(format!("{}.key", host.host)),
            key.serialize_pem().as_bytes(),
            true,
        )?;
    }
    Ok(out)
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
        toystore_http::tls::acceptor(&tls.cert_for("127.0.0.1"), &tls.key_for("127.0.0.1"))
            .unwrap();
        let err = make(dir.path(), &hosts).unwrap_err();
        assert!(err.to_string().contains("already holds a CA"), "{err}");
    }
}
