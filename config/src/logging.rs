//! Structured logging set-up for binaries: `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`), as lines for people (the default) or as one JSON object per line for
//! log shippers (`--log-format json`, or `TOYSTORE_LOG_FORMAT=json`).

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line (timestamp, level, fields, span).
    Json,
}

/// The logging flags every service binary takes.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct LogArgs {
    /// Log line format: `human` or `json` (for log shippers).
    #[arg(long, value_enum, default_value_t = LogFormat::Human, env = "TOYSTORE_LOG_FORMAT")]
    pub log_format: LogFormat,
}

/// Installs the global subscriber (once; later calls do nothing).
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
