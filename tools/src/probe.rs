//! `tools probe URL`: one `GET`, exit 0 when it answers 2xx in time, 1 otherwise. The health
//! check of a container image that has no shell and no curl (`["CMD", "tools", "probe",
//! "http://order-1:8091/health"]`), and of anything else that wants a yes or no.
//!
//! With `--config FILE` holding `[tls]`, or `--ca FILE`, an `https://` URL is checked
//! against that CA only, as the services check each other.

use std::path::PathBuf;
use std::time::Duration;

/// `tools probe`.
#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// What to fetch, e.g. http://127.0.0.1:8091/health.
    pub url: String,
    /// The cluster file: with `[tls]`, its CA is trusted.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A CA certificate (PEM) to trust instead of the cluster file's.
    #[arg(long, conflicts_with = "config")]
    pub ca: Option<PathBuf>,
    /// How long the answer may take.
    #[arg(long, default_value = "2s", value_parser = toystore_config::duration::parse_positive)]
    pub timeout: Duration,
    /// Say nothing; the exit status is the answer.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `tools probe`: `Ok(0)` when the URL answered 2xx, `Ok(1)` when it did not.
pub async fn run(args: ProbeArgs) -> anyhow::Result<u8> {
    toystore_http::tls::for_tool(args.config.as_deref(), args.ca.as_deref())?;
    let url = toystore_http::client::parse_base(&args.url)?;
    let client = toystore_http::client::http_client(args.timeout)?;
    let answer = client.get(url).send().await;
    let (code, line) = match answer {
        Ok(resp) if resp.status().is_success() => (0, format!("{} {}", args.url, resp.status())),
        Ok(resp) => (1, format!("{} {}", args.url, resp.status())),
        Err(e) => (
            1,
            format!(
                "{}: {}",
                args.url,
                toystore_http::client::ClientError::from(e)
            ),
        ),
    };
    if !args.quiet {
        println!("{line}");
    }
    Ok(code)
}
