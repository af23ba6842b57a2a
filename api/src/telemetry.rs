//! Tracing setup: JSON logs when stdout is not a terminal (or when asked), pretty otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Safe to call more than once (later calls are ignored).
pub fn init(settings: &LogSettings) {
    // sqlx logs every statement at INFO; keep it quiet unless asked.
    let filter = EnvFilter::try_new(format!("{},sqlx=warn,sea_orm=warn", settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
}
