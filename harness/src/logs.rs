//! Where a launched service's log lines go ([`Logs`]), and the labelling of the lines
//! `tools up` forwards to its own stderr: a JSON line gains a `"service"` field and stays one
//! JSON object, any other line gets the service's name in front.

use crate::service::Service;
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Where the services' log lines go.
#[derive(Debug, Clone)]
pub enum Logs {
    /// To this process's stderr, each line prefixed with the service name.
    Prefixed,
    /// Appended to `<dir>/<service>.log`.
    Files(PathBuf),
}

/// A service's log line as `tools up` prints it: a JSON object line (`--log-format json`)
/// gains a `"service"` field and stays one JSON object; any other line gets the name in
/// front.
pub(crate) fn labelled(service: Service, line: &str) -> String {
    match line.strip_prefix('{') {
        Some(rest) if line.ends_with('}') => format!("{{\"service\":\"{service}\",{rest}"),
        _ => format!("[{service:>8}] {line}"),
    }
}

/// Copies a child's output lines to this process's stderr, labelled, until it closes.
pub(crate) fn forward<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    service: Service,
    pipe: Option<R>,
) {
    let Some(pipe) = pipe else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("{}", labelled(service, &line));
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_log_lines_stay_json_with_the_service_named() {
        let line = labelled(
            Service::Catalog(1),
            r#"{"level":"INFO","message":"catalog serving"}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["service"], "catalog-1");
        assert_eq!(v["message"], "catalog serving");
        assert_eq!(labelled(Service::Order(2), "plain"), "[order-2] plain");
    }
}
