//! Log lines on stderr through `tracing`: human text by default, one JSON object per line with
//! `--log-format json`. RUST_LOG overrides the level (default info).

use tracing_subscriber::EnvFilter;

use super::args::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A log line that cannot be written is dropped. tracing-subscriber would otherwise report the
    // failure with eprintln!, which panics when stderr is itself the broken pipe (a log collector
    // that went away) and takes the thread that logged, the inference thread included, with it.
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
