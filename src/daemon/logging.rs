//! Log lines on stderr through `tracing`: human text by default, one JSON object per line with
//! `--log-format json`. RUST_LOG overrides the level (default info).

use tracing_subscriber::EnvFilter;

use super::args::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
