//! The Kubernetes manifests (`deploy/kubernetes/`): valid against Kubernetes' own schemas,
//! and their cluster file one the services accept, naming exactly the pods the manifests
//! make.
//!
//! The schemas are checked by the ecosystem's tool, kubernetes-validate (PyPI), through
//! `scripts/validate-kubernetes`, which installs it into a virtual environment under
//! target/ unless it is on the PATH, validates strictly (unknown fields are errors) and
//! offline, and also renders and validates the kustomizations. One test shows that the
//! script does reject invalid manifests, so its passing means something.
//!
//! The manifests are YAML and this crate has no YAML parser: the cluster file is taken out
//! of the ConfigMap as the text of its block scalar (`toystore.toml: |`), and the few facts
//! of the StatefulSets it must agree with are looked up as text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use toystore_config::ClusterConfig;

/// The workspace's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

fn manifest(path: &str) -> String {
    let path = root().join("deploy/kubernetes").join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `scripts/validate-kubernetes` on `args` (none: deploy/kubernetes/).
fn validate(args: &[&Path]) -> Output {
    Command::new(root().join("scripts/validate-kubernetes"))
        .args(args)
        .current_dir(root())
        .output()
        .expect(
            "running scripts/validate-kubernetes (it needs python3 with venv, and PyPI \
             unless kubernetes-validate is on the PATH)",
        )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The text of the YAML block scalar `key: |` (its lines, less their indentation).
fn block_scalar(yaml: &str, key: &str) -> String {
    let (keep, strip) = (format!("{key}: |"), format!("{key}: |-"));
    let mut lines = yaml.lines();
    let header = lines
        .by_ref()
        .find(|l| l.trim() == keep || l.trim() == strip)
        .unwrap_or_else(|| panic!("no `{key}: |` in the manifest"));
    let outer = header.len() - header.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > outer)
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|l| l.get(indent..).unwrap_or("").to_owned() + "\n")
        .collect()
}

/// The value of the first plain `key: value` line (comments skipped).
fn plain_scalar<'a>(yaml: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    yaml.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no `{key}:` in the manifest"))
        .trim()
}

fn cluster_file(manifest_path: &str) -> ClusterConfig {
    let text = block_scalar(&manifest(manifest_path), "toystore.toml");
    ClusterConfig::parse(&text)
        .unwrap_or_else(|e| panic!("{manifest_path}'s toystore.toml is refused: {e}\n{text}"))
}

#[test]
fn the_manifests_are_valid_kubernetes_objects() {
    let out = validate(&[]);
    assert!(
        out.status.success(),
        "scripts/validate-kubernetes refused deploy/kubernetes/:\n{}",
        text(&out)
    );
}

#[test]
fn the_validator_rejects_unknown_fields_wrong_types_and_unknown_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let good = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: order\nspec:\n  \
                serviceName: order\n  replicas: 3\n  selector:\n    matchLabels: {app: order}\n  \
                template:\n    metadata:\n      labels: {app: order}\n    spec:\n      \
                containers:\n        - name: order\n          image: localhost/toystore:latest\n";
    let cases = [
        ("good.yaml", good.to_owned(), None),
        (
            "unknown-field.yaml",
            good.replace("  replicas: 3", "  replica: 3"),
            Some("'replica'"),
        ),
        (
            "nested-unknown-field.yaml",
            good.replace("image: localhost", "imag: localhost"),
            Some("'imag'"),
        ),
        (
            "wrong-type.yaml",
            good.replace("replicas: 3", "replicas: three"),
            Some("'three'"),
        ),
        (
            "unknown-api-version.yaml",
            good.replace("apps/v1", "apps/v2"),
            Some("apps/v2"),
        ),
    ];
    for (name, yaml, refusal) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, yaml).unwrap();
        let out = validate(&[path.as_path()]);
        match refusal {
            None => assert!(
                out.status.success(),
                "{name} is valid, yet refused:\n{}",
                text(&out)
            ),
            Some(what) => {
                assert!(!out.status.success(), "{name} passed:\n{}", text(&out));
                let said = text(&out);
                assert!(
                    said.contains(name) && said.contains(what),
                    "{name}'s refusal does not name it and `{what}`:\n{said}"
                );
            }
        }
    }
    // A directory is searched, and one bad file in it fails the whole.
    let out = validate(&[dir.path()]);
    assert!(
        !out.status.success(),
        "the directory passed:\n{}",
        text(&out)
    );
}

#[test]
fn the_configmaps_cluster_file_names_the_statefulsets_pods() {
    let cluster = cluster_file("base/config.yaml");
    assert_eq!(cluster.data_dir, Path::new("/data"));
    assert_eq!(cluster.tls, None, "the base is plaintext");
    assert!(cluster.token.is_empty(), "the token belongs in the Secret");
    for (set, port, replicas) in [
        ("catalog", 8090, &cluster.catalogs),
        ("order", 8091, &cluster.replicas),
    ] {
        // Replica N is pod <set>-N of the StatefulSet <set>, under its headless Service.
        let listed: Vec<(u32, String)> = replicas
            .iter()
            .map(|r| (r.id, r.addr.to_string()))
            .collect();
        let pods: Vec<(u32, String)> = (1..=3)
            .map(|id| {
                (
                    id,
                    format!("{set}-{id}.{set}.toystore.svc.cluster.local:{port}"),
                )
            })
            .collect();
        assert_eq!(listed, pods, "[[{set}]] in the cluster file");
        let yaml = manifest(&format!("base/{set}.yaml"));
        for fact in [
            format!("kind: StatefulSet\nmetadata:\n  name: {set}\n  namespace: toystore\n"),
            format!("  serviceName: {set}\n  replicas: 3\n"),
            "  ordinals:\n    start: 1\n".to_owned(),
            "  podManagementPolicy: Parallel\n".to_owned(),
            "fieldPath: metadata.labels['apps.kubernetes.io/pod-index']\n".to_owned(),
            "- --id=$(REPLICA_ID)\n".to_owned(),
            format!("- --addr=0.0.0.0:{port}\n"),
            format!("containerPort: {port}\n"),
            "  clusterIP: None\n".to_owned(),
            "  publishNotReadyAddresses: true\n".to_owned(),
            "- --config=/etc/toystore/config/toystore.toml\n".to_owned(),
            "mountPath: /data\n".to_owned(),
        ] {
            assert!(yaml.contains(&fact), "base/{set}.yaml lacks {fact:?}");
        }
    }
    assert_eq!(
        cluster.frontend.addr.to_string(),
        "frontend.toystore.svc.cluster.local:8080"
    );
    let frontend = manifest("base/frontend.yaml");
    for fact in [
        "kind: Service\nmetadata:\n  name: frontend\n  namespace: toystore\n",
        "      port: 8080\n",
        "- --addr=0.0.0.0:8080\n",
    ] {
        assert!(frontend.contains(fact), "base/frontend.yaml lacks {fact:?}");
    }
}

#[test]
fn the_tls_overlays_cluster_file_is_the_base_one_with_tls() {
    let base = cluster_file("base/config.yaml");
    let mut tls = cluster_file("tls/config.yaml");
    let settings = tls.tls.take().expect("tls/config.yaml has a [tls] section");
    assert_eq!(
        tls, base,
        "tls/config.yaml differs from base/config.yaml beyond [tls]"
    );
    assert_eq!(settings.ca, Path::new("/etc/toystore/tls/ca.pem"));
    let host = "order-2.order.toystore.svc.cluster.local";
    assert_eq!(
        settings.cert_for(host),
        Path::new("/etc/toystore/tls/order-2.order.toystore.svc.cluster.local.pem")
    );
    assert_eq!(
        settings.key_for(host),
        Path::new("/etc/toystore/tls/order-2.order.toystore.svc.cluster.local.key")
    );
    let overlay = manifest("tls/kustomization.yaml");
    assert!(overlay.contains("mountPath: /etc/toystore/tls\n"));
    assert!(overlay.contains("secretName: toystore-tls\n"));
}

#[test]
fn the_token_placeholder_is_one_the_services_refuse() {
    let secret = manifest("base/token-secret.yaml");
    let placeholder = plain_scalar(&secret, "token");
    assert!(
        toystore_config::token::check_strength(placeholder).is_err(),
        "the Secret's placeholder token {placeholder:?} would be accepted: a store could go \
         live with it"
    );
}
